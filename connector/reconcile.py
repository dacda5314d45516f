"""Reconciliation: a period's source orders (and shipments) side by side with the documents the ledger
holds for them.

Pure comparison, no I/O: the source system lists its orders for the period (`SourceOrder`), the
ledger lists its documents (`LedgerDocument`), both through the registry's reconciliation
capability, each already rounded the way its vendor rounds. Documents are tied to orders by the
order's reference (the number a ledger document carries as its reference), never by our Links, so
a document edited, deleted or added by hand in the ledger shows up. Amounts are Decimal and are
only ever compared or summed within one currency.

Two kinds of source item are reconciled the same way: orders (booked as invoices, sales orders or
journal entries, refunds as credits) and shipments whose cost a flow posts (one balanced journal per
shipment, keyed by the shipment's id; a voided shipment's journal reversed, so it nets to zero). A
ledger document says which kind it books (`LedgerDocument.item`); the two never match each other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum

from connector.canonical import Order, OrderStatus, Shipment, money

ZERO = Decimal("0")
ORDER = "order"
SHIPMENT = "shipment"
ITEM_KINDS = (ORDER, SHIPMENT)


class Status(StrEnum):
    MATCHED = "matched"
    AMOUNT_DIFFERS = "amount_differs"
    MISSING = "missing"
    EXTRA = "extra"
    DUPLICATED = "duplicated"
    PENDING = "pending"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"


STATUS_LABELS = {
    Status.MATCHED: "Matched",
    Status.AMOUNT_DIFFERS: "Amount differs",
    Status.MISSING: "Missing in ledger",
    Status.EXTRA: "Extra in ledger",
    Status.DUPLICATED: "Duplicated",
    Status.PENDING: "Pending",
    Status.FAILED: "Failed",
    Status.NEEDS_REVIEW: "Needs review",
}
# A record in one of these states explains a line the ledger does not (yet) agree with.
RECORD_STATES = {"pending": Status.PENDING, "failed": Status.FAILED, "needs_review": Status.NEEDS_REVIEW}
# Listing order on the page: what needs doing first, matched last.
STATUS_ORDER = [
    Status.MISSING,
    Status.AMOUNT_DIFFERS,
    Status.DUPLICATED,
    Status.EXTRA,
    Status.FAILED,
    Status.NEEDS_REVIEW,
    Status.PENDING,
    Status.MATCHED,
]


@dataclass(frozen=True)
class Period:
    """Whole days, both ends included, in UTC."""

    start: date
    end: date

    @classmethod
    def last_month(cls, today: date) -> Period:
        first_this = today.replace(day=1)
        last_prev = first_this - timedelta(days=1)
        return cls(last_prev.replace(day=1), last_prev)

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    def widened(self, days: int = 1) -> Period:
        """A ledger may date a document a day off the order (time zones): read a margin around it."""
        return Period(self.start - timedelta(days=days), self.end + timedelta(days=days))


@dataclass(frozen=True)
class SourceOrder:
    """One source item of the period: an order, or (kind "shipment") a shipment whose cost is booked."""

    source_id: str  # for a shipment: the id its flow's records carry
    reference: str  # the order number the ledger documents carry; for a shipment, the shipment's id
    amount: Decimal  # what the customer pays (a shipment: what it cost), in `currency`, as the source rounds
    currency: str
    date: date
    refunded: Decimal = ZERO
    cancelled: bool = False  # a shipment: voided
    kind: str = ORDER
    label: str = ""  # what a merchant recognises it by, when not the reference (a shipment: its order, tracking)


@dataclass(frozen=True)
class LedgerDocument:
    kind: str  # the ledger's document type: "invoice", "sales_order", "credit_note"
    document_id: str
    number: str
    reference: str
    amount: Decimal  # the document total, rounded as the ledger rounds
    currency: str
    date: date
    status: str = ""
    url: str = ""
    credit: bool = False  # a credit note (money given back on the order) or a journal's reversal
    void: bool = False  # voided documents count for nothing
    item: str = ORDER  # the kind of source item it books: an order's documents, or a shipment's journals
    balanced: bool = True  # a journal whose debits equal its credits


@dataclass
class Line:
    status: Status
    reference: str
    currency: str
    order: SourceOrder | None = None
    documents: list[LedgerDocument] = field(default_factory=list)
    source_amount: Decimal | None = None
    ledger_amount: Decimal | None = None
    note: str = ""
    record_id: int | None = None
    kind: str = ORDER  # what the line reconciles: an order or a shipment

    @property
    def difference(self) -> Decimal | None:
        """Ledger minus source; None when the two are in different currencies."""
        if self.note == CURRENCY_NOTE:
            return None
        return (self.ledger_amount or ZERO) - (self.source_amount or ZERO)

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass(frozen=True)
class RecordState:
    record_id: int
    status: str


@dataclass
class Report:
    period: Period
    lines: list[Line]

    def counts(self) -> dict[Status, int]:
        found: dict[Status, int] = defaultdict(int)
        for line in self.lines:
            found[line.status] += 1
        return {status: found[status] for status in STATUS_ORDER if found[status]}

    def totals(self) -> list[dict]:
        """Per currency: what the source says, what the ledger holds, and the net difference."""
        sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: {"source": ZERO, "ledger": ZERO})
        for line in self.lines:
            if line.note == CURRENCY_NOTE:
                continue  # never add one currency to another
            sums[line.currency]["source"] += line.source_amount or ZERO
            sums[line.currency]["ledger"] += line.ledger_amount or ZERO
        return [
            {"currency": c, "source": s["source"], "ledger": s["ledger"], "difference": s["ledger"] - s["source"]}
            for c, s in sorted(sums.items())
        ]

    @property
    def balanced(self) -> bool:
        return all(line.status == Status.MATCHED for line in self.lines)


CURRENCY_NOTE = "The ledger holds it in another currency."
UNBALANCED_NOTE = "A journal for it does not balance (debits differ from credits)."


def source_net(order: SourceOrder) -> Decimal:
    return ZERO.quantize(order.amount) if order.cancelled else order.amount - order.refunded


def ledger_net(documents: Iterable[LedgerDocument]) -> Decimal:
    return sum((-d.amount if d.credit else d.amount for d in documents if not d.void), ZERO)


def _order_status(order: SourceOrder, documents: list[LedgerDocument]) -> tuple[Status, str]:
    """What the ledger's own documents say about one order."""
    live = [d for d in documents if not d.void]
    primary = [d for d in live if not d.credit]
    if len(primary) > 1:
        return Status.DUPLICATED, f"{len(primary)} documents for one order: delete the extra one in the ledger."
    if any(d.currency != order.currency for d in live):
        return Status.AMOUNT_DIFFERS, CURRENCY_NOTE
    if any(not d.balanced for d in live):
        return Status.AMOUNT_DIFFERS, UNBALANCED_NOTE
    if not primary:
        if order.cancelled and not live:
            return Status.MATCHED, f"{_cancelled(order)}: nothing to book."
        return Status.MISSING, ""
    booked = primary[0].amount
    credited = sum((d.amount for d in live if d.credit), ZERO)
    if order.cancelled and booked == credited:  # credited or reversed in full: nothing stays booked
        return Status.MATCHED, f"{_cancelled(order)}: {'credited' if order.kind == ORDER else 'reversed'} in full."
    expected = ZERO if order.cancelled else order.amount
    if booked == expected and credited == (ZERO if order.cancelled else order.refunded):
        return Status.MATCHED, ""
    return Status.AMOUNT_DIFFERS, f"{_cancelled(order)} at the source but still booked." if order.cancelled else ""


