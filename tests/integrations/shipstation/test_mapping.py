"""ShipStation JSON <-> canonical, from the vendor's own examples (fixtures/ are V1-OAS examples)."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.canonical import Address, Customer, LineItem, Order, OrderStatus, money
from integrations.shipstation import mapping

from .conftest import fixture


def test_spec_order_maps_with_discount_line_and_exact_totals():
    order = mapping.order_from_shipstation(fixture("order_spec_example.json"), currency="USD")
    assert order.number == "TEST-ORDER-API-DOCS" and order.source_id == "94113592"
    assert order.key == "0f6bec18-9-4771-83aa-f392d84f4c74"
    assert order.status is OrderStatus.OPEN
    assert [(line.sku, line.quantity, line.unit_price) for line in order.lines] == [("ABC123", 2, Decimal("99.99"))]
    assert order.discount == Decimal("20.55")  # the "10% OFF" adjustment item
    assert order.shipping == Decimal("10.00") and order.tax == Decimal("5.00")
    assert order.total == Decimal("194.43") == order.computed_total
    assert order.customer.key == "headhoncho@whitehouse.gov"
    assert order.ship_to.city == "Washington" and order.ship_to.country == "US"
    assert order.notes == "Please ship as soon as possible!"
    assert order.internal_notes.startswith("Customer called")
    assert order.modified_at == datetime(2015, 9, 8, 18, 3, 12, 380000, tzinfo=UTC)
    assert order.ship_date == date(2015, 7, 2)


def test_item_tax_is_inside_order_tax():
    data = fixture("order_spec_example.json")
    data["items"][0]["taxAmount"] = 2.5
    order = mapping.order_from_shipstation(data)
    assert order.lines[0].tax == Decimal("2.50") and order.tax == Decimal("2.50")
    assert order.computed_total == Decimal("194.43")


def test_customer_key_falls_back_to_username_and_lowercases_email():
    data = fixture("order_spec_example.json")
    data["customerEmail"] = "Mixed@Case.COM"
    assert mapping.order_from_shipstation(data).customer.key == "mixed@case.com"
    data["customerEmail"] = None
    data["customerUsername"] = "shopper42"
    assert mapping.order_from_shipstation(data).customer.key == "shopper42"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("awaiting_payment", "awaiting_payment"),
        ("awaiting_shipment", "open"),
        ("on_hold", "on_hold"),
        ("shipped", "shipped"),
        ("cancelled", "cancelled"),
    ],
)
def test_status_mapping(status, expected):
    data = {**fixture("order_spec_example.json"), "orderStatus": status}
    assert mapping.order_from_shipstation(data).status == expected


def test_missing_fields_and_unknown_status_are_clear_errors():
    with pytest.raises(mapping.MappingError, match="orderNumber"):
        mapping.order_from_shipstation({**fixture("order_spec_example.json"), "orderNumber": None})
    with pytest.raises(mapping.MappingError, match="unknown ShipStation orderStatus"):
        mapping.order_from_shipstation({**fixture("order_spec_example.json"), "orderStatus": "teleported"})


def test_spec_shipments_map():
    first, second = (mapping.shipment_from_shipstation(s) for s in fixture("shipments_spec_example.json")["shipments"])
    assert first.source_id == "33974374" and first.order_id == "43945660" and first.order_number == "100038-1"
    assert first.shipping_cost == Decimal("1.93") and first.insurance_cost == Decimal("0.00")
    assert first.carrier == "stamps_com" and first.service == "usps_first_class_mail"
    assert first.tracking_number == "9400111899561704681189" and first.ship_date == date(2014, 10, 3)
    assert first.order_key == "8061c220f0794a9b92460b8bae6837e4" and not first.voided
    assert first.lines[0].sku == "SQ3785739"
    assert second.order_key == ""


def test_voided_shipment():
    data = {
        **fixture("shipments_spec_example.json")["shipments"][0],
        "voided": True,
        "voidDate": "2014-10-04T10:00:00.0000000",
    }
    shipment = mapping.shipment_from_shipstation(data)
    assert shipment.voided and shipment.void_date == datetime(2014, 10, 4, 17, 0, tzinfo=UTC)


def test_spec_customer_maps():
    customer = mapping.customer_from_shipstation(fixture("customer_spec_example.json"))
    assert customer.key == "supermancam@example.com" and customer.source_id == "12345678"
    assert customer.billing.city == "Auburn" and customer.billing.country == "US"


# --- Round trip: canonical -> createorder JSON -> canonical -------------------------------------

cents = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999.99"), places=2)
text = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=12)
address = st.builds(
    Address,
    name=text,
    company=st.just(""),
    street1=text,
    city=text,
    state=st.just("TX"),
    postal_code=st.just("78701"),
    country=st.just("US"),
)
moments = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)).map(
    lambda d: d.replace(
        microsecond=0, day=min(d.day, 30), month=6
    )  # away from the repeated hour (tested in test_timeutil)
)


@st.composite
def orders(draw):
    lines = []
    for i in range(draw(st.integers(1, 4))):
        price = draw(cents)
        qty = Decimal(draw(st.integers(1, 20)))
        discount = draw(
            st.one_of(st.just(Decimal("0.00")), st.decimals(min_value=Decimal("0.01"), max_value=price * qty, places=2))
        )
        lines.append(
            LineItem(
                sku=draw(text),
                name=draw(text),
                quantity=qty,
                unit_price=price,
                discount=money(discount),
                tax=draw(cents),
                line_id=f"L{i}",
            )
        )
    bill = draw(address)
    email = draw(text).lower() + "@example.com"
    customer = Customer(
        key=email, email=email, name=bill.name, company=bill.company, phone=bill.phone, billing=bill, shipping=bill
    )
    order = Order(
        number=draw(text),
        source_id="1",
        status=draw(st.sampled_from(list(OrderStatus))),
        currency="USD",
        order_date=draw(moments),
        key=draw(text),
        customer=customer,
        bill_to=bill,
        ship_to=bill,
        lines=tuple(lines),
        shipping=draw(cents),
        tax=draw(cents),
        discount=draw(st.one_of(st.just(Decimal("0.00")), cents)),
        notes=draw(st.one_of(st.just(""), text)),
        internal_notes=draw(st.one_of(st.just(""), text)),
    )
    return Order(**{**order.__dict__, "total": order.computed_total})


@settings(max_examples=60, deadline=None)
@given(orders())
def test_canonical_order_round_trips_through_createorder_json(order):
    body = mapping.order_to_shipstation(order)
    # what ShipStation adds on read: ids, and orderTotal = items + shipping + tax
    items_total = sum(money(Decimal(str(i["unitPrice"])) * Decimal(str(i["quantity"]))) for i in body["items"])
    read = {
        **body,
        "orderId": 1,
        "orderTotal": float(
            money(items_total + Decimal(str(body["shippingAmount"])) + Decimal(str(body["taxAmount"])))
        ),
    }
    back = mapping.order_from_shipstation(read, currency="USD")
    assert back == order
    assert back.total == order.computed_total == money(read["orderTotal"])


def test_item_options_become_zoho_line_overrides():
    from integrations.zoho.mapping import ITEM_ID_KEY, line_override
    from integrations.zoho.salesorders import lift_line_overrides

    data = fixture("order_spec_example.json")
    data["items"][0]["options"] = [
        {"name": "zohobooks_item_id", "value": "460000000012345"},
        {"name": "Description", "value": "Gift-wrapped"},
        {"name": "Size", "value": "Large"},
    ]
    order = lift_line_overrides(mapping.order_from_shipstation(data, currency="USD"))
    (line,) = order.lines
    assert line_override(line, ITEM_ID_KEY) == "460000000012345"
    assert line_override(line, "description") == "Gift-wrapped"
    assert line.metadata["options"][2] == {"name": "Size", "value": "Large"}  # kept, not an override
