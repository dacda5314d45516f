"""Hypothesis strategies for the reconciliation property tests: random orders and what happens to
them afterwards, as plain data (plans), so a failing example prints as something a person can read
and paste back as an `@example(...)`.

A plan says what to do, not what the totals are: the store sandbox computes its totals the way its
vendor does, and the tests compare the ledger with what the store answered. Operations that would
be invalid when they run (a refund of more than is left, an edit of a cancelled order) are skipped
by the runner, so every generated sequence is a sequence a merchant could really perform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import strategies as st

CENT = Decimal("0.01")

# The WooCommerce sandbox seeds these products in every store (integrations/woocommerce/sandbox/views.py).
WOO_SKUS = ("WOO-HAT", "WOO-MUG", "WOO-TEE")
# Tax rates merchants really use: none, US state rates with fractions of a percent, EU VAT rates.
TAX_RATES = ("0", "0.05", "0.0625", "0.0725", "0.0825", "0.1", "0.19", "0.2", "0.21")
# The Zoho sandbox organisation's base currency is USD; these are the others it offers.
ZOHO_CURRENCIES = ("USD", "EUR", "GBP", "CAD")
# The WooCommerce sandbox's coupons: 10 % off every line, and 5.00 off the cart.
WOO_COUPONS = ("save10", "fiver")


def cents(low: str = "0.01", high: str = "250.00") -> st.SearchStrategy[Decimal]:
    """An amount with cents, as a price list has it (never a float)."""
    return st.integers(int(Decimal(low) * 100), int(Decimal(high) * 100)).map(lambda n: Decimal(n) / 100)


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    price: Decimal


@dataclass(frozen=True)
class Op:
    """One thing that happens to an order after it was placed.

    kind: "sync" (the flow runs now), "quantity" (line `index` gets `quantity`), "add_line" (`line`),
    "cancel", "refund" (`percent` of what is left, at least a cent), "refund_all", "ship" (completed;
    ShipStation: a label), "void" (the last label voided), "hold" (on hold)."""

    kind: str
    index: int = 0
    quantity: int = 0
    percent: int = 0
    line: Line | None = None


@dataclass(frozen=True)
class OrderPlan:
    lines: tuple[Line, ...]
    status: str = "processing"
    currency: str = "USD"
    coupons: tuple[str, ...] = ()
    shipping: Decimal | None = None
    fee: Decimal | None = None
    fee_taxable: bool = True
    tax: Decimal = Decimal("0")  # ShipStation: the order's tax amount as the store sent it
    discount: Decimal = Decimal("0")  # ShipStation: an order-level discount (an adjustment item)
    ops: tuple[Op, ...] = field(default_factory=tuple)


def line(skus: tuple[str, ...] = WOO_SKUS) -> st.SearchStrategy[Line]:
    return st.builds(Line, sku=st.sampled_from(skus), quantity=st.integers(1, 7), price=cents("0.01", "199.99"))


def op(*, refunds: bool = True, shipments: bool = True, skus: tuple[str, ...] = WOO_SKUS) -> st.SearchStrategy[Op]:
    kinds = [
        st.just(Op("sync")),
        st.builds(Op, kind=st.just("quantity"), index=st.integers(0, 4), quantity=st.integers(1, 9)),
        st.builds(Op, kind=st.just("add_line"), line=line(skus)),
        st.just(Op("cancel")),
        st.just(Op("hold")),
    ]
    if refunds:
        kinds += [st.builds(Op, kind=st.just("refund"), percent=st.integers(1, 100)), st.just(Op("refund_all"))]
    if shipments:
        kinds += [st.just(Op("ship")), st.just(Op("void"))]
    return st.one_of(kinds)


def woo_order(
    *, currencies: tuple[str, ...] = ZOHO_CURRENCIES, refunds: bool = True, max_ops: int = 5
) -> st.SearchStrategy[OrderPlan]:
    return st.builds(
        OrderPlan,
        lines=st.lists(line(), min_size=1, max_size=5).map(tuple),
        status=st.sampled_from(("processing", "pending", "on-hold")),
        currency=st.sampled_from(currencies),
        coupons=st.lists(st.sampled_from(WOO_COUPONS), unique=True, max_size=2).map(tuple),
        shipping=st.none() | cents("0.00", "39.99"),
        fee=st.none() | cents("0.01", "15.00"),
        fee_taxable=st.booleans(),
        ops=st.lists(op(refunds=refunds), max_size=max_ops).map(tuple),
    )


SS_SKUS = ("SS-WIDGET", "SS-GADGET", "SS-BOLT", "SS-CABLE")


def shipstation_order(*, max_ops: int = 4) -> st.SearchStrategy[OrderPlan]:
    """ShipStation has no refunds and no coupons: discounts are adjustment items, tax is what the
    store sent. Its V1 orders are in the account's one currency."""
    return st.builds(
        OrderPlan,
        lines=st.lists(line(SS_SKUS), min_size=1, max_size=5).map(tuple),
        status=st.sampled_from(("awaiting_shipment", "awaiting_payment", "on_hold")),
        shipping=st.none() | cents("0.00", "39.99"),
        tax=st.sampled_from(("0", "0.05", "0.0725", "0.2")).map(Decimal),  # a rate the store applied
        discount=st.just(Decimal("0")) | cents("0.01", "20.00"),
        ops=st.lists(op(refunds=False, skus=SS_SKUS), max_size=max_ops).map(tuple),
    )
