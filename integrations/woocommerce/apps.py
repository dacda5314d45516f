from django.apps import AppConfig


class WooCommerceConfig(AppConfig):
    name = "integrations.woocommerce"
    label = "woocommerce"
    verbose_name = "WooCommerce"

    def ready(self) -> None:
        from connector.registry import AuthKind, PeriodicTask, Role, SystemInfo, register_system

        from .adapter import WooCommerceSource, WooCommerceTarget
        from .connect import rotate_webhooks
        from .reconcile import list_orders

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
                    "Your orders: each new or changed order in your store reaches your accounting system "
                    "within moments (your store tells us, signed so nobody else can), and a check every 15 "
                    "minutes picks up anything the store failed to send.\n"
                    "Your money: refunds you give in the store are booked as credit notes (credit memos in QuickBooks).\n"
                    "Your customers: new customers are added to your accounting system by email address.\n"
                    "Your stock: with QuickBooks Desktop, its quantities on hand can be set on your products "
                    "(those with “Manage stock” on).\n"
                    "Stores on HTTPS only."
                ),
                source_adapter=WooCommerceSource,
                # Only stock levels are written to a store (e.g. QuickBooks Desktop's QuantityOnHand).
                target_adapter=WooCommerceTarget,
                rotate_webhooks=rotate_webhooks,
                reconcile_orders=list_orders,
                # A store disables a webhook after repeated failed deliveries: find and re-enable them.
                periodic_tasks=(
                    PeriodicTask(
                        "woocommerce-repair-webhooks", "integrations.woocommerce.tasks.repair_all_webhooks", 3600.0
                    ),
                ),
            )
        )
