"""The Reconciliation page and API over stored runs (a store and a ledger from memory): a large
period is queued and the page updates itself until it is done; problems come first and the lines are
paged; Run now coalesces; the schedule is set on the page; the API answers the stored run, 202 with
a status URL while one is under way, and never another tenant's runs."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from connector import reconcile_runs, tasks
from connector.models import ReconciliationRun
from connector.reconcile import Period
from tests.reconcile.fake_books import BOOKS, invoice, make_books_flow, seed

pytestmark = pytest.mark.django_db
Run = ReconciliationRun
DAY = date(2026, 11, 10)
PERIOD = {"start": "2026-11-10", "end": "2026-11-10"}


@pytest.fixture
def books():
    BOOKS.reset()
    yield BOOKS
    BOOKS.reset()


@pytest.fixture
def flow(alice, books):
    return make_books_flow(alice.org, enabled=True)


@pytest.fixture
def sent(monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(reconcile_runs, "enqueue", lambda run_id, countdown=0: queued.append(run_id))
    return queued


@pytest.fixture
def large(monkeypatch):
    """Every period counts as large: it runs in the background."""
    monkeypatch.setattr(reconcile_runs, "INLINE_ORDERS", -1)
    monkeypatch.setattr(reconcile_runs, "UNKNOWN_INLINE_DAYS", 0)


def url(flow) -> str:
    return f"/flows/{flow.pk}/reconciliation/"


def rows(html: str) -> int:
    return html.count('data-label="Order"')


def test_a_large_period_is_queued_and_the_page_updates_itself_until_done(alice_client, flow, books, sent, large):
    seed(DAY, matched=2, missing=1)
    html = alice_client.get(url(flow), PERIOD).content.decode()
    run = Run.objects.get(flow=flow)
    assert run.status == "queued" and run.trigger == "page" and sent == [run.pk]
    assert "Check queued." in html and 'hx-trigger="every 2s"' in html and f"run={run.pk}&amp;partial=status" in html
    alice_client.get(url(flow), PERIOD)
    assert Run.objects.filter(flow=flow).count() == 1 and sent == [run.pk]  # opening it again waits for the same run

    partial = alice_client.get(url(flow), {"run": run.pk, "partial": "status"})
    assert partial.status_code == 200 and "HX-Refresh" not in partial and 'id="run-status"' in partial.content.decode()
    Run.objects.filter(pk=run.pk).update(status="running", started_at=run.created_at)
    assert "Checking your books" in alice_client.get(url(flow), {"run": run.pk, "partial": "status"}).content.decode()
    Run.objects.filter(pk=run.pk).update(status="queued")

    tasks.run_reconciliation.run(run.pk)
    partial = alice_client.get(url(flow), {"run": run.pk, "partial": "status"})
    assert partial["HX-Refresh"] == "true"  # done: the page reloads with its lines
    html = alice_client.get(url(flow), PERIOD).content.decode()
    assert "hx-trigger" not in html and "1 of 3 lines needs your attention" in html and rows(html) == 1


def test_problems_come_first_and_lines_are_paged(alice_client, flow, books, sent):
    seed(DAY, matched=120, missing=130, differs=20)
    run = reconcile_runs.compute_now(flow, Period(DAY, DAY), Run.Trigger.MANUAL)
    assert run.line_count == 270 and run.problem_count == 150
    html = alice_client.get(url(flow), PERIOD).content.decode()
    assert "150 of 270 lines need your attention" in html and rows(html) == 100
    assert "Missing in ledger: 130" in html and "Amount differs: 20" in html and "Matched (120)" in html
    assert "badge-matched" not in html.split("<tbody>")[1]  # matched lines wait behind the problems
    assert f"run={run.pk}&amp;show=problems&amp;after=99#lines" in html
    rest = alice_client.get(url(flow), {"run": run.pk, "show": "problems", "after": 99}).content.decode()
    assert rows(rest) == 50 and "lines ›" not in rest
    matched = alice_client.get(url(flow), {"run": run.pk, "show": "matched"}).content.decode()
    assert rows(matched) == 100 and "badge-missing" not in matched.split("<tbody>")[1]
    assert alice_client.get(url(flow), {"run": run.pk, "show": "nonsense"}).status_code == 400

    export = alice_client.get(url(flow), {**PERIOD, "format": "csv"})
    lines = list(csv.reader(io.StringIO(export.content.decode())))
    assert len(lines) == 271 and [r[0] for r in lines[1:]].count("Matched") == 120


def test_run_now_checks_again_once_and_reads_the_ledger_anew(alice_client, flow, books, sent):
    seed(DAY, matched=1, missing=1)
    first = reconcile_runs.compute_now(flow, Period(DAY, DAY), Run.Trigger.MANUAL)
    books.documents.append(invoice(books.orders[-1].reference, DAY))  # booked by hand since
    html = alice_client.get(url(flow), PERIOD).content.decode()
    assert "1 of 2 lines needs your attention" in html  # the stored run, not a fresh read
    assert alice_client.post(url(flow), {**PERIOD, "action": "run"}).status_code == 302
    assert alice_client.post(url(flow), {**PERIOD, "action": "run"}).status_code == 302
    second = Run.objects.exclude(pk=first.pk).get(flow=flow)
    assert second.trigger == "manual" and second.requested_by.email == "alice@example.com" and sent == [second.pk]
    tasks.run_reconciliation.run(second.pk)
    assert "Your books balance: all 2 orders match" in alice_client.get(url(flow), PERIOD).content.decode()
    # With no period chosen the page opens the flow's latest run.
    assert "Your books balance" in alice_client.get(url(flow)).content.decode()


def test_the_schedule_is_set_on_the_page(alice_client, flow):
    with time_machine.travel(datetime(2026, 12, 3, 12, tzinfo=UTC), tick=False):
        answer = alice_client.post(
            url(flow), {"action": "schedule", "reconcile_schedule": "weekly", "reconcile_hour": "8"}
        )
        assert answer.status_code == 302
        flow.refresh_from_db()
        assert (flow.reconcile_schedule, flow.reconcile_hour) == ("weekly", 8)
        assert flow.reconcile_next_at == datetime(2026, 12, 7, 8, tzinfo=UTC)
        alice_client.post(url(flow), {"action": "schedule", "reconcile_schedule": "daily", "reconcile_hour": "25"})
        flow.refresh_from_db()
        assert flow.reconcile_hour == 8  # refused, unchanged
        alice_client.post(url(flow), {"action": "schedule", "reconcile_schedule": "off", "reconcile_hour": "8"})
        flow.refresh_from_db()
        assert flow.reconcile_schedule == "off" and flow.reconcile_next_at is None


def test_the_api_answers_the_stored_run_or_a_status_url(alice_client, flow, books, sent, large):
    seed(DAY, matched=2, missing=1)
    api = f"/api/v1/flows/{flow.pk}/reconciliation/"
    queued = alice_client.get(api, PERIOD)
    assert queued.status_code == 202
    status_url = queued.json()["status_url"]
    run = Run.objects.get(flow=flow)
    assert queued["Location"] == status_url == f"/api/v1/reconciliation-runs/{run.pk}/" and sent == [run.pk]
    assert queued.json()["status"] == "queued" and queued.json()["page_url"].endswith(f"?run={run.pk}")
    assert alice_client.get(status_url).status_code == 202
    assert alice_client.get(api, PERIOD).status_code == 202 and len(sent) == 1

    tasks.run_reconciliation.run(run.pk)
    done = alice_client.get(status_url)
    assert done.status_code == 200
    body = done.json()
    assert body["counts"] == {"missing": 1, "matched": 2} and len(body["lines"]) == 3
    assert body["run"]["id"] == run.pk and body["run"]["vendor_calls"] == 0 and body["lines"][0]["status"] == "missing"
    books.documents.clear()  # the ledger changes; the stored run stands until someone checks again
    again = alice_client.get(api, PERIOD)
    assert again.status_code == 200 and again.json()["lines"] == body["lines"]

    fresh = alice_client.post(f"{api}?start=2026-11-10&end=2026-11-10")
    assert fresh.status_code == 202 and fresh.json()["id"] != run.pk and fresh.json()["trigger"] == "api"
    listing = alice_client.get("/api/v1/reconciliation-runs/", {"flow": flow.pk}).json()["results"]
    assert [r["id"] for r in listing] == [fresh.json()["id"], run.pk] and "lines" not in listing[0]


def test_a_small_period_is_read_in_the_api_request_and_an_unknown_month_is_not(alice_client, flow, books, sent):
    seed(DAY, matched=1)
    api = f"/api/v1/flows/{flow.pk}/reconciliation/"
    month = alice_client.get(api, {"start": "2026-11-01", "end": "2026-11-30"})
    assert month.status_code == 202 and sent == [month.json()["id"]]  # a flow never synced nor checked
    answer = alice_client.get(api, PERIOD)
    assert answer.status_code == 200 and answer.json()["balanced"] and answer.json()["run"]["trigger"] == "api"
    assert len(sent) == 1
    # Known now (one order a day): the next month is read at once.
    assert alice_client.get(api, {"start": "2026-10-01", "end": "2026-10-31"}).status_code == 200


def test_runs_are_tenant_scoped(alice_client, client, bob, flow, books, sent):
    seed(DAY, matched=1)
    run = reconcile_runs.compute_now(flow, Period(DAY, DAY), Run.Trigger.MANUAL)
    other = make_books_flow(flow.organization)
    assert alice_client.get(f"/flows/{other.pk}/reconciliation/", {"run": run.pk}).status_code == 404
    client.force_login(bob)
    assert client.get(url(flow), {"run": run.pk}).status_code == 404
    assert client.get(f"/api/v1/reconciliation-runs/{run.pk}/").status_code == 404
    assert client.get("/api/v1/reconciliation-runs/").json()["results"] == []
    assert client.post(f"/api/v1/flows/{flow.pk}/reconciliation/").status_code == 404
    assert Run.objects.count() == 1


def test_the_openapi_schema_documents_the_runs(alice_client):
    schema = alice_client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/flows/{id}/reconciliation/"]
    assert {"200", "202", "502"} <= set(operation["get"]["responses"]) and "202" in operation["post"]["responses"]
    assert "/api/v1/reconciliation-runs/{id}/" in schema["paths"]
    assert "status_url" in schema["components"]["schemas"]["ReconciliationRun"]["properties"]


def test_the_scheduled_period_is_a_shortcut(alice_client, flow, books, sent):
    today = timezone.now().date()
    expected = reconcile_runs.scheduled_period(today)
    html = alice_client.get(url(flow), PERIOD).content.decode()
    assert f"?start={expected.start}&amp;end={expected.end}" in html and "Last 31 days" in html
    assert expected.end == today - timedelta(days=1)
