"""ShipStation V1 JSON <-> canonical objects. Pure functions: no I/O, no settings.

Money: every amount goes through `money()` (Decimal to the cent, never float arithmetic).
Times: via `timeutil` (Pacific wall clock -> aware UTC, with its explicit DST rules).

Totals (V1-OAS createorder example: items 2 x 99.99 and a -20.55 adjustment, shipping 10, tax 5,
orderTotal 194.43): `orderTotal = sum(items) + shippingAmount + taxAmount`, so an item's `taxAmount`
is already inside the order's `taxAmount`. Canonical lines carry their own tax; `Order.tax` keeps only
the part not on lines.

Discounts: ShipStation has no discount field. Discounts are items with `"adjustment": true` and a
negative `unitPrice` (V1-OAS example item "10% OFF", sku "DISCOUNT CODE"). We read every adjustment
(or negative-price) item as a discount. One whose `lineItemKey` is `<key of a real line>:discount` is
that line's discount; any other is an order-level discount. Writing back does the same in reverse.

Currency: V1 orders and shipments carry no currency; the caller passes the account's currency.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector.canonical import Address, Customer, LineItem, Order, OrderStatus, Shipment, money
from integrations.shipstation import timeutil

DISCOUNT_SUFFIX = ":discount"
ORDER_DISCOUNT_NAME = "Discount"

STATUS_FROM_SHIPSTATION = {
    "awaiting_payment": OrderStatus.AWAITING_PAYMENT,
    "awaiting_shipment": OrderStatus.OPEN,
    "pending_fulfillment": OrderStatus.OPEN,  # sent to a fulfilment provider, not shipped yet
    "on_hold": OrderStatus.ON_HOLD,
    "rejected_fulfillment": OrderStatus.ON_HOLD,  # a person must act
    "shipped": OrderStatus.SHIPPED,
    "cancelled": OrderStatus.CANCELLED,
}
STATUS_TO_SHIPSTATION = {
    OrderStatus.AWAITING_PAYMENT: "awaiting_payment",
    OrderStatus.OPEN: "awaiting_shipment",
    OrderStatus.ON_HOLD: "on_hold",
    OrderStatus.SHIPPED: "shipped",
    OrderStatus.CANCELLED: "cancelled",
}

ADDRESS_FIELDS = ("name", "company", "street1", "street2", "street3", "city", "state", "postalCode", "country", "phone")


class MappingError(ValueError):
    """The vendor JSON lacks something we cannot do without (a clear, per-record failure)."""


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _quantity(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal("0")
    return Decimal(repr(value) if isinstance(value, float) else str(value))


def _number(value: Decimal) -> int | float:
    """A Decimal as a JSON number (V1 sends and expects numbers); exact for cents and whole counts."""
    return int(value) if value == value.to_integral_value() and abs(value) < 10**15 else float(value)


def _require(data: dict, *names: str) -> None:
    missing = [n for n in names if data.get(n) in (None, "")]
    if missing:
        raise MappingError(f"ShipStation object is missing {', '.join(missing)}")


# --- Addresses and customers --------------------------------------------------------------------


def address_from_shipstation(data: dict | None) -> Address | None:
    if not data:
        return None
    return Address(
        name=_text(data.get("name")),
        company=_text(data.get("company")),
        street1=_text(data.get("street1")),
        street2=_text(data.get("street2")),
        street3=_text(data.get("street3")),
        city=_text(data.get("city")),
        state=_text(data.get("state")),
        postal_code=_text(data.get("postalCode")),
        country=_text(data.get("country") or data.get("countryCode")).upper(),
        phone=_text(data.get("phone")),
    )


def address_to_shipstation(address: Address | None) -> dict:
    address = address or Address()
    return {
        "name": address.name,
        "company": address.company or None,
        "street1": address.street1 or None,
        "street2": address.street2 or None,
        "street3": address.street3 or None,
        "city": address.city or None,
        "state": address.state or None,
        "postalCode": address.postal_code or None,
        "country": address.country or None,
        "phone": address.phone or None,
    }


def customer_key(email: str, username: str) -> str:
    """Natural key: lower-cased email, else the store's username."""
    return email.strip().lower() or username.strip()


def customer_from_order(data: dict) -> Customer | None:
    """The customer an order implies (ShipStation creates customers from orders)."""
    email = _text(data.get("customerEmail"))
    username = _text(data.get("customerUsername"))
    key = customer_key(email, username)
    if not key:
        return None
    bill_to = address_from_shipstation(data.get("billTo"))
    return Customer(
        key=key,
        email=email,
        name=bill_to.name if bill_to else "",
        company=bill_to.company if bill_to else "",
        phone=bill_to.phone if bill_to else "",
        billing=bill_to,
        shipping=address_from_shipstation(data.get("shipTo")),
        source_id=_text(data.get("customerId")),
    )


