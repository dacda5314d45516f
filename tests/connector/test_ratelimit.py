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


def _fill(limiter: RateLimiter, clock: ManualClock, key: str, limit: Limit) -> None:
    """Make `key` a known, full bucket: a new one starts with a single probe token, then refills."""
    assert limiter.try_acquire(key, limit) == 0
    clock.advance(limit.per_seconds)


def test_two_limiters_share_one_bucket(clock):
    a, b = RateLimiter(clock=clock.now), RateLimiter(clock=clock.now)
    limit = Limit(10, 60)
    assert a.try_acquire("rl:t:shared", limit) == 0  # a new bucket: one probe, then it refills
    clock.advance(60.0)
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
    _fill(limiter, clock, "rl:t:sleep", limit)
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
    _fill(limiter, clock, "rl:t:refill", limit)
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


def _calls_in_window(limiter: RateLimiter, clock: ManualClock, key: str, limit: Limit, start: float) -> int:
    """Call as fast as the bucket lets us until one window after `start`; count the calls made in it."""
    made = 0
    while True:
        limiter.acquire(key, limit, max_wait=limit.per_seconds * 2)
        if clock.now() >= start + limit.per_seconds:
            return made
        made += 1


def test_a_bucket_lost_with_redis_starts_spent_and_never_bursts_past_the_limit(limiter, clock):
    """Redis restarts (here: the db is flushed) between calls: the vendor still counts the calls we
    made, so a bucket that came back full would send a second window's worth at once."""
    limit = Limit(10, 60)
    _fill(limiter, clock, "rl:t:restart", limit)
    assert sum(1 for _ in range(10) if limiter.try_acquire("rl:t:restart", limit) == 0) == 10
    limiter.redis.flushdb()
    assert _calls_in_window(limiter, clock, "rl:t:restart", limit, clock.now()) == limit.requests
    # One probe at once, then one call per 6 s (the vendor's rate), never a burst.
    assert 6.0 <= clock.slept[0] <= 6.05


def test_a_day_quota_the_vendor_reports_may_start_full(limiter, clock):
    daily = Limit(5000, 86400.0, starts_full=True)
    assert sum(1 for _ in range(20) if limiter.try_acquire("rl:t:day", daily) == 0) == 20
    limiter.observe("rl:t:day", daily, remaining=3, reset_in=3600)  # the vendor's count wins at once
    assert sum(1 for _ in range(20) if limiter.try_acquire("rl:t:day", daily) == 0) == 3


def test_vendor_headers_lift_a_bucket_that_restarted_spent(limiter, clock):
    limit = Limit(40, 60)
    assert limiter.try_acquire("rl:t:lift", limit) == 0
    limiter.observe("rl:t:lift", limit, remaining=25, reset_in=30)  # the vendor knows better than our guess
    assert sum(1 for _ in range(40) if limiter.try_acquire("rl:t:lift", limit) == 0) == 25
    # Once known, the vendor's count only ever lowers ours.
    clock.advance(60.0)
    assert sum(1 for _ in range(30) if limiter.try_acquire("rl:t:lift", limit) == 0) == 30
    limiter.observe("rl:t:lift", limit, remaining=39, reset_in=30)
    assert sum(1 for _ in range(40) if limiter.try_acquire("rl:t:lift", limit) == 0) == 10


def test_strikes_count_429s_in_a_row_and_are_forgotten(limiter, clock):
    assert [limiter.strike("rl:t:strike") for _ in range(3)] == [1, 2, 3]
    limiter.forgive("rl:t:strike")
    assert limiter.strike("rl:t:strike") == 1
    clock.advance(61.0)  # a quiet minute: the next 429 starts the back-off over
    assert limiter.strike("rl:t:strike") == 1
