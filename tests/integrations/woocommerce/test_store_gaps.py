"""Gaps closed while building the WooCommerce end-to-end test: the buyer as a contact change, polls
ordered by modification time, repair that heals the secret and backfills, the 15-minute default
offered for the flow, and the Zoho target's handling of concurrent creates, repeated contact
details and foreign currencies. Effects are asserted in the sandboxes' state."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection as db_connection
from django.urls import reverse

from accounts.models import Organization
from connector.http import NeedsReview, Permanent
from connector.models import Connection, Delivery, Flow
from integrations.woocommerce.adapter import WooCommerceSource
from integrations.woocommerce.connect import repair_webhooks
from integrations.woocommerce.mapping import map_order
from integrations.woocommerce.sandbox.models import SandboxOrder, SandboxWebhook
from integrations.woocommerce.sandbox.store import create_customer, create_order, update_order
from integrations.zoho.adapter import ZohoBooksTarget
from integrations.zoho.sandbox import state as zoho_state
from integrations.zoho.sandbox.models import SandboxZohoDocument
from tests.integrations.woocommerce.conftest import load_fixture
from tests.integrations.zoho.conftest import make_connection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def connected(client, alice, shop):
    client.force_login(alice)
    client.post(
        "/integrations/woocommerce/connect/keys/",
        {"store_url": shop.url, "consumer_key": shop.key.consumer_key, "consumer_secret": shop.key.consumer_secret},
    )
    return Connection.objects.get(system="woocommerce")


def _order(shop, email="buyer@example.com", **extra):
    body = {"status": "processing", "billing": {"first_name": "Buy", "last_name": "Er", "email": email}}
    body.update({"line_items": [{"sku": "WOO-HAT", "quantity": 1}], **extra})
    return create_order(shop, body)


# --- WooCommerce side ---------------------------------------------------------------------------


def test_an_order_also_brings_its_buyer_as_a_customer_change(connected, shop):
    registered = create_customer(shop, {"email": "ada@example.com", "first_name": "Ada", "last_name": "L"})
    _order(shop, "Grace@Example.com")  # a guest
    _order(shop, "ada@example.com", customer_id=registered.pk, billing={"email": "ada@example.com", "company": "AE"})
    source = WooCommerceSource(connected)
    guest, member = (
        source.changes_from_delivery(d) for d in Delivery.objects.filter(topic="order.created").order_by("id")
    )
    assert [c.object_type for c in guest] == ["order", "customer"]
    assert guest[1].source_id == "guest:grace@example.com" and guest[1].obj.key == "grace@example.com"
    assert guest[1].modified_at == guest[0].modified_at  # the order's version decides
    assert member[1].source_id == str(registered.pk) and member[1].obj.company == "AE"
    with pytest.raises(Permanent):  # a guest has no record to fetch: the engine replays the stored one
        source.fetch("customer", "guest:grace@example.com")
    assert source.fetch("customer", str(registered.pk)).email == "ada@example.com"


def test_polls_list_orders_least_recently_modified_first(connected, shop):
    first, second = _order(shop), _order(shop)
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=5)):
        update_order(shop, SandboxOrder.objects.get(pk=first.pk), {"status": "on-hold"})
    since = datetime.now(UTC) - timedelta(hours=1)
    changes = WooCommerceSource(connected).changes_since("order", since, datetime.now(UTC) + timedelta(minutes=1))
    orders = [c.source_id for c in changes if c.object_type == "order"]
    assert orders == [str(second.pk), str(first.pk)]  # the edited one last: paging never skips it


def test_repair_restores_our_secret_and_backfills_the_gap(connected, shop, monkeypatch):
    zoho = Connection.objects.create(organization=connected.organization, system="zoho", label="Books")
    flow = Flow.objects.create(
        organization=connected.organization, preset="woocommerce_zoho", source=connected, target=zoho, enabled=True
    )
    Flow.objects.create(organization=connected.organization, preset="woocommerce_zoho", source=connected, target=zoho)
    polled = []
    monkeypatch.setattr("connector.tasks.poll_flow.delay", polled.append)
    SandboxWebhook.objects.filter(store=shop, topic="order.created").update(secret="changed-in-wp-admin")
    shop.faults = {"max_delivery_failures": 0}
    shop.save()
    _order(shop)
    _order(shop)  # the second failure in a row disables the webhook
    hook = SandboxWebhook.objects.get(store=shop, topic="order.created")
    assert hook.status == "disabled" and Delivery.objects.filter(status="rejected").count() == 2

    done = repair_webhooks(Connection.objects.get(pk=connected.pk))
    assert done["order.created"] == "reactivated" and polled == [flow.pk]  # only the enabled flow
    hook.refresh_from_db()
    assert hook.status == "active" and hook.secret == connected.webhook_secret
    _order(shop)
    assert Delivery.objects.filter(topic="order.created", status="received").count() == 1  # signed right again
    polled.clear()
    assert set(repair_webhooks(Connection.objects.get(pk=connected.pk)).values()) == {"ok"}
    assert polled == []  # nothing repaired, nothing to backfill


def test_the_connection_page_offers_a_flow_from_this_store_with_its_15_minute_poll(client, connected, alice):
    Connection.objects.create(organization=alice.org, system="shipstation", label="Warehouse")
    Connection.objects.create(organization=alice.org, system="zoho", label="Books")
    page = client.get(reverse("woocommerce_connection", args=[connected.pk])).content.decode()
    link = next(part for part in page.split('"') if part.startswith(reverse("flow_create") + "?"))
    assert f"source={connected.pk}" in link
    form = client.get(link.replace("&amp;", "&")).content.decode()
    # ShipStation → Zoho Books is ready too, but the merchant came from the store: its flow is chosen.
    assert '<option value="woocommerce_zoho" selected>' in form
    assert 'name="interval_seconds" value="900"' in form


# --- Zoho Books side, as the WooCommerce flow uses it -------------------------------------------


@pytest.fixture
def books(live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    return zoho_state.create_org(
        "us", "owner@books.example", "Alice Books", organization=Organization.objects.create(name="Books owner")
    )


def _target(connection, calls=None) -> ZohoBooksTarget:
    return ZohoBooksTarget(connection, on_call=(calls.append if calls is not None else None))


def _docs(org, kind, **filters):
    return SandboxZohoDocument.objects.filter(org=org, kind=kind, **filters)


def test_an_order_in_a_currency_zoho_lacks_needs_review_and_writes_nothing(alice, books):
    from integrations.zoho.sandbox import currencies

    currencies.remove_currency(books, "EUR")  # the organisation never added EUR
    zoho = make_connection(alice.org, books, currency_code="USD")
    order = dataclasses.replace(map_order(load_fixture("order_727_docs.json")), currency="EUR")
    target = _target(zoho)
    with pytest.raises(NeedsReview) as held:
        target.upsert("invoice", order, target_id=None)
    assert "EUR" in held.value.message and "USD" in held.value.message and held.value.remediation
    assert not _docs(books, "invoice").exists() and not _docs(books, "contact").exists()
    target.client.session.close()


def test_the_same_contact_details_are_not_written_twice(alice, books):
    zoho = make_connection(alice.org, books)
    order = map_order(load_fixture("order_727_docs.json"))
    calls = []
    target = _target(zoho, calls)
    created = target.upsert("invoice", order, target_id=None)  # creates the buyer's contact
    assert created.action == "created"
    calls.clear()
    again = target.upsert("contact", order.customer, target_id=target.find("contact", order.customer))
    assert again.action == "unchanged" and calls == []  # Link + remembered details: no call at all
    moved = dataclasses.replace(order.customer, company="New Co")
    assert target.upsert("contact", moved, target_id=target.find("contact", moved)).action == "updated"
    (contact,) = _docs(books, "contact")
    assert contact.data["company_name"] == "New Co"
    target.client.session.close()


def test_concurrent_orders_of_a_new_buyer_make_one_contact_and_one_item_each(alice, books):
    zoho = make_connection(alice.org, books)
    base = map_order(load_fixture("order_727_docs.json"))
    orders = [dataclasses.replace(base, number=f"72{n}", source_id=f"72{n}") for n in range(4)]
    barrier = threading.Barrier(len(orders))
    errors = []

    def sync(order):
        target = _target(Connection.objects.get(pk=zoho.pk))
        try:
            barrier.wait(timeout=10)
            target.upsert("invoice", order, target_id=target.find("invoice", order))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            if target._client is not None:
                target._client.session.close()
            db_connection.close()

    threads = [threading.Thread(target=sync, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert _docs(books, "invoice").count() == 4
    assert _docs(books, "contact", email="john.doe@example.com").count() == 1
    names = sorted(_docs(books, "item").values_list("name", flat=True))
    assert len(names) == len(set(names)) == len(base.lines)  # each line's item created once
