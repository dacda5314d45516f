"""A clock that moves only when told: tests wait without sleeping and assert exact waits."""

from __future__ import annotations


class ManualClock:
    """Epoch seconds that `sleep` advances; pass `clock=c.now, sleep=c.sleep` to a RateLimiter."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.time = start
        self.slept: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.time += seconds

    def advance(self, seconds: float) -> None:
        self.time += seconds
