"""The shared OAuth base (connector/oauth.py): refresh under the row lock, rotation, reauth, cool-down.

A minimal provider against the scripted stub server stands in for any vendor (Zoho, Exact): the
token endpoint's answers are queued and every request it receives is counted.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import parse_qsl

import pytest
from django.db import connection as db_connection

from connector.http import AuthExpired, RateLimited, Transient
from connector.models import Alert, Connection
from connector.oauth import OAuthProvider, disconnecting
from connector.retry import RetryPolicy
from tests.connector.vendor_stub import StubServer


class StubProvider(OAuthProvider):
    system = "stubvendor"
    display_name = "Stub Vendor"
    connect_url_name = "connections"
    callback_url_name = "connections"

    def client_id(self) -> str:
        return "client-1"

    def client_secret(self) -> str:
        return "CLIENT-SECRET-XYZ"

    def token_endpoint(self, context: dict) -> str:
        return context["token_url"]


class TooEarlyProvider(StubProvider):
    def is_too_early(self, error) -> bool:
        return error.error == "too_early"


@pytest.fixture
def stub():
    server = StubServer()
    yield server
    server.close()


def make_connection(org, stub, *, expires_in: int, refresh_token: str = "RT-OLD-123") -> Connection:
    return Connection.objects.create(
        organization=org,
        system="stubvendor",
        label="Stub",
        credentials={
            "access_token": "AT-OLD-123",
            "refresh_token": refresh_token,
            "expires_at": int(time.time()) + expires_in,
        },
        settings={"token_url": stub.url + "token"},
    )


def token_answer(access: str, refresh: str | None = None, expires_in: int = 3600) -> dict:
    body = {"access_token": access, "token_type": "Bearer", "expires_in": expires_in}
    if refresh:
        body["refresh_token"] = refresh
    return body


@pytest.mark.django_db
def test_a_fresh_token_is_used_without_calling_the_vendor(alice, stub):
    conn = make_connection(alice.org, stub, expires_in=3600)
    assert StubProvider().access_token(conn) == "AT-OLD-123"
    assert stub.requests == []


@pytest.mark.django_db
def test_refresh_within_the_margin_keeps_the_refresh_token_when_not_rotated(alice, stub):
    conn = make_connection(alice.org, stub, expires_in=200)  # inside the 5-minute default margin
    stub.queue(200, token_answer("AT-NEW-456"))
    assert StubProvider().access_token(conn) == "AT-NEW-456"
    (request,) = stub.requests
    form = dict(parse_qsl(request["body"].decode()))
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == "RT-OLD-123"
    assert form["client_secret"] == "CLIENT-SECRET-XYZ"  # client_secret_post
    stored = Connection.objects.get(pk=conn.pk).credentials
    assert stored["access_token"] == "AT-NEW-456" and stored["refresh_token"] == "RT-OLD-123"
    assert stored["expires_at"] >= int(time.time()) + 3590


@pytest.mark.django_db
def test_a_rotated_refresh_token_is_committed_with_the_new_access_token(alice, stub):
    conn = make_connection(alice.org, stub, expires_in=-10)
    stub.queue(200, token_answer("AT-NEW-456", refresh="RT-NEW-789", expires_in=600))
    StubProvider().refresh_if_needed(conn)
    stored = Connection.objects.get(pk=conn.pk).credentials
    assert (stored["access_token"], stored["refresh_token"]) == ("AT-NEW-456", "RT-NEW-789")
    assert conn.credentials == stored  # the caller's object is fresh too


def race_for_a_token(provider, conn, *, meanwhile=None) -> tuple[list, list]:
    """Two workers (threads, each with its own database connection) ask for the token at once;
    `meanwhile` runs in the test's thread once both are released. (tokens, errors)."""
    results, errors = [], []
    barrier = threading.Barrier(3)

    def worker():
        try:
            mine = Connection.objects.get(pk=conn.pk)
            barrier.wait()
            results.append(provider.access_token(mine))
        except Exception as exc:
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    barrier.wait()
    if meanwhile is not None:
        meanwhile()
    for t in threads:
        t.join(20)
    return results, errors


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_refresh_once(alice, stub):
    """Each thread is a worker with its own database connection; the row lock lets one refresh."""
    conn = make_connection(alice.org, stub, expires_in=-10, refresh_token="RT-SINGLE-USE")
    stub.queue(200, token_answer("AT-RACE-1", refresh="RT-ROTATED"), delay=0.5)
    stub.queue(400, {"error": "invalid_grant"})  # a second use of the single-use token would fail
    results, errors = race_for_a_token(StubProvider(), conn)
    assert errors == []
    assert results == ["AT-RACE-1", "AT-RACE-1"]
    assert len(stub.requests) == 1
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.credentials["refresh_token"] == "RT-ROTATED" and stored.status == Connection.Status.ACTIVE


