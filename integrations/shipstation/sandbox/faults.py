"""Sandbox rate limit and fault knobs, per sandbox account (DESIGN §9).

Rate limit: a fixed window per account (ShipStation: 40 per 60 s), counted in Redis so every web
process shares it; every answer carries `X-Rate-Limit-Limit/Remaining/Reset` (Reset = seconds left in
the window). ShipStation sends whole seconds; with a scaled window shorter than 60 s we send
fractions so a benchmark's clock is not rounded away.
Dice: a `random.Random` seeded from the account's `seed` and a per-account counter, so a test that
sets a seed sees the same sequence of faults every run. Windows and dice come from the shared kit
(connector.sandbox.kit).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from connector.sandbox import kit
from integrations.shipstation.sandbox.models import SandboxAccount


def dice(account: SandboxAccount) -> random.Random:
    return kit.dice(f"sandbox:shipstation:dice:{account.pk}", account.seed)


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
    name = "rl" if api == "v1" else "rl2"
    counted = kit.count(_prefix(account), {name: _window_seconds(account)})[name]
    limit = int(account.rate_limit if api == "v1" else account.v2_rate_limit)
    return WindowState(limit, max(0, limit - counted.used), counted.reset, counted.used > limit)


def current_window(account: SandboxAccount) -> WindowState:
    seen = kit.peek(_prefix(account), "rl", _window_seconds(account))
    limit = int(account.rate_limit)
    return WindowState(limit, max(0, limit - seen.used), seen.reset, seen.used > limit)


def _prefix(account: SandboxAccount) -> str:
    return f"sandbox:shipstation:{account.pk}"


def _window_seconds(account: SandboxAccount) -> float:
    return max(0.05, float(account.rate_window_seconds))
