from django.apps import AppConfig


class ZohoConfig(AppConfig):
    name = "integrations.zoho"
    label = "zoho"
    verbose_name = "Zoho Books"

    def ready(self) -> None:
        from connector.registry import AuthKind, Role, SystemInfo, register_system
        from integrations.zoho.adapter import ZohoBooksTarget
        from integrations.zoho.demo import demo_setup

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
                    "Orders become invoices (reference number = order number), customers become contacts matched "
                    "by email, line items map to items by SKU then name (missing items are created), shipment "
                    "costs post as a balanced journal or as an invoice comment. Choose your data centre when "
                    "connecting; 100 API calls per minute per Zoho organisation are shared by all flows."
                ),
                demo_setup=demo_setup,
                target_adapter=ZohoBooksTarget,
            )
        )
