"""A connection's `rate_limit_per_minute` paces the product by a vendor window on a scaled clock.

Sandboxes and benchmarks run a vendor's window faster (bench/chaos.py: ShipStation's 40 calls a
minute become 40 per 12 s). The product must pace itself by the same window: paced by the real one,
it drained ShipStation and Exact backlogs at a fifth of the rate the chaos bound assumed (settle
4.98x the bound). Every vendor client takes the setting the same way: the class's bucket, same
burst, refilled at the given rate.
"""

from __future__ import annotations

import pytest

from connector.models import Connection
from connector.ratelimit import Limit, at_rate

pytestmark = pytest.mark.django_db


def test_at_rate_keeps_the_burst_and_changes_the_refill():
    assert at_rate(Limit(40, 60), 200) == Limit(40, 12.0)
    assert at_rate(Limit(4, 2.4), 500).rate == pytest.approx(500 / 60)
    assert at_rate(Limit(5000, 86400, starts_full=True), 10).starts_full


def _connection(alice, system: str, settings: dict) -> Connection:
    return Connection.objects.create(organization=alice.org, system=system, label=system, settings=settings)


@pytest.mark.parametrize("per_minute", [None, 200])
def test_shipstation_client_paces_by_the_connections_window(alice, per_minute):
    from integrations.shipstation.connection import client_for

    settings = {"rate_limit_per_minute": per_minute} if per_minute else {}
    with client_for(_connection(alice, "shipstation", settings)) as client:
        assert client.rate_limit == (Limit(40, 12.0) if per_minute else Limit(40, 60))


@pytest.mark.parametrize("per_minute", [None, 300])
def test_exact_client_paces_and_reads_the_vendors_count_by_the_same_window(alice, per_minute, monkeypatch):
    from integrations.exact.client import MINUTELY, ExactClient

    settings = {"country": "nl", "division": "1", **({"rate_limit_per_minute": per_minute} if per_minute else {})}
    client = ExactClient(_connection(alice, "exact", settings))
    expected = Limit(60, 12.0) if per_minute else MINUTELY
    assert client.rate_limit == expected
    seen = []
    monkeypatch.setattr(client.limiter, "observe", lambda key, limit, **kw: seen.append((key, limit)))

    class Answer:
        headers = {"X-RateLimit-Minutely-Remaining": "10", "X-RateLimit-Minutely-Reset": "0"}
        status_code = 200

    client.observe_limits(Answer())
    assert seen and seen[0] == (client.rate_limit_key(), expected)
    client.close()


@pytest.mark.parametrize("per_minute", [None, 500])
def test_zoho_client_paces_by_the_connections_window(alice, per_minute):
    from integrations.zoho.client import PER_MINUTE, ZohoBooksClient, minute_limit
    from integrations.zoho.oauth import REGIONS, region

    settings = {"api_domain": region(next(iter(REGIONS))).api_domain, "organization_id": "1"}
    if per_minute:
        settings["rate_limit_per_minute"] = per_minute
    with ZohoBooksClient(_connection(alice, "zoho", settings)) as client:
        assert client.rate_limit == minute_limit(per_minute or PER_MINUTE)
