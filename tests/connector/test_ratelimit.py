"""Shared Redis token buckets: one budget for all workers, corrected by vendor headers."""

from __future__ import annotations

import pytest

from connector.ratelimit import Limit, RateLimiter, RateLimitWaitTooLong


def test_two_limiters_share_one_bucket():
    a, b = RateLimiter(), RateLimiter()
    limit = Limit(10, 60)
    taken = sum(1 for i in range(20) if (a if i % 2 else b).try_acquire("rl:t:shared", limit) == 0)
    assert taken == 10
    assert a.try_acquire("rl:t:shared", limit) == pytest.approx(6.0, abs=0.5)  # 60 s / 10 per token


def test_vendor_headers_lower_our_count_and_block_at_zero():
    limiter = RateLimiter()
    limit = Limit(40, 60)
    limiter.observe("rl:t:obs", limit, remaining=0, reset_in=30)
    wait = limiter.try_acquire("rl:t:obs", limit)
    assert 29 <= wait <= 30.5


def test_acquire_sleeps_then_gives_up_past_max_wait():
    sleeps: list[float] = []
    limiter = RateLimiter(sleep=sleeps.append)
    limit = Limit(1, 1000)
    assert limiter.acquire("rl:t:wait", limit) == 0
    with pytest.raises(RateLimitWaitTooLong):
        limiter.acquire("rl:t:wait", limit, max_wait=5)
    assert sleeps == []


def test_block_after_429_stops_every_worker():
    limiter = RateLimiter()
    limiter.block("rl:t:block", 12)
    assert 11 <= limiter.try_acquire("rl:t:block", Limit(100, 1)) <= 12.5


def test_observe_keeps_the_refill_earned_since_the_last_call():
    """Regression: an observation must not throw away the time that refilled the bucket."""
    limiter = RateLimiter()
    limit = Limit(10, 1)  # 10 tokens per second
    for _ in range(10):
        assert limiter.try_acquire("rl:t:refill", limit) == 0
    import time

    time.sleep(0.5)  # about 5 tokens earned
    limiter.observe("rl:t:refill", limit, remaining=8, reset_in=1)
    taken = sum(1 for _ in range(10) if limiter.try_acquire("rl:t:refill", limit) == 0)
    assert taken >= 4
