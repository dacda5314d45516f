"""The client against the sandbox over real HTTP: paging, batches, rate limits, pointers, secrets."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from connector.http import AuthExpired, RefusedURL, Transient
from connector.ratelimit import Limit
from integrations.shipstation import client as client_module
from integrations.shipstation.client import ShipStationClient
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxOrder

from .conftest import order_body


def test_list_orders_follows_pages_with_the_pacific_filter(ss, account, monkeypatch):
    ss.create_orders([order_body(f"L{i}") for i in range(5)])
    monkeypatch.setattr(client_module, "MAX_PAGE_SIZE", 2)
    records = []
    ss.on_call = records.append
    got = list(ss.list_orders(modified_since=datetime.now(UTC) - timedelta(hours=1)))
    assert sorted(o["orderNumber"] for o in got) == [f"L{i}" for i in range(5)]
    assert len(records) == 3 and "pageSize=2" in records[0].url and "modifyDateStart=" in records[0].url


def test_create_orders_batches_of_100_with_per_order_results(ss, account):
    orders = [order_body(f"N{i}") for i in range(150)]
    orders[120].pop("billTo")
    before = ss.calls
    results = ss.create_orders(orders)
    assert ss.calls - before == 2
    assert len(results) == 150 and [r.order_number for r in results if not r.success] == ["N120"]
    assert "billTo" in results[[r.order_number for r in results].index("N120")].error
    assert SandboxOrder.objects.filter(account=account).count() == 149


def test_headers_feed_the_shared_bucket_so_we_stop_before_a_429(ss, account):
    from connector.http import RateLimited

    # ShipStation's windows are fixed (aligned to the clock), so a 60 s window can end a moment after
    # the first call; a day-long window keeps the Reset well above the test's max wait.
    SandboxAccount.objects.filter(pk=account.pk).update(rate_limit=2, rate_window_seconds=86400)
    ss.list_tags()  # Remaining 1, minus the in-flight margin -> wait for the window's Reset
    bucket = ss.limiter.redis.hgetall(ss.rate_limit_key())
    assert float(bucket[b"tokens"]) < 1.0 and float(bucket[b"blocked"]) > 0
    ss.max_rate_wait = 1.0
    calls = ss.calls
    with pytest.raises(RateLimited) as exc:
        ss.list_tags()
    assert ss.calls == calls and exc.value.retry_after > 1  # nothing sent, so no 429 either


def test_429_retry_after_uses_reset_header(ss, account):
    SandboxAccount.objects.filter(pk=account.pk).update(fault_429_rate=1.0)
    ss.max_429_retries = 1
    ss.max_inline_retry_after = 120
    with pytest.raises(Transient):
        ss.list_tags()
    assert len(ss.slept) == 1 and 0 < ss.slept[0] <= 60.3  # Reset seconds plus jitter


def test_wrong_keys_raise_auth_expired(sandbox_root, account):
    bad = ShipStationClient(sandbox_root, api_key=account.api_key, api_secret="nope")
    with pytest.raises(AuthExpired):
        bad.list_stores()


def test_pointers_only_on_the_connections_own_host(ss, account):
    ss.create_order(order_body("PT1"))
    for url in (
        "https://evil.example.com/orders?x=1",
        ss.base_url.replace("localhost", "127.0.0.1") + "orders",
        ss.base_url.split("/sandbox")[0] + "/admin/",
    ):
        with pytest.raises(RefusedURL):
            list(ss.follow(url))
    assert [o["orderNumber"] for o in ss.follow(ss.base_url + "orders?orderNumber=PT1")] == ["PT1"]


def test_no_secret_in_logs_or_call_records(ss, account, caplog):
    records = []
    ss.on_call = records.append
    with caplog.at_level(logging.DEBUG):
        ss.list_tags()
        with pytest.raises(Exception):  # noqa: B017
            ShipStationClient(
                ss.base_url, api_key=account.api_key, api_secret="wrong-" + account.api_secret
            ).list_tags()
    blob = caplog.text + repr(records)
    assert account.api_secret not in blob and account.api_key not in blob
    assert account.api_key not in ss.rate_limit_key()


def test_scaled_limit_is_per_instance(sandbox_root, account):
    client = ShipStationClient(
        sandbox_root, api_key=account.api_key, api_secret=account.api_secret, rate_limit=Limit(40, 1)
    )
    assert client.rate_limit == Limit(40, 1) and ShipStationClient.rate_limit == Limit(40, 60)


def test_server_errors_are_transient(ss, account):
    SandboxAccount.objects.filter(pk=account.pk).update(fault_5xx_rate=1.0)
    with pytest.raises(Transient):
        ss.get_order(1)
