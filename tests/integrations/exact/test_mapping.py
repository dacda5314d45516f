"""Pure mappings: Exact sales order → canonical Order; shipment cost → balanced journal entry."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.canonical import LineItem, OrderStatus, Shipment
from integrations.exact.mapping import (
    JournalOptions,
    allocate,
    entry_balance,
    journal_entry_from_shipment,
    line_from_exact,
    order_from_exact,
)

FIXTURES = Path(__file__).parent / "fixtures"
ACCOUNT = {
    "ID": "1f6a0f5e-0000-4000-8000-000000000001",
    "Code": "                25",
    "Name": "De Vries BV",
    "Email": "Inkoop@DeVries.example",
}
ADDRESS = {
    "ID": "1f6a0f5e-0000-4000-8000-000000000002",
    "AddressLine1": "Damrak 70",
    "City": "Amsterdam",
    "Postcode": "1012 LM",
    "Country": "NL ",
    "ContactName": "Sanne",
}
OPTIONS = JournalOptions("gl-expense", "gl-offset", "90", {"bb000000-0000-4000-8000-000000000001": "CC100"}, "CC200")


def load(name):
    return json.loads((FIXTURES / name).read_text())["d"]


def test_sales_order_maps_to_canonical_order():
    order = order_from_exact(load("sales_order.json"), load("sales_order_lines.json")["results"], ACCOUNT, ADDRESS)
    assert order.number == "1234" and order.key == order.source_id == "5b7f4515-b7a0-4839-ac69-574968677d96"
    assert order.status == OrderStatus.OPEN and order.currency == "EUR"
    assert order.order_date.isoformat() == "2024-05-01T00:00:00+00:00"
    assert order.customer.email == "inkoop@devries.example" and order.ship_to.country == "NL"
    assert [(line.sku, line.quantity, line.unit_price) for line in order.lines] == [
        ("MUG-01", Decimal("2.0"), Decimal("12.50")),
        ("TEA-02", Decimal("1.0"), Decimal("12.50")),
    ]
    assert order.lines[0].metadata["Project"] == "bb000000-0000-4000-8000-000000000001"


def test_cancelled_and_complete_status():
    so = load("sales_order.json")
    assert order_from_exact({**so, "Status": 45}, [], None, None).status == OrderStatus.CANCELLED
    assert order_from_exact({**so, "Status": 21}, [], None, None).status == OrderStatus.SHIPPED


def _shipment(cost="7.95", insurance="1.00"):
    return Shipment(
        source_id="987",
        order_id="1",
        order_number="1234",
        ship_date=date(2024, 5, 2),
        carrier="ups",
        tracking_number="1Z999",
        shipping_cost=Decimal(cost),
        insurance_cost=Decimal(insurance),
        order_key="5b7f4515-b7a0-4839-ac69-574968677d96",
    )


def test_journal_entry_allocates_pro_rata_with_project_cost_centres():
    lines = tuple(line_from_exact(r) for r in load("sales_order_lines.json")["results"])
    payload = journal_entry_from_shipment(_shipment(), lines, OPTIONS)
    rows = payload["GeneralJournalEntryLines"]
    assert [r["AmountFC"] for r in rows] == [5.96, 2.99, -8.95]
    assert rows[0]["CostCenter"] == "CC100" and rows[1]["CostCenter"] == "CC200"
    assert entry_balance(payload) == 0 and payload["JournalCode"] == "90"
    reverse = journal_entry_from_shipment(_shipment(), lines, OPTIONS, reverse=True)
    assert [r["AmountFC"] for r in reverse["GeneralJournalEntryLines"]] == [-5.96, -2.99, 8.95]


amounts = st.decimals(min_value=Decimal("-50"), max_value=Decimal("5000"), places=2)


@settings(max_examples=300, deadline=None)
@given(
    weights=st.lists(amounts, min_size=1, max_size=12),
    cost=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2),
    insurance=st.decimals(min_value=Decimal("0"), max_value=Decimal("50"), places=2),
)
def test_allocation_always_balances_and_sums_to_the_cost(weights, cost, insurance):
    parts = allocate(cost + insurance, weights)
    assert sum(parts) == cost + insurance and all(p == p.quantize(Decimal("0.01")) for p in parts)
    lines = tuple(LineItem(sku=f"S{i}", name="x", quantity=Decimal(1), unit_price=w) for i, w in enumerate(weights))
    payload = journal_entry_from_shipment(_shipment(str(cost), str(insurance)), lines, OPTIONS)
    assert entry_balance(payload) == 0
    debit = sum(Decimal(str(r["AmountFC"])) for r in payload["GeneralJournalEntryLines"][:-1])
    assert debit == cost + insurance
