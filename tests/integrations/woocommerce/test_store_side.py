"""The store side of WooCommerce (connector.adapters' optional methods) against the sandbox store,
with and without the Shipment Tracking extension, and the sandbox's tracking endpoint itself."""

from __future__ import annotations

from datetime import date

import pytest
import requests

from connector.adapters import NotSupported, Tracking
from connector.http import Permanent
from connector.models import Connection
from integrations.woocommerce.adapter import WooCommerceSource
from integrations.woocommerce.sandbox import tracking as sandbox_tracking
from integrations.woocommerce.sandbox.models import SandboxOrder
from integrations.woocommerce.sandbox.store import create_order


@pytest.fixture
def store(alice, shop) -> WooCommerceSource:
    connection = Connection.objects.create(
        organization=alice.org,
        system="woocommerce",
        label="Shop One",
        settings={"store_url": shop.url},
        credentials={"consumer_key": shop.key.consumer_key, "consumer_secret": shop.key.consumer_secret},
    )
    return WooCommerceSource(connection)


@pytest.fixture
def order(shop) -> SandboxOrder:
    return create_order(
        shop,
        {
            "status": "processing",
            "billing": {"first_name": "Ada", "last_name": "L", "email": "ada@example.com"},
            "shipping": {"postcode": "SW1A 1AA", "country": "GB"},
            "line_items": [{"sku": "WOO-HAT", "quantity": 1}],
        },
    )


def tracking(order: SandboxOrder, carrier: str = "UPS") -> Tracking:
    return Tracking(str(order.pk), str(order.pk), carrier, "1Z999", "Ground", date(2026, 3, 2))


def notes(order: SandboxOrder) -> list[tuple[str, bool]]:
    return [(n.note, n.customer_note) for n in order.notes.order_by("id")]


def test_without_the_extension_the_order_is_completed_with_a_customer_note_once(store, order):
    first = store.mark_shipped(tracking(order))
    assert first == {"tracking_endpoint": "not offered", "status": "completed", "note": "added"}
    order.refresh_from_db()
    assert order.status == "completed"
    ((text, visible),) = notes(order)
    assert visible and "UPS Ground" in text and "1Z999" in text
    again = store.mark_shipped(tracking(order))  # a retry after a failure part-way
    assert again == {"tracking_endpoint": "not offered", "note": "already"}
    assert len(notes(order)) == 1


def test_with_the_extension_tracking_is_posted_there_first_and_once(store, shop, order):
    sandbox_tracking.enable(shop)
    assert store.mark_shipped(tracking(order))["tracking_endpoint"].startswith("created ")
    order.refresh_from_db()
    (item,) = sandbox_tracking.items(order)
    assert (item["tracking_provider"], item["tracking_number"], item["date_shipped"]) == ("UPS", "1Z999", "2026-03-02")
    assert order.status == "completed" and len(notes(order)) == 1
    assert store.mark_shipped(tracking(order))["tracking_endpoint"] == "already"
    order.refresh_from_db()
    assert len(sandbox_tracking.items(order)) == 1


def test_a_carrier_the_extension_does_not_know_is_told_in_the_note_only(store, shop, order):
    sandbox_tracking.enable(shop)
    done = store.mark_shipped(tracking(order, carrier="Acme Couriers"))
    assert done["tracking_endpoint"].startswith("skipped: 'Acme Couriers'")
    order.refresh_from_db()
    assert sandbox_tracking.items(order) == [] and "Acme Couriers" in notes(order)[0][0]


def test_set_order_status_and_notes_are_idempotent(store, order):
    assert store.set_order_status(str(order.pk), "on-hold") == {"status": "on-hold"}
    order.refresh_from_db()
    modified = order.date_modified_gmt
    assert store.set_order_status(str(order.pk), "on-hold") == {"unchanged": True}
    order.refresh_from_db()
    assert order.status == "on-hold" and order.date_modified_gmt == modified  # no edit, so no order.updated
    with pytest.raises(NotSupported, match="not a WooCommerce order status"):
        store.set_order_status(str(order.pk), "shipped")
    assert store.add_order_note(str(order.pk), "Checked by Bob") == {"note": "added"}
    assert store.add_order_note(str(order.pk), "Checked by Bob") == {"note": "already"}
    assert notes(order) == [("Checked by Bob", False)]


def test_an_unknown_order_is_a_permanent_error(store):
    with pytest.raises(Permanent):
        store.set_order_status("999999", "completed")


# --- The sandbox's Shipment Tracking endpoint ------------------------------------------------------


def test_the_tracking_endpoint_exists_only_where_the_extension_is_installed(shop, order):
    url = f"{shop.url}/wp-json/wc-shipment-tracking/v3/orders/{order.pk}/shipment-trackings"
    auth = (shop.key.consumer_key, shop.key.consumer_secret)
    missing = requests.get(url, auth=auth, timeout=5)
    assert missing.status_code == 404 and missing.json()["code"] == "rest_no_route"
    sandbox_tracking.enable(shop)
    providers = requests.get(f"{shop.url}/wp-json/wc-shipment-tracking/v3/shipment-trackings/providers", timeout=5)
    assert providers.status_code == 200 and "USPS" in providers.json()["United States"]  # public

    assert requests.get(url, timeout=5).json()["code"] == "woocommerce_rest_cannot_view"
    bad = requests.post(url, json={"tracking_provider": "USPS"}, auth=auth, timeout=5)
    assert bad.status_code == 400 and bad.json()["code"] == "rest_missing_callback_param"
    unknown = requests.post(url, json={"tracking_provider": "Pigeon", "tracking_number": "1"}, auth=auth, timeout=5)
    assert unknown.status_code == 400 and unknown.json()["data"]["params"]["tracking_provider"]

    created = requests.post(url, json={"tracking_provider": "USPS", "tracking_number": "9400"}, auth=auth, timeout=5)
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["tracking_link"].endswith("qtc_tLabels1=9400") and created.headers["Location"].endswith(
        item["tracking_id"]
    )
    custom = requests.post(
        url,
        json={
            "custom_tracking_provider": "Acme",
            "custom_tracking_link": "https://acme.example/t/%1$s",
            "tracking_number": "A1",
        },
        auth=auth,
        timeout=5,
    )
    assert custom.status_code == 201 and custom.json()["tracking_link"] == "https://acme.example/t/A1"
    assert [i["tracking_number"] for i in requests.get(url, auth=auth, timeout=5).json()] == ["9400", "A1"]
    gone = requests.delete(f"{url}/{item['tracking_id']}", auth=auth, timeout=5)
    assert gone.status_code == 200 and gone.json()["tracking_number"] == "9400"
    assert [i["tracking_number"] for i in requests.get(url, auth=auth, timeout=5).json()] == ["A1"]
    order.refresh_from_db()
    assert order.data["date_modified_gmt"] == order.data["date_created_gmt"]  # meta only: no order edit


def test_a_read_only_key_cannot_add_tracking(shop, order):
    sandbox_tracking.enable(shop)
    shop.key.permissions = "read"
    shop.key.save()
    url = f"{shop.url}/wp-json/wc-shipment-tracking/v3/orders/{order.pk}/shipment-trackings"
    answer = requests.post(
        url,
        json={"tracking_provider": "UPS", "tracking_number": "1"},
        auth=(shop.key.consumer_key, shop.key.consumer_secret),
        timeout=5,
    )
    assert answer.status_code == 401 and "write permissions" in answer.json()["message"]
