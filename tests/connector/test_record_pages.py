"""Record pages explain themselves: the business result first (invoice number, total, status, a
link that opens), needs-review and retry states in plain words, formatted JSON, diffs between
versions, folded repeats, and API calls that open to their redacted request and response bodies."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from connector import engine
from connector.adapters import DocumentSummary
from connector.http import ApiClient, CallRecord, Transient
from connector.models import Alert, Connection, Event, Flow, Record, raise_alert, resolve_settled_alerts
from tests.conftest import make_flow, make_record
from tests.connector import fake_systems
from tests.connector.fake_systems import WORLD, FakeTarget
from tests.connector.vendor_stub import StubServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fakes():
    fake_systems.register_fakes()
    WORLD.__init__()


@pytest.fixture
def queued(monkeypatch):
    ids: list[int] = []
    monkeypatch.setattr(engine, "_enqueue", lambda record_id, replay=False: ids.append(record_id))
    return ids


@pytest.fixture
def fake_flow(alice):
    src = Connection.objects.create(organization=alice.org, system="fakesrc", label="Store")
    tgt = Connection.objects.create(organization=alice.org, system="faketgt", label="Books")
    return Flow.objects.create(organization=alice.org, preset="fake_flow", source=src, target=tgt, enabled=True)


def sync_all(flow: Flow, queued: list[int]) -> None:
    engine.run_flow(Flow.objects.get(pk=flow.pk))
    for pk in list(queued):
        engine.sync_record(pk)
    queued.clear()


def page(client, record: Record) -> str:
    response = client.get(reverse("record_detail", args=[record.pk]))
    assert response.status_code == 200
    return response.content.decode()


# --- Business results ------------------------------------------------------------------------------


def test_a_written_document_is_stored_in_business_terms_and_found_by_its_number(
    alice_client, fake_flow, queued, monkeypatch
):
    def describe(self, object_type, obj, result):
        return DocumentSummary("invoice", "Invoice", f"INV-{obj.number}", str(obj.total), obj.currency, "sent")

    monkeypatch.setattr(FakeTarget, "describe_result", describe)
    WORLD.add_order("1001", total="12.50")
    sync_all(fake_flow, queued)
    record = Record.objects.get()
    assert record.target_ref == "INV-1001"
    assert record.result == {
        "kind": "invoice",
        "label": "Invoice",
        "number": "INV-1001",
        "total": "12.50",
        "currency": "USD",
        "status": "sent",
    }
    created = record.events.get(kind="created")
    assert created.message == "Invoice INV-1001 created (12.50 USD)."  # not the internal id
    html = page(alice_client, record)
    assert "Invoice INV-1001" in html and "12.50 USD · sent" in html
    # The audit log has a Result column, and a search by the document number finds the record.
    audit = alice_client.get(reverse("audit_log"), {"q": "inv-1001"}).content.decode()
    assert "<th>Result</th>" in audit and "Invoice INV-1001 · 12.50 USD · sent" in audit
    assert reverse("record_detail", args=[record.pk]) in audit


def test_the_default_summary_reads_the_canonical_order(fake_flow, queued):
    WORLD.add_order("1002", total="7.00")
    sync_all(fake_flow, queued)
    record = Record.objects.get()
    assert record.result["number"] == "1002" and record.result["total"] == "7.00"
    assert record.result["status"] == "created" and record.target_ref == "1002"


def zoho_record(org, **extra) -> Record:
    store = Connection.objects.create(organization=org, system="shipstation", label="Store")
    books = Connection.objects.create(
        organization=org,
        system="zoho",
        label="Books",
        settings={"organization_id": "770001", "region": "us"},
    )
    flow = Flow.objects.create(organization=org, preset="shipstation_zoho", source=store, target=books)
    record = make_record(flow, "1001", status=Record.Status.SYNCED, target_id="4600000123", **extra)
    return record


def test_a_sandbox_invoice_links_to_the_sandbox_page_that_shows_it(alice_client, alice, client, bob):
    from integrations.zoho.sandbox.models import SandboxZohoDocument, SandboxZohoOrg, SandboxZohoUser

    record = zoho_record(
        alice.org,
        target_url="http://127.0.0.1:8000/sandbox/zoho/us/app/app/770001#/invoices/4600000123",  # the old 404
        result={"kind": "invoice", "label": "Invoice", "number": "1001", "total": "36.47", "currency": "USD"},
    )
    html = page(alice_client, record)
    link = "/sandbox/zoho/us/app/770001/invoice/4600000123/"
    assert link in html and "Open in Zoho Books" in html
    assert "#/invoices/" not in html  # the link that answered 404 is gone
    user = SandboxZohoUser.objects.create(region="us", email="alice@example.com", organization=alice.org)
    org = SandboxZohoOrg.objects.create(user=user, organization_id="770001", name="Alice Books")
    SandboxZohoDocument.objects.create(
        org=org,
        kind="invoice",
        object_id="4600000123",
        number="1001",
        data={
            "invoice_number": "1001",
            "date": "2026-11-30",
            "total": "36.47",
            "currency_code": "USD",
            "status": "draft",
            "line_items": [{"item_id": "46001", "name": "Red mug", "quantity": 2, "rate": 12.0}],
        },
    )
    shown = alice_client.get(link)
    assert shown.status_code == 200
    assert "36.47" in shown.content.decode() and "Red mug" in shown.content.decode()
    client.force_login(bob)  # another tenant, no connection to that sandbox organisation
    assert client.get(link).status_code == 404


@override_settings(ZOHO_USE_SANDBOX=False)
def test_a_real_zoho_invoice_links_to_the_books_web_app(alice):
    record = zoho_record(alice.org)
    adapter = engine.target_adapter(record.flow.target)
    assert adapter.document_url("invoice", "4600000123") == "https://books.zoho.com/app/770001#/invoices/4600000123"
    assert adapter.document_url("journal", "77").endswith("#/accountant/manualjournals/77")
    assert adapter.document_url("item", "1") == ""  # nothing a merchant opens from a record


def test_an_old_record_without_a_stored_summary_gets_one_from_its_payload(alice_client, alice):
    payload = {
        "number": "1001",
        "source_id": "1",
        "status": "open",
        "currency": "EUR",
        "order_date": "2026-11-01T00:00:00+00:00",
        "total": "20.00",
    }
    record = zoho_record(alice.org, payload=payload)
    html = page(alice_client, record)
    assert "Invoice 1001" in html and "20.00 EUR" in html


# --- Trouble in plain words ------------------------------------------------------------------------


def test_needs_review_shows_what_is_wrong_before_any_id(alice_client, alice):
    flow = make_flow(alice.org)
    record = make_record(
        flow,
        "1003",
        status=Record.Status.NEEDS_REVIEW,
        last_error="SKU MUG-01 unknown",
        remediation="Create item MUG-01 in QuickBooks, then press Replay.",
    )
    html = page(alice_client, record)
    assert "Needs review" in html and "SKU MUG-01 unknown" in html and "Create item MUG-01" in html
    assert "Replay" in html
    audit = alice_client.get(reverse("audit_log")).content.decode()
    assert "Needs review: SKU MUG-01 unknown" in audit


def test_a_retrying_record_shows_its_attempt_and_next_try(alice_client, alice):
    flow = make_flow(alice.org)
    record = make_record(
        flow,
        "1004",
        status=Record.Status.PENDING,
        attempts=5,
        last_error="Zoho Books server error 503",
        remediation="Zoho Books had an outage; we retry automatically.",
    )
    failed_at = timezone.now()
    Event.objects.create(
        organization=alice.org,
        record=record,
        kind=Event.Kind.FAILED,
        message="Zoho Books server error 503",
        data={"error": "Transient", "status": 503, "retry_in": 120.0, "attempt": 5},
        created_at=failed_at,
    )
    html = page(alice_client, record)
    next_try = timezone.localtime(failed_at + timedelta(seconds=120)).strftime("%H:%M")
    assert "Attempt 5, next try" in html and next_try in html
    assert "Zoho Books had an outage; we retry automatically." in html and "Retrying" in html
    # Once the wait is over (the worker is busy, or the vendor paused), it says so instead of a past time.
    Event.objects.filter(record=record, kind=Event.Kind.FAILED).update(created_at=failed_at - timedelta(hours=1))
    assert "Attempt 5, next try any moment." in page(alice_client, record)


def test_vendor_outages_get_plain_remediation(fake_flow, queued):
    WORLD.add_order("1005")
    WORLD.fail_next = [Transient("faketgt server error 503: down", status=503)]
    sync_all(fake_flow, queued)
    record = Record.objects.get()
    assert record.status == "pending" and record.remediation == "Fake Books had an outage; we retry automatically."


# --- Payloads, diffs, timeline ----------------------------------------------------------------------


def test_payloads_are_formatted_json_with_a_diff_between_versions(alice_client, alice):
    flow = make_flow(alice.org)
    record = make_record(
        flow,
        "1006",
        status=Record.Status.PENDING,
        payload={"number": "1006", "total": "10.00", "notes": "", "api_key": "k-secret"},
        source_payload={"number": "1006", "total": "12.50", "notes": "gift", "api_key": "k-secret"},
    )
    html = page(alice_client, record)
    assert "{&#x27;number&#x27;" not in html and "{'number'" not in html  # no Python reprs
    assert "&quot;number&quot;: &quot;1006&quot;" in html  # indented JSON
    assert "k-secret" not in html
    assert "Changed at the source since the last sync" in html
    assert "<code>total</code>" in html and "10.00" in html and "12.50" in html


def test_an_update_records_what_it_changed(alice_client, fake_flow, queued):
    order = WORLD.add_order("1007", total="10.00")
    sync_all(fake_flow, queued)
    WORLD.edit(order.source_id, total=Decimal("15.00"))
    sync_all(fake_flow, queued)
    record = Record.objects.get()
    updated = record.events.get(kind="updated")
    assert {"path": "total", "old": "10.00", "new": "15.00"} in updated.data["changes"]
    html = page(alice_client, record)
    assert "What this update changed" in html and "15.00" in html


def test_api_calls_open_to_redacted_bodies_and_repeats_fold(alice_client, alice):
    flow = make_flow(alice.org)
    record = make_record(flow, "1008", status=Record.Status.FAILED, last_error="boom")
    timeline = engine.Timeline(record)
    for _ in range(5):
        timeline.call(
            CallRecord(
                "POST",
                "https://books.example/invoices",
                503,
                12,
                request_body='{"invoice": {"number": "1008"}, "access_token": "tok-SECRET"}',
                response_body='{"code": 503, "message": "down", "refresh_token": "ref-SECRET"}',
            )
        )
    timeline.flush()
    stored = Event.objects.filter(record=record, kind="api_call").first().data
    assert "tok-SECRET" not in str(stored) and "[redacted]" in stored["request_body"]
    html = page(alice_client, record)
    assert "×5" in html and "5 times since" in html
    assert html.count("Request body") == 1 and "Response body" in html  # one folded line
    assert "&quot;number&quot;: &quot;1008&quot;" in html
    assert "SECRET" not in html


def test_the_api_client_reports_bodies_to_the_call_log():
    stub = StubServer()
    calls: list[CallRecord] = []
    try:
        client = ApiClient(stub.url, on_call=calls.append)
        stub.queue(201, {"invoice": {"invoice_id": "9"}})
        client.request("POST", "invoices", json={"customer_id": "c1"})
    finally:
        stub.close()
    (call,) = calls
    assert call.request_body == '{"customer_id": "c1"}' and '"invoice_id": "9"' in call.response_body
    assert "customer_id" not in repr(call)  # bodies never reach a log line through the record's repr


# --- Circuit breaker and alerts ----------------------------------------------------------------------


def test_a_paused_vendor_is_shown_on_flow_and_record_pages(alice_client, alice):
    flow = make_flow(alice.org)
    Connection.objects.filter(pk=flow.target_id).update(paused_until=timezone.now() + timedelta(minutes=10))
    record = make_record(flow, "1009", status=Record.Status.PENDING, last_error="server error 503", attempts=3)
    progress = alice_client.get(reverse("flow_progress", args=[flow.pk])).content.decode()
    assert "Paused" in progress and "resumes by itself" in progress
    assert "Paused" in page(alice_client, record)
    # Connection and flow badges say so wherever they are shown.
    for name in ("connections", "dashboard", "flows"):
        html = alice_client.get(reverse(name)).content.decode()
        assert "badge-paused_breaker" in html, name
    assert "Paused until" in alice_client.get(reverse("connections")).content.decode()


def test_alerts_close_themselves_when_the_cause_is_gone(alice, fake_flow, queued):
    WORLD.add_order("1010")
    WORLD.fail_next = [Transient("down", status=503)]
    sync_all(fake_flow, queued)
    record = Record.objects.get()
    raise_alert(alice.org, f"record:{record.pk}", "Order 1010 needs review", record=record)
    raise_alert(
        alice.org, f"reauth:{fake_flow.target_id}", "Books rejected our credentials.", connection=fake_flow.target
    )
    raise_alert(alice.org, f"circuit:{fake_flow.target_id}", "Books keeps failing", connection=fake_flow.target)
    Connection.objects.filter(pk=fake_flow.target_id).update(status=Connection.Status.NEEDS_REAUTH)
    assert resolve_settled_alerts(alice.org) == 0  # nothing settled yet
    # The vendor answers again: the record syncs, the circuit alert closes with it.
    Connection.objects.filter(pk=fake_flow.target_id).update(consecutive_failures=3)
    engine.sync_record(record.pk)
    assert not Alert.objects.filter(key=f"circuit:{fake_flow.target_id}", resolved_at=None).exists()
    assert not Alert.objects.filter(key=f"record:{record.pk}", resolved_at=None).exists()
    # An alert left open for a record that synced by another path (a deferred write, a later edit)
    # closes the next time alerts are listed.
    raise_alert(alice.org, f"record:{record.pk}", "Order 1010 needs review", record=record)
    assert resolve_settled_alerts(alice.org) == 1
    # Re-authorised (any connect view saves the connection active): its alert closes too.
    target = Connection.objects.get(pk=fake_flow.target_id)
    target.status = Connection.Status.ACTIVE
    target.save()
    assert resolve_settled_alerts(alice.org) == 1
    assert not Alert.objects.filter(resolved_at=None).exists()


def test_repeated_attempts_fold_into_one_line_with_a_count(alice):
    """Each retry is the same cycle (API call → 503, failed): five of them read as one line, ×5."""
    from connector.web.timeline import timeline

    flow = make_flow(alice.org)
    record = make_record(flow, "1011", status=Record.Status.PENDING, last_error="down")
    for _ in range(5):
        Event.objects.create(
            organization=alice.org,
            record=record,
            kind="api_call",
            message="POST https://books.example/invoices → 503 in 80 ms",
            data={"method": "POST", "url": "https://books.example/invoices", "status": 503, "response_body": "{}"},
        )
        Event.objects.create(
            organization=alice.org, record=record, kind="failed", message="down", data={"error": "Transient"}
        )
    entries = timeline(list(Event.objects.filter(record=record).order_by("id")))
    assert [(e.event.kind, e.count) for e in entries] == [("received", 1), ("failed", 5)]
    assert entries[1].related == ["API call: POST https://books.example/invoices → 503 in 80 ms"]
    assert [title for title, _ in entries[1].details][0] == "Response body (POST → 503)"


def test_the_api_gives_the_business_result_and_searches_by_document_number(alice_client, alice):
    record = zoho_record(
        alice.org,
        target_ref="INV-000042",
        result={"kind": "invoice", "label": "Invoice", "number": "INV-000042", "total": "36.47", "currency": "USD"},
    )
    found = alice_client.get("/api/v1/records/", {"q": "INV-000042"}).json()["results"]
    assert [r["id"] for r in found] == [record.pk]
    assert found[0]["target_ref"] == "INV-000042" and found[0]["result"]["total"] == "36.47"


def test_zoho_describes_invoices_journals_and_credit_notes_in_its_own_words(alice):
    from connector.adapters import WriteResult
    from connector.canonical import Order, OrderStatus, Shipment
    from integrations.zoho.adapter import _invoice_facts

    record = zoho_record(alice.org)
    zoho = engine.target_adapter(record.flow.target, options={"invoice_number_prefix": "WEB-"})
    order = Order("1001", "1", OrderStatus.OPEN, "EUR", timezone.now(), total=Decimal("36.47"))
    answer = {
        "invoice_id": "46",
        "invoice_number": "WEB-1001",
        "total": 36.47,
        "currency_code": "EUR",
        "status": "sent",
    }
    created = zoho.describe_result("invoice", order, WriteResult("46", "created", data=_invoice_facts(answer)))
    assert (created.label, created.number, created.total, created.currency, created.status) == (
        "Invoice",
        "WEB-1001",
        "36.47",
        "EUR",
        "sent",
    )
    refunded = zoho.describe_result("invoice", order, WriteResult("46", "updated", data={"credit_notes": ["CN-1"]}))
    assert refunded.number == "WEB-1001" and refunded.extra == ("Credit note CN-1",)
    voided = zoho.describe_result("invoice", order, WriteResult("46", "voided"))
    assert voided.status == "void"
    shipment = Shipment("s1", "1", "1001", None, shipping_cost=Decimal("7.50"), currency="EUR")
    posted = zoho.describe_result("cost_posting", shipment, WriteResult("77", "created", data={"number": "JE-12"}))
    reversed_ = zoho.describe_result("cost_posting", shipment, WriteResult("78", "reversed", data={"number": "JE-13"}))
    assert (posted.label, posted.number, posted.total, posted.status) == ("Journal entry", "JE-12", "7.50", "posted")
    assert (reversed_.kind, reversed_.status) == ("journal", "reversed")


def test_a_sandbox_exact_journal_entry_links_to_the_sandbox_page_that_shows_it(alice_client, alice, client, bob):
    from integrations.exact.sandbox.models import SandboxExactDivision, SandboxExactEntity, SandboxExactUser

    store = Connection.objects.create(organization=alice.org, system="shipstation", label="Store")
    exact = Connection.objects.create(
        organization=alice.org, system="exact", label="Exact", settings={"country": "nl", "division": 3101}
    )
    flow = Flow.objects.create(organization=alice.org, preset="exact_shipstation", source=exact, target=store)
    entry_id = "5b2f0000-0000-0000-0000-000000000001"
    record = make_record(
        flow,
        "SO-7",
        object_type="shipment",
        status=Record.Status.SYNCED,
        target_id=entry_id,
        result={"kind": "journal", "label": "Journal entry", "number": "90001", "total": "7.50", "status": "posted"},
    )
    link = f"/sandbox/exact/nl/docs/3101/journal/{entry_id}/"
    html = page(alice_client, record)
    assert "Journal entry 90001" in html and link in html and "Open in Exact Online" in html
    user = SandboxExactUser.objects.create(country="nl", email="alice@example.com", organization=alice.org)
    division = SandboxExactDivision.objects.create(user=user, code=3101, description="Alice BV")
    now = timezone.now()
    SandboxExactEntity.objects.create(
        division=division,
        entity="GeneralJournalEntries",
        guid=entry_id,
        data={"EntryID": entry_id, "EntryNumber": 90001, "JournalCode": "90", "Currency": "EUR"},
        modified_at=now,
    )
    SandboxExactEntity.objects.create(
        division=division,
        entity="GeneralJournalEntryLines",
        guid="line-1",
        data={"EntryID": entry_id, "LineNumber": 1, "GLAccountCode": "4600", "AmountFC": 7.5, "Description": "UPS"},
        modified_at=now,
    )
    shown = alice_client.get(link)
    assert shown.status_code == 200 and "90001" in shown.content.decode() and "4600" in shown.content.decode()
    client.force_login(bob)
    assert client.get(link).status_code == 404
