"""The shared ApiClient: typed errors, 429 handling, SSRF refusal, redaction, call reporting."""

from __future__ import annotations

import pytest

from connector.http import (
    ApiClient,
    AuthExpired,
    OwnURL,
    Permanent,
    RateLimited,
    RefusedURL,
    Transient,
    Uncertain,
    backoff_seconds,
    loopback_alias,
    parse_pointer,
    redact_url,
)
from connector.ratelimit import Limit, RateLimiter
from tests.clock import ManualClock
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
    """A client on a ManualClock: a 429's wait is recorded in `sleeps` and moves the clock, and the
    shared bucket's own waits (blocked until the Retry-After) pass on that clock, not the wall clock."""
    calls, sleeps = [], []
    clock = ManualClock()

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    limiter = RateLimiter(clock=clock.now, sleep=clock.sleep)
    c = VendorClient(stub.url, account_key="acct", on_call=calls.append, sleep=sleep, limiter=limiter)
    c.calls_seen, c.sleeps, c.clock = calls, sleeps, clock
    return c


def test_success_reports_the_call_without_secrets(client, stub):
    stub.queue(200, {"ok": True})
    assert client.request_json("GET", "orders", params={"api_key": "K-123", "page": 2}) == {"ok": True}
    assert stub.requests[0]["headers"]["Authorization"] == "Bearer SECRET-TOKEN-1"
    (call,) = client.calls_seen
    assert call.status == 200 and call.method == "GET"
    assert "K-123" not in call.url and "page=2" in call.url


def _open_pools(session) -> int:
    return sum(len(adapter.poolmanager.pools) for adapter in session.adapters.values())


def test_with_client_closes_the_session_it_made_and_close_is_idempotent(client, stub):
    stub.queue(200, {"ok": True})
    with client as same:
        assert same is client
        client.request_json("GET", "orders")
        assert _open_pools(client.session) == 1  # a kept-alive connection to the vendor
    assert _open_pools(client.session) == 0
    closes = []
    client.session.close = lambda: closes.append(1)
    client.close()
    client.close()
    assert closes == []  # already closed on leaving the block: nothing more to do


def test_close_leaves_a_session_passed_in_to_its_owner(stub):
    import requests

    shared = requests.Session()
    stub.queue(200, {"ok": True})
    with VendorClient(stub.url, session=shared, limiter=RateLimiter()) as client:
        client.request_json("GET", "orders")
    assert _open_pools(shared) == 1  # the caller may still use it for other clients
    shared.close()


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
    # The bucket's block had passed by then; at most one token's refill (60 s / 1000) is left to wait.
    assert sum(client.clock.slept) <= 0.06 + 0.05


def test_long_retry_after_raises_rate_limited_for_the_task_to_retry(client, stub):
    stub.queue(429, {}, headers={"Retry-After": "600"})
    with pytest.raises(RateLimited) as info:
        client.request("GET", "orders")
    assert info.value.retry_after == 600
    # The shared bucket is blocked for everyone until then.
    other_worker = RateLimiter(clock=client.clock.now)
    assert other_worker.try_acquire(client.rate_limit_key(), client.rate_limit) == pytest.approx(600)


def test_429_without_retry_after_paces_and_probes_instead_of_freezing_a_minute(client, stub):
    """A vendor that names no wait (Zoho): one token interval plus a short jittered back-off, then a
    single probe; never the minute every worker used to stop for."""
    stub.queue(429, {"message": "slow down"})
    stub.queue(200, {"ok": 1})
    assert client.request_json("GET", "orders") == {"ok": 1}
    interval = 60 / 1000
    assert client.sleeps == []  # the shared bucket holds everyone back, not a private sleep
    assert interval <= sum(client.clock.slept) <= 2 * interval + 0.1
    assert len(stub.requests) == 2
    # The success forgot the strike: the next 429 backs off from the shortest again.
    assert client.limiter.strike(client.rate_limit_key()) == 1


def test_429s_in_a_row_back_off_a_few_seconds_at_most_then_hand_back(client, stub):
    for _ in range(4):
        stub.queue(429, {"message": "slow down"})
    with pytest.raises(RateLimited) as info:
        client.request("GET", "orders")
    assert len(stub.requests) == 4  # one probe after each back-off, no hammering
    assert 0 < info.value.retry_after <= client.pace_backoff_cap + 0.06
    assert max(client.clock.slept) <= client.pace_backoff_cap + 0.06 + 0.05
    assert sum(client.clock.slept) < 3 * (client.pace_backoff_cap + 0.11)


def test_after_a_429_without_retry_after_another_worker_waits_seconds_not_a_minute(client, stub):
    stub.queue(429, {})
    stub.queue(429, {})
    stub.queue(429, {})
    stub.queue(429, {})
    with pytest.raises(RateLimited):
        client.request("GET", "orders")
    other_worker = RateLimiter(clock=client.clock.now)
    wait = other_worker.try_acquire(client.rate_limit_key(), client.rate_limit)
    assert 0 < wait <= client.pace_backoff_cap + 0.06


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("", 0.0), ("7", 7.0), ("-3", 0.0), ("soon", 0.0), ("Wed, 02 Dec 2026 12:00:30 GMT", 30.0)],
)
def test_retry_after_header_reads_seconds_or_a_date(header, seconds):
    from datetime import UTC, datetime

    from connector.http import retry_after_seconds

    now = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(header, now=now) == pytest.approx(seconds)


