"""Event retention: old events of finished records go; each record's latest event and every event of
a record not done stay, whatever their age."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from connector.celery import beat_schedule
from connector.models import Connection, Event, Record
from connector.retention import prune_events
from tests.conftest import make_flow, make_record

pytestmark = pytest.mark.django_db

NOW = timezone.now()
OLD = NOW - timedelta(days=200)
RECENT = NOW - timedelta(days=10)


def event(record: Record | None, when, kind: str = "api_call", **extra) -> Event:
    org = record.organization if record is not None else extra.pop("organization")
    return Event.objects.create(organization=org, record=record, kind=kind, created_at=when, **extra)


def history(record: Record, *ages) -> list[Event]:
    """The record's events, oldest first (its fixture "received" event is made old too)."""
    Event.objects.filter(record=record).update(created_at=OLD - timedelta(days=1))
    return [event(record, when) for when in ages]


def kept(record: Record) -> set[int]:
    return set(Event.objects.filter(record=record).values_list("pk", flat=True))


def test_old_events_of_a_synced_record_go_except_its_latest(alice):
    flow = make_flow(alice.org)
    record = make_record(flow, "1001", status=Record.Status.SYNCED)
    received = Event.objects.get(record=record)
    old_call, old_created, recent = history(record, OLD, OLD + timedelta(hours=1), RECENT)

    assert prune_events(timedelta(days=180), now=NOW) == 3
    assert kept(record) == {recent.pk}
    assert not Event.objects.filter(pk__in=[received.pk, old_call.pk, old_created.pk]).exists()


def test_the_latest_event_stays_however_old(alice):
    flow = make_flow(alice.org)
    record = make_record(flow, "1002", status=Record.Status.SYNCED)
    first, last = history(record, OLD, OLD + timedelta(minutes=5))

    prune_events(timedelta(days=180), now=NOW)
    assert kept(record) == {last.pk}


@pytest.mark.parametrize("status", [Record.Status.PENDING, Record.Status.FAILED, Record.Status.NEEDS_REVIEW])
def test_a_record_not_done_keeps_its_whole_history(alice, status):
    flow = make_flow(alice.org)
    record = make_record(flow, "1003", status=status)
    history(record, OLD, OLD + timedelta(minutes=1), RECENT)
    before = kept(record)

    assert prune_events(timedelta(days=180), now=NOW) == 0
    assert kept(record) == before and len(before) == 4


def test_a_skipped_record_is_done_too(alice):
    flow = make_flow(alice.org)
    record = make_record(flow, "1004", status=Record.Status.SKIPPED)
    (last,) = history(record, OLD)
    prune_events(timedelta(days=180), now=NOW)
    assert kept(record) == {last.pk}


def test_events_of_no_record_go_by_age(alice):
    connection = Connection.objects.create(organization=alice.org, system="woocommerce", label="Store")
    old = event(None, OLD, organization=alice.org, connection=connection)
    recent = event(None, RECENT, organization=alice.org, connection=connection)

    assert prune_events(timedelta(days=180), now=NOW) == 1
    assert not Event.objects.filter(pk=old.pk).exists() and Event.objects.filter(pk=recent.pk).exists()


def test_every_organisation_is_pruned_and_only_its_own_records_decide(alice, bob):
    alices = make_record(make_flow(alice.org), "A-1", status=Record.Status.SYNCED)
    bobs = make_record(make_flow(bob.org), "B-1", status=Record.Status.FAILED)
    _, alices_last = history(alices, OLD, OLD + timedelta(minutes=1))
    history(bobs, OLD, OLD + timedelta(minutes=1))

    prune_events(timedelta(days=180), now=NOW, batch=1)  # several batches
    assert kept(alices) == {alices_last.pk}
    assert len(kept(bobs)) == 3


def test_the_default_period_is_the_setting_and_zero_keeps_everything(alice, settings):
    record = make_record(make_flow(alice.org), "1005", status=Record.Status.SYNCED)
    history(record, NOW - timedelta(days=40), NOW - timedelta(days=20))
    Event.objects.filter(record=record, kind="received").update(created_at=NOW - timedelta(days=170))
    assert settings.EVENT_RETENTION_DAYS == 180
    assert prune_events(now=NOW) == 0

    settings.EVENT_RETENTION_DAYS = 0
    assert prune_events(now=NOW) == 0
    settings.EVENT_RETENTION_DAYS = 30
    assert prune_events(now=NOW) == 2  # the 170-day "received" and the 40-day one
    assert len(kept(record)) == 1


def test_the_command_prunes_with_its_own_period(alice):
    record = make_record(make_flow(alice.org), "1006", status=Record.Status.SYNCED)
    history(record, NOW - timedelta(days=40), NOW - timedelta(days=20))
    out = StringIO()
    call_command("prune_events", "--days", "30", stdout=out)
    assert "Deleted 2 events older than 30 days" in out.getvalue()
    assert len(kept(record)) == 1


def test_beat_runs_the_retention_task_daily_and_workers_know_it():
    entry = beat_schedule(settings.CELERY_BEAT_SCHEDULE)["prune-old-events"]
    assert entry["task"] == "connector.retention.prune_old_events"
    assert entry["schedule"].remaining_estimate(NOW) <= timedelta(days=1)
    assert entry["schedule"].hour == {3}
    from connector.celery import app

    app.loader.import_default_modules()
    assert "connector.retention.prune_old_events" in app.tasks
