"""Books that balance, proven for WooCommerce → Zoho Books: random orders (1–5 lines, quantities,
prices with cents, percentage and fixed coupons, the store's tax rate, shipping, fees, orders in
another currency Books offers), then a random sequence of edits, holds, cancellations, partial and
full refunds and completions, with the flow running at random points between them, all through the
store sandbox's REST API and the engine (synchronously, as the worker would), into the Books sandbox.

The property: the period's reconciliation (read from both sandboxes) is all matched, and each order's
invoice (or sales order) total equals the store's `total` to the cent, in the order's currency, with
credit notes summing to the refunds (WooCommerce's `refunds`, _orders.md "Refunds properties")."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.db.models import Max
from django.utils import timezone
from hypothesis import example, given
from hypothesis import strategies as st

from connector import engine
from connector.models import Connection, Flow
from integrations.woocommerce.sandbox.models import SandboxOrder
from integrations.woocommerce.sandbox.views import create_store
from tests.reconcile.property_kit import (
    ZERO,
    assert_balanced,
    assert_records_written,
    assert_zoho_totals,
    fresh_books,
    make_flow,
    property_settings,
    unique,
)
from tests.reconcile.strategies import TAX_RATES, Line, Op, OrderPlan, woo_order

pytestmark = pytest.mark.django_db(transaction=True)

OPEN = ("pending", "processing", "on-hold")
BILLING = {"first_name": "Ann", "last_name": "Buyer", "country": "GB", "address_1": "1 High St"}


class Store:
    """One sandbox store driven through its REST API with its consumer key, as a merchant's admin would."""

    def __init__(self, base: str, alice, tax_rate: str):
        self.shop = create_store(unique("prop-shop"), name="Property shop", tax_rate=tax_rate, organization=alice.org)
        self.shop.url = f"{base}/sandbox/woocommerce/{self.shop.slug}"
        key = self.shop.keys.first()
        self.auth = (key.consumer_key, key.consumer_secret)

    def call(self, method: str, path: str, body: dict | None = None, expect: int = 200) -> dict:
        answer = requests.request(
            method, f"{self.shop.url}/wp-json/wc/v3/{path}", json=body, auth=self.auth, timeout=15
        )
        assert answer.status_code == expect, (method, path, body, answer.status_code, answer.text)
        return answer.json()

    def connection(self, alice) -> Connection:
        return Connection.objects.create(
            organization=alice.org,
            system="woocommerce",
            label=self.shop.name,
            credentials={"consumer_key": self.auth[0], "consumer_secret": self.auth[1]},
            settings={"store_url": self.shop.url},
        )


def sync(flow: Flow, shop) -> None:
    """One poll of the flow and each record written at once (what the worker does). The sandbox
    stamps rapid edits a second apart, so its newest stamp can run a little ahead of the clock: poll
    up to a moment after it, as the next scheduled poll would."""
    newest = SandboxOrder.objects.filter(store=shop).aggregate(newest=Max("date_modified_gmt"))["newest"]
    later = max(timezone.now(), newest or timezone.now()) + timedelta(seconds=2)
    queued: list[int] = []
    engine.run_flow(Flow.objects.get(pk=flow.pk), now=later, enqueue=queued.append)
    for record_id in queued:
        engine.sync_record(record_id)


def line_body(line: Line) -> dict:
    return {"sku": line.sku, "quantity": line.quantity, "price": str(line.price)}


def place(store: Store, plan: OrderPlan, email: str) -> dict:
    body: dict = {
        "status": plan.status,
        "currency": plan.currency,
        "billing": {**BILLING, "email": email},
        "line_items": [line_body(line) for line in plan.lines],
        "coupon_lines": [{"code": code} for code in plan.coupons],
    }
    if plan.shipping is not None:
        body["shipping_lines"] = [{"method_id": "flat_rate", "method_title": "Flat rate", "total": str(plan.shipping)}]
    if plan.fee is not None:
        body["fee_lines"] = [
            {"name": "Handling", "total": str(plan.fee), "tax_status": "taxable" if plan.fee_taxable else "none"}
        ]
    return store.call("POST", "orders", body, expect=201)


def refunded(order: dict) -> Decimal:
    return sum((-Decimal(r["total"]) for r in order.get("refunds") or []), ZERO)