def test_pointer_to_another_host_is_refused_and_no_credential_is_sent(client, stub):
    port = stub.server.server_port
    with pytest.raises(RefusedURL):
        client.request("GET", f"http://localhost:{port}/orders/1")  # another host name, no alias given
    with pytest.raises(RefusedURL):
        client.request("GET", stub.url.replace("http://", "https://") + "orders")
    with pytest.raises(RefusedURL):
        client.request("GET", f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/orders")
    assert stub.requests == []


def test_pointer_to_the_own_host_is_followed(client, stub):
    stub.queue(200, {"id": 1})
    assert client.request_json("GET", stub.url + "orders/1") == {"id": 1}


# --- The outbound URL guard -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "pointer",
    [
        "http://127.0.0.1:1\\@localhost/orders",  # urlsplit: host localhost; requests: host 127.0.0.1
        "http://attacker\\@ssapi.shipstation.com/orders",
        "http://user:pass@ssapi.shipstation.com/orders",
        "http://ssapi.shipstation.com@127.0.0.1/orders",
        "http://ssapi.shipstation.com/orders?email=a@b",  # '@' anywhere
        "http://ssapi.shipstation.com/or ders",
        "http://ssapi.shipstation.com/orders\t",
        "http://ssapi.shipstation.com/orders\n",
        "http://ssapi.shipstation.com\r\n/orders",
        "http://ssapi.shipstation.com/\x00",
        "http://ssapi.shipstation.com/\x7f",
        "http://ssapi.shipstation.com/ördérs",
        " http://ssapi.shipstation.com/orders",
        "ftp://ssapi.shipstation.com/orders",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "//ssapi.shipstation.com/orders",
        "http:/ssapi.shipstation.com/orders",
        "http://ssapi.shipstation.com./orders",
        "http://[::1]/orders",
        "http://ssapi.shipstation.com:0/orders",
        "http://ssapi.shipstation.com:99999/orders",
        "http://ssapi.shipstation.com/a/../admin",
        "http://ssapi.shipstation.com/a/%2e%2e/admin",
        "http://ssapi.shipstation.com/" + "a" * 5000,
    ],
)
def test_malformed_pointers_are_refused_before_any_parse_by_requests(pointer):
    with pytest.raises(RefusedURL):
        parse_pointer(pointer)


def test_a_pointer_is_rebuilt_from_the_base_url_with_only_its_path_and_query():
    c = VendorClient("https://api.vendor.example/v1/")
    assert c.pointer_url("HTTPS://API.Vendor.Example:443/v1/orders?page=2&x=%41#frag") == (
        "https://api.vendor.example/v1/orders?page=2&x=%41"
    )
    with pytest.raises(RefusedURL, match="outside"):
        c.pointer_url("https://api.vendor.example/admin/users")
    with pytest.raises(RefusedURL, match="API host"):
        c.pointer_url("http://api.vendor.example/v1/orders")  # http where the base is https
    with pytest.raises(RefusedURL, match="API host"):
        c.pointer_url("https://api.vendor.example:8443/v1/orders")


def test_alias_hosts_are_accepted_and_rebuilt_on_the_base_host():
    c = VendorClient("http://localhost:8000/sandbox/vendor/", alias_hosts=["127.0.0.1"])
    assert c.pointer_url("http://127.0.0.1:8000/sandbox/vendor/orders?id=1") == (
        "http://localhost:8000/sandbox/vendor/orders?id=1"
    )
    with pytest.raises(RefusedURL):
        c.pointer_url("http://127.0.0.1:8001/sandbox/vendor/orders")  # the alias, on another port
    with pytest.raises(RefusedURL):
        c.pointer_url("https://127.0.0.1:8000/sandbox/vendor/orders")


def test_loopback_alias_is_only_localhost_and_127_0_0_1():
    assert loopback_alias("localhost") == "127.0.0.1"
    assert loopback_alias("127.0.0.1") == "localhost"
    assert loopback_alias("LOCALHOST") == "127.0.0.1"
    assert loopback_alias("ssapi.shipstation.com") is None
    assert loopback_alias("127.0.0.2") is None


def test_relative_paths_stay_on_the_base_host():
    c = VendorClient("https://api.vendor.example/v1/")
    assert c.url_for("orders/1") == "https://api.vendor.example/v1/orders/1"
    assert c.url_for("/orders/1") == "https://api.vendor.example/v1/orders/1"
    with pytest.raises(RefusedURL):
        c.url_for("//evil.example/orders")  # scheme-relative: a pointer, and not ours
    with pytest.raises(RefusedURL):
        c.url_for("javascript:alert(1)")


