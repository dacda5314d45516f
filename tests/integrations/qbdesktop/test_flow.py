"""The ShipStation → QuickBooks Desktop flow end to end: engine → qbXML job chains → the Web Connector
simulator (Intuit's WSDL, over HTTP against the live server) → the simulated company file."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from connector import engine
from connector.adapters import Change
from connector.canonical import Address, Customer, LineItem, Order, OrderStatus
from connector.models import Alert, Event, Flow, Link, Record
from integrations.qbdesktop import chain, checks
from integrations.qbdesktop.models import QBDInventoryLevel, QBXMLJob

from .conftest import simulator

pytestmark = pytest.mark.django_db(transaction=True)
SHIP = date(2024, 3, 6)


def make_order(number, customer="Acme Ltd", *, lines=None, status=OrderStatus.SHIPPED, ship_date=SHIP, **kwargs):
    lines = lines or (LineItem("WIDGET-1", "Widget", Decimal("2"), Decimal("12.50")),)
    return Order(
        number=number,
        source_id=f"ss-{number}",
        status=status,
        currency="USD",
        order_date=datetime(2024, 3, 5, 3, 30, tzinfo=UTC),  # 4 March in New York
        modified_at=kwargs.pop("modified_at", datetime(2024, 3, 6, 12, tzinfo=UTC)),
        customer=Customer(key=f"{number}@example.test", email=f"{number}@example.test", name="Jane Buyer"),
        bill_to=Address(name="Jane Buyer", company=customer),
        lines=tuple(lines),
        ship_date=ship_date if status == OrderStatus.SHIPPED else None,
        **kwargs,
    )


def feed(flow: Flow, order: Order) -> Record:
    change = Change("order", order.source_id, ref=order.number, modified_at=order.modified_at, obj=order)
    record = engine.record_change(flow, change)
    engine.sync_record(record.pk)
    record.refresh_from_db()
    return record


def run(live_server, qbd, company, **kwargs):
    return simulator(live_server, qbd, company, **kwargs).run()


def invoices(company, ref):
    return [t for t in company.invoices() if t.ref_number == ref]


def test_shipped_orders_become_invoices_once_and_missing_customer_needs_review(live_server, qbd, books, qbd_flow_):
    first = make_order(
        "1001",
        lines=(
            LineItem("WIDGET-1", "Widget", Decimal("2"), Decimal("12.50")),
            LineItem("GADGET-2", "Gadget", Decimal("1"), Decimal("99.00"), tax=Decimal("7.92")),
        ),
        shipping=Decimal("4.95"),
    )
    assert first.computed_total == Decimal("136.87")
    missing = make_order("1002", "Missing Co")
    third = make_order(
        "1003",
        "Globex",
        lines=(LineItem("widget-1", "Widget", Decimal("3"), Decimal("12.50"), discount=Decimal("2.00")),),
        ship_date=None,
    )
    records = [feed(qbd_flow_, o) for o in (first, missing, third)]
    assert [r.status for r in records] == ["pending"] * 3  # deferred: nothing happens until QBWC polls
    assert QBXMLJob.objects.filter(handler=chain.H_CUSTOMER).count() == 3

    log = run(live_server, qbd, books)
    assert log.auth_status == "" and log.percentages[-1] == 100

    (inv,) = invoices(books, "1001")
    assert inv.customer == "Acme Ltd" and inv.txn_date == "2024-03-06"  # the ship date
    assert [(item, qty, rate) for _id, item, qty, rate in inv.lines] == [
        ("WIDGET-1", Decimal("2"), Decimal("12.50")),
        ("GADGET-2", Decimal("1"), Decimal("99.00")),
        ("Shipping", Decimal("1"), Decimal("4.95")),
        ("Sales Tax", Decimal("1"), Decimal("7.92")),
    ]
    assert sum(q * r for _i, _n, q, r in inv.lines) == first.computed_total
    (inv3,) = invoices(books, "1003")
    assert inv3.customer == "Globex" and inv3.txn_date == "2024-03-04"  # no ship date: order date, NY time
    assert sum(q * r for _i, _n, q, r in inv3.lines) == Decimal("35.50") == third.computed_total
    assert invoices(books, "1002") == []
    assert books.customer_by_name("Missing Co") is None  # never created

    ok, review, ok3 = (Record.objects.get(pk=r.pk) for r in records)
    assert ok.status == ok3.status == Record.Status.SYNCED and ok.target_id == inv.txn_id
    assert Link.objects.get(connection=qbd[0], object_type="invoice", canonical_key="1001").external_id == inv.txn_id
    assert review.status == Record.Status.NEEDS_REVIEW
    assert review.remediation == "Create customer 'Missing Co' in QuickBooks, then press Replay."
    alert = Alert.objects.get(record=review, resolved_at=None)
    assert "Missing Co" in alert.message
    assert Link.objects.filter(connection=qbd[0], object_type="qbd_customer", canonical_key="acme ltd").exists()
    assert Link.objects.filter(connection=qbd[0], object_type="qbd_item", canonical_key="widget-1").exists()

    # A second run and a second sync change nothing.
    run(live_server, qbd, books)
    assert engine.sync_record(ok.pk).status == "unchanged"
    assert engine.sync_record(ok3.pk).status == "unchanged"
    assert len(invoices(books, "1001")) == 1 and len(invoices(books, "1003")) == 1
    adds = [r for r in books.requests_seen if "<InvoiceAddRq" in r]
    assert len(adds) == 2

    # The merchant creates the customer and replays: cached ListIDs skip the item lookups.
    books.add_customer("Missing Co")
    Record.objects.filter(pk=review.pk).update(status=Record.Status.PENDING)
    assert engine.sync_record(review.pk).status == "queued"
    run(live_server, qbd, books)
    review.refresh_from_db()
    assert review.status == Record.Status.SYNCED and len(invoices(books, "1002")) == 1
    assert not Alert.objects.filter(record=review, resolved_at=None).exists()
    assert not any("<ItemQueryRq" in r and "1002" in r for r in books.requests_seen)


def test_missing_item_needs_review_and_the_batch_goes_on(live_server, qbd, books, qbd_flow_):
    bad = feed(qbd_flow_, make_order("1101", lines=(LineItem("NOPE-9", "Nope", Decimal("1"), Decimal("1.00")),)))
    good = feed(qbd_flow_, make_order("1102", "Globex"))
    run(live_server, qbd, books)
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.status == Record.Status.NEEDS_REVIEW and "'NOPE-9'" in bad.remediation
    assert "press Replay" in bad.remediation
    assert good.status == Record.Status.SYNCED and len(invoices(books, "1102")) == 1
    assert books.item_by_name("NOPE-9") is None


def test_a_second_sync_while_queued_never_queues_a_second_chain(live_server, qbd, books, qbd_flow_):
    record = feed(qbd_flow_, make_order("1201"))
    assert engine.sync_record(record.pk).status == "leased"  # the deferred lease holds it
    Record.objects.filter(pk=record.pk).update(lease_until=None)
    assert engine.sync_record(record.pk).status == "queued"
    assert QBXMLJob.objects.filter(context__order="1201").count() == 1
    run(live_server, qbd, books)
    record.refresh_from_db()
    assert record.status == Record.Status.SYNCED and len(invoices(books, "1201")) == 1


class LostAnswer(Exception):
    pass


@pytest.mark.parametrize("applied", [True, False])
def test_lost_answer_heals_by_refnumber_query(live_server, qbd, books, qbd_flow_, applied):
    """The Web Connector dies after sending InvoiceAdd: the job becomes uncertain; the next run
    asks QuickBooks for RefNumber 1301 before adding, so there is exactly one invoice either way."""
    record = feed(qbd_flow_, make_order("1301"))
    real = books.process

    def dying(request_xml):
        if "<InvoiceAddRq" in request_xml and not getattr(dying, "done", False):
            dying.done = True
            if applied:
                real(request_xml)
            raise LostAnswer
        return real(request_xml)

    books.process = dying
    with pytest.raises(LostAnswer):
        run(live_server, qbd, books)
    run(live_server, qbd, books)  # authenticate ends the dead session: uncertain → lookup → (add)
    record.refresh_from_db()
    assert record.status == Record.Status.SYNCED
    (inv,) = invoices(books, "1301")
    assert record.target_id == inv.txn_id
    assert QBXMLJob.objects.filter(context__order="1301", status=QBXMLJob.Status.UNCERTAIN).count() == 1
    lookups = QBXMLJob.objects.filter(context__order="1301", handler=chain.H_LOOKUP)
    assert lookups.count() == 1 and "<RefNumber>1301</RefNumber>" in lookups.get().request_xml
    assert Event.objects.filter(record=record, message__contains="answer was lost").exists()


def test_deleted_invoice_is_noticed_and_replay_recreates_it(live_server, qbd, books, qbd_flow_):
    record = feed(qbd_flow_, make_order("1401"))
    run(live_server, qbd, books)
    record.refresh_from_db()
    txn_id = record.target_id
    books.delete_invoice(txn_id)

    run(live_server, qbd, books)  # checked less than an hour ago: nothing to do, nothing noticed
    assert Record.objects.get(pk=record.pk).status == Record.Status.SYNCED
    QBXMLJob.objects.filter(handler=checks.H_DELETED).update(created_at=record.synced_at - timedelta(hours=2))
    log = run(live_server, qbd, books)
    assert log.auth_status == ""  # the hourly check asked for a run
    record.refresh_from_db()
    assert record.status == Record.Status.FAILED
    assert record.remediation == "Deleted in QuickBooks; press Replay to re-create"
    assert not Link.objects.filter(connection=qbd[0], object_type="invoice", canonical_key="1401").exists()
    assert Event.objects.filter(record=record, kind="failed", message__contains="deleted in QuickBooks").exists()
    assert Alert.objects.filter(record=record, resolved_at=None).exists()

    Record.objects.filter(pk=record.pk).update(status=Record.Status.PENDING)
    assert engine.sync_record(record.pk).status == "queued"
    run(live_server, qbd, books)
    record.refresh_from_db()
    (inv,) = invoices(books, "1401")
    assert record.status == Record.Status.SYNCED and inv.txn_id == record.target_id != txn_id


def test_inventory_reconciliation_flags_stock_moved_outside_the_flow(live_server, qbd, books, qbd_flow_):
    feed(qbd_flow_, make_order("1501"))  # WIDGET-1 × 2 of 40
    run(live_server, qbd, books)
    level = QBDInventoryLevel.objects.get(connection=qbd[0], sku="WIDGET-1")
    assert level.quantity_on_hand == 38 and level.difference == 0 and level.invoiced_since_check == 0
    assert not Alert.objects.filter(key=f"qbd-inventory:{qbd[0].pk}").exists()

    books.item_by_name("WIDGET-1").quantity_on_hand = Decimal("30")  # a stock adjustment in QuickBooks
    lines = (
        LineItem("WIDGET-1", "Widget", Decimal("1"), Decimal("12.50")),
        LineItem("GADGET-2", "Gadget", Decimal("5"), Decimal("99.00")),  # QuickBooks holds 3
    )
    feed(qbd_flow_, make_order("1502", lines=lines))
    run(live_server, qbd, books)
    alert = Alert.objects.get(key=f"qbd-inventory:{qbd[0].pk}", resolved_at=None)
    assert "WIDGET-1: QuickBooks has 29 on hand, expected 37" in alert.message
    assert "GADGET-2: QuickBooks has -2 on hand" in alert.message
    assert QBDInventoryLevel.objects.get(sku="WIDGET-1").difference == -8


def test_unshipped_order_is_validated_then_invoiced_when_it_ships(live_server, qbd, books, qbd_flow_):
    open_order = make_order("1601", status=OrderStatus.OPEN, modified_at=datetime(2024, 3, 5, tzinfo=UTC))
    record = feed(qbd_flow_, open_order)
    run(live_server, qbd, books)
    record.refresh_from_db()
    assert record.status == Record.Status.SKIPPED and invoices(books, "1601") == []
    assert Event.objects.filter(record=record, kind="skipped").exists()

    record = feed(qbd_flow_, make_order("1601"))  # it shipped
    assert record.status == Record.Status.PENDING
    run(live_server, qbd, books)
    record.refresh_from_db()
    assert record.status == Record.Status.SYNCED and len(invoices(books, "1601")) == 1


def test_journal_entry_posting(live_server, qbd, books, qbd_flow_):
    books.accounts.add("Sales Tax Payable")
    Flow.objects.filter(pk=qbd_flow_.pk).update(options={"posting": "journal"})
    qbd_flow_.refresh_from_db()
    order = make_order("1701", shipping=Decimal("5.00"), tax=Decimal("1.00"))
    record = feed(qbd_flow_, order)
    run(live_server, qbd, books)
    record.refresh_from_db()
    assert record.status == Record.Status.SYNCED
    (je,) = [t for t in books.txns.values() if t.txn_type == "JournalEntry"]
    assert je.ref_number == "1701" and je.txn_date == "2024-03-06" and je.txn_id == record.target_id
    debits = sum(a for tag, _acc, a in je.lines if tag == "JournalDebitLine")
    credits = {acc: a for tag, acc, a in je.lines if tag == "JournalCreditLine"}
    assert debits == Decimal("31.00") == order.computed_total
    assert credits == {
        "Sales": Decimal("25.00"),
        "Shipping Income": Decimal("5.00"),
        "Sales Tax Payable": Decimal("1.00"),
    }
    assert books.invoices() == []


def test_cancel_after_invoicing_needs_review(live_server, qbd, books, qbd_flow_):
    record = feed(qbd_flow_, make_order("1801"))
    run(live_server, qbd, books)
    cancelled = make_order("1801", status=OrderStatus.CANCELLED, modified_at=datetime(2024, 3, 7, tzinfo=UTC))
    record = feed(qbd_flow_, cancelled)
    assert record.status == Record.Status.NEEDS_REVIEW and "Void or delete" in record.remediation
    assert len(invoices(books, "1801")) == 1


def test_preset_and_options_form():
    from connector.registry import get_preset, get_system
    from connector.web.forms import options_form_for
    from integrations.qbdesktop.adapter import QBDesktopTarget

    preset = get_preset("qbdesktop_shipstation")
    assert (preset.source_system, preset.target_system, preset.capabilities) == (
        "shipstation",
        "qbdesktop",
        (("order", "invoice"),),
    )
    assert get_system("qbdesktop").target_adapter is QBDesktopTarget
    form = options_form_for(preset, {"posting": "journal", "shipping_item": "Freight"}, target_choices=None)
    assert form.is_valid(), form.errors
    # Without a source that can take stock levels the inventory push is offered as unavailable (and stays off).
    assert form.push_unavailable and form.fields["push_inventory"].disabled
    assert form.options() == {
        "posting": "journal",
        "post_when": "shipped",
        "shipping_item": "Freight",
        "push_inventory": False,
    }
    assert not options_form_for(preset, {"posting": "cheque"}).is_valid()
