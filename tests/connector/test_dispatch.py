"""The beat dispatcher: due flows are claimed once, even when two dispatchers race."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from connector import tasks
from connector.models import Flow
from tests.conftest import make_flow


@pytest.fixture
def enqueued(monkeypatch):
    calls: list[int] = []
    lock = threading.Lock()

    def fake_delay(flow_id):
        with lock:
            calls.append(flow_id)

    monkeypatch.setattr(tasks.poll_flow, "delay", fake_delay)
    return calls


@pytest.mark.django_db
def test_only_due_enabled_flows_are_enqueued_and_moved_to_their_next_slot(
    alice, enqueued, django_capture_on_commit_callbacks
):
    now = timezone.now()
    due = make_flow(alice.org, enabled=True, next_run_at=now - timedelta(seconds=1), interval_seconds=300)
    make_flow(alice.org, enabled=True, next_run_at=now + timedelta(minutes=5))
    make_flow(alice.org, enabled=False, next_run_at=now - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        claimed = tasks.claim_due_flows(now)
    assert claimed == [due.pk] and enqueued == [due.pk]
    due.refresh_from_db()
    assert due.next_run_at == now + timedelta(seconds=300)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.claim_due_flows(now) == []  # same slot: nothing twice
    assert enqueued == [due.pk]


@pytest.mark.django_db(transaction=True)
def test_two_racing_dispatchers_never_enqueue_the_same_flow_twice(alice, enqueued):
    now = timezone.now()
    flows = [make_flow(alice.org, enabled=True, next_run_at=now - timedelta(seconds=i + 1)) for i in range(40)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def dispatcher():
        try:
            barrier.wait(timeout=10)
            for _ in range(3):
                tasks.claim_due_flows(now)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(enqueued) == sorted(f.pk for f in flows)  # each exactly once
    assert Flow.objects.filter(next_run_at__lte=now).count() == 0


@pytest.mark.django_db
def test_poll_flow_records_an_unknown_preset_as_an_error(alice):
    flow = make_flow(alice.org, preset="no_such_preset", enabled=True)
    tasks.poll_flow.run(flow.pk)
    flow.refresh_from_db()
    assert flow.last_run_status == "error" and "no_such_preset" in flow.last_run_error


@pytest.mark.django_db
def test_polls_of_one_flow_never_pile_up_or_overlap(alice, enqueued, monkeypatch):
    from connector.redis import get_redis

    flow = make_flow(alice.org, enabled=True)
    assert tasks.enqueue_poll(flow.pk) is True
    assert tasks.enqueue_poll(flow.pk) is False  # one is already waiting
    assert enqueued == [flow.pk]
    ran = []
    monkeypatch.setattr(tasks, "_poll", lambda flow_id: ran.append(flow_id))
    lock = get_redis().lock(f"poll:running:{flow.pk}", timeout=60)
    assert lock.acquire()
    tasks.poll_flow.run(flow.pk)  # another worker is polling this flow right now
    assert ran == []
    lock.release()
    tasks.poll_flow.run(flow.pk)
    assert ran == [flow.pk]
    # The poll asked for while the other ran is owed: one more is queued when this one ends.
    assert enqueued == [flow.pk, flow.pk]
    tasks.poll_flow.run(flow.pk)
    assert ran == [flow.pk, flow.pk] and enqueued == [flow.pk, flow.pk]  # owed once, not forever


@pytest.mark.django_db
def test_asks_during_a_poll_make_one_more_poll_not_many(alice, enqueued, monkeypatch):
    from connector.redis import get_redis

    flow = make_flow(alice.org, enabled=True)
    monkeypatch.setattr(tasks, "_poll", lambda flow_id: None)
    lock = get_redis().lock(f"poll:running:{flow.pk}", timeout=60)
    assert lock.acquire()
    for _ in range(3):  # three "Run now" presses while a poll runs
        tasks.poll_flow.run(flow.pk)
    lock.release()
    enqueued.clear()
    tasks.poll_flow.run(flow.pk)  # the running poll ends (here: the next one that gets the lock)
    assert enqueued == [flow.pk]


def test_every_beat_entry_names_a_registered_task(settings):
    from connector.celery import app

    app.loader.import_default_modules()
    from connector.celery import beat_schedule

    entries = beat_schedule(settings.CELERY_BEAT_SCHEDULE).values()  # the integrations' entries too
    missing = [e["task"] for e in entries if e["task"] not in app.tasks]
    assert missing == []
