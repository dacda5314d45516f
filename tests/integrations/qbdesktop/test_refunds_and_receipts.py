"""Refunds as QuickBooks credit memos and paid orders as sales receipts, for a WooCommerce → QuickBooks
Desktop flow: engine → qbXML job chains → the Web Connector simulator (over HTTP against the live server)
→ the simulated company file. Every assertion on an effect is on the company file.

qbXML shapes: CreditMemoAdd / SalesReceiptAdd element order and the 11-character RefNumber from the
qbXML 13.0 schema as kept in consolibyte/quickbooks-php (QuickBooks/QBXML/Schema/Object/
CreditMemoAddRq.php, SalesReceiptAddRq.php: `RefNumber` max length 11).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connector import engine, registry
from connector.canonical import OrderStatus, Refund
from connector.models import Alert, Connection, Event, Flow, Link, Record
from connector.web.forms import options_form_for, options_problems
from integrations.qbdesktop import chain, lists, qbxml
from integrations.qbdesktop.adapter import QBDesktopTarget
from integrations.qbdesktop.links import CREDIT_LINK
from integrations.qbdesktop.models import QBXMLJob
from integrations.qbdesktop.sandbox.company import SimulatedCompany

from .test_flow import feed, invoices, make_order, run

pytestmark = pytest.mark.django_db(transaction=True)
LATER = datetime(2024, 3, 8, 12, tzinfo=UTC)


@pytest.fixture
def shop(alice, qbd):
    source = Connection.objects.create(organization=alice.org, system="woocommerce", label="Shop")
    return Flow.objects.create(
        organization=alice.org,
        preset="woocommerce_qbdesktop",
        source=source,
        target=qbd[0],
        options={"posting": "invoice", "post_when": "paid"},
    )


@pytest.fixture
def ledger(books):
    books.add_item("Refunds", item_type="ItemOtherCharge", quantity_on_hand=None)
    return books


def memos(company: SimulatedCompany, order_number: str):
    return sorted(
        (m for m in company.credit_memos() if m.ref_number.startswith(f"{order_number}-R")), key=lambda m: m.ref_number
    )


def refunded(order, *refunds: tuple[str, str], minutes: int = 0, **changes):
    """The order as the store sends it after refunds: newer, with its `refunds` summary."""
    stamp = LATER.replace(minute=minutes)
    items = tuple(Refund(source_id=rid, amount=Decimal(amount), reason="Damaged") for rid, amount in refunds)
    return dataclasses.replace(order, refunds=items, modified_at=stamp, **changes)


def adds(company: SimulatedCompany, kind: str) -> int:
    return sum(f"<{kind}Rq" in r for r in company.requests_seen)


def test_each_refund_becomes_one_credit_memo_and_never_a_second(live_server, qbd, ledger, shop):
    order = make_order("2001", status=OrderStatus.OPEN, total=Decimal("25.00"))
    record = feed(shop, order)
    run(live_server, qbd, ledger)
    (invoice,) = invoices(ledger, "2001")

    record = feed(shop, refunded(order, ("2101", "5.00")))
    assert record.status == Record.Status.PENDING  # queued for the Web Connector
    run(live_server, qbd, ledger)
    record.refresh_from_db()
    (memo,) = memos(ledger, "2001")
    assert memo.ref_number == "2001-R1" and memo.customer == "Acme Ltd"
    assert memo.lines[0][1:] == ("Refunds", Decimal("1"), Decimal("5.00")) and memo.total == Decimal("5.00")
    assert memo.memo == "WooCommerce refund 2101 of order 2001: Damaged"
    assert record.status == Record.Status.SYNCED and record.target_id == invoice.txn_id  # the sale stays the target
    assert record.result["extra"] == ["credit memo 2001-R1"]
    assert len(invoices(ledger, "2001")) == 1 and invoice.lines == invoices(ledger, "2001")[0].lines

    # A second refund: a second memo; the first is not sent again.
    record = feed(shop, refunded(order, ("2102", "2.50"), ("2101", "5.00"), minutes=5))
    run(live_server, qbd, ledger)
    record.refresh_from_db()
    assert [(m.ref_number, m.total) for m in memos(ledger, "2001")] == [
        ("2001-R1", Decimal("5.00")),
        ("2001-R2", Decimal("2.50")),
    ]
    assert record.status == Record.Status.SYNCED and record.result["extra"] == [
        "credit memo 2001-R1",
        "credit memo 2001-R2",
    ]
    assert adds(ledger, "CreditMemoAdd") == 2

    # The same version again, a retry, a Replay: nothing more in QuickBooks.
    assert engine.sync_record(record.pk).status == "unchanged"
    engine.replay(record)  # the worker is not running in this test: run the replay's sync here
    engine.sync_record(record.pk, replay=True)
    run(live_server, qbd, ledger)
    assert len(memos(ledger, "2001")) == 2 and adds(ledger, "CreditMemoAdd") == 2
    assert Link.objects.filter(connection=qbd[0], object_type=CREDIT_LINK).count() == 2


def test_refund_item_missing_waits_for_review_then_replay_credits_once(live_server, qbd, books, shop):
    order = make_order("2201", status=OrderStatus.OPEN, total=Decimal("25.00"))
    feed(shop, order)
    run(live_server, qbd, books)
    record = feed(shop, refunded(order, ("2301", "4.00")))
    run(live_server, qbd, books)
    record.refresh_from_db()
    assert record.status == Record.Status.NEEDS_REVIEW and memos(books, "2201") == []
    assert "Create item 'Refunds' in QuickBooks" in record.remediation
    assert Alert.objects.filter(record=record, resolved_at=None).exists()

    books.add_item("Refunds", item_type="ItemOtherCharge", quantity_on_hand=None)
    Record.objects.filter(pk=record.pk).update(status=Record.Status.PENDING)
    assert engine.sync_record(record.pk).status == "queued"
    run(live_server, qbd, books)
    record.refresh_from_db()
    assert record.status == Record.Status.SYNCED and len(memos(books, "2201")) == 1
    assert not Alert.objects.filter(record=record, resolved_at=None).exists()


class LostAnswer(Exception):
    pass


@pytest.mark.parametrize("applied", [True, False])
def test_a_lost_credit_memo_answer_never_credits_twice(live_server, qbd, ledger, shop, applied):
    order = make_order("2401", status=OrderStatus.OPEN, total=Decimal("25.00"))
    feed(shop, order)
    run(live_server, qbd, ledger)
    record = feed(shop, refunded(order, ("2501", "7.00")))
    real = ledger.process

    def dying(request_xml):
        if "<CreditMemoAddRq" in request_xml and not getattr(dying, "done", False):
            dying.done = True
            if applied:
                real(request_xml)
            raise LostAnswer
        return real(request_xml)

    ledger.process = dying
    with pytest.raises(LostAnswer):
        run(live_server, qbd, ledger)
    run(live_server, qbd, ledger)  # the add is uncertain: the next run looks up 2401-R1 first
    record.refresh_from_db()
    assert record.status == Record.Status.SYNCED
    (memo,) = memos(ledger, "2401")
    assert memo.ref_number == "2401-R1" and memo.total == Decimal("7.00")
    lookups = QBXMLJob.objects.filter(context__order="2401", handler=chain.H_CREDIT_LOOKUP)
    assert all("<RefNumber>2401-R1</RefNumber>" in j.request_xml for j in lookups) and lookups.count() == 2
    assert Link.objects.get(object_type=CREDIT_LINK, canonical_key="2401/refund/2501").external_id == memo.txn_id


def test_a_foreign_credit_memo_with_the_number_is_not_taken_for_ours(live_server, qbd, ledger, shop):
    order = make_order("2601", status=OrderStatus.OPEN, total=Decimal("25.00"))
    feed(shop, order)
    run(live_server, qbd, ledger)
    customer = ledger.customer_by_name("Acme Ltd")
    ledger._add_txn("CreditMemo", _Body({"RefNumber": "2601-R1", "Memo": "entered by hand"}), customer, [])
    record = feed(shop, refunded(order, ("2701", "3.00")))
    run(live_server, qbd, ledger)
    record.refresh_from_db()
    assert (
        record.status == Record.Status.NEEDS_REVIEW
        and "already has a credit memo numbered 2601-R1" in record.last_error
    )
    assert len(memos(ledger, "2601")) == 1 and adds(ledger, "CreditMemoAdd") == 0


class _Body:
    """What the simulated company reads of an Add body: findtext on a few tags."""

    def __init__(self, fields: dict):
        self.fields = fields

    def findtext(self, tag: str):
        return self.fields.get(tag)


def test_refunded_in_full_credits_and_keeps_the_invoice_a_bare_cancel_needs_review(live_server, qbd, ledger, shop):
    order = make_order("2801", status=OrderStatus.OPEN, total=Decimal("25.00"))
    feed(shop, order)
    run(live_server, qbd, ledger)
    record = feed(shop, refunded(order, ("2901", "25.00"), status=OrderStatus.CANCELLED))
    run(live_server, qbd, ledger)
    record.refresh_from_db()
    assert record.status == Record.Status.SYNCED
    assert [m.total for m in memos(ledger, "2801")] == [Decimal("25.00")] and len(invoices(ledger, "2801")) == 1

    other = make_order("2802", status=OrderStatus.OPEN, total=Decimal("25.00"))
    feed(shop, other)
    run(live_server, qbd, ledger)
    cancelled = feed(shop, dataclasses.replace(other, status=OrderStatus.CANCELLED, modified_at=LATER))
    assert cancelled.status == Record.Status.NEEDS_REVIEW and "Void or delete transaction 2802" in cancelled.remediation
    assert memos(ledger, "2802") == [] and len(invoices(ledger, "2802")) == 1

    # Cancelled with a partial refund: the refund is credited, the rest is a person's call.
    third = make_order("2803", status=OrderStatus.OPEN, total=Decimal("25.00"))
    feed(shop, third)
    run(live_server, qbd, ledger)
    part = feed(shop, refunded(third, ("2904", "10.00"), status=OrderStatus.CANCELLED))
    run(live_server, qbd, ledger)
    part.refresh_from_db()
    assert [m.total for m in memos(ledger, "2803")] == [Decimal("10.00")]
    assert part.status == Record.Status.NEEDS_REVIEW and "15.00 of it stays posted" in part.last_error


def test_refunded_before_it_was_posted_posts_then_credits_in_one_run(live_server, qbd, ledger, shop):
    order = make_order("3001", status=OrderStatus.OPEN, total=Decimal("25.00"))
    record = feed(shop, refunded(order, ("3101", "1.25")))
    run(live_server, qbd, ledger)
    record.refresh_from_db()
    (invoice,) = invoices(ledger, "3001")
    (memo,) = memos(ledger, "3001")
    assert record.status == Record.Status.SYNCED and record.target_id == invoice.txn_id
    assert memo.total == Decimal("1.25")
    assert Event.objects.filter(record=record, kind="created", message__contains="QuickBooks invoice 3001").exists()


def test_an_order_number_too_long_for_its_credit_memo_number_needs_review(live_server, qbd, ledger, shop):
    order = make_order("ABCDEFGHI", status=OrderStatus.OPEN, total=Decimal("25.00"))  # 9 + "-R1" = 12
    feed(shop, order)
    run(live_server, qbd, ledger)
    record = feed(shop, refunded(order, ("3201", "2.00")))
    record.refresh_from_db()
    assert record.status == Record.Status.NEEDS_REVIEW and "longer than QuickBooks' 11-character" in record.last_error
    assert "Enter a credit memo for refund 3201 in QuickBooks by hand" in record.remediation
    assert ledger.credit_memos() == []


# --- Sales receipts ---------------------------------------------------------------------------------


def test_paid_orders_become_one_sales_receipt_each(live_server, qbd, ledger, shop):
    Flow.objects.filter(pk=shop.pk).update(
        options={
            "posting": "sales_receipt",
            "post_when": "paid",
            "payment_method": "Visa",
            "deposit_account": "Checking",
        }
    )
    shop.refresh_from_db()
    paid = feed(shop, make_order("3301", status=OrderStatus.OPEN))
    unpaid = feed(shop, make_order("3302", status=OrderStatus.AWAITING_PAYMENT))
    run(live_server, qbd, ledger)
    paid.refresh_from_db()
    unpaid.refresh_from_db()
    (receipt,) = [r for r in ledger.sales_receipts() if r.ref_number == "3301"]
    assert receipt.customer == "Acme Ltd" and receipt.total == Decimal("25.00")
    assert (receipt.payment_method, receipt.deposit_account) == ("Visa", "Checking")
    assert receipt.memo == "WooCommerce order 3301" and ledger.invoices() == []
    assert paid.status == Record.Status.SYNCED and paid.target_id == receipt.txn_id
    assert paid.result["label"] == "QuickBooks sales receipt" and paid.result["number"] == "3301"
    assert unpaid.status == Record.Status.SKIPPED and len(ledger.sales_receipts()) == 1
    assert ledger.item_by_name("WIDGET-1").quantity_on_hand == Decimal("38")  # the receipt took the stock

    # Shipped later: not posted again. A refund: a credit memo beside the receipt.
    shipped = feed(shop, make_order("3301", modified_at=LATER))
    run(live_server, qbd, ledger)
    record = feed(shop, refunded(make_order("3301", total=Decimal("25.00")), ("3401", "12.50"), minutes=9))
    run(live_server, qbd, ledger)
    record.refresh_from_db()
    assert shipped.pk == record.pk and len(ledger.sales_receipts()) == 1
    assert [m.total for m in memos(ledger, "3301")] == [Decimal("12.50")]


def test_an_unknown_payment_method_needs_review_and_the_options_form_offers_quickbooks_lists(
    live_server, qbd, ledger, shop
):
    Flow.objects.filter(pk=shop.pk).update(
        options={"posting": "sales_receipt", "post_when": "paid", "payment_method": "Bitcoin"}
    )
    shop.refresh_from_db()
    record = feed(shop, make_order("3501", status=OrderStatus.OPEN))
    run(live_server, qbd, ledger)  # the run also reads QuickBooks' payment methods and accounts
    record.refresh_from_db()
    assert record.status == Record.Status.NEEDS_REVIEW and 'PaymentMethod "Bitcoin"' in record.last_error
    assert record.remediation.startswith("Create payment method 'Bitcoin' in QuickBooks, or choose another")
    assert ledger.sales_receipts() == []

    adapter = QBDesktopTarget(qbd[0], options=shop.options)
    assert adapter.choices("payment_methods") == [(m, m) for m in sorted(ledger.payment_methods)]
    assert adapter.choices("deposit_accounts") == [("Checking", "Checking"), ("Undeposited Funds", "Undeposited Funds")]
    preset = registry.get_preset("woocommerce_qbdesktop")
    form = options_form_for(preset, None, initial=shop.options, target_choices=adapter.choices, flow=shop)
    assert [v for v, _ in form.fields["payment_method"].choices] == ["", *sorted(ledger.payment_methods)]
    # The saved name QuickBooks does not have stops the flow from starting.
    problems = options_problems(shop, adapter.choices)
    assert problems and problems[0].startswith("Sales receipts: payment method:")
    shop.options = {**shop.options, "payment_method": "Visa"}
    assert options_problems(shop, adapter.choices) == []

    # A payment method made inactive in QuickBooks drops out of the list at the next read.
    ledger.payment_methods.discard("Cash")
    QBXMLJob.objects.filter(handler=lists.H_LIST).update(finished_at=datetime(2024, 1, 1, tzinfo=UTC))
    run(live_server, qbd, ledger)
    assert "Cash" not in dict(adapter.choices("payment_methods"))


def test_the_options_say_what_orders_become():
    preset = registry.get_preset("woocommerce_qbdesktop")
    form = options_form_for(preset, {"posting": "sales_receipt", "post_when": "paid"})
    assert form.is_valid(), form.errors
    assert form.options()["posting"] == "sales_receipt"
    assert form.fields["posting"].label == "Orders become"
    assert form.fields["payment_method"].widget.attrs["data-show-when"] == "posting=sales_receipt"
    assert not options_form_for(preset, {"posting": "receipt"}).is_valid()


# --- The sandbox is as strict as QuickBooks -----------------------------------------------------------


def _answer(company: SimulatedCompany, request: qbxml.Request) -> qbxml.Status:
    response = company.process(qbxml.message_set([("1", request)]))
    return qbxml.statuses(response)[0]


def test_the_simulated_company_refuses_what_quickbooks_refuses():
    company = SimulatedCompany(seed=3)
    company.add_customer("Acme Ltd")
    company.add_item("Refunds", item_type="ItemOtherCharge", quantity_on_hand=None)
    spec = qbxml.CreditMemoSpec("Acme Ltd", datetime(2024, 3, 8).date(), "1-R1", "Refunds", Decimal("2.00"))
    assert _answer(company, qbxml.credit_memo_add(spec)).code == 0
    unknown = _answer(company, qbxml.credit_memo_add(dataclasses.replace(spec, customer_full_name="Nobody")))
    assert unknown.code == 3140 and 'Customer "Nobody"' in unknown.message
    missing_item = _answer(company, qbxml.credit_memo_add(dataclasses.replace(spec, item_full_name="Nope")))
    assert missing_item.code == 3140 and 'Item "Nope"' in missing_item.message
    long_ref = qbxml.Request("CreditMemoAdd", qbxml.credit_memo_add(spec).xml.replace("1-R1", "123456789-R1"))
    too_long = _answer(company, long_ref)
    assert too_long.code == 3070 and "is too long" in too_long.message
    found = company.process(qbxml.message_set([("2", qbxml.credit_memo_query(ref_numbers=["1-R1"]))]))
    (memo,) = [o for o in qbxml.iter_response(found) if isinstance(o, qbxml.Transaction)]
    assert (memo.txn_type, memo.ref_number, memo.total) == ("CreditMemo", "1-R1", Decimal("2.00"))
    assert _answer(company, qbxml.credit_memo_query(ref_numbers=["9-R9"])).code == 1
    with pytest.raises(ValueError):
        qbxml.credit_memo_add(dataclasses.replace(spec, ref_number="123456789-R1"))
    with pytest.raises(ValueError):
        qbxml.credit_memo_add(dataclasses.replace(spec, amount=Decimal("0")))


def test_sales_receipt_requests_follow_the_schema_order():
    spec = qbxml.InvoiceSpec(
        "Acme Ltd",
        datetime(2024, 3, 8).date(),
        "5001",
        (qbxml.InvoiceLine("WIDGET-1", Decimal("1"), Decimal("2.00")),),
        memo="WooCommerce order 5001",
        ship_date=datetime(2024, 3, 9).date(),
    )
    xml = qbxml.sales_receipt_add(spec, payment_method="Visa", deposit_account="Checking").xml
    order = ["<CustomerRef>", "<TxnDate>", "<RefNumber>", "<PaymentMethodRef>", "<ShipDate>", "<Memo>"]
    order += ["<DepositToAccountRef>", "<SalesReceiptLineAdd>"]
    positions = [xml.index(tag) for tag in order]
    assert positions == sorted(positions)
    company = SimulatedCompany(seed=4)
    company.add_customer("Acme Ltd")
    company.add_item("WIDGET-1", price="2.00", quantity_on_hand="3")
    assert _answer(company, qbxml.Request("SalesReceiptAdd", xml)).code == 0
    bad = _answer(company, qbxml.sales_receipt_add(spec, deposit_account="Petty Cash"))
    assert bad.code == 3140 and 'Account "Petty Cash"' in bad.message
