"""Pure mapping: invoices total to the cent, journals always balance (hypothesis), contacts, comments."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.canonical import Address, Customer, LineItem, Order, OrderStatus, Shipment, from_payload
from integrations.zoho import jsonutil, mapping

FIXTURES = Path(__file__).parent / "fixtures"

cents = st.decimals(min_value=Decimal("0"), max_value=Decimal("5000"), places=2)
prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("999.9999"), places=4)
quantities = st.decimals(min_value=Decimal("0"), max_value=Decimal("50"), places=2)


@st.composite
def orders(draw):
    lines = tuple(
        LineItem(
            sku=draw(st.sampled_from(["", "SKU-1", "SKU-2", "B-9"])),
            name=draw(st.text(min_size=0, max_size=8)),
            quantity=draw(quantities),
            unit_price=draw(prices),
            discount=draw(cents),
            tax=draw(cents),
        )
        for _ in range(draw(st.integers(1, 5)))
    )
    if all(line.quantity <= 0 for line in lines):
        lines = (*lines, LineItem(sku="X", name="x", quantity=Decimal("1"), unit_price=Decimal("1.00")))
    return Order(
        number=str(draw(st.integers(1, 10**6))),
        source_id="1",
        status=OrderStatus.OPEN,
        currency="USD",
        order_date=datetime(2026, 3, 1, tzinfo=UTC),
        lines=lines,
        shipping=draw(cents),
        tax=draw(cents),
        discount=draw(cents),
        total=draw(st.decimals(min_value=Decimal("-100"), max_value=Decimal("100000"), places=2)),
    )


@settings(max_examples=300, deadline=None)
@given(orders())
def test_invoice_total_equals_the_order_total_to_the_cent(order):
    payload = mapping.order_to_invoice(order, customer_id="1", item_ids={"SKU-1": "11"})
    assert mapping.zoho_invoice_total(payload) == order.total
    assert payload["reference_number"] == order.number
    assert payload["discount"] >= 0
    assert all(line["quantity"] > 0 for line in payload["line_items"])
    # and it survives the JSON encoding exactly (no float on the way)
    assert mapping.zoho_invoice_total(jsonutil.loads(jsonutil.dumps(payload))) == order.total


@st.composite
def shipments(draw):
    return Shipment(
        source_id=str(draw(st.integers(1, 10**6))),
        order_id="9",
        order_number=draw(st.text(alphabet="0123456789-ABC", min_size=1, max_size=10)),
        ship_date=draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1))),
        carrier=draw(st.sampled_from(["", "ups", "fedex"])),
        service=draw(st.sampled_from(["", "ground", "2day"])),
        tracking_number=draw(st.text(alphabet="0123456789Z", max_size=12)),
        shipping_cost=draw(cents),
        insurance_cost=draw(cents),
    )


@settings(max_examples=300, deadline=None)
@given(shipments(), st.booleans(), st.sampled_from(["", "77"]))
def test_journal_always_balances(shipment, reversal, insurance_account):
    if shipment.total_cost <= 0:
        with pytest.raises(mapping.MappingError):
            mapping.shipment_to_journal(shipment, expense_account_id="1", offset_account_id="2")
        return
    payload = mapping.shipment_to_journal(
        shipment,
        expense_account_id="1",
        offset_account_id="2",
        insurance_account_id=insurance_account,
        reversal=reversal,
    )
    assert mapping.journal_balance(payload) == 0
    assert all(line["amount"] > 0 for line in payload["line_items"])
    debits = sum(line["amount"] for line in payload["line_items"] if line["debit_or_credit"] == "debit")
    assert debits == shipment.total_cost
    assert payload["reference_number"] == shipment.order_number
    assert mapping.shipment_marker(shipment, reversal=reversal) in payload["notes"]


def test_the_reversal_swaps_every_side():
    shipment = Shipment("55", "9", "1001", date(2026, 1, 5), "ups", "ground", "1Z9", Decimal("7.25"), Decimal("1.00"))
    posted = mapping.shipment_to_journal(shipment, expense_account_id="E", offset_account_id="O")
    reversed_ = mapping.shipment_to_journal(shipment, expense_account_id="E", offset_account_id="O", reversal=True)
    assert [(ln["account_id"], ln["debit_or_credit"], ln["amount"]) for ln in posted["line_items"]] == [
        ("E", "debit", Decimal("7.25")),
        ("E", "debit", Decimal("1.00")),
        ("O", "credit", Decimal("8.25")),
    ]
    assert [ln["debit_or_credit"] for ln in reversed_["line_items"]] == ["credit", "credit", "debit"]
    assert "ups ground" in posted["notes"] and "1Z9" in posted["notes"] and "[shipment:55]" in posted["notes"]
    assert "[shipment-void:55]" in reversed_["notes"]


def test_journal_needs_both_accounts():
    shipment = Shipment("55", "9", "1001", date(2026, 1, 5), shipping_cost=Decimal("7.25"))
    with pytest.raises(mapping.MappingError, match="expense and offset"):
        mapping.shipment_to_journal(shipment, expense_account_id="", offset_account_id="O")


def test_order_fixture_maps_to_the_expected_invoice():
    order = from_payload(Order, json.loads((FIXTURES / "order_1001.json").read_text()))
    payload = mapping.order_to_invoice(order, customer_id="460000000000000001", item_ids={"MUG-1": "4600000000000042"})
    expected = json.loads((FIXTURES / "invoice_1001.json").read_text())
    assert json.loads(jsonutil.dumps(payload)) == expected
    assert mapping.zoho_invoice_total(payload) == order.total == Decimal("36.47")
    assert payload["adjustment_description"] == "Tax"


def test_an_order_without_quantities_cannot_become_an_invoice():
    order = Order("1", "1", OrderStatus.OPEN, "USD", datetime(2026, 1, 1, tzinfo=UTC), lines=())
    with pytest.raises(mapping.MappingError, match="no lines"):
        mapping.order_to_invoice(order, customer_id="1", item_ids={})


def test_customer_to_contact():
    customer = Customer(
        key="ada@example.com",
        email="ada@example.com",
        name="Ada Lovelace",
        company="Analytical Engines",
        phone="+44 1",
        billing=Address(
            name="Ada", street1="1 Main St", street2="Flat 2", city="London", postal_code="N1", country="GB"
        ),
    )
    payload = mapping.customer_to_contact(customer)
    assert payload["contact_name"] == "Ada Lovelace" and payload["company_name"] == "Analytical Engines"
    assert payload["customer_sub_type"] == "business"
    assert payload["billing_address"] == {
        "attention": "Ada",
        "address": "1 Main St",
        "street2": "Flat 2",
        "city": "London",
        "zip": "N1",
        "country": "GB",
    }
    assert payload["contact_persons"] == [
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "is_primary_contact": True,
            "phone": "+44 1",
        }
    ]
    assert "contact_persons" not in mapping.customer_to_contact(customer, include_person=False)
    assert mapping.customer_to_contact(Customer(key="x@y.z", email="x@y.z"))["contact_name"] == "x@y.z"


def test_shipment_comment_text():
    shipment = Shipment("55", "9", "1001", date(2026, 1, 5), "ups", "ground", "1Z9", Decimal("7.25"), currency="USD")
    text = mapping.shipment_comment(shipment)
    assert text == (
        "Shipment 55 of order 1001, via ups ground, tracking 1Z9 on 2026-01-05. Shipping cost 7.25 USD. [shipment:55]"
    )
    assert "voided" in mapping.shipment_comment(shipment, reversal=True)


def test_decimal_json_is_exact():
    assert jsonutil.dumps({"a": Decimal("0.10"), "b": [Decimal("-3")]}) == '{"a":0.10,"b":[-3]}'
    assert jsonutil.loads('{"a": 0.1}')["a"] == Decimal("0.1")
