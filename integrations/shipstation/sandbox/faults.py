"""Sandbox rate limit and fault knobs, per sandbox account (DESIGN §9).

Rate limit: a fixed window per account (ShipStation: 40 per 60 s), counted in Redis so every web
process shares it; every answer carries `X-Rate-Limit-Limit/Remaining/Reset` (Reset = seconds left in
the window). ShipStation sends whole seconds; with a scaled window shorter than 60 s we send
fractions so a benchmark's clock is not rounded away.
Dice: a `random.Random` seeded from the account's `seed` and a per-account counter, so a test that
sets a seed sees the same sequence of faults every run.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

from connector.redis import get_redis
from integrations.shipstation.sandbox.models import SandboxAccount


def dice(account: SandboxAccount) -> random.Random:
    if account.seed is None:
        return random.Random()
    n = get_redis().incr(f"sandbox:shipstation:dice:{account.pk}")
    return random.Random(f"{account.seed}:{n}")


@dataclass(frozen=True)
class WindowState:
    limit: int
    remaining: int
    reset: float
    exceeded: bool

    def headers(self, window_seconds: float) -> dict[str, str]:
        reset = str(max(1, math.ceil(self.reset))) if window_seconds >= 60 else f"{self.reset:.3f}"
        return {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Reset": reset,
        }


def count_request(account: SandboxAccount, *, api: str = "v1") -> WindowState:
    """Count one call in the account's window; V1 and V2 keys have separate limits (40 vs 200/min)."""
    window = max(0.05, float(account.rate_window_seconds))
    now = time.time()
    index = int(now // window)
    reset = (index + 1) * window - now
    key = (
        f"sandbox:shipstation:rl:{account.pk}:{index}"
        if api == "v1"
        else f"sandbox:shipstation:rl2:{account.pk}:{index}"
    )
    redis = get_redis()
    used = redis.incr(key)
    if used == 1:
        redis.expire(key, int(window) + 5)
    limit = int(account.rate_limit if api == "v1" else account.v2_rate_limit)
    return WindowState(limit=limit, remaining=max(0, limit - used), reset=reset, exceeded=used > limit)


def current_window(account: SandboxAccount) -> WindowState:
    window = max(0.05, float(account.rate_window_seconds))
    now = time.time()
    index = int(now // window)
    used = int(get_redis().get(f"sandbox:shipstation:rl:{account.pk}:{index}") or 0)
    limit = int(account.rate_limit)
    return WindowState(limit, max(0, limit - used), (index + 1) * window - now, used > limit)
