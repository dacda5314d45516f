"""The store side of ShipStation (connector.adapters' optional methods) against the sandbox."""

from __future__ import annotations

from datetime import date

import pytest

from connector.adapters import NotSupported, Tracking
from connector.http import Permanent
from connector.models import Connection
from integrations.shipstation.adapter import ShipStationSource, carrier_code
from integrations.shipstation.sandbox.models import SandboxOrder
from tests.integrations.shipstation.conftest import order_body


@pytest.fixture
def store(alice, account, sandbox_root) -> ShipStationSource:
    connection = Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="SS",
        credentials={"api_key": account.api_key, "api_secret": account.api_secret},
        settings={"base_url": sandbox_root},
    )
    return ShipStationSource(connection)


def test_mark_shipped_once_with_carrier_date_and_tracking(store, ss):
    order = ss.create_order(order_body("S-1"))
    tracking = Tracking(str(order["orderId"]), "S-1", "UPS", "1Z1", "Ground", date(2026, 3, 2))
    assert store.mark_shipped(tracking) == {"shipped": True, "carrier_code": "ups"}
    shipped = SandboxOrder.objects.get(pk=order["orderId"])
    assert shipped.status == "shipped" and shipped.data["shipDate"] == "2026-03-02"
    assert store.mark_shipped(tracking) == {"already": True, "status": "shipped"}


def test_a_cancelled_order_is_not_marked_shipped(store, ss):
    order = ss.create_order(order_body("S-2", status="cancelled"))
    with pytest.raises(Permanent, match="is cancelled"):
        store.mark_shipped(Tracking(str(order["orderId"]), "S-2", "USPS", "94"))


def test_set_status_rewrites_the_whole_order_and_keeps_it(store, ss):
    order = ss.create_order(order_body("S-3", customerNotes="Ring twice"))
    assert store.set_order_status(str(order["orderId"]), "on_hold")["updated"] == ["orderStatus"]
    after = ss.get_order(order["orderId"])
    assert after["orderStatus"] == "on_hold" and after["orderKey"] == "key-S-3"
    assert after["customerNotes"] == "Ring twice" and after["items"][0]["sku"] == "SKU-1"
    assert after["orderTotal"] == order["orderTotal"]
    assert store.set_order_status(str(order["orderId"]), "on_hold") == {"unchanged": True}
    with pytest.raises(NotSupported, match="not 'shipped'"):
        store.set_order_status(str(order["orderId"]), "shipped")


def test_internal_notes_are_appended_once_and_customer_notes_are_not_supported(store, ss):
    order = ss.create_order(order_body("S-4", internalNotes="Gift"))
    store.add_order_note(str(order["orderId"]), "Held for review")
    assert store.add_order_note(str(order["orderId"]), "Held for review") == {"unchanged": True}
    assert ss.get_order(order["orderId"])["internalNotes"] == "Gift\nHeld for review"
    with pytest.raises(NotSupported, match="no customer-visible"):
        store.add_order_note(str(order["orderId"]), "Hello", customer_visible=True)


def test_a_shipped_order_cannot_be_changed(store, ss):
    order = ss.create_order(order_body("S-5"))
    store.mark_shipped(Tracking(str(order["orderId"]), "S-5", "FedEx", "77"))
    with pytest.raises(Permanent, match="cannot be changed"):
        store.add_order_note(str(order["orderId"]), "Late note")


def test_carrier_codes():
    assert [carrier_code(c) for c in ("UPS", "FedEx", "DHL", "Stamps.com", "Royal Mail", " ")] == [
        "ups",
        "fedex",
        "dhl_express",
        "stamps_com",
        "royal_mail",
        "other",
    ]