def customer_from_shipstation(data: dict) -> Customer:
    """A `/customers` record. Key: email, else the first marketplace username, else the id."""
    _require(data, "customerId")
    usernames = [_text(u.get("username")) for u in data.get("marketplaceUsernames") or [] if u.get("username")]
    email = _text(data.get("email"))
    address = Address(
        name=_text(data.get("name")),
        company=_text(data.get("company")),
        street1=_text(data.get("street1")),
        street2=_text(data.get("street2")),
        city=_text(data.get("city")),
        state=_text(data.get("state")),
        postal_code=_text(data.get("postalCode")),
        country=_text(data.get("countryCode")).upper(),
        phone=_text(data.get("phone")),
    )
    return Customer(
        key=customer_key(email, usernames[0] if usernames else "") or f"shipstation:{data['customerId']}",
        email=email,
        name=address.name,
        company=address.company,
        phone=address.phone,
        billing=address,
        shipping=address,
        source_id=_text(data.get("customerId")),
        modified_at=timeutil.parse_pacific(data.get("modifyDate") or data.get("createDate")),
    )


# --- Orders -------------------------------------------------------------------------------------


def _is_discount(item: dict) -> bool:
    return bool(item.get("adjustment")) or money(item.get("unitPrice")) < 0


def split_discounts(items: list[dict]) -> tuple[dict[str, Decimal], Decimal]:
    """ShipStation's discount items, split into (discount per parent lineItemKey, order discount).

    A discount item (`adjustment` or a negative price) whose key is "<parent key>:discount" belongs
    to that regular line; any other discount item is on the whole order. Amounts are positive.
    """
    keys = {_text(i.get("lineItemKey")) for i in items if not _is_discount(i) and i.get("lineItemKey")}
    line_discounts: dict[str, Decimal] = {}
    order_discount = Decimal("0.00")
    for item in filter(_is_discount, items):
        parent = _discounted_line(item, keys)
        if parent:
            line_discounts[parent] = line_discounts.get(parent, Decimal("0.00")) + _discount_amount(item)
        else:
            order_discount += _discount_amount(item)
    return line_discounts, order_discount


def _discount_amount(item: dict) -> Decimal:
    """A discount item's amount, positive (its quantity, default 1, times its negative price)."""
    return -money(_quantity(item.get("quantity") or 1) * money(item.get("unitPrice")))


def _discounted_line(item: dict, keys: set[str]) -> str:
    """The key of the regular line a discount item belongs to ("<key>:discount"); "" for the order."""
    key = _text(item.get("lineItemKey"))
    parent = key[: -len(DISCOUNT_SUFFIX)] if key.endswith(DISCOUNT_SUFFIX) else ""
    return parent if parent in keys else ""


def _line_from_item(item: dict, line_discounts: dict[str, Decimal]) -> LineItem:
    """One regular ShipStation item as a canonical line, with the discount items that belong to it."""
    metadata = {"orderItemId": item["orderItemId"]} if item.get("orderItemId") else {}
    options = [o for o in item.get("options") or [] if isinstance(o, dict) and o.get("name")]
    if options:
        # Item options ({name, value}) carry per-line overrides for the target (e.g. Zoho's
        # description / tax_id / zohobooks_item_id, lifted by integrations.zoho.salesorders).
        metadata["options"] = [{"name": _text(o["name"]), "value": _text(o.get("value"))} for o in options]
    return LineItem(
        sku=_text(item.get("sku")),
        name=_text(item.get("name")),
        quantity=_quantity(item.get("quantity")),
        unit_price=money(item.get("unitPrice")),
        discount=money(line_discounts.get(_text(item.get("lineItemKey")), 0)),
        tax=money(item.get("taxAmount")),
        line_id=_text(item.get("lineItemKey")) or _text(item.get("orderItemId")),
        metadata=metadata,
    )


def order_from_shipstation(data: dict, *, currency: str = "USD") -> Order:
    _require(data, "orderId", "orderNumber", "orderStatus", "orderDate")
    status = STATUS_FROM_SHIPSTATION.get(data["orderStatus"])
    if status is None:
        raise MappingError(f"unknown ShipStation orderStatus {data['orderStatus']!r}")
    items = data.get("items") or []
    line_discounts, order_discount = split_discounts(items)
    lines = [_line_from_item(item, line_discounts) for item in items if not _is_discount(item)]
    line_tax = sum((line.tax for line in lines), Decimal("0.00"))
    total_source = data.get("orderTotal") if data.get("orderTotal") is not None else data.get("amountPaid")
    return Order(
        number=_text(data["orderNumber"]),
        source_id=_text(data["orderId"]),
        status=status,
        currency=currency,
        order_date=timeutil.parse_pacific(data["orderDate"]),
        modified_at=timeutil.parse_pacific(data.get("modifyDate")),
        key=_text(data.get("orderKey")),
        customer=customer_from_order(data),
        bill_to=address_from_shipstation(data.get("billTo")),
        ship_to=address_from_shipstation(data.get("shipTo")),
        lines=tuple(lines),
        shipping=money(data.get("shippingAmount")),
        tax=money(money(data.get("taxAmount")) - line_tax),
        discount=money(order_discount),
        total=money(total_source),
        notes=_text(data.get("customerNotes")),
        internal_notes=_text(data.get("internalNotes")),
        ship_date=timeutil.parse_date(data.get("shipDate")),
    )


