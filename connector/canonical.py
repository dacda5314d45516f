"""The canonical model every system maps to and from (DESIGN §1, §5).

Frozen dataclasses; money is Decimal (two places unless a vendor says otherwise) with the currency
on the document; times are aware UTC datetimes; dates are plain dates. `to_payload`/`from_payload`
give the JSON stored on a Record, and `canonical_hash` decides "unchanged" (no write).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    """Any vendor amount (str, int, float from JSON, None) as a Decimal rounded to the cent."""
    if value is None or value == "":
        return Decimal("0.00")
    if isinstance(value, float):
        value = repr(value)  # never through binary float arithmetic
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Address:
    name: str = ""
    company: str = ""
    street1: str = ""
    street2: str = ""
    street3: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""  # ISO 3166-1 alpha-2
    phone: str = ""


@dataclass(frozen=True)
class Customer:
    key: str  # natural key: lower-cased email, else the store's username
    email: str = ""
    name: str = ""
    company: str = ""
    phone: str = ""
    billing: Address | None = None
    shipping: Address | None = None
    source_id: str = ""
    modified_at: datetime | None = None


@dataclass(frozen=True)
class Product:
    sku: str
    name: str = ""
    price: Decimal | None = None
    quantity_on_hand: Decimal | None = None
    source_id: str = ""


@dataclass(frozen=True)
class LineItem:
    sku: str
    name: str
    quantity: Decimal
    unit_price: Decimal
    discount: Decimal = Decimal("0.00")  # total discount on this line
    tax: Decimal = Decimal("0.00")  # total tax on this line
    line_id: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def net(self) -> Decimal:
        return money(self.quantity * self.unit_price - self.discount)


@dataclass(frozen=True)
class Refund:
    """Money given back on an order (WooCommerce `refunds[]`): a credit note in the books."""

    source_id: str
    amount: Decimal  # positive, tax included, in the order's currency
    reason: str = ""


class OrderStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    OPEN = "open"  # paid, awaiting shipment
    ON_HOLD = "on_hold"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Order:
    number: str  # natural key in every target: the invoice reference number
    source_id: str
    status: OrderStatus
    currency: str
    order_date: datetime
    modified_at: datetime | None = None
    key: str = ""  # the source's own upsert key (ShipStation orderKey)
    customer: Customer | None = None
    bill_to: Address | None = None
    ship_to: Address | None = None
    lines: tuple[LineItem, ...] = ()
    shipping: Decimal = Decimal("0.00")
    tax: Decimal = Decimal("0.00")  # order-level tax not already on lines
    discount: Decimal = Decimal("0.00")  # order-level discount not already on lines
    total: Decimal = Decimal("0.00")  # what the source says the customer pays
    notes: str = ""
    internal_notes: str = ""
    ship_date: date | None = None
    refunds: tuple[Refund, ...] = ()

    @property
    def computed_total(self) -> Decimal:
        lines = sum((line.net + line.tax for line in self.lines), Decimal("0.00"))
        return money(lines + self.shipping + self.tax - self.discount)


@dataclass(frozen=True)
class Shipment:
    source_id: str
    order_id: str
    order_number: str
    ship_date: date | None
    carrier: str = ""
    service: str = ""
    tracking_number: str = ""
    shipping_cost: Decimal = Decimal("0.00")
    insurance_cost: Decimal = Decimal("0.00")
    currency: str = ""
    voided: bool = False
    void_date: datetime | None = None
    created_at: datetime | None = None
    order_key: str = ""
    lines: tuple[LineItem, ...] = ()

    @property
    def total_cost(self) -> Decimal:
        return money(self.shipping_cost + self.insurance_cost)


@dataclass(frozen=True)
class StockLevel:
    """How many units of a SKU are on hand (the source's count, e.g. QuickBooks' QuantityOnHand).

    `on_hand` is a Decimal because sources count in fractions (QuickBooks units of measure); a target
    decides what it can hold. `location_id` is the target's location when the flow names one."""

    sku: str  # natural key
    on_hand: Decimal
    location_id: str = ""


# --- JSON payloads ------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def to_payload(obj: Any) -> dict:
    """A JSON-able dict of a canonical object (Decimals as strings, datetimes ISO 8601)."""
    return _encode(obj)


def _decode(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _decode(inner[0], value) if inner else value
    if origin is tuple:
        return tuple(_decode(args[0], v) for v in value)
    if dataclasses.is_dataclass(tp):
        return from_payload(tp, value)
    if tp is Decimal:
        return Decimal(value)
    if tp is datetime:
        return datetime.fromisoformat(value)
    if tp is date:
        return date.fromisoformat(value)
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        return tp(value)
    return value


@functools.cache
def _hints(cls: type) -> dict:
    return typing.get_type_hints(cls)


def from_payload(cls: type, data: dict):
    """Inverse of `to_payload` for a canonical dataclass."""
    hints = _hints(cls)
    kwargs = {f.name: _decode(hints[f.name], data[f.name]) for f in dataclasses.fields(cls) if f.name in data}
    return cls(**kwargs)


def canonical_hash(obj: Any) -> str:
    """Stable hash of a canonical object: equal objects give equal hashes on every machine."""
    return payload_digest(to_payload(obj))


def payload_digest(payload: dict) -> str:
    """`canonical_hash` of the object whose `to_payload` this is (for a caller that has both)."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def natural_key(obj: Any) -> str:
    """The key a target is searched by and a Link is stored under: order number, email, SKU, shipment id."""
    if isinstance(obj, Order):
        return obj.number
    if isinstance(obj, Shipment):
        return f"{obj.order_number}/{obj.source_id}"
    if isinstance(obj, Customer):
        return obj.key
    if isinstance(obj, Product):
        return obj.sku
    if isinstance(obj, StockLevel):
        return obj.sku
    raise TypeError(f"no natural key for {type(obj).__name__}")


def is_cancellation(obj: Any) -> bool:
    """A cancelled order or a voided shipment: the target's document is voided or reversed."""
    return (isinstance(obj, Order) and obj.status == OrderStatus.CANCELLED) or (
        isinstance(obj, Shipment) and obj.voided
    )


CANONICAL_TYPES: dict[str, type] = {
    "order": Order,
    "shipment": Shipment,
    # A shipment's tracking read back from the system an order was sent to, for the store the
    # order came from (a reverse capability): its own type, so a flow that also moves the store's
    # shipments forward keeps the two apart.
    "tracking": Shipment,
    "customer": Customer,
    "product": Product,
    "stock_level": StockLevel,
}
