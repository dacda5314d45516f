from django.apps import AppConfig


class ZohoConfig(AppConfig):
    name = "integrations.zoho"
    label = "zoho"
    verbose_name = "Zoho Books"

    def ready(self) -> None:
        from connector.registry import AuthKind, Role, SystemInfo, register_system

        register_system(
            SystemInfo(
                key="zoho",
                name="Zoho Books",
                auth_kind=AuthKind.OAUTH2,
                role=Role.ACCOUNTING,
                description="Invoices, sales orders, contacts, items and journals.",
                logo="img/systems/zoho.svg",
            )
        )
