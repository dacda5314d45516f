"""Stored reconciliation runs without vendors: a store and a ledger listing from memory
(tests/reconcile/fake_books.py). A ledger that is not ready leaves the run waiting and it completes
on a later try; the schedule starts each slot once; the flow's alert follows its scheduled runs; the
sweep brings back runs whose message or worker was lost."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from django.utils.html import escape

from connector import reconcile_runs, tasks
from connector.models import Alert, ReconciliationRun, Record
from connector.reconcile import Period
from connector.reconcile_runs import claim_due_schedules, next_slot, requeue_lost_runs, start_run
from tests.reconcile.fake_books import BOOKS, NOT_READY, invoice, make_books_flow, seed

pytestmark = pytest.mark.django_db
Run = ReconciliationRun
DAY = date(2026, 11, 10)


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
    """What would be queued for a worker: (run id, countdown)."""
    queued: list[tuple[int, float]] = []
    monkeypatch.setattr(reconcile_runs, "enqueue", lambda run_id, countdown=0: queued.append((run_id, countdown)))
    return queued


def page(client, flow, **params) -> str:
    answer = client.get(f"/flows/{flow.pk}/reconciliation/", params)
    assert answer.status_code == 200, answer.status_code
    return answer.content.decode()


def test_a_ledger_not_ready_leaves_the_run_waiting_and_a_later_try_completes(alice_client, flow, books, sent):
    seed(DAY, matched=2, missing=1)
    books.not_ready = 1
    run, created = start_run(flow, Period(DAY, DAY), Run.Trigger.MANUAL)
    assert created and run.status == Run.Status.QUEUED and sent == [(run.pk, 0)]

    assert tasks.run_reconciliation.run(run.pk) == "waiting"
    run.refresh_from_db()
    assert run.status == Run.Status.WAITING and run.message == NOT_READY and run.attempts == 1
    assert run.next_attempt_at > timezone.now() + timedelta(seconds=290) and not run.lines.exists()
    assert sent[-1] == (run.pk, 300.0)  # the retry is queued with its countdown
    html = page(alice_client, flow, run=run.pk)
    assert escape(NOT_READY) in html and 'hx-trigger="every 2s"' in html and "Waiting for Ledger Books" in html

    assert tasks.run_reconciliation.run(run.pk) == "skipped"  # a message arriving early changes nothing
    assert books.listings == 1

    with time_machine.travel(run.next_attempt_at + timedelta(seconds=1), tick=False):
        assert tasks.run_reconciliation.run(run.pk) == "done"
    run.refresh_from_db()
    assert run.status == Run.Status.DONE and run.attempts == 2 and run.message == "" and books.listings == 2
    assert run.counts == {"missing": 1, "matched": 2} and run.line_count == 3 and run.problem_count == 1
    assert list(run.lines.order_by("position").values_list("status", flat=True)) == ["missing", "matched", "matched"]
    html = page(alice_client, flow, run=run.pk)
    assert "hx-trigger" not in html and "1 of 3 lines needs your attention" in html and escape(NOT_READY) not in html


def test_waiting_is_bounded(flow, books, sent):
    books.not_ready = 99
    run, _ = start_run(flow, Period(DAY, DAY), Run.Trigger.MANUAL)
    Run.objects.filter(pk=run.pk).update(attempts=reconcile_runs.MAX_TRIES - 1)
    assert tasks.run_reconciliation.run(run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED and NOT_READY in run.message and "stopped waiting" in run.message
    assert run.remediation and run.finished_at is not None and sent == [(run.pk, 0)]  # no retry queued


def test_next_slot_daily_and_weekly():
    thursday = datetime(2026, 12, 3, 5, 30, tzinfo=UTC)
    assert next_slot("daily", 6, thursday) == datetime(2026, 12, 3, 6, tzinfo=UTC)
    assert next_slot("daily", 6, thursday.replace(hour=6)) == datetime(2026, 12, 4, 6, tzinfo=UTC)
    assert next_slot("weekly", 6, thursday) == datetime(2026, 12, 7, 6, tzinfo=UTC)  # Monday
    assert next_slot("weekly", 6, datetime(2026, 12, 7, 5, tzinfo=UTC)) == datetime(2026, 12, 7, 6, tzinfo=UTC)
    assert next_slot("off", 6, thursday) is None


def test_the_schedule_starts_each_slot_once_over_the_last_31_days(flow, alice, sent):
    assert flow.reconcile_schedule == "daily" and flow.reconcile_hour == 6  # the default
    early = datetime(2026, 12, 3, 5, 30, tzinfo=UTC)
    assert claim_due_schedules(early) == []  # a flow without a slot gets one first
    flow.refresh_from_db()
    assert flow.reconcile_next_at == datetime(2026, 12, 3, 6, tzinfo=UTC)
    assert claim_due_schedules(early + timedelta(minutes=10)) == []  # not due yet

    due = datetime(2026, 12, 3, 6, 0, 40, tzinfo=UTC)
    started = claim_due_schedules(due)
    assert len(started) == 1 and claim_due_schedules(due) == []  # one run per slot
    run = Run.objects.get(pk=started[0])
    assert run.trigger == Run.Trigger.SCHEDULE and run.status == Run.Status.QUEUED and sent == [(run.pk, 0)]
    assert (run.start, run.end) == (date(2026, 11, 2), date(2026, 12, 2))  # 31 whole days up to yesterday
    flow.refresh_from_db()
    assert flow.reconcile_next_at == datetime(2026, 12, 4, 6, tzinfo=UTC)

    # Off, or a flow that does not run: no checks.
    other = make_books_flow(alice.org, enabled=True, reconcile_schedule="off")
    paused = make_books_flow(alice.org, enabled=False, reconcile_next_at=due - timedelta(hours=1))
    assert claim_due_schedules(due + timedelta(days=1)) == [started[0] + 1]  # only the first flow again
    assert not Run.objects.filter(flow__in=[other, paused]).exists()


def test_the_dispatch_task_runs_both_parts(flow):
    assert tasks.dispatch_due_reconciliations.run() == {"scheduled": 0, "requeued": 0}


def scheduled_run(flow) -> Run:
    today = timezone.now().date()
    period = reconcile_runs.scheduled_period(today)
    run, _ = start_run(flow, period, Run.Trigger.SCHEDULE)
    tasks.run_reconciliation.run(run.pk)
    run.refresh_from_db()
    return run


def open_alerts(flow):
    return Alert.objects.filter(organization=flow.organization, key=f"reconciliation:{flow.pk}", resolved_at=None)


def test_a_scheduled_run_with_problems_raises_one_alert_and_a_balanced_one_resolves_it(flow, books, sent):
    yesterday = timezone.now().date() - timedelta(days=1)
    seed(yesterday, matched=3, missing=1, differs=1)
    first = scheduled_run(flow)
    alert = open_alerts(flow).get()
    assert alert.flow_id == flow.pk and alert.level == "warning"
    assert "2 of 5 orders" in alert.message and "1 missing in ledger" in alert.message
    assert "1 amount differs" in alert.message and "Ledger Books" in alert.message
    assert alert.link == f"/flows/{flow.pk}/reconciliation/?run={first.pk}" and "replay" in alert.remediation

    second = scheduled_run(flow)  # still unbalanced: the same alert, pointing at the newer run
    assert open_alerts(flow).get().pk == alert.pk and open_alerts(flow).get().link.endswith(f"?run={second.pk}")

    missing = next(o for o in books.orders if o.reference not in {d.reference for d in books.documents})
    books.documents.append(invoice(missing.reference, yesterday))
    books.documents = [d if d.amount == missing.amount else invoice(d.reference, d.date) for d in books.documents]
    third = scheduled_run(flow)
    assert third.problem_count == 0 and not open_alerts(flow).exists()
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_pending_lines_and_other_periods_raise_no_alert(flow, books, sent):
    yesterday = timezone.now().date() - timedelta(days=1)
    seed(yesterday, matched=1, missing=1)
    missing = books.orders[-1]
    Record.objects.create(
        organization=flow.organization, flow=flow, object_type="order", source_id=missing.source_id, status="pending"
    )
    run = scheduled_run(flow)
    assert run.counts == {"pending": 1, "matched": 1} and run.problem_count == 0 and not open_alerts(flow).exists()

    seed(DAY, missing=1)  # an old period a person checks by hand: shown on the page, no alert
    manual, _ = start_run(flow, Period(DAY, DAY), Run.Trigger.MANUAL)
    tasks.run_reconciliation.run(manual.pk)
    manual.refresh_from_db()
    assert manual.problem_count == 1 and not open_alerts(flow).exists()


def test_the_sweep_brings_back_lost_runs_and_leaves_live_ones(flow, sent):
    now = timezone.now()
    periods = [Period(DAY + timedelta(days=n), DAY + timedelta(days=n)) for n in range(5)]
    runs = [start_run(flow, p, Run.Trigger.MANUAL)[0] for p in periods]
    lost_queued, fresh_queued, dead_running, lost_waiting, live_waiting = runs
    Run.objects.filter(pk=lost_queued.pk).update(next_attempt_at=now - timedelta(seconds=1))
    Run.objects.filter(pk=dead_running.pk).update(status="running", lease_until=now - timedelta(seconds=1))
    Run.objects.filter(pk=lost_waiting.pk).update(status="waiting", next_attempt_at=now - timedelta(minutes=6))
    Run.objects.filter(pk=live_waiting.pk).update(status="waiting", next_attempt_at=now - timedelta(minutes=1))
    sent.clear()
    requeued = requeue_lost_runs(now)
    assert sorted(requeued) == sorted([lost_queued.pk, dead_running.pk, lost_waiting.pk])
    assert sorted(run_id for run_id, _ in sent) == sorted(requeued)
    assert set(Run.objects.filter(pk__in=requeued).values_list("status", flat=True)) == {"queued"}
    assert requeue_lost_runs(now) == []  # claimed: not queued twice
    assert Run.objects.get(pk=fresh_queued.pk).status == "queued"
    assert Run.objects.get(pk=live_waiting.pk).status == "waiting"


def test_a_second_start_joins_the_run_under_way(flow, sent):
    first, created = start_run(flow, Period(DAY, DAY), Run.Trigger.MANUAL)
    again, created_again = start_run(flow, Period(DAY, DAY), Run.Trigger.SCHEDULE)
    assert created and not created_again and again.pk == first.pk and len(sent) == 1


def test_a_request_that_meets_a_ledger_not_ready_hands_the_run_to_a_worker(alice_client, flow, books, sent):
    seed(DAY, matched=1)
    books.not_ready = 1
    html = page(alice_client, flow, start="2026-11-10", end="2026-11-10")  # a small period: read in the request
    run = Run.objects.get(flow=flow)
    assert run.status == "waiting" and sent == [(run.pk, 300.0)]
    assert 'hx-trigger="every 2s"' in html and escape(NOT_READY) in html
    answer = alice_client.get(f"/api/v1/flows/{flow.pk}/reconciliation/", {"start": "2026-11-10", "end": "2026-11-10"})
    assert answer.status_code == 202 and answer.json()["status"] == "waiting" and answer.json()["message"] == NOT_READY


def test_runs_go_to_the_sync_queue_and_beat_dispatches_them_every_minute(settings):
    from connector.celery import app

    router = app.amqp.Router()
    assert router.route({}, tasks.run_reconciliation.name, args=(), kwargs={})["queue"].name == "sync"
    assert router.route({}, tasks.dispatch_due_reconciliations.name, args=(), kwargs={})["queue"].name == "polls"
    entry = settings.CELERY_BEAT_SCHEDULE["dispatch-due-reconciliations"]
    assert entry["task"] == tasks.dispatch_due_reconciliations.name and entry["schedule"] <= 60
