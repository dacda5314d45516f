from django.apps import AppConfig


class QBDesktopConfig(AppConfig):
    name = "integrations.qbdesktop"
    label = "qbdesktop"
    verbose_name = "QuickBooks Desktop"

    def ready(self) -> None:
        from connector.registry import AuthKind, Role, SystemInfo, register_system

        register_system(
            SystemInfo(
                key="qbdesktop",
                name="QuickBooks Desktop",
                auth_kind=AuthKind.QBWC,
                role=Role.ACCOUNTING,
                description="Invoices and journal entries through the QuickBooks Web Connector.",
                logo="img/systems/qbdesktop.svg",
            )
        )
