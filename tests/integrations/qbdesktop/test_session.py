"""Full Web Connector runs: the zeep simulator (Intuit's WSDL) against the live server."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from connector.http import NeedsReview, Uncertain
from connector.models import Event
from integrations.qbdesktop import jobs, qbxml
from integrations.qbdesktop.auth import MAX_FAILURES
from integrations.qbdesktop.models import QBWCSession, QBWCUser, QBXMLJob
from integrations.qbdesktop.sandbox.client import make_service, strings
from integrations.qbdesktop.sandbox.company import SimulatedCompany
from tests.conftest import make_flow, make_record

from .conftest import make_qbd_connection, simulator

pytestmark = pytest.mark.django_db(transaction=True)
Status = QBXMLJob.Status


def invoice_spec(ref="1001", customer="Acme Ltd", qty="2"):
    from datetime import date

    return qbxml.InvoiceSpec(
        customer_full_name=customer,
        txn_date=date(2024, 3, 5),
        ref_number=ref,
        lines=(
            qbxml.InvoiceLine("WIDGET-1", Decimal(qty), Decimal("12.50")),
            qbxml.InvoiceLine("Shipping", Decimal("1"), Decimal("4.95")),
        ),
    )


@pytest.fixture
def collected():
    """A handler that records what the engine would be told."""
    seen: list = []

    def handler(job, result):
        seen.append((job.pk, job.kind, result.error, list(result.objects), result.more_pages))

    jobs.register_handler("test.collect", handler)
    yield seen
    jobs.unregister_handler("test.collect")


def test_zeep_client_from_intuits_wsdl_authenticates(live_server, qbd):
    _connection, user, password = qbd
    svc = make_service(live_server.url)
    assert svc.serverVersion()
    assert svc.clientVersion("2.3.0.215") in (None, "")
    good = strings(svc.authenticate(user.username, password))
    assert len(good[0]) == 64 and good[1] == "none"  # valid user, nothing queued
    bad = strings(svc.authenticate(user.username, "wrong"))
    assert bad == ["", "nvu"]
    unknown = strings(svc.authenticate("nobody", password))
    assert unknown == ["", "nvu"]
    assert QBWCSession.objects.filter(connection=qbd[0]).count() == 1


def test_lockout_after_repeated_failures(live_server, qbd):
    _connection, user, password = qbd
    svc = make_service(live_server.url)
    for _ in range(MAX_FAILURES):
        assert strings(svc.authenticate(user.username, "guess"))[1] == "nvu"
    user.refresh_from_db()
    assert user.locked_until and user.locked_until > timezone.now() + timedelta(minutes=14)
    assert strings(svc.authenticate(user.username, password))[1] == "nvu"  # even the right password
    assert "locked" in user.last_error
    QBWCUser.objects.filter(pk=user.pk).update(locked_until=timezone.now() - timedelta(seconds=1))
    assert strings(svc.authenticate(user.username, password))[1] == "none"


def test_full_session_runs_every_job_and_records_results(live_server, qbd, company, collected):
    connection, user, _password = qbd
    lookup = jobs.enqueue(connection, qbxml.customer_query(full_names=["Acme Ltd"]), handler="test.collect")
    stock = jobs.enqueue(connection, qbxml.item_inventory_query(max_returned=1), handler="test.collect")
    invoice = jobs.enqueue(connection, qbxml.invoice_add(invoice_spec()))
    entry = jobs.enqueue(
        connection,
        qbxml.journal_entry_add(
            qbxml.JournalEntrySpec(
                invoice_spec().txn_date,
                "1001",
                (qbxml.JournalLine("Cost of Goods Sold", Decimal("8.20"), "postage"),),
                (qbxml.JournalLine("Checking", Decimal("8.20")),),
            )
        ),
    )
    deleted = jobs.enqueue(connection, qbxml.txn_deleted_query(["Invoice"]))

    log = simulator(live_server, qbd, company).run()

    assert log.auth_status == ""
    assert log.methods[:3] == ["serverVersion", "clientVersion", "authenticate"]
    assert log.methods[-1] == "closeConnection" and "getLastError" not in log.methods
    assert log.percentages[-1] == 100 and all(0 <= p < 100 for p in log.percentages[:-1])
    assert log.requests_sent == 6  # 5 jobs + the second page of the inventory iterator
    for job in (lookup, stock, invoice, entry, deleted):
        job.refresh_from_db()
        assert job.status == Status.DONE, (job.kind, job.status_message)
    # Effects in the company file: exactly one invoice 1001, with our lines; one journal entry.
    invoices = [t for t in company.invoices() if t.ref_number == "1001"]
    assert len(invoices) == 1 and invoices[0].customer == "Acme Ltd"
    assert [(item, qty, rate) for _id, item, qty, rate in invoices[0].lines] == [
        ("WIDGET-1", Decimal("2"), Decimal("12.50")),
        ("Shipping", Decimal("1"), Decimal("4.95")),
    ]
    assert invoice.result["txn_id"] == invoices[0].txn_id and invoice.result["edit_sequence"]
    assert [t.txn_type for t in company.txns.values()].count("JournalEntry") == 1
    assert deleted.status_code == 1  # nothing deleted: "no match" is not an error
    # The handler saw the customer and both inventory pages with QuantityOnHand.
    by_kind = {}
    for _pk, kind, error, objects, _more in collected:
        assert error is None
        by_kind.setdefault(kind, []).extend(objects)
    assert [c.full_name for c in by_kind["CustomerQuery"]] == ["Acme Ltd"]
    # An iterator's next page runs before other queued jobs, so stock is read before invoice 1001 sells 2.
    assert [(i.full_name, i.quantity_on_hand) for i in by_kind["ItemInventoryQuery"]] == [
        ("WIDGET-1", Decimal("40")),
        ("GADGET-2", Decimal("3")),
    ]
    assert company.item_by_name("WIDGET-1").quantity_on_hand == Decimal("38")
    session = QBWCSession.objects.get(connection=connection)
    assert session.closed_at is not None and session.jobs_done == 6 and session.progress == 100
    user.refresh_from_db()
    assert user.last_poll_at is not None and user.company_file.endswith(".QBW")


def test_edit_sequence_conflict_requeries_then_retries_the_mod(live_server, qbd, company):
    connection = qbd[0]
    add = jobs.enqueue(connection, qbxml.invoice_add(invoice_spec()))
    simulator(live_server, qbd, company).run()
    add.refresh_from_db()
    txn_id, stale = add.result["txn_id"], add.result["edit_sequence"]
    company.touch_invoice(txn_id)  # someone edits it in QuickBooks: our EditSequence is now stale

    mod = jobs.enqueue(connection, qbxml.invoice_mod(txn_id, stale, invoice_spec(qty="5")))
    log = simulator(live_server, qbd, company).run()

    mod.refresh_from_db()
    assert mod.status == Status.DONE and mod.attempts == 2
    requery = QBXMLJob.objects.get(parent=mod)
    assert requery.kind == "InvoiceQuery" and requery.status == Status.DONE
    assert log.requests_sent == 3 and log.percentages[-1] == 100
    assert company.txns[txn_id].lines[0][2] == Decimal("5")  # the modification landed
    assert len(company.invoices()) == 1


def test_mod_of_a_deleted_invoice_fails_visibly(live_server, qbd, company, collected):
    connection = qbd[0]
    add = jobs.enqueue(connection, qbxml.invoice_add(invoice_spec()))
    simulator(live_server, qbd, company).run()
    add.refresh_from_db()
    company.delete_invoice(add.result["txn_id"])
    mod = jobs.enqueue(connection, qbxml.invoice_mod(add.result["txn_id"], "1", invoice_spec()), handler="test.collect")
    simulator(live_server, qbd, company).run()
    mod.refresh_from_db()
    assert mod.status == Status.ERROR and mod.status_code == 3120
    assert collected and collected[-1][2] is not None


def test_iterator_pages_are_queued_in_session_with_progress(live_server, qbd, company, collected):
    for n in range(5):
        company.add_item(f"EXTRA-{n}", quantity_on_hand=str(n))
    connection = qbd[0]
    first = jobs.enqueue(connection, qbxml.item_query(max_returned=3), handler="test.collect")
    log = simulator(live_server, qbd, company).run()
    pages = list(QBXMLJob.objects.filter(connection=connection).order_by("id"))
    assert [p.page for p in pages] == [1, 2, 3]  # 8 items, 3 per page
    assert pages[0].pk == first.pk and all(p.status == Status.DONE for p in pages)
    assert 'iterator="Continue"' in pages[1].request_xml and pages[1].iterator_id
    assert [more for *_rest, more in collected] == [True, True, False]
    assert sum(len(objects) for _pk, _k, _e, objects, _m in collected) == 8
    assert log.percentages == sorted(log.percentages) and log.percentages[0] < 50 and log.percentages[-1] == 100


def test_session_ending_mid_iteration_restarts_the_query(live_server, qbd, company):
    connection, user, password = qbd
    jobs.enqueue(connection, qbxml.item_query(max_returned=1))
    svc = make_service(live_server.url)
    ticket = strings(svc.authenticate(user.username, password))[0]
    request = svc.sendRequestXML(ticket, "", "C:\\x.QBW", "US", 13, 0)
    percent = svc.receiveResponseXML(ticket, company.process(request), "", "")
    assert 0 < percent < 100
    assert svc.closeConnection(ticket).startswith("OK")  # the user stopped the run
    nxt = QBXMLJob.objects.get(connection=connection, status=Status.QUEUED)
    assert 'iterator="Start"' in nxt.request_xml and not nxt.iterator_id and nxt.session is None


def test_quickbooks_hresult_ends_the_run_with_a_useful_last_error(live_server, qbd, company):
    connection = qbd[0]
    broken = jobs.enqueue(connection, qbxml.customer_query(full_names=["Acme Ltd"]))
    later = jobs.enqueue(connection, qbxml.customer_query(full_names=["Globex"]))
    company.hresult_next()
    log = simulator(live_server, qbd, company).run()
    assert log.percentages == [-1] and "0x80040400" in log.last_error
    assert log.methods[-2:] == ["getLastError", "closeConnection"]
    broken.refresh_from_db()
    assert broken.status == Status.ERROR and "0x80040400" in broken.status_message
    assert QBXMLJob.objects.get(pk=later.pk).status == Status.QUEUED
    user = QBWCUser.objects.get(connection=connection)
    assert "0x80040400" in user.last_error
    simulator(live_server, qbd, company).run()  # the next run carries on with the rest
    assert QBXMLJob.objects.get(pk=later.pk).status == Status.DONE


def test_status_error_becomes_a_visible_record_failure(live_server, qbd, company, alice, collected):
    connection = qbd[0]
    flow = make_flow(alice.org)
    record = make_record(flow, "1002")
    job = jobs.enqueue(
        connection,
        qbxml.invoice_add(invoice_spec(ref="1002", customer="Nobody Inc")),
        record=record,
        handler="test.collect",
    )
    simulator(live_server, qbd, company).run()
    job.refresh_from_db()
    assert job.status == Status.ERROR and job.status_code == 3140 and "Nobody Inc" in job.status_message
    assert isinstance(collected[0][2], NeedsReview)
    assert Event.objects.filter(record=record, kind=Event.Kind.FAILED, message__contains="3140").exists()
    assert company.invoices() == []


class HostileCompany(SimulatedCompany):
    def process(self, request_xml):
        super().process(request_xml)
        return (
            '<?xml version="1.0"?><!DOCTYPE QBXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            '<QBXML><QBXMLMsgsRs><CustomerQueryRs requestID="1" statusCode="0" statusSeverity="Info" '
            'statusMessage="&xxe;"/></QBXMLMsgsRs></QBXML>'
        )


def test_hostile_qbxml_response_is_refused_without_harm(live_server, qbd):
    job = jobs.enqueue(qbd[0], qbxml.customer_query(full_names=["Acme Ltd"]))
    log = simulator(live_server, qbd, HostileCompany()).run()
    assert log.percentages == [-1] and "refused" in log.last_error
    job.refresh_from_db()
    assert job.status == Status.ERROR and "root:" not in job.status_message


def test_ticket_reaches_only_its_own_connections_jobs(live_server, qbd, company, bob):
    bob_connection, _bob_user, _pw = make_qbd_connection(bob.org, "Bob's books")
    bobs = jobs.enqueue(bob_connection, qbxml.customer_query(full_names=["Acme Ltd"]))
    alices = jobs.enqueue(qbd[0], qbxml.customer_query(full_names=["Acme Ltd"]))
    simulator(live_server, qbd, company).run()
    assert QBXMLJob.objects.get(pk=alices.pk).status == Status.DONE
    assert QBXMLJob.objects.get(pk=bobs.pk).status == Status.QUEUED


def test_connection_error_is_shown(live_server, qbd, company):
    jobs.enqueue(qbd[0], qbxml.customer_query(full_names=["Acme Ltd"]))
    company.unavailable = True
    log = simulator(live_server, qbd, company).run()
    assert log.methods[-1] == "connectionError" and log.calls[-1][1] == "done"
    assert "0x80040401" in QBWCUser.objects.get(connection=qbd[0]).last_error


def test_wrong_company_file_is_refused(live_server, qbd, company):
    jobs.enqueue(qbd[0], qbxml.customer_query(full_names=["Acme Ltd"]))
    user = qbd[1]
    company.register_file(user.owner_id, "{00000000-0000-0000-0000-000000000000}")  # another file's id
    log = simulator(live_server, qbd, company).run()
    assert log.requests_sent == 0 and "different QuickBooks company file" in log.last_error


def test_lost_exchange_makes_a_write_uncertain_and_requeues_a_query(live_server, qbd, company, collected):
    connection, user, password = qbd
    write = jobs.enqueue(connection, qbxml.invoice_add(invoice_spec()), handler="test.collect")
    svc = make_service(live_server.url)
    ticket = strings(svc.authenticate(user.username, password))[0]
    assert "InvoiceAddRq" in svc.sendRequestXML(ticket, "", "C:\\x.QBW", "US", 13, 0)
    # The Web Connector died; the next run logs in again.
    assert strings(svc.authenticate(user.username, password))[1] in ("", "none")
    write.refresh_from_db()
    assert write.status == Status.UNCERTAIN
    assert isinstance(collected[-1][2], Uncertain)


def test_expired_ticket_is_not_accepted(live_server, qbd):
    connection, user, password = qbd
    jobs.enqueue(connection, qbxml.customer_query(full_names=["Acme Ltd"]))
    svc = make_service(live_server.url)
    ticket = strings(svc.authenticate(user.username, password))[0]
    QBWCSession.objects.filter(connection=connection).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert svc.sendRequestXML(ticket, "", "", "US", 13, 0) in (None, "")
    assert "expired" in svc.getLastError(ticket)
