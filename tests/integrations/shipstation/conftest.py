"""ShipStation test helpers: a sandbox account served by the live server, and a client for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accounts.models import Organization
from connector.ratelimit import RateLimiter
from integrations.shipstation.client import ShipStationClient
from integrations.shipstation.sandbox.models import SandboxAccount
from tests.clock import ManualClock

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


def order_body(
    number: str, *, status: str = "awaiting_shipment", key: str | None = None, email: str = "Buyer@Example.com", **extra
) -> dict:
    address = {
        "name": "Buyer One",
        "street1": "1 Main St",
        "city": "Austin",
        "state": "TX",
        "postalCode": "78701",
        "country": "US",
    }
    return {
        "orderNumber": number,
        "orderKey": key or f"key-{number}",
        "orderDate": "2024-03-01 10:00:00",
        "orderStatus": status,
        "customerEmail": email,
        "customerUsername": "buyer1",
        "billTo": address,
        "shipTo": address,
        "items": [
            {"lineItemKey": "L1", "sku": "SKU-1", "name": "Widget", "quantity": 2, "unitPrice": 10.5, "taxAmount": 1.05}
        ],
        "amountPaid": 27.05,
        "shippingAmount": 5,
        "taxAmount": 1.05,
        **extra,
    }


@pytest.fixture
def sandbox_root(live_server, settings) -> str:
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url + "/sandbox/shipstation"


@pytest.fixture
def account(transactional_db) -> SandboxAccount:
    return SandboxAccount.objects.create(
        name="Test store", seed=7, organization=Organization.objects.create(name="Store owner")
    )


def _on_manual_clock(client):
    """Waits move a ManualClock instead of the wall clock: a 429's Retry-After is recorded in
    `client.slept`, and the shared bucket's own waits (until a fixed window's Reset, up to a minute
    depending on the current second) are spent on that clock too, so no test sleeps for real."""
    clock = ManualClock()
    client.clock = clock
    client._limiter = RateLimiter(clock=clock.now, sleep=clock.sleep)
    client.slept = []

    def sleep(seconds: float) -> None:
        client.slept.append(seconds)
        clock.advance(seconds)

    client.sleep = sleep
    return client


@pytest.fixture
def ss(sandbox_root, account) -> ShipStationClient:
    """A client for the sandbox account on a ManualClock; sleeps are recorded, not slept."""
    return _on_manual_clock(ShipStationClient(sandbox_root, api_key=account.api_key, api_secret=account.api_secret))


@pytest.fixture
def v2(sandbox_root, account):
    """A V2 client (API-Key) for the sandbox account on a ManualClock; sleeps are recorded, not slept."""
    from integrations.shipstation.client import ShipStationV2Client

    return _on_manual_clock(ShipStationV2Client(sandbox_root, api_key=account.v2_api_key))
