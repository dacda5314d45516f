"""A poll's lock: short, renewed while the poll runs, so a killed poll cannot block its flow for long."""

from __future__ import annotations

import threading
import time

import pytest

from connector import tasks
from connector.redis import get_redis
from tests.conftest import make_flow

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(tasks.poll_flow, "delay", calls.append)
    return calls


def _poll_in_thread(flow_id: int) -> threading.Thread:
    thread = threading.Thread(target=tasks.poll_flow.run, args=(flow_id,))
    thread.start()
    return thread


def _wait_for(event: threading.Event) -> None:
    assert event.wait(5), "the poll never started"


def test_a_running_poll_holds_a_short_lock_and_releases_it(alice, monkeypatch):
    flow = make_flow(alice.org, enabled=True)
    started, finish = threading.Event(), threading.Event()
    monkeypatch.setattr(tasks, "_poll", lambda flow_id: (started.set(), finish.wait(5)))
    poll = _poll_in_thread(flow.pk)
    _wait_for(started)
    ttl_ms = get_redis().pttl(f"poll:running:{flow.pk}")
    assert 0 < ttl_ms <= tasks.POLL_LOCK_SECONDS * 1000 <= 120_000  # a killed poll blocks minutes at most
    assert tasks.poll_in_progress(flow.pk)
    finish.set()
    poll.join(5)
    assert not get_redis().exists(f"poll:running:{flow.pk}")


def test_a_lock_left_by_a_killed_poll_stops_blocking_after_its_ttl(alice, enqueued, monkeypatch):
    monkeypatch.setattr(tasks, "POLL_LOCK_SECONDS", 0.5)
    flow = make_flow(alice.org, enabled=True)
    ran = []
    monkeypatch.setattr(tasks, "_poll", ran.append)
    # What a poll killed mid-run leaves behind: its lock, taken as poll_flow takes it, and no heartbeat.
    assert get_redis().lock(f"poll:running:{flow.pk}", timeout=tasks.POLL_LOCK_SECONDS).acquire()
    tasks.poll_flow.run(flow.pk)
    assert ran == []  # the lock still stands: this poll leaves an ask behind
    time.sleep(0.7)
    tasks.poll_flow.run(flow.pk)
    assert ran == [flow.pk]
    assert enqueued == [flow.pk]  # and the ask made while the dead poll held the lock is honoured


def test_the_heartbeat_keeps_the_lock_while_a_slow_poll_runs_past_its_ttl(alice, enqueued, monkeypatch):
    monkeypatch.setattr(tasks, "POLL_LOCK_SECONDS", 0.5)
    flow = make_flow(alice.org, enabled=True)
    started, finish = threading.Event(), threading.Event()
    runs = []

    def slow_poll(flow_id):
        runs.append(flow_id)
        started.set()
        finish.wait(5)

    monkeypatch.setattr(tasks, "_poll", slow_poll)
    poll = _poll_in_thread(flow.pk)
    _wait_for(started)
    time.sleep(1.2)  # more than twice the lock's TTL
    assert get_redis().exists(f"poll:running:{flow.pk}")
    tasks.poll_flow.run(flow.pk)  # a second poll does not overlap the slow one
    assert runs == [flow.pk]
    finish.set()
    poll.join(5)
    assert not poll.is_alive()
    assert not get_redis().exists(f"poll:running:{flow.pk}")
    assert enqueued == [flow.pk]  # the second poll's ask: one more poll when the slow one ended


def test_a_lost_lock_is_not_renewed_and_another_poll_may_take_it(alice, monkeypatch):
    """Redis lost the key (a restart, or the holder paused past its TTL): the heartbeat must not
    bring back a lock that another poll may now hold."""
    redis = get_redis()
    lock = redis.lock("poll:running:lost", timeout=0.5, thread_local=False)
    assert lock.acquire(blocking=False)
    with tasks.LockHeartbeat(lock, every=0.1):
        redis.delete("poll:running:lost")
        other = redis.lock("poll:running:lost", timeout=5)
        assert other.acquire(blocking=False)
        time.sleep(0.3)  # beats that find the lock gone
        assert redis.get("poll:running:lost") == other.local.token
    other.release()


def test_enqueue_poll_waits_only_briefly_for_a_queued_poll_that_may_have_been_lost(alice, enqueued):
    flow = make_flow(alice.org, enabled=True)
    assert tasks.enqueue_poll(flow.pk)
    assert 0 < get_redis().ttl(f"poll:queued:{flow.pk}") <= tasks.POLL_QUEUED_SECONDS <= 300
