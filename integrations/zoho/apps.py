from django.apps import AppConfig


class ZohoConfig(AppConfig):
    name = "integrations.zoho"
    label = "zoho"
    verbose_name = "Zoho Books"

    def ready(self) -> None:
        from connector.registry import AuthKind, Role, SystemInfo, register_system
        from integrations.zoho import presets
        from integrations.zoho.adapter import ZohoBooksSource, ZohoBooksTarget
        from integrations.zoho.reconcile import list_documents, reconcile_items

        register_system(
            SystemInfo(
                key="zoho",
                name="Zoho Books",
                auth_kind=AuthKind.OAUTH2,
                role=Role.ACCOUNTING,
                description="Invoices, sales orders, contacts, items and journals.",
                logo="img/systems/zoho.svg",
                connect_url_name="zoho_connect",
                connection_url_name="zoho_connection",
                docs=(
                    "Your orders: each order becomes one Zoho Books invoice (or a sales order, if you prefer) "
                    "with the order number as its reference; edits update it, cancellations void it.\n"
                    "Your money: totals, tax and currency come from the order; shipping costs are booked as a "
                    "journal entry or noted on the invoice; refunds become credit notes.\n"
                    "Your customers and products: matched by email and by SKU (then name); missing ones are "
                    "created for you.\n"
                    "Good to know: Zoho allows 100 requests a minute per organisation; we pace every flow to "
                    "stay under it."
                ),
                source_adapter=ZohoBooksSource,
                target_adapter=ZohoBooksTarget,
                periodic_tasks=presets.PERIODIC_TASKS,
                resolve_capability=presets.resolve_capability,
                failed_stage=presets.failed_stage,
                reconcile_documents=list_documents,
                reconcile_items=reconcile_items,
            )
        )
        presets.register_presets()