def _cancelled(item: SourceOrder) -> str:
    return "Cancelled" if item.kind == ORDER else "Voided"


def _order_line(order: SourceOrder, documents: list[LedgerDocument], record: RecordState | None) -> Line:
    status, note = _order_status(order, documents)
    if status not in (Status.MATCHED, Status.DUPLICATED) and record and record.status in RECORD_STATES:
        status = RECORD_STATES[record.status]  # our own record already says why
    elif status == Status.MISSING and record and record.status == "skipped":
        note = "The flow skipped it."
    return Line(
        status=status,
        reference=order.reference,
        currency=order.currency,
        order=order,
        documents=documents,
        source_amount=source_net(order),
        ledger_amount=ledger_net(d for d in documents if d.currency == order.currency),
        note=note,
        record_id=record.record_id if record else None,
        kind=order.kind,
    )


def compare(
    period: Period,
    orders: Iterable[SourceOrder],
    documents: Iterable[LedgerDocument],
    *,
    records: Mapping | None = None,
    known_references: Iterable = (),
) -> Report:
    """One line per source item of the period, then one per reference the ledger holds that no item of
    the period explains. `records` are our own records of the items, by source id for orders and by
    (kind, source id) for any kind; `known_references` are the references this flow has ever written
    (an order number, or a (kind, reference) pair): a document dated in the period with such a
    reference and no item is extra, one with a reference we never saw belongs to someone else.
    Orders are only matched with order documents, shipments with shipment journals."""
    records = records or {}
    by_reference: dict[tuple[str, str], list[LedgerDocument]] = defaultdict(list)
    for doc in documents:
        by_reference[(doc.item, doc.reference)].append(doc)
    lines, explained = [], set()
    for item in sorted((o for o in orders if period.contains(o.date)), key=lambda o: (o.kind, o.date, o.reference)):
        key = (item.kind, item.reference)
        explained.add(key)
        lines.append(_order_line(item, by_reference.get(key, []), _record_of(records, item)))
    known = {ref if isinstance(ref, tuple) else (ORDER, ref) for ref in known_references}
    for key in sorted(known - explained):
        docs = [d for d in by_reference.get(key, []) if period.contains(d.date) and not d.void]
        # A shipment's lone reversal belongs to a shipment of an earlier period (voided since): not extra.
        if any(not d.credit for d in docs) or (docs and key[0] == ORDER):
            lines.append(_extra_line(key[1], docs, kind=key[0]))
    lines.sort(key=lambda line: STATUS_ORDER.index(line.status))
    return Report(period, lines)


