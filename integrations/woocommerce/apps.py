from django.apps import AppConfig


class WooCommerceConfig(AppConfig):
    name = "integrations.woocommerce"
    label = "woocommerce"
    verbose_name = "WooCommerce"

    def ready(self) -> None:
        from connector.registry import AuthKind, Role, SystemInfo, register_system

        from .adapter import WooCommerceSource
        from .demo import demo_setup

        register_system(
            SystemInfo(
                key="woocommerce",
                name="WooCommerce",
                auth_kind=AuthKind.APP_KEY,
                role=Role.STORE,
                description="Orders and customers from your store, by signed webhooks.",
                logo="img/systems/woocommerce.svg",
                connect_url_name="woocommerce_connect",
                connection_url_name="woocommerce_connection",
                docs=(
                    "Orders (created, updated) and new customers arrive by signed webhooks registered on connect; "
                    "a regular poll of orders modified since the last run catches anything a webhook missed. "
                    "HTTPS stores only."
                ),
                demo_setup=demo_setup,
                source_adapter=WooCommerceSource,
            )
        )
