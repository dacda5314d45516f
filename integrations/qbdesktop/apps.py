from django.apps import AppConfig


class QBDesktopConfig(AppConfig):
    name = "integrations.qbdesktop"
    label = "qbdesktop"
    verbose_name = "QuickBooks Desktop"

    def ready(self) -> None:
        from connector.registry import AuthKind, Role, SystemInfo, register_system
        from integrations.qbdesktop.demo import demo_setup

        register_system(
            SystemInfo(
                key="qbdesktop",
                name="QuickBooks Desktop",
                auth_kind=AuthKind.QBWC,
                role=Role.ACCOUNTING,
                description="Invoices and journal entries through the QuickBooks Web Connector.",
                logo="img/systems/qbdesktop.svg",
                connect_url_name="qbdesktop_connect",
                docs=(
                    "Runs whenever the QuickBooks Web Connector polls: requests wait in a queue until then. "
                    "Customers and items are looked up, never created."
                ),
                demo_setup=demo_setup,
            )
        )
