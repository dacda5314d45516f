"""Shared rate limits: Redis token buckets used by every worker (DESIGN §6).

A bucket per vendor key (`rl:<system>:<account>`) holds at most `limit.requests` tokens and refills at
`requests / per_seconds`. `acquire` takes a token or says how long to wait; `observe` corrects the
bucket from the vendor's own rate-limit headers after each call (the vendor's count wins when it
is lower than ours); `block` stops everyone until a 429's Retry-After has passed; `strike` counts the
429s that came without one, so the caller can back off a little longer each time. Time is Redis
server time, so workers on different machines agree (a process's own monotonic clock would not:
its zero is per machine, and stored `blocked` stamps are read as epoch seconds).

A `clock` (epoch seconds) and `sleep` pair can be injected, so tests move time by hand instead of
sleeping: the scripts then take "now" from the caller rather than from Redis.

A bucket that is missing (a new account, or Redis restarted or was flushed) cannot tell how much of
the vendor's window was already spent, so it assumes all of it: it starts with a single token (one
probe call) and refills at the vendor's rate, never full. A vendor that reports its own remaining count
(`observe`) lifts such an unknown bucket to that count at once (within its first refill period).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from connector.redis import get_redis


def _now(arg: int) -> str:
    """Lua: `now` from ARGV[arg] when the caller passed its clock, else the Redis server's TIME."""
    return f"""
local now = tonumber(ARGV[{arg}])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""


_ACQUIRE = (
    """
local key = KEYS[1]
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
"""
    + _now(3)
    + """
local blocked = tonumber(redis.call('HGET', key, 'blocked') or '0')
if blocked > now then return tostring(blocked - now) end
local stored = redis.call('HGET', key, 'tokens')
local tokens, ts = tonumber(ARGV[4]), now
if stored then
  tokens = tonumber(stored)
  ts = tonumber(redis.call('HGET', key, 'ts') or now)
else
  -- Nothing known about this window: assume it is spent but for one probe (never start full), and
  -- let the vendor's own count correct that until a full refill has passed.
  redis.call('HSET', key, 'unknown_until', tostring(now + cap / rate))
end
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
-- Kept well past a full refill: an expired bucket restarts conservatively, so let idle ones live.
redis.call('EXPIRE', key, math.ceil(cap / rate) + 3600)
return tostring(wait)
"""
)

_OBSERVE = (
    """
local key = KEYS[1]
local cap = tonumber(ARGV[1])
local remaining = tonumber(ARGV[2])
local reset_in = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
"""
    + _now(5)
    + """
local stored = redis.call('HGET', key, 'tokens')
local unknown = (not stored) or now < tonumber(redis.call('HGET', key, 'unknown_until') or '0')
local tokens = tonumber(stored or '0')
local ts = tonumber(redis.call('HGET', key, 'ts') or now)
-- Credit the refill earned since the last update before clamping, or every observation would
-- throw that time away and the bucket would run below the vendor's real limit.
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate)
if remaining >= 0 and (unknown or remaining < tokens) then tokens = math.min(cap, remaining) end
if remaining >= 0 then redis.call('HDEL', key, 'unknown_until') end
redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
if remaining == 0 and reset_in > 0 then redis.call('HSET', key, 'blocked', tostring(now + reset_in)) end
redis.call('EXPIRE', key, math.max(math.ceil(math.max(reset_in, 0)) + 120, math.ceil(cap / rate) + 3600))
return 1
"""
)

_BLOCK = (
    _now(2)
    + """
local until_ts = now + tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'blocked') or '0')
if until_ts > current then redis.call('HSET', KEYS[1], 'blocked', tostring(until_ts), 'tokens', '0', 'ts', tostring(until_ts)) end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 3600)
return 1
"""
)

# A 429 that named no wait: count it. Strikes older than ARGV[1] seconds are forgotten, so a quiet
# spell (or the success that `forgive` records) brings the next back-off down to its shortest.
_STRIKE = (
    _now(2)
    + """