def _record_of(records: Mapping, item: SourceOrder) -> RecordState | None:
    found = records.get((item.kind, item.source_id))
    if found is None and item.kind == ORDER:
        found = records.get(item.source_id)
    return found


def _extra_line(reference: str, documents: list[LedgerDocument], *, kind: str = ORDER) -> Line:
    """A reference the ledger holds that no item of the period explains."""
    currency = documents[0].currency
    mixed = any(d.currency != currency for d in documents)
    return Line(
        status=Status.EXTRA,
        reference=reference,
        currency=currency,
        documents=documents,
        source_amount=ZERO,
        ledger_amount=ledger_net(d for d in documents if d.currency == currency),
        note=CURRENCY_NOTE if mixed else f"No {kind} of the period explains it.",
        kind=kind,
    )


def source_order(order: Order) -> SourceOrder:
    """A canonical Order as the ledger should hold it: its total, its refunds credited; a cancellation
    without refunds is voided (nothing stays booked), one with refunds keeps its document and credits."""
    refunded = money(sum((r.amount for r in order.refunds), ZERO))
    return SourceOrder(
        source_id=order.source_id,
        reference=order.number,
        amount=money(order.total),
        currency=order.currency.upper(),
        date=order.order_date.astimezone(UTC).date(),
        refunded=refunded,
        cancelled=order.status == OrderStatus.CANCELLED and not order.refunds,
    )


def source_shipment(shipment: Shipment, *, source_id: str = "", default_currency: str = "") -> SourceShipment:
    """A canonical Shipment as the ledger should hold its cost: one journal of its total cost on its
    ship date, keyed by the shipment's id; voided, its journal reversed (nothing stays booked).
    `source_id` is the id the flow's records give the shipment (the shipment's id by default)."""
    when = shipment.ship_date or (shipment.created_at.astimezone(UTC).date() if shipment.created_at else None)
    if when is None:
        raise ValueError(f"Shipment {shipment.source_id} has no ship date.")
    tracking = " ".join(x for x in (shipment.carrier, shipment.tracking_number) if x)
    return SourceOrder(
        source_id=source_id or shipment.source_id,
        reference=shipment.source_id,
        amount=shipment.total_cost,
        currency=(shipment.currency or default_currency).upper(),
        date=when,
        cancelled=shipment.voided,
        kind=SHIPMENT,
        label=f"Order {shipment.order_number} {tracking}".strip(),
    )


# A shipment reconciles as a source item of kind "shipment" (its cost is the amount, voided = cancelled).
SourceShipment = SourceOrder


class LedgerNotReady(Exception):
    """The ledger cannot list the period's documents yet: e.g. QuickBooks Desktop answers the queued
    queries only on the Web Connector's next run. The reconciliation waits and tries again later; the
    message says what it is waiting for, in the merchant's words."""