class LeaseProvider(StubProvider):
    """The path a database without row locks (SQLite) takes, exercised on whatever database runs the tests."""

    def _has_row_locks(self) -> bool:
        return False


@pytest.mark.django_db(transaction=True)
def test_without_row_locks_a_lease_lets_one_worker_refresh_even_when_redis_is_lost(alice, stub):
    """Two workers race for a rotating refresh token while Redis restarts mid-refresh (here: the db is
    flushed while the token endpoint is answering). The lease lives on the row, so the second worker
    still waits, re-reads, and uses the token the first one stored: one refresh, one new token."""
    from connector.redis import get_redis

    conn = make_connection(alice.org, stub, expires_in=-10, refresh_token="RT-SINGLE-USE")
    stub.queue(200, token_answer("AT-LEASE-1", refresh="RT-ROTATED"), delay=0.6)
    stub.queue(400, {"error": "invalid_grant"})  # a second use of the single-use token would fail

    def lose_redis():
        time.sleep(0.2)
        get_redis().flushdb()  # Redis lost while the first refresh is in flight

    results, errors = race_for_a_token(LeaseProvider(), conn, meanwhile=lose_redis)
    assert errors == []
    assert results == ["AT-LEASE-1", "AT-LEASE-1"]
    assert len(stub.requests) == 1
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.credentials["refresh_token"] == "RT-ROTATED" and stored.status == Connection.Status.ACTIVE
    assert (stored.refresh_lease_owner, stored.refresh_lease_until) == ("", None)  # released