local last = tonumber(redis.call('HGET', KEYS[1], 'strike_ts') or '0')
local strikes = 1
if now - last <= tonumber(ARGV[1]) then strikes = tonumber(redis.call('HGET', KEYS[1], 'strikes') or '0') + 1 end
redis.call('HSET', KEYS[1], 'strikes', tostring(strikes), 'strike_ts', tostring(now))
return strikes
"""
)


@dataclass(frozen=True)
class Limit:
    requests: int
    per_seconds: float
    # A vendor's bucket that Redis lost starts nearly empty, so a restart never bursts past the
    # vendor's limit. Starting full is for allowances of our own (login attempts, mails per person),
    # where a restart may only be generous, and for a vendor quota over a long window (a day) that
    # the vendor reports on every answer: the first answer corrects it, and starting it spent would
    # stop all work for a token interval of hours.
    starts_full: bool = False

    @property
    def rate(self) -> float:
        return self.requests / self.per_seconds


def at_rate(limit: Limit, per_minute: float) -> Limit:
    """`limit`'s bucket (same burst) refilled at `per_minute`: a vendor's window on a scaled clock
    (sandboxes and benchmarks run vendors faster, and the product must pace itself by the same window)."""
    return Limit(limit.requests, 60.0 * limit.requests / per_minute, starts_full=limit.starts_full)


class RateLimitWaitTooLong(Exception):
    def __init__(self, wait: float):
        super().__init__(f"rate limit: next slot in {wait:.1f}s")
        self.wait = wait


class RateLimiter:
    def __init__(
        self,
        redis_client=None,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        """`clock`: epoch seconds for the scripts (None: the Redis server's TIME, shared by every worker);
        `sleep`: how `acquire` waits. Tests inject both so waiting moves a fake clock, not the wall clock."""
        self.redis = redis_client or get_redis()
        self.clock = clock
        self.sleep = sleep
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._observe = self.redis.register_script(_OBSERVE)
        self._block = self.redis.register_script(_BLOCK)
        self._strike = self.redis.register_script(_STRIKE)

    def try_acquire(self, key: str, limit: Limit) -> float:
        """Take a token now (returns 0.0) or return the seconds until one is free (nothing taken)."""
        start = limit.requests if limit.starts_full else 1
        wait = float(self._acquire(keys=[key], args=[limit.requests, limit.rate, self._now(), start]))
        return wait

    def acquire(self, key: str, limit: Limit, *, max_wait: float = 120.0) -> float:
        """Block until a token is ours; return the seconds waited. Waits longer than max_wait raise."""
        waited = 0.0
        while True:
            wait = self.try_acquire(key, limit)
            if wait <= 0:
                return waited
            if waited + wait > max_wait:
                raise RateLimitWaitTooLong(wait)
            # A little jitter so workers woken together do not collide on the same token.
            pause = wait + random.uniform(0, min(0.05, wait / 4 + 0.001))
            self.sleep(pause)
            waited += pause

    def observe(self, key: str, limit: Limit, *, remaining: int | None, reset_in: float | None) -> None:
        if remaining is None:
            return
        self._observe(keys=[key], args=[limit.requests, int(remaining), float(reset_in or 0), limit.rate, self._now()])

    def block(self, key: str, seconds: float) -> None:
        self._block(keys=[key], args=[max(0.0, float(seconds)), self._now()])

    def strike(self, key: str, *, memory: float = 60.0) -> int:
        """Count a 429 that named no wait; returns how many came in a row (within `memory` seconds)."""
        return int(self._strike(keys=[key], args=[float(memory), self._now()]))

    def forgive(self, key: str) -> None:
        """A call went through after 429s: the next 429 starts the back-off from its shortest again."""
        self.redis.hdel(key, "strikes", "strike_ts")

    def _now(self) -> str:
        """The injected clock's reading for the scripts; "" lets them read the Redis server's TIME."""
        return "" if self.clock is None else repr(float(self.clock()))
