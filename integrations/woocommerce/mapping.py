"""WooCommerce REST v3 JSON -> canonical objects. Pure functions: no I/O, no settings.

Field meanings from WooCommerce's REST API docs (tests/specs/woocommerce/official-docs-wp-api-v3/_orders.md, _customers.md):
line `subtotal` is before discounts and `total` after (both exclude tax; tax is `total_tax`), so
a coupon's share of each line is `subtotal - total` and `discount_total` is already inside the
line totals: the canonical order-level `discount` stays 0 or it would be counted twice. Fees
become lines of their own (name, no SKU) so the invoice carries them. Order-level `tax` is
the order's `total_tax` minus what the lines carry (the shipping tax plus any rounding WooCommerce
did at cart level), so `computed_total` equals the store's `total` to the cent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.canonical import CENT, Address, Customer, LineItem, Order, OrderStatus, Refund, money

UNIT_PLACES = Decimal("0.000001")

# WooCommerce statuses (_orders.md "status") -> canonical. `failed` is a failed payment the
# customer may retry, so it waits for payment rather than voiding; `refunded` is a cancellation
# whose money went back: the order's `refunds` become credit notes where the target keeps them
# (Zoho Books), and the invoice is not voided.
STATUS_MAP: dict[str, OrderStatus] = {
    "pending": OrderStatus.AWAITING_PAYMENT,
    "checkout-draft": OrderStatus.AWAITING_PAYMENT,
    "failed": OrderStatus.AWAITING_PAYMENT,
    "on-hold": OrderStatus.ON_HOLD,
    "processing": OrderStatus.OPEN,
    "completed": OrderStatus.SHIPPED,
    "cancelled": OrderStatus.CANCELLED,
    "refunded": OrderStatus.CANCELLED,
    "trash": OrderStatus.CANCELLED,
}


class MappingError(ValueError):
    """The JSON is not a WooCommerce order/customer we can map; the message says what is wrong."""


def parse_gmt(value: Any) -> datetime | None:
    """A `*_gmt` field ("2017-03-22T19:28:02", no offset, UTC by definition) as an aware UTC datetime."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise MappingError(f"not an ISO 8601 date: {value!r}") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def map_status(status: str) -> OrderStatus:
    # Plugins add statuses of their own (e.g. "shipped"); an unknown one is a live, paid order.
    return STATUS_MAP.get((status or "").lower(), OrderStatus.OPEN)


def map_address(data: dict | None) -> Address | None:
    if not isinstance(data, dict):
        return None
    name = " ".join(p for p in (_s(data.get("first_name")), _s(data.get("last_name"))) if p)
    address = Address(
        name=name,
        company=_s(data.get("company")),
        street1=_s(data.get("address_1")),
        street2=_s(data.get("address_2")),
        city=_s(data.get("city")),
        state=_s(data.get("state")),
        postal_code=_s(data.get("postcode")),
        country=_s(data.get("country")).upper(),
        phone=_s(data.get("phone")),
    )
    return None if address == Address() else address


def customer_key(email: str, fallback: str) -> str:
    email = (email or "").strip().lower()
    return email or fallback


def map_customer(data: dict) -> Customer:
    """A `GET /customers/<id>` body (or a customer.* webhook) as a canonical Customer."""
    if not isinstance(data, dict) or "id" not in data:
        raise MappingError("a WooCommerce customer needs an id")
    billing = map_address(data.get("billing"))
    shipping = map_address(data.get("shipping"))
    email = _s(data.get("email")) or _s((data.get("billing") or {}).get("email"))
    name = " ".join(p for p in (_s(data.get("first_name")), _s(data.get("last_name"))) if p)
    return Customer(
        key=customer_key(email, f"woocommerce-customer:{data['id']}"),
        email=email.lower(),
        name=name or (billing.name if billing else "") or _s(data.get("username")),
        company=billing.company if billing else "",
        phone=billing.phone if billing else "",
        billing=billing,
        shipping=shipping,
        source_id=str(data["id"]),
        modified_at=parse_gmt(data.get("date_modified_gmt")),
    )


def order_customer(data: dict) -> Customer:
    """The buyer of an order; guests (customer_id 0) are keyed by billing email like everyone else."""
    billing_raw = data.get("billing") or {}
    billing = map_address(billing_raw)
    email = _s(billing_raw.get("email"))
    customer_id = data.get("customer_id") or 0
    fallback = f"woocommerce-customer:{customer_id}" if customer_id else f"woocommerce-guest-order:{data.get('id')}"
    return Customer(
        key=customer_key(email, fallback),
        email=email.lower(),
        name=billing.name if billing else "",
        company=billing.company if billing else "",
        phone=billing.phone if billing else "",
        billing=billing,
        shipping=map_address(data.get("shipping")),
        source_id=str(customer_id) if customer_id else "",
    )


