from django.apps import AppConfig


class WooCommerceConfig(AppConfig):
    name = "integrations.woocommerce"
    label = "woocommerce"
    verbose_name = "WooCommerce"

    def ready(self) -> None:
        from connector.registry import AuthKind, Role, SystemInfo, register_system

        register_system(
            SystemInfo(
                key="woocommerce",
                name="WooCommerce",
                auth_kind=AuthKind.APP_KEY,
                role=Role.STORE,
                description="Orders and customers from your store, by signed webhooks.",
                logo="img/systems/woocommerce.svg",
            )
        )
