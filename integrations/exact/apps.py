from django.apps import AppConfig


class ExactConfig(AppConfig):
    name = "integrations.exact"
    label = "exact"
    verbose_name = "Exact Online"

    def ready(self) -> None:
        from connector.registry import AuthKind, Role, SystemInfo, register_system

        register_system(
            SystemInfo(
                key="exact",
                name="Exact Online",
                auth_kind=AuthKind.OAUTH2,
                role=Role.ACCOUNTING,
                description="Sales orders out, shipping costs into the general ledger.",
                logo="img/systems/exact.svg",
            )
        )
