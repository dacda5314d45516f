from django.apps import AppConfig


class ExactConfig(AppConfig):
    name = "integrations.exact"
    label = "exact"
    verbose_name = "Exact Online"

    def ready(self) -> None:
        from connector import oauth
        from connector.registry import AuthKind, PeriodicTask, Role, SystemInfo, register_system
        from integrations.exact import presets, subscriptions
        from integrations.exact.adapter import ExactSource, ExactTarget
        from integrations.exact.oauth import ExactOAuth
        from integrations.exact.reconcile import list_documents, reconcile_items
        from integrations.exact.subscriptions import rotate_webhooks

        oauth.disconnecting.connect(
            subscriptions.on_disconnecting, sender=ExactOAuth, dispatch_uid="exact.on_disconnecting"
        )

        register_system(
            SystemInfo(
                key="exact",
                name="Exact Online",
                auth_kind=AuthKind.OAUTH2,
                role=Role.ACCOUNTING,
                description="Sales orders out, shipping costs into the general ledger; store orders in as invoices or sales orders.",
                logo="img/systems/exact.svg",
                connect_url_name="exact_connect",
                connection_url_name="exact_connection",
                docs=(
                    "Your orders: sales orders you enter in Exact Online appear in ShipStation to be packed and "
                    "shipped, and the tracking number comes back onto the order.\n"
                    "Your money: what each shipment cost is posted as a balanced journal entry on the accounts "
                    "you choose, split over the order's lines and their projects' cost centres.\n"
                    "Store orders: ShipStation or WooCommerce orders become sales invoices in the sales journal "
                    "you pick (or sales orders, if you prefer), customers found by email or created, items "
                    "matched by code; a cancelled order is credited.\n"
                    "Refunds: each refund you give in WooCommerce becomes an Exact credit note of its own.\n"
                    "Good to know: Exact allows 60 requests a minute and 5,000 a day per company; large "
                    "catch-ups are spread out so none of them is refused."
                ),
                source_adapter=ExactSource,
                target_adapter=ExactTarget,
                rotate_webhooks=rotate_webhooks,
                resolve_capability=presets.resolve_capability,
                reconcile_documents=list_documents,
                reconcile_items=reconcile_items,
                # Refresh tokens die after 30 days unused: refresh idle connections well before that.
                periodic_tasks=(PeriodicTask("exact-keep-alive", "exact.keep_alive", 86400.0),),
            )
        )
        presets.register_presets()