@pytest.mark.parametrize("path", ["../admin", "orders/../../admin", "orders/%2E%2E/%2e%2e/admin", "./orders"])
def test_relative_paths_cannot_climb_out_of_the_base_path(path):
    c = VendorClient("https://api.vendor.example/v1/")
    with pytest.raises(RefusedURL, match="dot segments"):
        c.url_for(path)
    assert c.url_for("orders?note=../x") == "https://api.vendor.example/v1/orders?note=../x"  # a query is data


def test_own_urls_reach_other_paths_of_the_origin_but_pointers_do_not():
    """A vendor's second namespace (WooCommerce Shipment Tracking beside wc/v3) is an own URL; the same
    text handed over as a plain string is a pointer and stays held to the base path."""
    c = VendorClient("https://shop.example/wp-json/wc/v3/", alias_hosts=["alias.example"])
    text = "https://shop.example/wp-json/wc-shipment-tracking/v3/orders/1/shipment-trackings"
    own = c.own_url(text)
    assert isinstance(own, OwnURL) and c.url_for(own) == text
    with pytest.raises(RefusedURL, match="outside"):
        c.url_for(text)
    with pytest.raises(RefusedURL, match="outside"):
        c.url_for(str(own) + "")  # any string operation makes it a plain string, i.e. a pointer
    for foreign in (
        "https://alias.example/wp-json/x",  # an alias is for pointers, not for our own calls
        "http://shop.example/wp-json/x",
        "https://shop.example:8443/wp-json/x",
        "https://evil.example/wp-json/x",
        "https://shop.example/wp-json/../x",
        "https://attacker\\@shop.example/x",
    ):
        with pytest.raises(RefusedURL):
            c.own_url(foreign)
    # An own URL made by another connection's client is checked again against this one's origin.
    other = VendorClient("https://other-shop.example/wp-json/wc/v3/")
    with pytest.raises(RefusedURL, match="API host"):
        c.url_for(other.own_url("https://other-shop.example/wp-json/wc-shipment-tracking/v3/x"))


def test_an_own_url_beside_the_base_path_is_called_with_credentials(stub):
    """Exact's `current/Me` sits beside the division (/api/v1/current/Me next to /api/v1/<division>/)."""
    c = VendorClient(stub.url + "api/v1/7/", sleep=lambda s: None)
    stub.queue(200, {"me": 1})
    assert c.request_json("GET", c.own_url(stub.url + "api/v1/current/Me")) == {"me": 1}
    (seen,) = stub.requests
    assert seen["path"] == "/api/v1/current/Me" and seen["headers"]["Authorization"] == "Bearer SECRET-TOKEN-1"


@pytest.fixture
def attacker():
    """A 127.0.0.1 listener standing in for an attacker's host: it must never hear from us."""
    server = StubServer()
    yield server
    server.close()


@pytest.fixture
def named_client(stub):
    """A client whose base names the stub by host name, as real bases do (`localhost`)."""
    c = VendorClient(f"http://localhost:{stub.server.server_port}/", sleep=lambda s: None)
    c.authenticated = []
    original = c.authenticate

    def authenticate(request):
        c.authenticated.append(request.url)
        original(request)

    c.authenticate = authenticate
    return c


def test_prepared_request_to_another_host_is_refused_before_credentials_are_attached(
    named_client, stub, attacker, monkeypatch
):
    """The last line: even if a URL slipped past url_for, the prepared request's host (as urllib3 reads
    it to connect) is checked before `authenticate` runs, and nothing is sent."""
    evil = f"http://127.0.0.1:{attacker.server.server_port}\\@localhost:{stub.server.server_port}/orders"
    monkeypatch.setattr(named_client, "url_for", lambda path_or_url: path_or_url)
    with pytest.raises(RefusedURL):
        named_client.request("GET", evil)
    with pytest.raises(RefusedURL):
        named_client.request("GET", f"http://user:pw@localhost:{stub.server.server_port}/orders")
    assert named_client.authenticated == []
    assert attacker.requests == [] and stub.requests == []


def test_authentication_that_moves_the_url_is_refused_and_nothing_is_sent(stub, attacker):
    class Moving(VendorClient):
        def authenticate(self, request):
            super().authenticate(request)
            request.prepare_url(f"http://127.0.0.1:{attacker.server.server_port}/steal", {"k": "v"})

    c = Moving(stub.url, sleep=lambda s: None)
    with pytest.raises(RefusedURL):
        c.request("GET", "orders")
    assert attacker.requests == [] and stub.requests == []


def test_query_string_credentials_on_the_own_host_pass_the_second_check(stub):
    class QueryAuth(VendorClient):
        def authenticate(self, request):
            request.prepare_url(request.url, {"api_key": "K-1"})

    stub.queue(200, {"ok": True})
    assert QueryAuth(stub.url).request_json("GET", "orders?page=2") == {"ok": True}
    assert stub.requests[0]["path"] == "/orders?page=2&api_key=K-1"


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
    assert redact_url("http://[::1/x?consumer_secret=cs_2") == "[unparseable URL]"  # urlsplit raises here


def test_backoff_grows_and_is_capped():
    assert all(0 <= backoff_seconds(1) <= 2 for _ in range(50))
    assert all(0 <= backoff_seconds(30) <= 600 for _ in range(50))
