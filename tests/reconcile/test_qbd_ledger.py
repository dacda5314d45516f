"""QuickBooks Desktop as the ledger of a reconciliation, through the Web Connector simulator and the
simulated company file: the first request queues one iterated InvoiceQuery (or JournalEntryQuery) on
the period's transaction dates and is told the ledger is not ready; the Web Connector's next run
answers it page by page; the request after that gets the documents. A bookkeeper's hand edits in
QuickBooks (an amount changed, an invoice deleted, one entered twice, one entered with an order number
of ours) are found once the stale answer has been asked for again, and nothing else is reported."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from lxml import etree

from connector import tasks
from connector.models import Connection, Flow, ReconciliationRun
from connector.reconcile import LedgerNotReady, Period, SourceOrder, compare
from connector.registry import get_preset, get_system
from integrations.qbdesktop import jobs, reconcile
from integrations.qbdesktop.models import QBDLedgerListing, QBXMLJob
from integrations.qbdesktop.sandbox.models import SandboxQBDCompany
from integrations.shipstation import timeutil
from integrations.shipstation.sandbox import state as ss_state
from integrations.shipstation.sandbox.models import SandboxAccount
from tests.integrations.qbdesktop.conftest import company, qbd, simulator  # noqa: F401 (fixtures)
from tests.integrations.shipstation.conftest import order_body

pytestmark = pytest.mark.django_db(transaction=True)

TOTAL = "15.04"


def today() -> Period:
    day = timezone.now().date()
    return Period(day, day)


def listing_jobs(connection):
    return QBXMLJob.objects.filter(connection=connection, handler=reconcile.H_LISTING).order_by("id")


def source(number: str) -> SourceOrder:
    return SourceOrder(f"ss-{number}", number, Decimal(TOTAL), "USD", timezone.now().date())


def read(connection, options: dict | None = None) -> list:
    return list(get_system("qbdesktop").reconcile_documents(connection, options or {}, today().widened()))


def test_invoices_arrive_with_the_next_run_and_hand_edits_are_found(live_server, qbd, company, monkeypatch):  # noqa: F811
    connection = qbd[0]
    monkeypatch.setattr(reconcile, "PAGE_SIZE", 2)  # five invoices of the period: three iterator pages
    day = timezone.now().date().isoformat()
    rows = {n: company.add_invoice(n, day, TOTAL) for n in ("1001", "1002", "1003", "1004", "1999")}
    company.add_invoice("OLD", "2020-01-02", "5.00")  # another period

    with pytest.raises(LedgerNotReady, match="Web Connector's next run"):
        read(connection)
    (job,) = listing_jobs(connection)
    request = etree.fromstring(job.request_xml)
    assert job.kind == "InvoiceQuery" and request.get("iterator") == "Start"
    assert request.findtext("MaxReturned") == "2"
    assert request.findtext("TxnDateRangeFilter/FromTxnDate") == (timezone.now().date() - timedelta(days=1)).isoformat()
    with pytest.raises(LedgerNotReady):
        read(connection)  # still waiting: nothing queued twice
    assert listing_jobs(connection).count() == 1

    simulator(live_server, qbd, company).run()
    documents = read(connection)
    queries = [r for r in company.requests_seen if "<InvoiceQueryRq" in r]
    assert len(queries) == 3 and not any("<RefNumber>" in q for q in queries)  # pages, no per-order lookups
    assert sorted(d.reference for d in documents) == ["1001", "1002", "1003", "1004", "1999"]
    assert {(d.amount, d.currency, d.kind) for d in documents} == {(Decimal(TOTAL), "USD", "invoice")}
    orders = [source(n) for n in ("1001", "1002", "1003", "1004")]
    known = ["1001", "1002", "1003", "1004", "1999"]
    report = compare(today(), orders, documents, known_references=known)
    assert {line.reference: line.status for line in report.lines if line.status != "matched"} == {"1999": "extra"}

    company.set_txn_amount(rows["1001"].txn_id, "16.00")
    company.delete_invoice(rows["1002"].txn_id)
    company.duplicate_txn(rows["1003"].txn_id)
    # A fresh answer is what QuickBooks held when it answered: the edits are not seen yet.
    assert {d.reference for d in read(connection)} == set(known)
    QBDLedgerListing.objects.filter(connection=connection).update(answered_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(LedgerNotReady):
        read(connection)  # stale: asked again
    assert jobs.pending(connection).filter(handler=reconcile.H_LISTING).count() == 1
    simulator(live_server, qbd, company).run()
    report = compare(today(), orders, read(connection), known_references=known)
    assert {line.reference: line.status for line in report.lines if line.status != "matched"} == {
        "1001": "amount_differs",
        "1002": "missing",
        "1003": "duplicated",
        "1999": "extra",
    }
    assert next(line for line in report.lines if line.reference == "1001").difference == Decimal("0.96")
    assert [line.reference for line in report.lines if line.status == "matched"] == ["1004"]


def test_journal_entries_when_the_flow_posts_them(live_server, qbd, company):  # noqa: F811
    connection = qbd[0]
    day = timezone.now().date().isoformat()
    entries = {n: company.add_journal_entry(n, day, TOTAL) for n in ("2001", "2002")}
    company.add_invoice("2001", day, TOTAL)  # an invoice is not what this flow posts
    options = {"posting": "journal"}
    with pytest.raises(LedgerNotReady, match="journal entries"):
        read(connection, options)
    assert listing_jobs(connection).get().kind == "JournalEntryQuery"
    simulator(live_server, qbd, company).run()
    documents = read(connection, options)
    assert sorted((d.reference, d.kind, d.amount, d.balanced) for d in documents) == [
        ("2001", "journal_entry", Decimal(TOTAL), True),
        ("2002", "journal_entry", Decimal(TOTAL), True),
    ]
    company.set_txn_amount(entries["2002"].txn_id, "20.00")
    QBDLedgerListing.objects.filter(connection=connection).update(answered_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(LedgerNotReady):
        read(connection, options)
    simulator(live_server, qbd, company).run()
    report = compare(today(), [source("2001"), source("2002")], read(connection, options))
    assert {line.reference: line.status for line in report.lines} == {"2001": "matched", "2002": "amount_differs"}
    changed = next(line for line in report.lines if line.reference == "2002")
    assert changed.ledger_amount == Decimal("20.00") and changed.documents[0].balanced  # still balanced


def test_the_simulator_command_keeps_the_company_file_and_takes_hand_edits(live_server, qbd):  # noqa: F811
    connection, _user, password = qbd
    SandboxQBDCompany.objects.create(organization=connection.organization, connection=connection)

    def simulate(*edits: str) -> None:
        out = io.StringIO()
        call_command(
            "qbwc_simulate", str(connection.pk), "--url", live_server.url, "--password", password, *edits, stdout=out
        )
        assert "authenticate" in out.getvalue()

    with pytest.raises(LedgerNotReady):
        read(connection)
    simulate("--add-invoice", "3001=10.00", "--add-invoice", "3002=7.00")
    assert sorted((d.reference, d.amount) for d in read(connection)) == [
        ("3001", Decimal("10.00")),
        ("3002", Decimal("7.00")),
    ]
    QBDLedgerListing.objects.filter(connection=connection).update(answered_at=timezone.now() - timedelta(hours=1))
    with pytest.raises(LedgerNotReady):
        read(connection)
    simulate("--set-amount", "3001=12.50", "--delete", "3002", "--duplicate", "3001")  # kept from the last run
    assert sorted((d.reference, d.amount) for d in read(connection)) == [
        ("3001", Decimal("12.50")),
        ("3001", Decimal("12.50")),
    ]
    with pytest.raises(CommandError, match="RefNumber 4040"):
        simulate("--delete", "4040")


def test_the_page_waits_for_the_web_connector_then_shows_the_lines(alice, alice_client, live_server, qbd, company):  # noqa: F811
    """A ShipStation → QuickBooks Desktop flow: the page and the API say what they wait for (202), and
    show the period's lines once the Web Connector has run."""
    account = SandboxAccount.objects.create(name="Alice's store", organization=alice.org)
    account.orders.all().delete()
    placed = timeutil.to_filter(timezone.now() - timedelta(minutes=1))
    ss_state.upsert_order(account, order_body("QB-1", orderDate=placed), notify=False)
    store = Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="Alice ShipStation",
        credentials={"api_key": account.api_key, "api_secret": account.api_secret},
        settings={"base_url": f"{live_server.url}/sandbox/shipstation"},
    )
    preset = get_preset("qbdesktop_shipstation")
    flow = Flow.objects.create(
        organization=alice.org, preset=preset.key, name=preset.name, source=store, target=qbd[0], options={}
    )
    company.add_invoice("QB-1", timezone.now().date().isoformat(), "27.05")
    query = {"start": timezone.now().date().isoformat(), "end": timezone.now().date().isoformat()}
    answer = alice_client.get(f"/api/v1/flows/{flow.pk}/reconciliation/", query)
    assert answer.status_code == 202 and "Web Connector" in answer.json()["message"], answer.content
    assert answer.json()["status"] == "waiting"
    page = alice_client.get(reverse("flow_reconciliation", args=[flow.pk]), query)
    assert "Waiting for the Web Connector" in page.content.decode()
    simulator(live_server, qbd, company).run()
    woken = ReconciliationRun.objects.get(pk=answer.json()["id"])
    assert woken.next_attempt_at <= timezone.now(), "the Web Connector's answer wakes the waiting run at once"
    tasks.run_reconciliation.run(woken.pk)  # what the message queued with it runs
    answer = alice_client.get(f"/api/v1/flows/{flow.pk}/reconciliation/", query)
    assert answer.status_code == 200, answer.content
    assert [(line["reference"], line["status"]) for line in answer.json()["lines"]] == [("QB-1", "matched")]
