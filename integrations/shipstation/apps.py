from django.apps import AppConfig

DOCS = """\
Your orders: every new or edited ShipStation order reaches your accounting system within minutes
(ShipStation tells us at once; a regular check catches anything it missed). Each order is written
once, even if it is sent to us twice.

Your money: when you buy a label, its cost, carrier and tracking number are booked in your accounts
(as a journal entry or a note on the invoice, as you choose). A voided label is noticed on the next
check, because ShipStation sends no message for it.

Stock: with a V2 API key, on-hand quantities in ShipStation can follow your accounting system
(whole units; never below zero).

What ShipStation cannot do: it has no way for us to create or edit a customer. ShipStation makes its
customers from orders, so customers appear there when their first order does.
"""


class ShipStationConfig(AppConfig):
    name = "integrations.shipstation"
    label = "shipstation"
    verbose_name = "ShipStation"

    def ready(self) -> None:
        from connector.registry import AuthKind, Role, SystemInfo, register_system
        from integrations.shipstation import presets
        from integrations.shipstation.adapter import ShipStationSource, ShipStationTarget
        from integrations.shipstation.connection import rotate_webhooks
        from integrations.shipstation.reconcile import list_orders, list_shipments

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
                source_adapter=ShipStationSource,
                target_adapter=ShipStationTarget,
                rotate_webhooks=rotate_webhooks,
                reconcile_orders=list_orders,
                reconcile_shipments=list_shipments,
            )
        )
        presets.register_presets()
