from django.apps import AppConfig

DOCS = """\
Source of orders (polled by modifyDate and pushed by ORDER_NOTIFY webhooks), shipments with cost,
carrier, service and tracking (SHIP_NOTIFY webhooks, plus polling by createDate and voidDate, since
ShipStation sends nothing when a label is voided) and customers. Target for fulfilment orders
(createorder, upsert by orderKey; shipped and cancelled orders are locked by ShipStation) and for
stock levels (V2 inventory: the on-hand quantity per SKU is adjusted to the source's; whole units
only, negatives set as 0; needs a V2 API key on the connection).

Customers: ShipStation's API can only list and read customers (GET /customers, GET /customers/{id}).
There is no endpoint to create, update or delete a customer. ShipStation makes and updates customers
itself from orders (customerUsername, customerEmail, billTo/shipTo). To "create" a customer in
ShipStation, send an order that names them. Customer edits made elsewhere cannot be pushed to ShipStation.

Times: ShipStation V1 reports Pacific wall-clock times; we convert them to UTC (the repeated hour in
November is read as its first occurrence) and poll with an overlap so nothing at a DST change is missed.
"""


class ShipStationConfig(AppConfig):
    name = "integrations.shipstation"
    label = "shipstation"
    verbose_name = "ShipStation"

    def ready(self) -> None:
        from connector.registry import AuthKind, Role, SystemInfo, register_system
        from integrations.shipstation.adapter import ShipStationSource, ShipStationTarget
        from integrations.shipstation.demo import demo_setup

        register_system(
            SystemInfo(
                key="shipstation",
                name="ShipStation",
                auth_kind=AuthKind.API_KEY,
                role=Role.SHIPPING,
                description="Orders, shipments with costs and tracking, customers, stock levels.",
                logo="img/systems/shipstation.svg",
                connect_url_name="shipstation_connect",
                connection_url_name="shipstation_connection",
                docs=DOCS,
                demo_setup=demo_setup,
                source_adapter=ShipStationSource,
                target_adapter=ShipStationTarget,
            )
        )
