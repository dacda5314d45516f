"""Flow option push_inventory with a WooCommerce source: after QuickBooks' inventory check the store's
products get QuickBooks' QuantityOnHand as `stock_quantity`, over real HTTP to the WooCommerce sandbox
(products read by a list of SKUs, written with `products/batch`: _products.md, tests/specs/woocommerce)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from connector.canonical import LineItem, OrderStatus, StockLevel
from connector.http import Permanent
from connector.models import Connection, Event, Flow
from connector.registry import get_preset, target_unavailable
from connector.web.forms import options_form_for
from integrations.qbdesktop import inventory_push, tasks
from integrations.qbdesktop.models import QBDInventoryLevel
from integrations.woocommerce.adapter import WooCommerceTarget
from integrations.woocommerce.sandbox.models import SandboxProduct
from integrations.woocommerce.sandbox.store import create_product
from integrations.woocommerce.sandbox.views import create_store

from .conftest import simulator
from .test_flow import feed, make_order

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def store(live_server, alice, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    shop = create_store("qb-stock", name="Stock shop", currency="USD", tax_rate="0", organization=alice.org)
    create_product(
        shop,
        {"name": "Widget", "sku": "WIDGET-1", "regular_price": "12.50", "manage_stock": True, "stock_quantity": 50},
    )
    create_product(shop, {"name": "Gadget", "sku": "GADGET-2", "regular_price": "99.00"})  # stock not managed
    shop.url = f"{live_server.url}/sandbox/woocommerce/{shop.slug}"
    return shop


def woocommerce(alice, shop) -> Connection:
    key = shop.keys.first()
    return Connection.objects.create(
        organization=alice.org,
        system="woocommerce",
        label="Stock shop",
        credentials={"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
        settings={"store_url": shop.url},
    )


def stock(shop, sku):
    return SandboxProduct.objects.get(store=shop, sku=sku).data["stock_quantity"]


@pytest.fixture
def queued(monkeypatch):
    ids: list[int] = []
    monkeypatch.setattr(tasks.push_inventory, "delay", ids.append)
    return ids


def test_quickbooks_quantities_reach_the_store(live_server, alice, qbd, books, store, queued):
    source = woocommerce(alice, store)
    flow = Flow.objects.create(
        organization=alice.org,
        preset="woocommerce_qbdesktop",
        source=source,
        target=qbd[0],
        options={"posting": "invoice", "post_when": "paid", "push_inventory": True},
    )
    form = options_form_for(get_preset(flow.preset), None, initial=flow.options, flow=flow)
    assert not form.push_unavailable and not form.fields[inventory_push.OPTION].disabled
    assert target_unavailable(source, "stock_level") is None

    lines = (
        LineItem("WIDGET-1", "Widget", Decimal("2"), Decimal("12.50")),
        LineItem("GADGET-2", "Gadget", Decimal("1"), Decimal("99.00")),
    )
    feed(flow, make_order("4001", lines=lines, status=OrderStatus.OPEN))
    simulator(live_server, qbd, books).run()  # QuickBooks: WIDGET-1 40 − 2 = 38, GADGET-2 3 − 1 = 2
    assert set(queued) == {qbd[0].pk}  # queued after the receiveResponseXML commit
    tasks.push_inventory.apply(args=(qbd[0].pk,))

    assert stock(store, "WIDGET-1") == 38
    assert stock(store, "GADGET-2") is None  # "Manage stock" off: left as the merchant set it
    pushed = Event.objects.get(connection=source, kind="updated")
    assert pushed.message == "WooCommerce inventory WIDGET-1: 50 → 38 (QuickBooks QuantityOnHand 38)."
    skipped = Event.objects.get(connection=source, kind="skipped")
    assert "GADGET-2: not pushed, its “Manage stock” is off in WooCommerce" in skipped.message
    level = QBDInventoryLevel.objects.get(connection=qbd[0], sku="WIDGET-1")
    assert not level.push_pending and level.source_on_hand == 38

    # Equal quantities are not written again.
    QBDInventoryLevel.objects.filter(connection=qbd[0]).update(push_pending=True)
    report = inventory_push.push(qbd[0].pk)
    assert report.equal == ["WIDGET-1"] and report.pushed == []


def test_the_store_adapter_reads_in_lists_and_writes_in_batches(live_server, alice, store):
    source = woocommerce(alice, store)
    calls = []
    target = WooCommerceTarget(source, on_call=calls.append)
    levels = [
        StockLevel("WIDGET-1", Decimal("7")),
        StockLevel("GADGET-2", Decimal("4")),
        StockLevel("NOPE-9", Decimal("1")),
        StockLevel("WIDGET-1", Decimal("2.5")),
    ]
    outcomes = {(lv.sku, str(lv.on_hand)): o for lv, o in target.write_stock_levels(levels)}
    assert outcomes[("WIDGET-1", "7")].action == "updated" and outcomes[("WIDGET-1", "7")].data["from"] == 50
    assert outcomes[("GADGET-2", "4")].data["reason"] == "not_managed"
    assert outcomes[("NOPE-9", "1")].data["reason"] == "missing"
    assert outcomes[("WIDGET-1", "2.5")].data["reason"] == "fraction"
    assert stock(store, "WIDGET-1") == 7
    assert [c.method for c in calls] == ["GET", "POST"]  # one read of all SKUs, one batch write
    assert "sku=WIDGET-1%2CGADGET-2%2CNOPE-9" in calls[0].url and calls[1].url.endswith("products/batch")
    assert target.upsert("stock_level", StockLevel("WIDGET-1", Decimal("7")), target_id=None).action == "unchanged"
    with pytest.raises(Permanent):
        target.cancel("stock_level", StockLevel("WIDGET-1", Decimal("7")), target_id="x")


def test_the_sandbox_batch_answers_like_woocommerce(live_server, store):
    key = store.keys.first()
    api = f"{store.url}/wp-json/wc/v3/products/batch"
    widget = SandboxProduct.objects.get(store=store, sku="WIDGET-1")
    answer = requests.post(
        api,
        json={"update": [{"id": widget.pk, "stock_quantity": 9}, {"id": 999999, "stock_quantity": 1}]},
        auth=(key.consumer_key, key.consumer_secret),
        timeout=10,
    )
    assert answer.status_code == 200
    ok, bad = answer.json()["update"]
    assert ok["stock_quantity"] == 9 and ok["stock_status"] == "instock"
    assert bad["id"] == 999999 and bad["error"]["code"] == "woocommerce_rest_product_invalid_id"
    too_many = requests.post(
        api,
        json={"update": [{"id": widget.pk, "stock_quantity": 1}] * 101},
        auth=(key.consumer_key, key.consumer_secret),
        timeout=10,
    )
    assert too_many.status_code == 413
    wrong_type = requests.put(
        f"{store.url}/wp-json/wc/v3/products/{widget.pk}",
        json={"stock_quantity": "ten"},
        auth=(key.consumer_key, key.consumer_secret),
        timeout=10,
    )
    assert wrong_type.status_code == 400 and stock(store, "WIDGET-1") == 9
    gadget = SandboxProduct.objects.get(store=store, sku="GADGET-2")
    ignored = requests.put(
        f"{store.url}/wp-json/wc/v3/products/{gadget.pk}",
        json={"stock_quantity": 5},
        auth=(key.consumer_key, key.consumer_secret),
        timeout=10,
    )
    assert ignored.status_code == 200 and ignored.json()["stock_quantity"] is None  # not managed: dropped
