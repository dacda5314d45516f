"""A 429 is the vendor pacing us, not the record failing: it does not use up one of the record's tries.

The engine runs against the in-memory fake systems (tests/connector/fake_systems.py) with few tries
allowed (SYNC_MAX_ATTEMPTS=3), so a record that counted its 429s would fail long before its tenth.
Still bounded: a record rate limited for longer than SYNC_RATE_LIMIT_PATIENCE fails visibly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from connector import engine
from connector.http import RateLimited, Transient
from connector.models import Connection, Event, Flow, Record
from tests.connector import fake_systems
from tests.connector.fake_systems import WORLD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def world(settings):
    settings.SYNC_MAX_ATTEMPTS = 3
    fake_systems.register_fakes()
    WORLD.__init__()
    return WORLD


@pytest.fixture
def record_id(alice, world, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(engine, "_enqueue", lambda record_id, replay=False: queued.append(record_id))
    src = Connection.objects.create(organization=alice.org, system="fakesrc", label="Store")
    tgt = Connection.objects.create(organization=alice.org, system="faketgt", label="Books")
    flow = Flow.objects.create(organization=alice.org, preset="fake_flow", source=src, target=tgt, enabled=True)
    world.add_order("2001")
    engine.run_flow(flow)
    (record,) = queued
    return record


def rate_limited() -> RateLimited:
    return RateLimited("429 Too Many Requests", retry_after=30, status=429)


def test_ten_429s_then_success_ends_synced_without_using_up_tries(record_id, world):
    world.fail_next = [rate_limited() for _ in range(10)]
    outcomes = [engine.sync_record(record_id) for _ in range(10)]
    assert [o.status for o in outcomes] == ["retry"] * 10
    assert all(o.retry_in >= 30 for o in outcomes)  # never before the vendor's Retry-After
    record = Record.objects.get(pk=record_id)
    assert (record.status, record.attempts) == ("pending", 0)
    assert "slow down" in record.remediation

    assert engine.sync_record(record_id).status == "synced"
    record.refresh_from_db()
    assert record.status == "synced" and record.attempts == 1 and world.creates == 1
    limited = list(Event.objects.filter(record=record, kind="failed").order_by("id"))
    assert len(limited) == 10
    assert [e.data["rate_limited"] for e in limited] == list(range(1, 11))
    assert limited[-1].message.startswith("Rate limited by ") and "trying again at " in limited[-1].message
    assert "not counted as a try" in limited[-1].message
    assert len({e.data["limited_since"] for e in limited}) == 1  # one streak, timed from its first 429


def test_a_5xx_still_counts_against_the_tries(record_id, world):
    world.fail_next = [rate_limited(), Transient("503 Service Unavailable", status=503), rate_limited()]
    statuses = [engine.sync_record(record_id).status for _ in range(3)]
    record = Record.objects.get(pk=record_id)
    assert statuses == ["retry"] * 3 and record.attempts == 1  # only the 503 counted
    world.fail_next = [Transient("503", status=503), Transient("503", status=503)]
    assert engine.sync_record(record_id).status == "retry"
    assert engine.sync_record(record_id).status == "failed"  # the third counted try: SYNC_MAX_ATTEMPTS
    record.refresh_from_db()
    assert record.attempts == 3 and "kept failing after 3 tries" in record.remediation


def test_a_record_rate_limited_for_more_than_a_day_fails_visibly(record_id, world):
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        world.fail_next = [rate_limited()]
        assert engine.sync_record(record_id).status == "retry"
    with time_machine.travel(start + timedelta(hours=23), tick=False):
        world.fail_next = [rate_limited()]
        assert engine.sync_record(record_id).status == "retry"  # still within the day
    with time_machine.travel(start + timedelta(hours=24, minutes=1), tick=False):
        world.fail_next = [rate_limited()]
        assert engine.sync_record(record_id).status == "failed"
    record = Record.objects.get(pk=record_id)
    assert record.status == "failed" and record.attempts == 1
    assert "too many requests" in record.remediation and "Replay" in record.remediation
    assert world.creates == 0


def test_a_success_ends_the_streak(record_id, world):
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        world.fail_next = [rate_limited()]
        engine.sync_record(record_id)
        assert engine.sync_record(record_id).status == "synced"
    # A day later the order changes and is rate limited again: a new streak, not the old one's end.
    with time_machine.travel(start + timedelta(hours=30), tick=False):
        world.edit("src-2001", notes="edited")
        record = Record.objects.get(pk=record_id)
        engine.record_change(
            record.flow,
            engine.Change(
                "order",
                "src-2001",
                ref="2001",
                modified_at=world.orders["src-2001"].modified_at,
                obj=world.orders["src-2001"],
            ),
        )
        world.fail_next = [rate_limited()]
        assert engine.sync_record(record_id).status == "retry"
