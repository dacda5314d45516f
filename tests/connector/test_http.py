"""The shared ApiClient: typed errors, 429 handling, SSRF refusal, redaction, call reporting."""

from __future__ import annotations

import pytest

from connector.http import (
    ApiClient,
    AuthExpired,
    Permanent,
    RateLimited,
    RefusedURL,
    Transient,
    Uncertain,
    backoff_seconds,
    redact_url,
)
from connector.ratelimit import Limit, RateLimiter
from tests.connector.vendor_stub import StubServer


class VendorClient(ApiClient):
    system = "vendor"
    rate_limit = Limit(1000, 60)
    timeout = (2.0, 0.5)

    def authenticate(self, request):
        request.headers["Authorization"] = "Bearer SECRET-TOKEN-1"


@pytest.fixture
def stub():
    server = StubServer()
    yield server
    server.close()


@pytest.fixture
def client(stub):
    calls, sleeps = [], []
    c = VendorClient(stub.url, account_key="acct", on_call=calls.append, sleep=sleeps.append)
    c.calls_seen, c.sleeps = calls, sleeps
    return c


def test_success_reports_the_call_without_secrets(client, stub):
    stub.queue(200, {"ok": True})
    assert client.request_json("GET", "orders", params={"api_key": "K-123", "page": 2}) == {"ok": True}
    assert stub.requests[0]["headers"]["Authorization"] == "Bearer SECRET-TOKEN-1"
    (call,) = client.calls_seen
    assert call.status == 200 and call.method == "GET"
    assert "K-123" not in call.url and "page=2" in call.url


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, Permanent), (404, Permanent), (422, Permanent), (401, AuthExpired), (500, Transient), (503, Transient)],
)
def test_vendor_statuses_become_typed_errors(client, stub, status, error):
    stub.queue(status, {"message": "vendor says no"})
    with pytest.raises(error) as info:
        client.request("POST", "orders", json={"a": 1})
    assert info.value.status == status
    assert "vendor says no" in str(info.value)


def test_429_waits_exactly_retry_after_then_succeeds(client, stub):
    stub.queue(429, {"message": "slow down"}, headers={"Retry-After": "3"})
    stub.queue(200, {"ok": 1})
    assert client.request_json("GET", "orders") == {"ok": 1}
    assert len(client.sleeps) == 1 and 3 <= client.sleeps[0] <= 3.25


def test_long_retry_after_raises_rate_limited_for_the_task_to_retry(client, stub):
    stub.queue(429, {}, headers={"Retry-After": "600"})
    with pytest.raises(RateLimited) as info:
        client.request("GET", "orders")
    assert info.value.retry_after == 600
    # The shared bucket is blocked for everyone until then.
    assert RateLimiter().try_acquire(client.rate_limit_key(), client.rate_limit) > 500


def test_pointer_to_another_host_is_refused_and_no_credential_is_sent(client, stub):
    with pytest.raises(RefusedURL):
        client.request("GET", "http://127.0.0.2:9/orders/1")
    with pytest.raises(RefusedURL):
        client.request("GET", stub.url.replace("http://", "https://") + "orders")
    assert stub.requests == []


def test_pointer_to_the_own_host_is_followed(client, stub):
    stub.queue(200, {"id": 1})
    assert client.request_json("GET", stub.url + "orders/1") == {"id": 1}


def test_read_timeout_on_a_post_is_uncertain_but_on_a_get_is_transient(client, stub):
    stub.queue(200, {}, delay=1.0)
    with pytest.raises(Uncertain):
        client.request("POST", "orders", json={})
    stub.queue(200, {}, delay=1.0)
    with pytest.raises(Transient) as info:
        client.request("GET", "orders")
    assert not isinstance(info.value, Uncertain)


def test_malformed_json_is_a_clear_transient_error(client, stub):
    stub.queue(200, b"<html>oops</html>")
    with pytest.raises(Transient, match="not JSON"):
        client.request_json("GET", "orders")


def test_connection_refused_is_transient(stub):
    c = VendorClient("http://127.0.0.1:1/", sleep=lambda s: None)
    with pytest.raises(Transient):
        c.request("GET", "x")


def test_redact_url_masks_secret_parameters():
    url = redact_url("https://h/x?consumer_key=ck_1&consumer_secret=cs_2&page=3")
    assert "ck_1" not in url and "cs_2" not in url and "page=3" in url


def test_backoff_grows_and_is_capped():
    assert all(0 <= backoff_seconds(1) <= 2 for _ in range(50))
    assert all(0 <= backoff_seconds(30) <= 600 for _ in range(50))
