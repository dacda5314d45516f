"""The comparison of shipments with the journals booking their cost (pure, no I/O): one balanced journal
per live shipment, a voided one reversed to zero; shipments and orders never match each other's
documents; unbalanced journals, currencies and records handled as for orders."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from connector.canonical import Shipment
from connector.reconcile import (
    ORDER,
    SHIPMENT,
    UNBALANCED_NOTE,
    LedgerDocument,
    Period,
    RecordState,
    SourceOrder,
    compare,
    source_shipment,
)

PERIOD = Period(date(2026, 11, 1), date(2026, 11, 30))


def shipment(ref: str, cost: str, *, voided=False, day=5, currency="USD") -> SourceOrder:
    return SourceOrder(f"o:{ref}", ref, Decimal(cost), currency, date(2026, 11, day), cancelled=voided, kind=SHIPMENT)


def journal(
    ref: str, amount: str, *, reversal=False, day=5, currency="USD", balanced=True, number=""
) -> LedgerDocument:
    return LedgerDocument(
        kind="journal",
        document_id=f"j-{ref}-{number}-{reversal}",
        number=number or f"JE-{ref}",
        reference=ref,
        amount=Decimal(amount),
        currency=currency,
        date=date(2026, 11, day),
        credit=reversal,
        item=SHIPMENT,
        balanced=balanced,
    )


def statuses(report) -> dict[tuple[str, str], str]:
    return {(line.kind, line.reference): str(line.status) for line in report.lines}


def test_each_shipment_line_and_nothing_else():
    items = [
        shipment("1", "7.50"),
        shipment("2", "8.00"),
        shipment("3", "9.00"),
        shipment("4", "6.00", voided=True),  # reversed: nets to zero
        shipment("5", "4.00", voided=True),  # voided, never posted: nothing to book
        shipment("6", "3.00", voided=True),  # voided, still booked
        shipment("7", "2.00"),
        shipment("8", "5.00"),
    ]
    documents = [
        journal("1", "7.50"),
        journal("2", "8.50"),
        journal("3", "9.00"),
        journal("3", "9.00", number="JE-3-copy"),
        journal("4", "6.00"),
        journal("4", "6.00", reversal=True),
        journal("6", "3.00"),
        journal("7", "2.00", currency="EUR"),
        journal("8", "5.00", balanced=False),
        journal("9", "1.00"),  # a shipment of ours, not of this period
        journal("10", "1.00", reversal=True),  # the reversal of an earlier period's shipment
    ]
    report = compare(PERIOD, items, documents, known_references=[(SHIPMENT, "9"), (SHIPMENT, "10")])
    assert statuses(report) == {
        (SHIPMENT, "1"): "matched",
        (SHIPMENT, "2"): "amount_differs",
        (SHIPMENT, "3"): "duplicated",
        (SHIPMENT, "4"): "matched",
        (SHIPMENT, "5"): "matched",
        (SHIPMENT, "6"): "amount_differs",
        (SHIPMENT, "7"): "amount_differs",
        (SHIPMENT, "8"): "amount_differs",
        (SHIPMENT, "9"): "extra",
    }
    lines = {line.reference: line for line in report.lines}
    assert lines["4"].ledger_amount == 0 == lines["4"].source_amount
    assert lines["6"].note == "Voided at the source but still booked." and lines["6"].difference == Decimal("3.00")
    assert lines["7"].difference is None  # never across currencies
    assert lines["8"].note == UNBALANCED_NOTE
    assert lines["9"].note == "No shipment of the period explains it."


def test_orders_and_shipments_never_match_each_others_documents():
    order = SourceOrder("id-100", "100", Decimal("20.00"), "USD", date(2026, 11, 5))
    ship = shipment("100", "5.00")  # a shipment id that happens to equal an order number
    invoice = LedgerDocument("invoice", "i-100", "INV-100", "100", Decimal("20.00"), "USD", date(2026, 11, 5))
    report = compare(PERIOD, [order, ship], [invoice, journal("100", "5.00")])
    assert statuses(report) == {(ORDER, "100"): "matched", (SHIPMENT, "100"): "matched"}
    report = compare(PERIOD, [order, ship], [invoice])
    assert statuses(report) == {(ORDER, "100"): "matched", (SHIPMENT, "100"): "missing"}


def test_records_are_told_apart_by_kind():
    ship = shipment("7", "2.00")
    records = {(SHIPMENT, "o:7"): RecordState(41, "failed"), "o:7": RecordState(99, "pending")}
    (line,) = compare(PERIOD, [ship], [], records=records).lines
    assert (str(line.status), line.record_id) == ("failed", 41)


def test_a_canonical_shipment_as_the_ledger_should_hold_it():
    base = dict(order_id="55", order_number="SO-55", carrier="ups", tracking_number="1Z9", currency="usd")
    live = source_shipment(
        Shipment(
            source_id="9",
            ship_date=date(2026, 11, 3),
            shipping_cost=Decimal("4.10"),
            insurance_cost=Decimal("1.25"),
            **base,
        ),
        source_id="55:9",
    )
    assert (live.kind, live.reference, live.source_id, live.amount, live.currency, live.date, live.cancelled) == (
        SHIPMENT,
        "9",
        "55:9",
        Decimal("5.35"),
        "USD",
        date(2026, 11, 3),
        False,
    )
    assert live.label == "Order SO-55 ups 1Z9"
    voided = source_shipment(
        Shipment(source_id="10", ship_date=None, created_at=datetime(2026, 11, 4, 23, tzinfo=UTC), voided=True, **base)
    )
    assert voided.cancelled and voided.date == date(2026, 11, 4)
    with pytest.raises(ValueError):
        source_shipment(Shipment(source_id="11", ship_date=None, **base))
