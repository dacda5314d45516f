"""Pure mapping: WooCommerce REST v3 JSON -> canonical (fixtures from the official docs and by hand)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.canonical import Order as CanonicalOrder
from connector.canonical import OrderStatus, canonical_hash, from_payload, to_payload
from integrations.woocommerce.mapping import MappingError, map_customer, map_order, map_status, parse_gmt

from .conftest import load_fixture


def test_docs_order_maps_every_field():
    order = map_order(load_fixture("order_727_docs.json"))
    assert order.number == "727" and order.source_id == "727"
    assert order.status == OrderStatus.OPEN
    assert order.currency == "USD"
    assert order.order_date == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert order.modified_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)
    assert order.customer.key == "john.doe@example.com"
    assert order.bill_to.street1 == "969 Market" and order.ship_to.postal_code == "94103"
    first, second = order.lines
    assert (first.sku, first.quantity, first.unit_price, first.tax) == (
        "",
        Decimal(2),
        Decimal("3.00"),
        Decimal("0.45"),
    )
    assert second.sku == "Bar3" and second.metadata["meta_data"] == [
        {"key": "pa_color", "value": "black"},
        {"key": "size", "value": "M Test"},
    ]
    assert order.shipping == Decimal("10.00")
    assert order.total == Decimal("29.35") == order.computed_total


def test_coupons_fees_and_cart_level_tax_rounding_add_up_to_the_cent():
    order = map_order(load_fixture("order_coupon_fee_rounding.json"))
    assert order.status == OrderStatus.ON_HOLD
    assert order.currency == "EUR"
    gadget, widget, fee = order.lines
    assert gadget.discount == Decimal("1.00") and widget.discount == Decimal("0.50")
    assert gadget.unit_price == Decimal("3.333333")
    assert gadget.metadata["meta_data"] == [{"key": "colour", "value": "red"}]  # private _keys dropped
    assert (fee.name, fee.unit_price, fee.tax, fee.metadata["kind"]) == (
        "Gift wrap",
        Decimal("2.00"),
        Decimal("0.15"),
        "fee",
    )
    assert order.discount == Decimal("0.00")  # already inside the line totals
    assert order.tax == Decimal("0.29")  # shipping tax 0.30 minus a cent of cart-level rounding
    assert order.computed_total == order.total == Decimal("20.96")
    assert order.customer.key == "emile.zola@example.fr"  # guest keyed by lower-cased billing email
    assert order.bill_to.country == "FR"
    assert order.notes == "Please gift wrap"
    assert "save10" in order.internal_notes


def test_payload_round_trip_and_stable_hash():
    order = map_order(load_fixture("order_coupon_fee_rounding.json"))
    again = from_payload(CanonicalOrder, to_payload(order))
    assert canonical_hash(again) == canonical_hash(order)


@pytest.mark.parametrize(
    ("wc", "canonical"),
    [
        ("pending", OrderStatus.AWAITING_PAYMENT),
        ("on-hold", OrderStatus.ON_HOLD),
        ("processing", OrderStatus.OPEN),
        ("completed", OrderStatus.SHIPPED),
        ("cancelled", OrderStatus.CANCELLED),
        ("refunded", OrderStatus.CANCELLED),
        ("failed", OrderStatus.AWAITING_PAYMENT),
        ("some-plugin-status", OrderStatus.OPEN),
    ],
)
def test_status_mapping(wc, canonical):
    assert map_status(wc) == canonical


def test_dates_are_aware_utc():
    assert parse_gmt("2024-10-27T01:30:00") == datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    assert parse_gmt("2024-10-27T03:30:00+02:00") == datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    assert parse_gmt(None) is None
    with pytest.raises(MappingError):
        parse_gmt("yesterday")


def test_bad_orders_raise_mapping_error():
    with pytest.raises(MappingError):
        map_order({"number": "1"})
    with pytest.raises(MappingError):
        map_order({"id": 1, "currency": "USD"})  # no date_created_gmt
    with pytest.raises(MappingError):
        map_order(
            {"id": 1, "date_created_gmt": "2024-01-01T00:00:00", "currency": "USD", "line_items": [{"quantity": "x"}]}
        )


def test_customer_mapping():
    customer = map_customer(load_fixture("customer_docs.json"))
    assert customer.key == customer.email == "john.doe@example.com"
    assert customer.name == "John Doe"
    assert customer.billing.city == "San Francisco"
    assert customer.modified_at.tzinfo is not None
    assert map_customer({"id": 9, "email": "", "billing": {}}).key == "woocommerce-customer:9"


cents = st.integers(min_value=0, max_value=5_000_000)


@st.composite
def consistent_orders(draw):
    """Orders whose totals obey WooCommerce's arithmetic, with coupons, fees and cart-tax rounding."""
    lines, grand = [], Decimal("0.00")
    line_tax_sum = Decimal("0.00")
    for i in range(draw(st.integers(min_value=0, max_value=6))):
        subtotal = Decimal(draw(cents)) / 100
        discount = Decimal(draw(st.integers(min_value=0, max_value=int(subtotal * 100)))) / 100
        tax = Decimal(draw(st.integers(min_value=0, max_value=200_000))) / 100
        total = subtotal - discount
        lines.append(
            {
                "id": i + 1,
                "name": f"Item {i}",
                "sku": f"SKU-{i}",
                "quantity": draw(st.integers(min_value=1, max_value=999)),
                "subtotal": f"{subtotal:.2f}",
                "total": f"{total:.2f}",
                "total_tax": f"{tax:.2f}",
            }
        )
        grand += total + tax
        line_tax_sum += tax
    fees = []
    for i in range(draw(st.integers(min_value=0, max_value=2))):
        amount = Decimal(draw(st.integers(min_value=-50_000, max_value=50_000))) / 100
        fee_tax = Decimal(draw(st.integers(min_value=0, max_value=5_000))) / 100
        fees.append({"id": 100 + i, "name": "Fee", "total": f"{amount:.2f}", "total_tax": f"{fee_tax:.2f}"})
        grand += amount + fee_tax
        line_tax_sum += fee_tax
    shipping = Decimal(draw(cents)) / 100
    shipping_tax = Decimal(draw(st.integers(min_value=0, max_value=100_000))) / 100
    rounding = Decimal(draw(st.integers(min_value=-2, max_value=2))) / 100  # cart-level tax rounding
    total_tax = line_tax_sum + shipping_tax + rounding
    grand += shipping + shipping_tax + rounding
    return {
        "id": 1,
        "number": "1",
        "status": draw(st.sampled_from(["pending", "processing", "completed", "cancelled"])),
        "currency": draw(st.sampled_from(["USD", "EUR", "JPY", "GBP"])),
        "date_created_gmt": "2024-01-01T00:00:00",
        "date_modified_gmt": "2024-01-02T00:00:00",
        "billing": {"email": "x@example.com"},
        "line_items": lines,
        "fee_lines": fees,
        "shipping_total": f"{shipping:.2f}",
        "shipping_tax": f"{shipping_tax:.2f}",
        "total_tax": f"{total_tax:.2f}",
        "total": f"{grand:.2f}",
    }


@settings(max_examples=200, deadline=None)
@given(consistent_orders())
def test_computed_total_equals_the_order_total_to_the_cent(data):
    order = map_order(data)
    assert order.computed_total == order.total == Decimal(data["total"])