def map_line_item(item: dict) -> LineItem:
    quantity = _decimal(item.get("quantity"), "line quantity")
    subtotal = money(item.get("subtotal"))
    total = money(item.get("total"))
    # Cents when the subtotal divides evenly, else six places so quantity x price stays exact.
    unit = subtotal / quantity if quantity else subtotal
    unit = unit.quantize(CENT) if unit == unit.quantize(CENT) else unit.quantize(UNIT_PLACES)
    metadata: dict[str, Any] = {
        "product_id": item.get("product_id"),
        "variation_id": item.get("variation_id"),
        "subtotal": str(subtotal),
        "total": str(total),
    }
    meta = [
        {"key": m.get("key"), "value": m.get("value")}
        for m in item.get("meta_data") or []
        if isinstance(m, dict) and not str(m.get("key", "")).startswith("_")
    ]
    if meta:
        metadata["meta_data"] = meta
    return LineItem(
        sku=_s(item.get("sku")),
        name=_s(item.get("name")),
        quantity=quantity,
        unit_price=unit,
        discount=money(subtotal - total),
        tax=money(item.get("total_tax")),
        line_id=str(item.get("id", "")),
        metadata=metadata,
    )


def map_fee_line(fee: dict) -> LineItem:
    total = money(fee.get("total"))
    return LineItem(
        sku="",
        name=_s(fee.get("name")) or "Fee",
        quantity=Decimal("1"),
        unit_price=total,
        tax=money(fee.get("total_tax")),
        line_id=f"fee:{fee.get('id', '')}",
        metadata={"kind": "fee", "tax_status": fee.get("tax_status", "")},
    )


def map_order(data: dict) -> Order:
    """A `GET /orders/<id>` body (or an order.* webhook) as a canonical Order."""
    if not isinstance(data, dict) or "id" not in data:
        raise MappingError("a WooCommerce order needs an id")
    created = parse_gmt(data.get("date_created_gmt"))
    if created is None:
        raise MappingError(f"order {data.get('id')} has no date_created_gmt")
    currency = _s(data.get("currency")).upper()
    if not currency:
        raise MappingError(f"order {data.get('id')} has no currency")
    lines = tuple(map_line_item(i) for i in data.get("line_items") or [])
    lines += tuple(map_fee_line(f) for f in data.get("fee_lines") or [])
    line_tax = sum((line.tax for line in lines), Decimal("0.00"))
    shipping_tax = money(data.get("shipping_tax"))
    total_tax = money(data.get("total_tax")) if data.get("total_tax") not in (None, "") else line_tax + shipping_tax
    coupons = ", ".join(_s(c.get("code")) for c in data.get("coupon_lines") or [] if isinstance(c, dict))
    shipping_methods = ", ".join(
        _s(s.get("method_title")) for s in data.get("shipping_lines") or [] if isinstance(s, dict)
    )
    internal = []
    if coupons:
        internal.append(f"Coupons: {coupons} (discount {money(data.get('discount_total'))})")
    if shipping_methods:
        internal.append(f"Shipping: {shipping_methods}")
    if data.get("payment_method_title"):
        internal.append(f"Payment: {_s(data.get('payment_method_title'))}")
    return Order(
        number=_s(data.get("number")) or str(data["id"]),
        source_id=str(data["id"]),
        status=map_status(_s(data.get("status"))),
        currency=currency,
        order_date=created,
        modified_at=parse_gmt(data.get("date_modified_gmt")),
        key=_s(data.get("order_key")),
        customer=order_customer(data),
        bill_to=map_address(data.get("billing")),
        ship_to=map_address(data.get("shipping")),
        lines=lines,
        shipping=money(data.get("shipping_total")),
        tax=money(total_tax - line_tax),
        discount=Decimal("0.00"),
        total=money(data.get("total")),
        notes=_s(data.get("customer_note")),
        internal_notes="\n".join(internal),
        refunds=map_refunds(data.get("refunds")),
    )


def map_refunds(raw: Any) -> tuple[Refund, ...]:
    """The order's `refunds` summary (`{id, reason, total}`, total negative: _orders.md "Refunds
    properties") as positive amounts; a malformed entry is a mapping error, never a silent skip."""
    if raw in (None, ""):
        return ()
    if not isinstance(raw, list):
        raise MappingError("refunds is not a list")
    refunds = []
    for entry in raw:
        if not isinstance(entry, dict) or entry.get("id") in (None, ""):
            raise MappingError("a refund needs an id")
        try:
            amount = abs(Decimal(str(entry.get("total") or "0")))
        except InvalidOperation:
            raise MappingError(f"refund {entry.get('id')} has an unreadable total {entry.get('total')!r}") from None
        if amount > 0:
            refunds.append(Refund(source_id=str(entry["id"]), amount=money(amount), reason=_s(entry.get("reason"))))
    return tuple(refunds)


def _s(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _decimal(value: Any, what: str) -> Decimal:
    try:
        return Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation as exc:
        raise MappingError(f"{what} is not a number: {value!r}") from exc
