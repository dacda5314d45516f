"""Shared Redis token buckets: one budget for all workers, corrected by vendor headers.

Time is a ManualClock injected into the limiter: waits are exact and no test sleeps for real.
"""

from __future__ import annotations

import time

import pytest

from connector.ratelimit import Limit, RateLimiter, RateLimitWaitTooLong
from tests.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def limiter(clock) -> RateLimiter:
    return RateLimiter(clock=clock.now, sleep=clock.sleep)


def test_two_limiters_share_one_bucket(clock):
    a, b = RateLimiter(clock=clock.now), RateLimiter(clock=clock.now)
    limit = Limit(10, 60)
    taken = sum(1 for i in range(20) if (a if i % 2 else b).try_acquire("rl:t:shared", limit) == 0)
    assert taken == 10
    assert a.try_acquire("rl:t:shared", limit) == pytest.approx(6.0)  # 60 s / 10 per token
    clock.advance(6.0)
    assert b.try_acquire("rl:t:shared", limit) == 0


def test_vendor_headers_lower_our_count_and_block_at_zero(limiter, clock):
    limit = Limit(40, 60)
    limiter.observe("rl:t:obs", limit, remaining=0, reset_in=30)
    assert limiter.try_acquire("rl:t:obs", limit) == pytest.approx(30.0)
    clock.advance(29.5)
    assert limiter.try_acquire("rl:t:obs", limit) == pytest.approx(0.5)


def test_acquire_gives_up_past_max_wait_without_sleeping(limiter, clock):
    limit = Limit(1, 1000)
    assert limiter.acquire("rl:t:wait", limit) == 0
    with pytest.raises(RateLimitWaitTooLong) as too_long:
        limiter.acquire("rl:t:wait", limit, max_wait=5)
    assert too_long.value.wait == pytest.approx(1000.0)
    assert clock.slept == []


def test_acquire_waits_on_the_injected_clock_until_the_token_is_there(limiter, clock):
    limit = Limit(2, 10)  # a token every 5 s
    assert [limiter.acquire("rl:t:sleep", limit) for _ in range(2)] == [0, 0]
    waited = limiter.acquire("rl:t:sleep", limit)
    # One sleep of the 5 s refill plus under 50 ms of jitter, spent on the fake clock only.
    assert len(clock.slept) == 1 and 5.0 <= clock.slept[0] <= 5.05
    assert waited == clock.slept[0]


def test_block_after_429_stops_every_worker(limiter, clock):
    limiter.block("rl:t:block", 12)
    assert RateLimiter(clock=clock.now).try_acquire("rl:t:block", Limit(100, 1)) == pytest.approx(12.0)
    clock.advance(12.0)
    # The block is over and the bucket starts empty: the first token after 1/100 s.
    assert limiter.try_acquire("rl:t:block", Limit(100, 1)) == pytest.approx(0.01)
    clock.advance(0.02)
    assert limiter.try_acquire("rl:t:block", Limit(100, 1)) == 0


def test_observe_keeps_the_refill_earned_since_the_last_call(limiter, clock):
    """Regression: an observation must not throw away the time that refilled the bucket."""
    limit = Limit(10, 1)  # 10 tokens per second
    for _ in range(10):
        assert limiter.try_acquire("rl:t:refill", limit) == 0
    clock.advance(0.5)  # 5 tokens earned
    limiter.observe("rl:t:refill", limit, remaining=8, reset_in=1)
    taken = sum(1 for _ in range(10) if limiter.try_acquire("rl:t:refill", limit) == 0)
    assert taken == 5


def test_without_a_clock_the_redis_server_time_is_used():
    """Production limiters read Redis TIME, so workers on different machines share one time line."""
    limiter = RateLimiter()
    limiter.block("rl:t:server-time", 30)
    blocked_until = float(limiter.redis.hget("rl:t:server-time", "blocked"))
    seconds, micros = limiter.redis.time()
    assert blocked_until == pytest.approx(seconds + micros / 1e6 + 30, abs=5)
    assert abs(blocked_until - 30 - time.time()) < 300  # epoch seconds, not a monotonic reading
