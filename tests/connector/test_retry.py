"""One retry policy: exponential backoff with full jitter, a vendor's Retry-After as a floor, one count.

Full jitter as in the AWS Architecture Blog, "Exponential Backoff And Jitter"
(https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/): a uniform draw in
[0, min(cap, base * 2**(attempt-1))]. The dice are replaced by their lowest or highest face here, so
the bounds are asserted exactly.
"""

from __future__ import annotations

import random

import pytest
from celery.exceptions import Retry

from connector import engine, http, retry
from connector.http import RateLimited, Transient
from connector.retry import RetryPolicy, backoff_ceiling, backoff_seconds


def lowest(low: float, high: float) -> float:
    return low


def highest(low: float, high: float) -> float:
    return high


def test_the_ceiling_doubles_per_retry_and_stops_at_the_cap():
    assert [backoff_ceiling(n, base=5.0, cap=600.0) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 320, 600]
    assert backoff_ceiling(10_000, base=5.0, cap=600.0) == 600.0  # no overflow on absurd attempt numbers
    assert backoff_ceiling(0, base=5.0, cap=600.0) == 5.0


def test_the_wait_is_drawn_between_zero_and_the_ceiling():
    assert backoff_seconds(4, base=2.0, uniform=lowest) == 0.0
    assert backoff_seconds(4, base=2.0, uniform=highest) == 16.0
    dice = random.Random(7)
    waits = [backoff_seconds(3, base=2.0, uniform=dice.uniform) for _ in range(200)]
    assert all(0.0 <= wait <= 8.0 for wait in waits) and len(set(waits)) > 100  # spread, not one value


def test_http_backoff_is_the_same_function():
    assert http.backoff_seconds is retry.backoff_seconds


def test_a_policy_counts_tries_and_never_waits_less_than_retry_after_or_its_floor():
    policy = RetryPolicy(max_attempts=3, base=10.0, cap=60.0, floor=1.0)
    assert [policy.retries_left(n) for n in (1, 2, 3)] == [True, True, False]
    assert policy.delay(1, uniform=lowest) == 1.0
    assert policy.delay(1, at_least=45.0, uniform=highest) == 45.0
    assert policy.delay(5, uniform=highest) == 60.0


def test_the_engine_policy_follows_the_settings(settings):
    settings.SYNC_MAX_ATTEMPTS = 2
    settings.SYNC_BACKOFF_SECONDS = 0.5
    assert engine.sync_retry_policy() == RetryPolicy(max_attempts=2, base=0.5)


class _Dice:
    """Stands in for the random module inside connector.retry."""

    def __init__(self, face):
        self.uniform = face


@pytest.fixture
def push_task(monkeypatch):
    """The inventory push task with a failing push and a retry() that only records its countdown."""
    from integrations.qbdesktop import inventory_push, tasks

    errors: list = []
    countdowns: list[float] = []
    monkeypatch.setattr(tasks.inventory_push, "push", lambda connection_id: inventory_push.PushReport(error=errors[0]))

    def record_retry(*, countdown):
        countdowns.append(countdown)
        return Retry()

    monkeypatch.setattr(tasks.push_inventory, "retry", record_retry)

    def run(error, *, retries: int):
        errors[:] = [error]
        tasks.push_inventory.push_request(retries=retries)
        try:
            return tasks.push_inventory.run(1)
        finally:
            tasks.push_inventory.pop_request()

    run.countdowns = countdowns
    return run


def test_inventory_push_waits_are_jittered_not_fixed(push_task, monkeypatch):
    """Regression: the push came back after exactly 30 s, 60 s, 2 min ...: connections that failed
    together came back together. Now the wait is a draw up to that, never under a second."""
    monkeypatch.setattr(retry, "random", _Dice(lowest))
    with pytest.raises(Retry):
        push_task(Transient("502"), retries=2)
    monkeypatch.setattr(retry, "random", _Dice(highest))
    with pytest.raises(Retry):
        push_task(Transient("502"), retries=2)
    assert push_task.countdowns == [1.0, 120.0]


def test_inventory_push_honours_retry_after_and_gives_up_after_six_pushes(push_task, monkeypatch):
    monkeypatch.setattr(retry, "random", _Dice(lowest))
    with pytest.raises(Retry):
        push_task(RateLimited("429", retry_after=90.0), retries=0)
    assert push_task.countdowns == [90.0]
    assert push_task(Transient("502"), retries=5) == {"pushed": 0, "failed": 0}  # the sixth push was the last
    assert push_task.countdowns == [90.0]