@pytest.mark.django_db
def test_a_lease_left_by_a_dead_worker_expires_and_a_live_one_is_waited_for(alice, stub, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    conn = make_connection(alice.org, stub, expires_in=-10)
    provider = LeaseProvider()
    monkeypatch.setattr(type(provider), "timeout", (0.05, 0.05))  # give up waiting after 0.2 s
    Connection.objects.filter(pk=conn.pk).update(
        refresh_lease_owner="someone-alive", refresh_lease_until=timezone.now() + timedelta(seconds=30)
    )
    with pytest.raises(Transient, match="busy"):
        provider.access_token(conn)
    assert stub.requests == []
    Connection.objects.filter(pk=conn.pk).update(refresh_lease_until=timezone.now() - timedelta(seconds=1))
    stub.queue(200, token_answer("AT-AFTER-DEAD", refresh="RT-NEXT"))
    assert provider.access_token(conn) == "AT-AFTER-DEAD"


@pytest.mark.django_db
def test_invalid_grant_needs_reauth_with_an_alert_and_stops_calling(alice, stub):
    conn = make_connection(alice.org, stub, expires_in=-10)
    stub.queue(400, {"error": "invalid_grant", "error_description": "revoked"})
    with pytest.raises(AuthExpired):
        StubProvider().refresh_if_needed(conn)
    conn.refresh_from_db()
    assert conn.status == Connection.Status.NEEDS_REAUTH
    alert = Alert.objects.get(key=f"reauth:{conn.pk}", resolved_at=None)
    assert alert.connection_id == conn.pk and alert.level == "error"
    assert "Reconnect" in alert.remediation
    with pytest.raises(AuthExpired):
        StubProvider().refresh_if_needed(conn)
    assert len(stub.requests) == 1  # no second attempt with a dead grant


@pytest.mark.django_db
def test_repeated_failures_cool_down_instead_of_hammering(alice, stub):
    conn = make_connection(alice.org, stub, expires_in=-10)
    for _ in range(3):
        stub.queue(503, {"message": "down"})
    provider = StubProvider()
    for _ in range(3):
        with pytest.raises(Transient):
            provider.refresh_if_needed(conn)
    with pytest.raises(RateLimited) as cooling:
        provider.refresh_if_needed(conn)
    policy = provider.refresh_cooldown
    assert policy.floor - 1 < cooling.value.retry_after <= policy.base
    assert len(stub.requests) == 3
    conn.refresh_from_db()
    assert conn.status == Connection.Status.ACTIVE  # a vendor outage is not a reason to reconnect


class ShortFuseProvider(StubProvider):
    refresh_cooldown = RetryPolicy(max_attempts=2, base=100.0, cap=250.0)


@pytest.mark.django_db
def test_the_cool_down_follows_the_retry_policy_and_grows_to_its_cap(alice, stub, monkeypatch):
    """The cool-down is the project's RetryPolicy: no pause within `max_attempts`, then its backoff per
    further failure (the dice pinned to the top of the jitter range to read the ceiling)."""
    monkeypatch.setattr("connector.retry.random.uniform", lambda low, high: high)
    conn = make_connection(alice.org, stub, expires_in=-10)
    provider = ShortFuseProvider()
    pauses = []
    for _ in range(4):
        stub.queue(503, {"message": "down"})
        with pytest.raises(Transient):
            provider.refresh_if_needed(conn)
        stored = Connection.objects.get(pk=conn.pk).settings
        retry_at = stored.get("oauth_retry_at")
        pauses.append(round(retry_at - time.time()) if retry_at else None)
        if retry_at:  # the cool-down has passed: the next refresh goes to the vendor again
            Connection.objects.filter(pk=conn.pk).update(settings={**stored, "oauth_retry_at": time.time() - 1})
    assert pauses == [None, 100, 200, 250]
    assert len(stub.requests) == 4


@pytest.mark.django_db
def test_too_early_to_refresh_keeps_the_current_token(alice, stub):
    conn = make_connection(alice.org, stub, expires_in=100)
    stub.queue(400, {"error": "too_early", "error_description": "TooEarlyToRefresh"})
    assert TooEarlyProvider().access_token(conn) == "AT-OLD-123"
    conn.refresh_from_db()
    assert conn.status == Connection.Status.ACTIVE and "oauth_failures" not in conn.settings


@pytest.mark.django_db
def test_forced_refresh_after_a_401_reuses_a_token_another_worker_already_got(alice, stub):
    conn = make_connection(alice.org, stub, expires_in=3600)
    Connection.objects.filter(pk=conn.pk).update(
        credentials={**conn.credentials, "access_token": "AT-FROM-OTHER-WORKER", "expires_at": int(time.time()) + 3600}
    )
    fresh = StubProvider().refresh_if_needed(conn, force=True, rejected_token="AT-OLD-123")
    assert fresh.credentials["access_token"] == "AT-FROM-OTHER-WORKER"
    assert stub.requests == []


@pytest.mark.django_db
def test_tokens_and_client_secret_never_reach_the_logs(alice, stub, caplog):
    caplog.set_level(logging.DEBUG)
    conn = make_connection(alice.org, stub, expires_in=-10)
    stub.queue(500, {"error": "server_error", "echo": "RT-OLD-123"})
    with pytest.raises(Transient) as failed:
        StubProvider().refresh_if_needed(conn)
    text = caplog.text + str(failed.value)
    for secret in ("RT-OLD-123", "AT-OLD-123", "CLIENT-SECRET-XYZ"):
        assert secret not in text


@pytest.mark.django_db
def test_disconnect_tells_the_providers_own_listeners_and_goes_through_when_one_fails(alice, stub, caplog):
    """The provider never imports its integration: integrations listen to `disconnecting` for their
    own provider class (Exact deletes its webhook subscriptions there); a failure is only logged."""
    conn = make_connection(alice.org, stub, expires_in=3600)
    heard: list[tuple[str, int]] = []

    def ours(sender, *, connection, **kwargs):
        heard.append(("ours", connection.pk))
        raise RuntimeError("vendor down")

    def another_providers(sender, *, connection, **kwargs):
        heard.append(("other", connection.pk))

    disconnecting.connect(ours, sender=StubProvider)
    disconnecting.connect(another_providers, sender=TooEarlyProvider)
    try:
        with caplog.at_level(logging.WARNING, logger="connector.oauth"):
            StubProvider().disconnect(conn)
    finally:
        disconnecting.disconnect(ours, sender=StubProvider)
        disconnecting.disconnect(another_providers, sender=TooEarlyProvider)
    conn.refresh_from_db()
    assert heard == [("ours", conn.pk)]
    assert conn.status == Connection.Status.DISABLED and conn.credentials == {}
    assert "RuntimeError" in caplog.text
