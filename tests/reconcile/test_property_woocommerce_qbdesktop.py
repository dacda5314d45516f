"""Books that balance, proven for WooCommerce → QuickBooks Desktop through the Web Connector: random
paid or unpaid orders (1–5 lines, quantities, prices with cents, percentage and fixed coupons, the
store's tax rate, shipping), then random edits, holds and completions with the flow and the Web
Connector simulator running at random points, through the store sandbox's REST API, the engine and
our SOAP endpoint into the simulated company file.

The property: an order paid at a run (the preset's "post_when" = "paid") has exactly one
QuickBooks invoice whose lines (items, discount, shipping, sales tax) add up to the store's `total`
to the cent; an order never paid has none.

A paid order edited after its invoice was added needs review (the flow never changes a QuickBooks
transaction), its record saying both amounts. Left out, each by the flow's design (the record goes
to review instead): a cancellation or refund after invoicing (this flow never voids or deletes
QuickBooks transactions), fee lines (no SKU to match an item).

The period's reconciliation agrees, read through the registry's listers: QuickBooks' lister queues
its query and says the ledger is not ready (connector.reconcile.LedgerNotReady) until the Web
Connector's next run answers it. Every order posted and still as posted is matched (all of them
together: property_kit.assert_balanced); an order edited after its invoice shows as needs review, one
never paid as missing, the flow having skipped it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from connector.models import Flow, Record
from connector.reconcile import LedgerNotReady, Report
from connector.reconcile_runs import build_report
from connector.redis import get_redis
from integrations.qbdesktop.sandbox.client import WebConnectorSimulator
from integrations.qbdesktop.sandbox.company import SimulatedCompany
from tests.integrations.qbdesktop.conftest import make_qbd_connection
from tests.reconcile.property_kit import assert_balanced, make_flow, property_settings, today_period
from tests.reconcile.strategies import TAX_RATES, WOO_SKUS, Line, Op, OrderPlan, woo_order
from tests.reconcile.test_property_woocommerce_zoho import BILLING, Store, apply, place
from tests.reconcile.test_property_woocommerce_zoho import sync as poll

pytestmark = pytest.mark.django_db(transaction=True)

PAID = ("processing", "completed")
# What happens to an order here: nothing the flow sends to review by design (module docstring).
QBD_OPS = ("sync", "hold", "ship", "quantity", "add_line")


def company_file() -> SimulatedCompany:
    company = SimulatedCompany("Property books", seed=5)
    company.add_customer(BILLING_COMPANY, email="ap@acme.test")
    for sku in WOO_SKUS:
        company.add_item(sku, price="1.00", quantity_on_hand="100000")
    company.add_item("Shipping", item_type="ItemService", price="0", quantity_on_hand=None)
    company.add_item("Discount", item_type="ItemOtherCharge", quantity_on_hand=None)
    company.add_item("Sales Tax", item_type="ItemOtherCharge", quantity_on_hand=None)
    return company


BILLING_COMPANY = "Acme Ltd"


class QuickBooks:
    """The simulated company file and the Web Connector that polls our SOAP endpoint for it."""

    def __init__(self, base: str, alice):
        self.company = company_file()
        self.connection, self.user, self.password = make_qbd_connection(alice.org)
        self.base = base

    def web_connector_runs(self) -> None:
        # The real Web Connector runs minutes apart; here runs follow each other at once, so the
        # per-address login bucket (which guards against password guessing) starts full each time.
        redis = get_redis()
        for key in redis.scan_iter("*qbwc-auth:*"):
            redis.delete(key)
        WebConnectorSimulator(
            self.base,
            self.user.username,
            self.password,
            self.company,
            owner_id=self.user.owner_id,
            file_id=self.user.file_id,
        ).run()

    def invoices(self, number: str):
        return [t for t in self.company.invoices() if t.ref_number == number]


def for_quickbooks(plan: OrderPlan) -> OrderPlan:
    ops = tuple(op for op in plan.ops if op.kind in QBD_OPS)
    return OrderPlan(**{**plan.__dict__, "fee": None, "ops": ops})


def reconciled(flow: Flow, books: QuickBooks) -> Report:
    """The period's report as a reconciliation run reads it: QuickBooks answers the listing on the Web
    Connector's next run, and not before."""
    with pytest.raises(LedgerNotReady):
        build_report(Flow.objects.get(pk=flow.pk), today_period())
    books.web_connector_runs()
    return build_report(Flow.objects.get(pk=flow.pk), today_period())