def apply(store: Store, order: dict, op: Op, flow) -> dict:
    """One operation, when the order's state allows it (else nothing happens); the order as the store
    answers it afterwards."""
    oid, status = order["id"], order["status"]
    left = Decimal(order["total"]) - refunded(order)
    editable = status in OPEN and not order.get("refunds")
    if op.kind == "sync":
        sync(flow, store.shop)
    elif op.kind == "quantity" and editable and order["line_items"]:
        target = order["line_items"][op.index % len(order["line_items"])]
        return store.call("PUT", f"orders/{oid}", {"line_items": [{"id": target["id"], "quantity": op.quantity}]})
    elif op.kind == "add_line" and editable:
        return store.call("PUT", f"orders/{oid}", {"line_items": [line_body(op.line)]})
    elif op.kind == "cancel" and status in OPEN:
        return store.call("PUT", f"orders/{oid}", {"status": "cancelled"})
    elif op.kind == "hold" and status in ("pending", "processing"):
        return store.call("PUT", f"orders/{oid}", {"status": "on-hold"})
    elif op.kind == "ship" and status in ("processing", "on-hold"):
        return store.call("PUT", f"orders/{oid}", {"status": "completed"})
    elif op.kind in ("refund", "refund_all") and status in ("processing", "completed") and left > 0:
        amount = (
            left
            if op.kind == "refund_all"
            else max(Decimal("0.01"), (left * op.percent / 100).quantize(Decimal("0.01")))
        )
        store.call("POST", f"orders/{oid}/refunds", {"amount": str(amount), "reason": "Property test"}, expect=201)
    return store.call("GET", f"orders/{oid}")


def run(base: str, alice, tax_rate: str, plans: list[OrderPlan], **options):
    """Place the orders, play their operations with the flow running in between, run the flow once
    more; the store's final orders, the ledger organisation and the flow."""
    store = Store(base, alice, tax_rate)
    books, zoho = fresh_books(alice)
    flow = make_flow(alice, "woocommerce_zoho", store.connection(alice), zoho, **options)
    orders = [place(store, plan, f"buyer{i}@example.com") for i, plan in enumerate(plans)]
    for step in range(max((len(p.ops) for p in plans), default=0)):
        for i, plan in enumerate(plans):
            if step < len(plan.ops):
                orders[i] = apply(store, orders[i], plan.ops[step], flow)
    sync(flow, store.shop)
    assert SandboxOrder.objects.filter(store=store.shop).count() == len(plans)
    return orders, books, flow


def check(orders: list[dict], books, flow, *, kind: str) -> None:
    assert_records_written(flow)
    assert_balanced(flow, {o["number"] for o in orders})
    for order in orders:
        back = refunded(order)
        assert_zoho_totals(
            books,
            order["number"],
            kind=kind,
            total=Decimal(order["total"]),
            currency=order["currency"],
            refunded=back,
            voided=order["status"] == "cancelled" and not back,
        )


HAT = Line("WOO-HAT", 1, Decimal("12.00"))


@property_settings(max_examples=18)
# Refunded in full before the flow first saw it: the sale is invoiced and credited, not skipped.
@example(tax_rate="0.1", plans=[OrderPlan(lines=(HAT,), ops=(Op("refund_all"),))])
@given(tax_rate=st.sampled_from(TAX_RATES), plans=st.lists(woo_order(), min_size=1, max_size=2))
def test_invoices_balance(zoho_base, alice, tax_rate, plans):
    orders, books, flow = run(zoho_base, alice, tax_rate, plans)
    check(orders, books, flow, kind="invoice")


@property_settings(max_examples=10)
@given(tax_rate=st.sampled_from(TAX_RATES), plans=st.lists(woo_order(refunds=False), min_size=1, max_size=2))
def test_sales_orders_balance(zoho_base, alice, tax_rate, plans):
    """The Order Desk way: orders become sales orders. Sales orders carry no refunds (Books credits
    invoices, not sales orders), so the operations here are edits, holds, cancellations and
    completions."""
    orders, books, flow = run(zoho_base, alice, tax_rate, plans, document="sales_order")
    check(orders, books, flow, kind="salesorder")
