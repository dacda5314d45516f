"""One retry policy: how many tries, and how long to wait before the next one (DESIGN §6).

Every place that retries (the engine's records, pull-back's write-backs among them, webhook
deliveries, integrations' Celery tasks, an OAuth refresh after failures, a qbXML job QuickBooks
answered busy) describes itself with a
`RetryPolicy` and asks it `retries_left(attempts)` and `delay(attempt)`, so the schedule is defined
once. The delay is exponential backoff with "full jitter": a uniform draw between zero and
`base * 2**(attempt-1)` capped at `cap`. Workers that failed together (a vendor outage hits every
record at once) then come back spread out instead of in one burst (AWS Architecture Blog,
"Exponential Backoff And Jitter", https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
A vendor's own Retry-After is a floor: we never come back before the vendor asked us to.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# uniform(low, high) -> float; tests pass a seeded random.Random().uniform.
Uniform = Callable[[float, float], float]


def backoff_seconds(attempt: int, *, base: float = 2.0, cap: float = 600.0, uniform: Uniform | None = None) -> float:
    """Exponential backoff with full jitter for retry number `attempt` (1-based): 0 ≤ result ≤ ceiling."""
    draw = uniform or random.uniform
    return draw(0.0, backoff_ceiling(attempt, base=base, cap=cap))


def backoff_ceiling(attempt: int, *, base: float, cap: float) -> float:
    """The longest wait before retry number `attempt`: base doubled per earlier retry, at most cap."""
    exponent = max(0, attempt - 1)
    # Past 2**64 the product only overflows; the cap has long been reached.
    return min(cap, base * 2.0 ** min(exponent, 64))


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` tries in all (the first one included); waits grow from `base` up to `cap` seconds."""

    max_attempts: int
    base: float = 2.0
    cap: float = 600.0
    floor: float = 0.0  # the shortest wait whatever the dice say (e.g. a broker countdown of at least 1 s)

    def retries_left(self, attempts: int) -> bool:
        """After `attempts` tries, may we try again?"""
        return attempts < self.max_attempts

    def delay(self, attempt: int, *, at_least: float = 0.0, uniform: Uniform | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1-based); `at_least` is the vendor's Retry-After."""
        jittered = backoff_seconds(attempt, base=self.base, cap=self.cap, uniform=uniform)
        return max(self.floor, float(at_least or 0.0), jittered)


def recovery_seconds(seconds: float) -> int:
    """`seconds` on the recovery clock: how long leases, claims, coalescing keys and the sweep's
    graces last, scaled by settings.RECOVERY_TIME_SCALE (1 in production). Chaos tests and benchmarks
    run the vendors' rate windows on a scaled clock; scaling recovery by the same factor keeps the
    ratio of recovery time to vendor time, and so the outcome, what it is at full scale. Whole
    seconds, at least one: Redis expiries take integers."""
    from django.conf import settings

    return max(1, round(seconds * float(getattr(settings, "RECOVERY_TIME_SCALE", 1.0))))
