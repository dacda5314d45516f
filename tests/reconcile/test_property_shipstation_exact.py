"""Books that balance, proven for ShipStation → Exact Online sales invoices: random orders (1–5 lines,
quantities, prices with cents, shipping), then random edits, holds, cancellations, labels and voided
labels with the flow running at random points, through the ShipStation sandbox's V1 API and the
engine into the Exact sandbox. Each order's sales invoice holds ShipStation's `orderTotal` to the cent
(edits replace the open invoice's lines); a cancelled one is credited in full, once.

The period's reconciliation report, read through the registry's listers from both sandboxes, has
every order matched.

Left out (each a gap of the flow, not of the test): tax (the flow's one VAT code is "0", Geen BTW;
an order taxed otherwise is held for review, test_property_woocommerce_exact.py proves a taxed
store whose rate is the VAT code's) and order-level discounts (the flow sends them to review).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.reconcile.property_kit import (
    assert_balanced,
    assert_records_written,
    make_flow,
    property_settings,
    unique,
)
from tests.reconcile.strategies import SS_SKUS, OrderPlan, shipstation_order
from tests.reconcile.test_property_shipstation_zoho import Account, Placed
from tests.reconcile.test_property_shipstation_zoho import sync as ss_sync
from tests.reconcile.test_property_woocommerce_exact import OPTIONS, check_exact, fresh_company

pytestmark = pytest.mark.django_db(transaction=True)


def shipment_options(company) -> dict:
    """The sandbox company's shipping expense and carrier clearing accounts and its general journal."""
    gl = {row.data["Code"]: row.guid for row in company.entities.filter(entity="GLAccounts")}
    return {"exact_expense_gl_account": gl["4600"], "exact_offset_gl_account": gl["1600"], "exact_journal_code": "90"}


def shipstation_exact_plan(plan: OrderPlan) -> OrderPlan:
    """The Exact invoice flow's scope (module docstring): no tax, no order-level discount."""
    return OrderPlan(**{**plan.__dict__, "tax": Decimal("0"), "discount": Decimal("0")})


@property_settings(max_examples=10)
@given(plans=st.lists(shipstation_order().map(shipstation_exact_plan), min_size=1, max_size=2))
def test_sales_invoices_hold_the_order_totals(zoho_base, alice, plans):
    account = Account(zoho_base, alice)
    company, exact = fresh_company(alice, skus=SS_SKUS)
    # Labels are booked too (shipment costs as general journal entries), so the flow maps their accounts.
    flow = make_flow(
        alice, "shipstation_exact", account.connection(alice), exact, **OPTIONS, **shipment_options(company)
    )
    orders = [Placed(account, unique("SS").upper(), plan) for plan in plans]
    for step in range(max((len(p.ops) for p in plans), default=0)):
        for order in orders:
            if step < len(order.plan.ops):
                order.apply(order.plan.ops[step], flow)
    ss_sync(flow, account.account)
    assert_records_written(flow)
    assert_balanced(flow, {o.number for o in orders})
    for order in orders:
        source = account.get_order(order.order_id)
        check_exact(
            company, order.number, Decimal(str(source["orderTotal"])), "USD", source["orderStatus"] == "cancelled"
        )
