"""Reconciliation fixtures: the Zoho Books sandbox (from the Zoho tests) and a WooCommerce sandbox
store, both served by the live server, joined by a WooCommerce → Zoho Books flow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connector import engine
from connector.models import Connection, Flow, Record
from connector.registry import get_preset
from tests.integrations.zoho.conftest import (  # noqa: F401 (fixtures)
    _short_lived_db_connections,
    sandbox_org,
    zoho_base,
    zoho_connection,
)


@pytest.fixture
def shop(zoho_base, alice):  # noqa: F811
    from integrations.woocommerce.sandbox.views import create_store

    store = create_store("recon-shop", name="Recon shop", currency="USD", tax_rate="0.1", organization=alice.org)
    store.url = f"{zoho_base}/sandbox/woocommerce/{store.slug}"
    return store


@pytest.fixture
def woo_flow(alice, shop, zoho_connection) -> Flow:  # noqa: F811
    key = shop.keys.first()
    woo = Connection.objects.create(
        organization=alice.org,
        system="woocommerce",
        label="Recon shop",
        credentials={"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
        settings={"store_url": shop.url},
    )
    preset = get_preset("woocommerce_zoho")
    return Flow.objects.create(
        organization=alice.org,
        preset=preset.key,
        name=preset.name,
        source=woo,
        target=zoho_connection,
        options=dict(preset.default_options),
    )


def sync(flow: Flow) -> list[int]:
    """One poll of the flow, each record written at once (what the worker does)."""
    queued: list[int] = []
    # The store's filters are to the second: poll a moment ahead, as the next scheduled poll would.
    later = timezone.now() + timedelta(seconds=2)
    engine.run_flow(Flow.objects.get(pk=flow.pk), now=later, enqueue=queued.append)
    for record_id in queued:
        engine.sync_record(record_id)
    return queued


def place(shop, sku: str, quantity: int, email: str):
    billing = {"first_name": "Ann", "last_name": "Buyer", "email": email, "country": "GB"}
    from integrations.woocommerce.sandbox.store import create_order

    return create_order(
        shop, {"status": "processing", "billing": billing, "line_items": [{"sku": sku, "quantity": quantity}]}
    )


@pytest.fixture
def synced_orders(shop, woo_flow, sandbox_org):  # noqa: F811
    orders = [
        place(shop, sku, n, f"buyer{i}@example.com")
        for i, (sku, n) in enumerate([("WOO-MUG", 1), ("WOO-HAT", 2), ("WOO-TEE", 1), ("WOO-MUG", 3)])
    ]
    sync(woo_flow)
    assert set(Record.objects.filter(object_type="order").values_list("status", flat=True)) == {"synced"}
    return orders