def _item(line: LineItem) -> dict:
    return {
        "lineItemKey": line.line_id or None,
        "sku": line.sku,
        "name": line.name,
        "imageUrl": None,
        "weight": {"value": 0, "units": "ounces"},
        "quantity": _number(line.quantity),
        "unitPrice": _number(line.unit_price),
        "taxAmount": _number(line.tax),
        "shippingAmount": None,
        "warehouseLocation": None,
        "options": [],
        "fulfillmentSku": None,
        "adjustment": False,
        "upc": None,
    }


def _discount_item(key: str | None, name: str, amount: Decimal) -> dict:
    return {
        **_item(LineItem(sku="", name=name, quantity=Decimal(1), unit_price=-amount, line_id=key or "")),
        "adjustment": True,
    }


def _line_discount_item(line: LineItem) -> dict:
    if not line.line_id:
        raise MappingError(f"line {line.sku or line.name!r} has a discount but no line id to attach it to")
    return _discount_item(line.line_id + DISCOUNT_SUFFIX, f"Discount on {line.sku or line.name}", line.discount)


def discount_items(order: Order) -> list[dict]:
    """The order's discounts as ShipStation adjustment items: one "<line key>:discount" item per
    discounted line (so it reads back onto that line), then one for the whole order."""
    items = [_line_discount_item(line) for line in order.lines if line.discount]
    if order.discount:
        items.append(_discount_item(None, ORDER_DISCOUNT_NAME, order.discount))
    return items


def order_to_shipstation(order: Order) -> dict:
    """Canonical Order -> the body of `POST /orders/createorder` (upsert by `orderKey`)."""
    if order.order_date is None:
        raise MappingError(f"order {order.number} has no order date (ShipStation requires orderDate)")
    items = [_item(line) for line in order.lines] + discount_items(order)
    customer = order.customer
    bill_to = (
        order.bill_to or (customer.billing if customer else None) or Address(name=customer.name if customer else "")
    )
    ship_to = order.ship_to or (customer.shipping if customer else None) or bill_to
    line_tax = sum((line.tax for line in order.lines), Decimal("0.00"))
    body: dict[str, Any] = {
        "orderNumber": order.number,
        "orderKey": order.key or order.number,
        "orderDate": timeutil.to_response_stamp(order.order_date),
        "orderStatus": STATUS_TO_SHIPSTATION[order.status],
        "customerUsername": customer.key if customer else None,
        "customerEmail": (customer.email or None) if customer else None,
        "billTo": address_to_shipstation(bill_to),
        "shipTo": address_to_shipstation(ship_to),
        "items": items,
        "amountPaid": _number(order.total),
        "taxAmount": _number(money(order.tax + line_tax)),
        "shippingAmount": _number(order.shipping),
        "customerNotes": order.notes or None,
        "internalNotes": order.internal_notes or None,
    }
    if order.ship_date:
        body["shipDate"] = order.ship_date.isoformat()
    return body


# --- Shipments ----------------------------------------------------------------------------------


def shipment_from_shipstation(data: dict, *, currency: str = "USD") -> Shipment:
    _require(data, "shipmentId", "orderId")
    lines = tuple(
        LineItem(
            sku=_text(item.get("sku")),
            name=_text(item.get("name")),
            quantity=_quantity(item.get("quantity")),
            unit_price=money(item.get("unitPrice")),
            line_id=_text(item.get("lineItemKey")) or _text(item.get("orderItemId")),
        )
        for item in data.get("shipmentItems") or []
    )
    return Shipment(
        source_id=_text(data["shipmentId"]),
        order_id=_text(data["orderId"]),
        order_number=_text(data.get("orderNumber")),
        ship_date=timeutil.parse_date(data.get("shipDate")),
        carrier=_text(data.get("carrierCode")),
        service=_text(data.get("serviceCode")),
        tracking_number=_text(data.get("trackingNumber")),
        shipping_cost=money(data.get("shipmentCost")),
        insurance_cost=money(data.get("insuranceCost")),
        currency=currency,
        voided=bool(data.get("voided")),
        void_date=timeutil.parse_pacific(data.get("voidDate")),
        created_at=timeutil.parse_pacific(data.get("createDate")),
        order_key=_text(data.get("orderKey")),
        lines=lines,
    )
