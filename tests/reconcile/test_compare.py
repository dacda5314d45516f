"""The comparison alone (connector.reconcile): no database, no HTTP."""

from datetime import UTC, date, datetime
from decimal import Decimal

from connector.canonical import Order, OrderStatus, Refund
from connector.reconcile import (
    CURRENCY_NOTE,
    LedgerDocument,
    Period,
    RecordState,
    SourceOrder,
    Status,
    compare,
    source_order,
)

NOV = Period(date(2026, 11, 1), date(2026, 11, 30))


def order(ref: str, amount: str, *, currency="USD", day=5, refunded="0", cancelled=False) -> SourceOrder:
    return SourceOrder(f"id-{ref}", ref, Decimal(amount), currency, date(2026, 11, day), Decimal(refunded), cancelled)


def doc(ref: str, amount: str, *, kind="invoice", currency="USD", day=5, number="", credit=False, void=False):
    return LedgerDocument(
        kind,
        f"doc-{number or ref}",
        number or f"INV-{ref}",
        ref,
        Decimal(amount),
        currency,
        date(2026, 11, day),
        credit=credit,
        void=void,
    )


def statuses(report) -> dict[str, Status]:
    return {line.reference: line.status for line in report.lines}


def test_each_kind_of_line_and_nothing_else():
    orders = [order("1", "10.00"), order("2", "20.00"), order("3", "30.00"), order("4", "40.00")]
    docs = [
        doc("1", "10.0"),  # 10.0 == 10.00: compared as numbers, to the cent
        doc("2", "19.99"),
        doc("4", "40.00", number="INV-4"),
        doc("4", "40.00", number="INV-4-copy"),
        doc("9", "5.00"),  # an order this flow once saw, not in this period's source list
        doc("other-channel", "7.00"),  # a reference this flow never saw: someone else's
    ]
    report = compare(NOV, orders, docs, known_references={"9"})
    assert statuses(report) == {
        "1": Status.MATCHED,
        "2": Status.AMOUNT_DIFFERS,
        "3": Status.MISSING,
        "4": Status.DUPLICATED,
        "9": Status.EXTRA,
    }
    lines = {line.reference: line for line in report.lines}
    assert (lines["2"].source_amount, lines["2"].ledger_amount, lines["2"].difference) == (
        Decimal("20.00"),
        Decimal("19.99"),
        Decimal("-0.01"),
    )
    assert lines["3"].ledger_amount == 0 and lines["3"].difference == Decimal("-30.00")
    assert lines["9"].difference == Decimal("5.00")
    assert report.counts() == {
        Status.MISSING: 1,
        Status.AMOUNT_DIFFERS: 1,
        Status.DUPLICATED: 1,
        Status.EXTRA: 1,
        Status.MATCHED: 1,
    }
    # Missing first, matched last: what needs doing comes first.
    assert report.lines[0].status == Status.MISSING and report.lines[-1].status == Status.MATCHED
    assert not report.balanced


def test_net_difference_per_currency_never_mixed():
    orders = [order("1", "10.00"), order("2", "8.00", currency="EUR"), order("3", "5.00", currency="EUR")]
    docs = [doc("1", "10.00"), doc("2", "8.50", currency="EUR"), doc("3", "5.00", currency="GBP")]
    report = compare(NOV, orders, docs)
    assert report.totals() == [
        {"currency": "EUR", "source": Decimal("8.00"), "ledger": Decimal("8.50"), "difference": Decimal("0.50")},
        {"currency": "USD", "source": Decimal("10.00"), "ledger": Decimal("10.00"), "difference": Decimal("0")},
    ]
    line = next(line for line in report.lines if line.reference == "3")
    assert line.status == Status.AMOUNT_DIFFERS and line.note == CURRENCY_NOTE and line.difference is None


def test_our_records_say_why_a_line_disagrees():
    orders = [order("1", "10.00"), order("2", "20.00"), order("3", "30.00"), order("4", "40.00"), order("5", "5")]
    docs = [doc("2", "21.00"), doc("4", "40.00"), doc("5", "5")]
    records = {
        "id-1": RecordState(11, "failed"),
        "id-2": RecordState(12, "pending"),
        "id-3": RecordState(13, "needs_review"),
        "id-4": RecordState(14, "failed"),  # the ledger agrees: the ledger is what counts
        "id-5": RecordState(15, "synced"),
    }
    report = compare(NOV, orders, docs, records=records)
    assert statuses(report) == {
        "1": Status.FAILED,
        "2": Status.PENDING,
        "3": Status.NEEDS_REVIEW,
        "4": Status.MATCHED,
        "5": Status.MATCHED,
    }
    assert {line.reference: line.record_id for line in report.lines}["1"] == 11


