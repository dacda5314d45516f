"""An overdue flow whose poll message was lost is polled again: its `poll:queued` marker, once old
enough, no longer blocks it; a poll that is running, or one queued moments ago, is left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connector import tasks
from connector.models import Flow
from connector.redis import get_redis
from tests.conftest import make_flow

pytestmark = pytest.mark.django_db


@pytest.fixture
def polled(monkeypatch) -> list[int]:
    ids: list[int] = []
    monkeypatch.setattr(tasks.poll_flow, "delay", ids.append)
    return ids


def flow_last_polled(org, minutes_ago: int) -> Flow:
    now = timezone.now()
    flow = make_flow(org, enabled=True, interval_seconds=300)
    Flow.objects.filter(pk=flow.pk).update(
        next_run_at=now + timedelta(seconds=30), last_run_at=now - timedelta(minutes=minutes_ago)
    )
    return flow


def queued_marker(flow: Flow, seconds_ago: int) -> None:
    """The marker `enqueue_poll` leaves, as if set `seconds_ago` (its TTL counts down from POLL_QUEUED_SECONDS)."""
    get_redis().set(f"poll:queued:{flow.pk}", "1", ex=tasks.POLL_QUEUED_SECONDS - seconds_ago)


def test_a_lost_poll_is_queued_again_once_its_marker_is_stale(alice, polled):
    lost = flow_last_polled(alice.org, minutes_ago=30)
    queued_marker(lost, seconds_ago=tasks.POLL_MARKER_STALE_SECONDS + 10)  # held by a killed worker
    just_queued = flow_last_polled(alice.org, minutes_ago=30)
    queued_marker(just_queued, seconds_ago=10)
    running = flow_last_polled(alice.org, minutes_ago=30)
    get_redis().set(f"poll:running:{running.pk}", "token", ex=600)
    healthy = flow_last_polled(alice.org, minutes_ago=2)
    queued_marker(healthy, seconds_ago=tasks.POLL_MARKER_STALE_SECONDS + 10)

    assert tasks.requeue_overdue_polls() == [lost.pk]
    assert polled == [lost.pk]
    assert get_redis().ttl(f"poll:queued:{lost.pk}") > tasks.POLL_QUEUED_SECONDS - 5  # a fresh marker
    assert tasks.requeue_overdue_polls() == []  # the next sweep sees the fresh marker: no pile-up
    assert polled == [lost.pk]


def test_an_overdue_flow_without_marker_is_polled_and_a_disabled_one_is_not(alice, polled):
    overdue = flow_last_polled(alice.org, minutes_ago=30)
    off = flow_last_polled(alice.org, minutes_ago=30)
    Flow.objects.filter(pk=off.pk).update(enabled=False)
    assert tasks.requeue_overdue_polls() == [overdue.pk]
    assert polled == [overdue.pk]
