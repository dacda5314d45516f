"""A clock that moves only when told: tests wait without sleeping and assert exact waits."""

from __future__ import annotations

from types import SimpleNamespace


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


def freeze_sandbox_windows(monkeypatch, at: float = 1_800_000_030.0) -> None:
    """The sandboxes count calls in windows aligned to the wall clock (connector.sandbox.kit), so a
    minute can end between two calls of a test and the expected 429 never comes. Hold the kit's clock
    in the middle of a minute instead (the live server runs in this process, so it sees the same)."""
    from connector.sandbox import kit

    monkeypatch.setattr(kit, "time", SimpleNamespace(time=lambda: at))