def test_void_documents_refunds_and_cancellations():
    orders = [
        order("1", "50.00", refunded="10.00"),
        order("2", "30.00", cancelled=True),
        order("3", "30.00", cancelled=True),
        order("4", "25.00"),
        order("5", "12.00", refunded="2.00"),
    ]
    docs = [
        doc("1", "50.00"),
        doc("1", "10.00", kind="credit_note", number="CN-1", credit=True),
        doc("2", "30.00", void=True),
        doc("3", "30.00"),  # cancelled at the source, still booked
        doc("4", "25.00", void=True, number="INV-4-old"),
        doc("4", "25.00", number="INV-4"),  # a void one beside a live one is no duplicate
        doc("5", "12.00"),  # refund never credited
    ]
    report = compare(NOV, orders, docs)
    assert statuses(report) == {
        "1": Status.MATCHED,
        "2": Status.MATCHED,
        "3": Status.AMOUNT_DIFFERS,
        "4": Status.MATCHED,
        "5": Status.AMOUNT_DIFFERS,
    }
    lines = {line.reference: line for line in report.lines}
    assert lines["1"].source_amount == lines["1"].ledger_amount == Decimal("40.00")
    assert lines["3"].difference == Decimal("30.00")
    assert lines["5"].difference == Decimal("2.00")


def test_only_the_period_counts():
    orders = [order("1", "10.00", day=1), order("late", "10.00", day=30)]
    docs = [
        doc("1", "10.00", day=1),
        doc("late", "10.00", day=30),
        LedgerDocument("invoice", "d", "INV-X", "x", Decimal("3"), "USD", date(2026, 12, 1)),  # the margin
        LedgerDocument("invoice", "e", "INV-Y", "y", Decimal("3"), "USD", date(2026, 11, 2), void=True),
    ]
    report = compare(NOV, orders, docs, known_references={"x", "y"})
    assert statuses(report) == {"1": Status.MATCHED, "late": Status.MATCHED}
    assert report.balanced


def test_period_defaults_and_bounds():
    assert Period.last_month(date(2026, 1, 15)) == Period(date(2025, 12, 1), date(2025, 12, 31))
    assert Period.last_month(date(2026, 3, 31)) == Period(date(2026, 2, 1), date(2026, 2, 28))
    assert NOV.since == datetime(2026, 11, 1, tzinfo=UTC) and NOV.until == datetime(2026, 12, 1, tzinfo=UTC)
    assert NOV.widened() == Period(date(2026, 10, 31), date(2026, 12, 1))


def test_a_canonical_order_as_the_ledger_should_hold_it():
    base = dict(number="1001", source_id="77", currency="usd", order_date=datetime(2026, 11, 30, 23, 30, tzinfo=UTC))
    placed = source_order(Order(status=OrderStatus.OPEN, total=Decimal("12.345"), **base))
    assert (placed.amount, placed.currency, placed.date, placed.cancelled) == (
        Decimal("12.35"),
        "USD",
        date(2026, 11, 30),
        False,
    )
    cancelled = source_order(Order(status=OrderStatus.CANCELLED, total=Decimal("5"), **base))
    assert cancelled.cancelled
    refunded = source_order(
        Order(status=OrderStatus.CANCELLED, total=Decimal("5"), refunds=(Refund("r1", Decimal("5.00")),), **base)
    )
    assert not refunded.cancelled and refunded.refunded == Decimal("5.00")


def test_one_end_of_the_period_means_the_rest_of_its_month():
    from connector.web.reconcile import period_from

    assert period_from({"start": "2026-02-10"}) == Period(date(2026, 2, 10), date(2026, 2, 28))
    assert period_from({"end": "2026-12-05"}) == Period(date(2026, 12, 1), date(2026, 12, 5))
    assert period_from({"start": "2026-12-31"}) == Period(date(2026, 12, 31), date(2026, 12, 31))
