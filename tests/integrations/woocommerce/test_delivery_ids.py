"""WooCommerce delivery ids repeat within a second; the inbox must not lose the second delivery.

WooCommerce core: `WC_Webhook::get_new_delivery_id()` returns
`wp_hash( $this->get_id() . strtotime( 'now' ) )` (woocommerce/plugins/woocommerce/includes/
class-wc-webhook.php), and WordPress's `wp_hash()` is `hash_hmac( 'md5', $data, wp_salt( 'auth' ) )`
(wp-includes/pluggable.php). So every delivery of one webhook in the same second carries one id.
"""

from __future__ import annotations

import json

import pytest

from accounts.models import Organization
from connector.engine import ingest_delivery
from connector.models import Connection, Delivery, Flow, Record
from integrations.woocommerce.auth import sign
from integrations.woocommerce.sandbox import delivery as sandbox_delivery
from integrations.woocommerce.sandbox.models import SandboxDeliveryLog, SandboxOrder, SandboxWebhook
from integrations.woocommerce.sandbox.store import create_order, update_order

SECRET = "s3cretABC123"


def test_wp_hash_is_hex_hmac_md5_of_the_data_with_the_salt():
    # Known answers computed independently:
    #   printf '%s' 121700000000 | openssl dgst -md5 -hmac put-your-unique-phrase-here
    salt = "put-your-unique-phrase-here"
    assert sandbox_delivery.wp_hash("121700000000", salt) == "ab9eaf67f2d040161d9f9f241becd9c0"
    assert sandbox_delivery.wp_hash("121700000001", salt) == "f87612b2622c29a1faf45131c1482ea5"


@pytest.mark.django_db
def test_sandbox_ids_are_the_webhook_id_and_the_second_hashed_with_the_store_salt(monkeypatch):
    from integrations.woocommerce.sandbox.views import create_store

    owner = Organization.objects.create(name="Store owner")
    one = create_store("salt-one", name="One", organization=owner)
    two = create_store("salt-two", name="Two", organization=owner)
    hook = SandboxWebhook.objects.create(store=one, topic="order.updated", delivery_url="http://127.0.0.1:9/")
    other = SandboxWebhook.objects.create(store=one, topic="order.created", delivery_url="http://127.0.0.1:9/")
    monkeypatch.setattr(sandbox_delivery, "unix_second", lambda: 1_700_000_000)
    first = sandbox_delivery.new_delivery_id(one, hook)
    assert first == sandbox_delivery.wp_hash(f"{hook.pk}1700000000", sandbox_delivery.store_salt(one))
    assert sandbox_delivery.new_delivery_id(one, hook) == first  # same webhook, same second: same id
    assert sandbox_delivery.new_delivery_id(one, other) != first
    assert sandbox_delivery.store_salt(one) != sandbox_delivery.store_salt(two)
    monkeypatch.setattr(sandbox_delivery, "unix_second", lambda: 1_700_000_001)
    assert sandbox_delivery.new_delivery_id(one, hook) != first


@pytest.fixture
def connected(client, alice, shop):
    client.force_login(alice)
    client.post(
        "/integrations/woocommerce/connect/keys/",
        {"store_url": shop.url, "consumer_key": shop.key.consumer_key, "consumer_secret": shop.key.consumer_secret},
    )
    return Connection.objects.get()


def test_two_different_deliveries_in_one_second_both_become_records(connected, shop, monkeypatch):
    """A bulk edit: two orders changed in the same second reach us under one delivery id."""
    monkeypatch.setattr(sandbox_delivery, "unix_second", lambda: 1_700_000_000)
    buyer = {"first_name": "Buy", "last_name": "Er", "email": "buyer@example.com"}
    first = create_order(shop, {"status": "processing", "billing": buyer, "line_items": [{"sku": "WOO-HAT"}]})
    second = create_order(shop, {"status": "processing", "billing": buyer, "line_items": [{"sku": "WOO-HAT"}]})
    Delivery.objects.all().delete()
    for order in (first, second):
        update_order(shop, SandboxOrder.objects.get(pk=order.pk), {"status": "completed"})
    updates = list(Delivery.objects.filter(topic="order.updated").order_by("id"))
    assert len(updates) == 2 and updates[0].delivery_id == updates[1].delivery_id != ""
    assert [u.status for u in updates] == [Delivery.Status.RECEIVED, Delivery.Status.RECEIVED]
    assert {json.loads(bytes(u.body))["id"] for u in updates} == {first.pk, second.pk}
    # ... and each becomes the record of its own order in a flow from this store.
    books = Connection.objects.create(organization=connected.organization, system="zoho", label="Books")
    flow = Flow.objects.create(
        organization=connected.organization, preset="woocommerce_zoho", source=connected, target=books, enabled=True
    )
    for update in updates:
        ingest_delivery(update, enqueue=lambda record_id: None)
    orders = Record.objects.filter(flow=flow, object_type="order")
    assert sorted(orders.values_list("source_id", flat=True)) == sorted([str(first.pk), str(second.pk)])


def test_an_identical_redelivery_is_still_a_duplicate(connected, shop, monkeypatch):
    monkeypatch.setattr(sandbox_delivery, "unix_second", lambda: 1_700_000_000)
    shop.faults = {"duplicate_rate": 1}
    shop.save()
    create_order(shop, {"status": "processing", "billing": {"email": "b@example.com"}, "line_items": []})
    copies = list(Delivery.objects.filter(topic="order.created").order_by("id"))
    assert len(copies) == 2 and copies[0].delivery_id == copies[1].delivery_id
    assert [c.status for c in copies] == [Delivery.Status.RECEIVED, Delivery.Status.DUPLICATE]
    sent = SandboxDeliveryLog.objects.filter(topic="order.created", ping=False)
    assert sent.count() == 2 and sent.values("delivery_id").distinct().count() == 1


@pytest.mark.django_db
def test_same_id_new_body_is_processed_same_id_same_body_is_not(
    client, alice, inline_inbox, monkeypatch, django_capture_on_commit_callbacks
):
    """At the endpoint, without the sandbox: the key is the delivery id *and* the body."""
    connection = Connection.objects.create(
        organization=alice.org, system="woocommerce", label="Shop", webhook_secret=SECRET
    )
    processed: list[int] = []
    monkeypatch.setattr("connector.tasks.process_delivery.delay", processed.append)

    def post(body: bytes):
        return client.post(
            f"/hooks/woocommerce/{connection.webhook_token}/",
            data=body,
            content_type="application/json",
            HTTP_X_WC_WEBHOOK_TOPIC="order.updated",
            HTTP_X_WC_WEBHOOK_DELIVERY_ID="5f0c2e7b9d1a4c3e8b6f0a2d4c6e8f10",
            HTTP_X_WC_WEBHOOK_SIGNATURE=sign(body, SECRET),
        )

    with django_capture_on_commit_callbacks(execute=True):
        answers = [post(b'{"id":727,"status":"completed"}'), post(b'{"id":728,"status":"completed"}')]
        answers.append(post(b'{"id":727,"status":"completed"}'))
    assert [a.json()["duplicate"] for a in answers] == [False, False, True]
    statuses = list(Delivery.objects.order_by("id").values_list("status", flat=True))
    assert statuses == [Delivery.Status.RECEIVED, Delivery.Status.RECEIVED, Delivery.Status.DUPLICATE]
    assert len(processed) == 2
