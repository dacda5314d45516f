"""Recovery at the vendor's pace: a vendor that answers 429 without Retry-After (as Zoho does).

Everything runs on one ManualClock, the shared Redis bucket included, so minutes of vendor time pass
in milliseconds and no test sleeps. The fake vendor counts calls in wall-clock minutes like Zoho (and
its sandbox) and answers 429 past its limit; a fault phase adds random 429s on top. The worker loop
is the engine's in miniature: a call that still ends in RateLimited is retried after its retry_after.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
import requests
from requests.adapters import BaseAdapter

from connector.http import ApiClient, RateLimited
from connector.ratelimit import Limit, RateLimiter
from tests.clock import ManualClock

PER_MINUTE = 100


@dataclass
class MinuteVendor(BaseAdapter):
    """Answers like Zoho: `per_minute` calls per clock minute, then 429 with no Retry-After."""

    clock: ManualClock
    per_minute: int = PER_MINUTE
    fault_rate: float = 0.0
    dice: random.Random = field(default_factory=lambda: random.Random(7))
    windows: dict[int, int] = field(default_factory=dict)
    answered: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def send(self, request, **kwargs) -> requests.Response:
        minute = int(self.clock.now() // 60)
        self.windows[minute] = self.windows.get(minute, 0) + 1
        over = self.windows[minute] > self.per_minute
        status = 429 if over or self.dice.random() < self.fault_rate else 200
        self.answered.append(status)
        response = requests.Response()
        response.status_code = status
        response._content = b'{"code": 0}' if status == 200 else b'{"code": 44, "message": "slow down"}'
        response.headers["Content-Type"] = "application/json"
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


class PacedClient(ApiClient):
    system = "pacedvendor"
    # The shape of the Zoho client's bucket: a burst of 4, refilled at the vendor's per-minute rate.
    rate_limit = Limit(4, 60.0 * 4 / PER_MINUTE)
    max_rate_wait = 10.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_800_000_000.0)


class WideBucketClient(PacedClient):
    """A bucket as wide as the vendor's minute (Exact's, ShipStation's shape): a full start would burst."""

    rate_limit = Limit(PER_MINUTE, 60.0)


def make_client(clock: ManualClock, vendor: MinuteVendor, kind: type[PacedClient] = PacedClient) -> PacedClient:
    session = requests.Session()
    session.mount("https://", vendor)
    limiter = RateLimiter(clock=clock.now, sleep=clock.sleep)
    return kind("https://api.vendor.test/v1/", account_key="org-1", session=session, limiter=limiter, sleep=clock.sleep)


def sync_one(client: PacedClient, clock: ManualClock) -> None:
    """One record: call until it goes through, waiting what each RateLimited asks (the engine's retry)."""
    while True:
        try:
            client.request("POST", "invoices", json={"n": 1})
            return
        except RateLimited as exc:
            assert exc.retry_after <= client.pace_backoff_cap + 1.0  # seconds, never Zoho's silent minute
            clock.advance(exc.retry_after)


def drain(client: PacedClient, clock: ManualClock, records: int) -> float:
    started = clock.now()
    for _ in range(records):
        sync_one(client, clock)
    return clock.now() - started


def test_during_429_faults_work_keeps_moving_instead_of_a_minute_per_429(clock):
    vendor = MinuteVendor(clock, fault_rate=0.3)
    client = make_client(clock, vendor)
    started = clock.now()
    done = 0
    while clock.now() - started < 300:  # five minutes of faults
        sync_one(client, clock)
        done += 1
    per_minute = done / 5
    # A 60 s stop per 429 allowed about 3 records a minute; pacing keeps ten times that and more
    # (each 429 costs its call, a token interval and a short back-off).
    print(f"with 30% of calls refused: {per_minute:.1f} records/min of {PER_MINUTE}/min")
    assert per_minute >= 0.3 * PER_MINUTE
    assert vendor.answered.count(429) >= 0.25 * len(vendor.answered)  # the faults really were there


def test_after_faults_lift_a_backlog_drains_at_90_percent_of_the_vendors_rate(clock):
    vendor = MinuteVendor(clock, fault_rate=0.3)
    client = make_client(clock, vendor)
    drain(client, clock, 60)  # a stretch of faults leaves strikes behind in the shared bucket
    vendor.fault_rate = 0.0
    vendor.answered.clear()
    backlog = 300
    settle = drain(client, clock, backlog)
    rate = backlog / (settle / 60)
    print(f"backlog of {backlog} settled in {settle:.1f} s of vendor time: {rate:.1f}/min of {PER_MINUTE}/min")
    assert rate >= 0.9 * PER_MINUTE
    assert vendor.answered.count(429) <= 0.02 * len(vendor.answered)


def test_a_redis_restart_mid_drain_does_not_burst_past_the_vendors_minute(clock):
    vendor = MinuteVendor(clock)
    client = make_client(clock, vendor, WideBucketClient)
    drain(client, clock, 130)
    client.limiter.redis.flushdb()  # the bucket is gone; the vendor still counts this minute's calls
    drain(client, clock, 130)
    # A bucket that came back full would send a whole minute's worth at once: a wall of 429s.
    assert vendor.answered.count(429) <= 2
    assert max(vendor.windows.values()) <= PER_MINUTE + 2
