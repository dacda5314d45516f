from django.apps import AppConfig


class ShipStationConfig(AppConfig):
    name = "integrations.shipstation"
    label = "shipstation"
    verbose_name = "ShipStation"

    def ready(self) -> None:
        from connector.registry import AuthKind, Role, SystemInfo, register_system

        register_system(
            SystemInfo(
                key="shipstation",
                name="ShipStation",
                auth_kind=AuthKind.API_KEY,
                role=Role.SHIPPING,
                description="Orders, shipments with costs and tracking, customers.",
                logo="img/systems/shipstation.svg",
            )
        )