@property_settings(max_examples=4)
# Paid, invoiced, shipped: every order of the period matched in the reconciliation.
@example(
    tax_rate="0",
    plans=[
        OrderPlan(lines=(Line("WOO-MUG", 2, Decimal("8.50")),), shipping=Decimal("4.95"), ops=(Op("sync"), Op("ship"))),
        OrderPlan(lines=(Line("WOO-MUG", 1, Decimal("3.10")),), ops=(Op("hold"),)),
    ],
)
# Paid, invoiced, then edited in the store before it shipped: QuickBooks kept the first amount behind
# a "synced" record; now the record needs review and says both amounts.
@example(
    tax_rate="0",
    plans=[OrderPlan(lines=(Line("WOO-MUG", 1, Decimal("8.50")),), ops=(Op("sync"), Op("quantity", quantity=3)))],
)
@given(
    tax_rate=st.sampled_from(TAX_RATES),
    plans=st.lists(woo_order(currencies=("USD",), refunds=False).map(for_quickbooks), min_size=1, max_size=2),
)
def test_paid_orders_are_invoiced_to_the_cent(zoho_base, alice, tax_rate, plans):
    store = Store(zoho_base, alice, tax_rate)
    books = QuickBooks(zoho_base, alice)
    flow = make_flow(alice, "woocommerce_qbdesktop", store.connection(alice), books.connection)
    # The billing company names the QuickBooks customer (the flow never creates customers).
    orders = [place(store, plan, f"buyer{i}@example.com") for i, plan in enumerate(plans)]
    for order in orders:
        store.call("PUT", f"orders/{order['id']}", {"billing": {**BILLING, "company": BILLING_COMPANY}})
    paid_at_a_run: set[str] = set()

    def run(flow: Flow) -> None:
        poll(flow, store.shop)
        books.web_connector_runs()  # lookups in one run, the invoice in the next, as QuickBooks pairs them
        books.web_connector_runs()

    for step in range(max((len(p.ops) for p in plans), default=0)):
        for i, plan in enumerate(plans):
            if step >= len(plan.ops):
                continue
            if plan.ops[step].kind == "sync":
                current = [store.call("GET", f"orders/{o['id']}") for o in orders]
                paid_at_a_run |= {o["number"] for o in current if o["status"] in PAID}
                run(flow)
            else:
                orders[i] = apply(store, orders[i], plan.ops[step], flow)
    paid_at_a_run |= {o["number"] for o in orders if o["status"] in PAID}
    run(flow)
    # Nothing failed; the only records held are orders edited after their invoice was added, which
    # this flow never changes (they go to review, saying both amounts, instead of staying "synced").
    records = {r.source_ref: r for r in Record.objects.filter(flow=flow, object_type="order")}
    assert {r.status for r in records.values()} <= {"synced", "skipped", "needs_review"}, records
    for order in orders:
        written = books.invoices(order["number"])
        if order["number"] not in paid_at_a_run:
            assert not written, (order["number"], order["status"], written)
            continue
        assert len(written) == 1, (order["number"], written)
        (invoice,) = written
        assert invoice.customer == BILLING_COMPANY
        total = sum((Decimal(qty) * Decimal(rate) for _id, _item, qty, rate in invoice.lines), Decimal("0"))
        total = total.quantize(Decimal("0.01"))
        record = records[order["number"]]
        if record.status == "needs_review":
            assert total != Decimal(order["total"]), (order["number"], total)
            assert f"QuickBooks holds {total}, the order now totals {order['total']}" in record.last_error
        else:
            assert total == Decimal(order["total"]), (order["number"], invoice.lines, order["total"])

    report = reconciled(flow, books)
    lines = {line.reference: line for line in report.lines}
    assert set(lines) == {o["number"] for o in orders}, sorted(lines)  # nothing extra, nothing unexplained
    for order in orders:
        line, record = lines[order["number"]], records[order["number"]]
        if order["number"] not in paid_at_a_run:
            assert (line.status, record.status, line.note) == ("missing", "skipped", "The flow skipped it."), line
        elif record.status == "needs_review":
            assert line.status == "needs_review" and line.source_amount == Decimal(order["total"]), line
        else:
            assert line.status == "matched" and line.ledger_amount == Decimal(order["total"]), line
    if {r.status for r in records.values()} == {"synced"}:
        assert_balanced(flow, {o["number"] for o in orders})
