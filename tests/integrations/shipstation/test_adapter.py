"""The source and target adapters against the sandbox (canonical objects out and in)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from connector.canonical import OrderStatus
from connector.http import RefusedURL
from connector.models import Connection, Delivery, Event
from integrations.shipstation import mapping
from integrations.shipstation.adapter import ShipStationSource, ShipStationTarget
from integrations.shipstation.sandbox.delivery import deliver_pending
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxOrder, SandboxWebhook

from .conftest import fixture, order_body


@pytest.fixture
def connection(account, sandbox_root, alice):
    return Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="SS",
        credentials={"api_key": account.api_key, "api_secret": account.api_secret},
        settings={"base_url": sandbox_root},
    )


def test_polls_orders_shipments_with_voids_and_customers(connection, ss):
    ss.create_orders([order_body("A1"), order_body("A2", email="other@example.com")])
    order_id = SandboxOrder.objects.get(order_number="A1").pk
    label = ss.request_json(
        "POST",
        "orders/createlabelfororder",
        json={"orderId": order_id, "carrierCode": "ups", "serviceCode": "ups_ground", "shipDate": "2024-03-02"},
    )
    ss.request_json("POST", "shipments/voidlabel", json={"shipmentId": label["shipmentId"]})
    source = ShipStationSource(connection)
    since, until = datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1)
    orders = list(source.changes_since("order", since, until))
    assert sorted(c.ref for c in orders) == ["A1", "A2"]
    a1 = next(c.obj for c in orders if c.ref == "A1")
    assert a1.status is OrderStatus.SHIPPED and a1.total == Decimal("27.05") == a1.computed_total
    shipments = list(source.changes_since("shipment", since, until))
    assert len(shipments) == 1 and shipments[0].obj.voided and shipments[0].obj.shipping_cost > 0
    assert source.fetch("shipment", shipments[0].source_id).tracking_number == label["trackingNumber"]
    customers = list(source.changes_since("customer", since, until))
    assert sorted(c.ref for c in customers) == ["buyer@example.com", "other@example.com"]
    assert source.fetch("order", str(order_id)).number == "A1"


def test_delivery_pointer_is_followed_into_canonical_changes(connection, account, client, sandbox_root):
    SandboxAccount.objects.filter(pk=account.pk).update(auto_deliver_webhooks=False)
    hook = sandbox_root.replace("/sandbox/shipstation", f"/hooks/shipstation/{connection.webhook_token}/")
    SandboxWebhook.objects.create(account=account, event="ORDER_NOTIFY", target_url=hook)
    source = ShipStationSource(connection)
    source.client.create_orders([order_body("D1"), order_body("D2")])
    deliver_pending()
    delivery = Delivery.objects.get(connection=connection)
    changes = source.changes_from_delivery(delivery)
    assert sorted(c.ref for c in changes) == ["D1", "D2"] and all(
        c.obj.customer.key == "buyer@example.com" for c in changes
    )


def test_ship_notify_delivery_carries_the_shipment_lines_a_fetch_gives(connection, account, sandbox_root):
    """SHIP_NOTIFY points at `includeShipmentItems=False`: followed as given, the shipment has no lines,
    which a goods delivery reads as "everything shipped". The delivered shipment has its items."""
    SandboxAccount.objects.filter(pk=account.pk).update(auto_deliver_webhooks=False)
    hook = sandbox_root.replace("/sandbox/shipstation", f"/hooks/shipstation/{connection.webhook_token}/")
    SandboxWebhook.objects.create(account=account, event="SHIP_NOTIFY", target_url=hook)
    source = ShipStationSource(connection)
    source.client.create_orders([order_body("S1")])
    order_id = SandboxOrder.objects.get(order_number="S1").pk
    source.client.request_json(
        "POST",
        "orders/createlabelfororder",
        json={"orderId": order_id, "carrierCode": "ups", "serviceCode": "ups_ground", "shipDate": "2024-03-02"},
    )
    deliver_pending()
    delivery = Delivery.objects.get(connection=connection, topic="SHIP_NOTIFY")
    assert "includeShipmentItems=False" in json.loads(bytes(delivery.body))["resource_url"]
    (change,) = source.changes_from_delivery(delivery)
    assert [(line.sku, line.quantity) for line in change.obj.lines] == [("SKU-1", Decimal("2"))]
    assert change.obj == source.fetch("shipment", change.source_id)


def test_foreign_pointer_is_refused_recorded_and_sends_nothing(connection):
    delivery = Delivery.objects.create(
        organization=connection.organization,
        connection=connection,
        topic="ORDER_NOTIFY",
        dedupe_key="x",
        body=json.dumps(
            {"resource_url": "https://attacker.example/orders?x=1", "resource_type": "ORDER_NOTIFY"}
        ).encode(),
    )
    source = ShipStationSource(connection)
    with pytest.raises(RefusedURL):
        source.changes_from_delivery(delivery)
    assert source.client.calls == 0
    event = Event.objects.get(connection=connection, kind="failed")
    assert (
        event.data["refused_host"] == "attacker.example" and connection.credentials["api_secret"] not in event.message
    )


def test_target_upserts_by_order_key(connection, account):
    order = mapping.order_from_shipstation(
        {**fixture("order_spec_example.json"), "orderKey": "ext-1", "orderNumber": "EXT-1"}
    )
    target = ShipStationTarget(connection)
    assert target.find("fulfilment_order", order) is None
    first = target.upsert("fulfilment_order", order, target_id=None)
    assert target.find("fulfilment_order", order) == first.target_id
    again = target.upsert("fulfilment_order", order, target_id=first.target_id)
    assert again.target_id == first.target_id and SandboxOrder.objects.filter(account=account).count() == 1
    stored = SandboxOrder.objects.get(account=account)
    assert stored.order_key == "ext-1" and stored.data["amountPaid"] == 194.43
    back = mapping.order_from_shipstation(target.client.get_order(first.target_id))
    assert back.total == Decimal("194.43") and back.discount == Decimal("20.55")
    target.cancel("fulfilment_order", order, target_id=first.target_id)
    assert SandboxOrder.objects.get(account=account).status == "cancelled"
