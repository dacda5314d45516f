"""Connecting Exact Online: country routing, consent, division choice, and the refresh rules."""

from __future__ import annotations

import logging
import threading
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.db import connection as db_connection
from django.urls import reverse

from connector.models import Alert, Connection, Event
from integrations.exact import oauth as exact_oauth
from integrations.exact.client import ExactClient
from integrations.exact.oauth import provider
from integrations.exact.sandbox import state
from integrations.exact.sandbox.models import SandboxExactToken
from tests.integrations.exact.conftest import age_tokens, counters
from tests.sandbox_session import signed_in

pytestmark = pytest.mark.django_db(transaction=True)

COUNTRIES = {
    "nl": "https://start.exactonline.nl",
    "be": "https://start.exactonline.be",
    "uk": "https://start.exactonline.co.uk",
    "us": "https://start.exactonline.com",
    "de": "https://start.exactonline.de",
    "es": "https://start.exactonline.es",
    "fr": "https://start.exactonline.fr",
}


def _local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _consent_session(client):
    """The consent page needs the connector login of the user who pressed Connect (the sandbox's
    stand-in for signing in to Exact): the same user, over real HTTP."""
    from django.contrib.auth import get_user_model

    return signed_in(get_user_model().objects.get(pk=client.session["_auth_user_id"]))


def connect(client, country: str, email: str):
    started = client.post(reverse("exact_connect"), {"country": country})
    assert started.status_code == 302
    consent_url = started["Location"]
    query = dict(parse_qsl(urlsplit(consent_url).query))
    answered = _consent_session(client).post(
        consent_url.split("?")[0],
        data={**query, "decision": "accept", "email": email},
        allow_redirects=False,
        timeout=10,
    )
    assert answered.status_code == 302, answered.text
    return consent_url, client.get(_local(answered.headers["Location"]))


def test_real_hosts_per_country(settings):
    settings.EXACT_USE_SANDBOX = False
    for code, host in COUNTRIES.items():
        assert exact_oauth.host(code) == host
        assert provider.authorize_endpoint({"country": code}) == host + "/api/oauth2/auth"
        assert provider.token_endpoint({"country": code}) == host + "/api/oauth2/token"


@pytest.mark.parametrize("country", list(COUNTRIES))
def test_connect_routes_to_the_country_host_and_picks_the_current_division(alice, alice_client, exact_base, country):
    email = f"owner@{country}.example"
    state.create_company(country, email, f"Company {country}", organization=alice.org)
    consent_url, done = connect(alice_client, country, email)
    assert consent_url.startswith(f"{exact_base}/sandbox/exact/{country}/api/oauth2/auth?")
    assert done.status_code == 302 and done["Location"] == reverse("connections")
    connection = Connection.objects.get(organization=alice.org, system="exact")
    assert connection.settings["country"] == country
    assert connection.settings["base_url"] == f"{exact_base}/sandbox/exact/{country}"
    assert connection.settings["division"] > 100000
    assert connection.credentials["refresh_token"] and connection.credentials["issued_at"]
    client = ExactClient(connection)
    assert client.base_url == f"{exact_base}/sandbox/exact/{country}/api/v1/{connection.settings['division']}/"
    # The token belongs to that country: another country's host refuses it.
    other = "be" if country != "be" else "nl"
    answer = requests.get(
        f"{exact_base}/sandbox/exact/{other}/api/v1/current/Me",
        headers={"Authorization": f"Bearer {connection.credentials['access_token']}"},
        timeout=5,
    )
    assert answer.status_code == 401


def test_several_divisions_lead_to_the_division_page(alice, alice_client, exact_base):
    user, divisions = state.create_company(
        "nl", "multi@example.com", "Multi", divisions=3, seed=False, organization=alice.org
    )
    _, done = connect(alice_client, "nl", "multi@example.com")
    connection = Connection.objects.get(organization=alice.org, system="exact")
    assert done["Location"] == reverse("exact_pick_division", args=[connection.pk])
    assert connection.settings["division"] == user.current_division  # the current one until picked
    page = alice_client.get(done["Location"]).content.decode()
    for d in divisions:
        assert f'value="{d.code}"' in page
    alice_client.post(done["Location"], {"division": str(divisions[2].code)})
    connection.refresh_from_db()
    assert connection.settings["division"] == divisions[2].code


def test_deny_shows_an_error_and_stores_nothing(alice, alice_client, exact_base):
    started = alice_client.post(reverse("exact_connect"), {"country": "nl"})
    query = dict(parse_qsl(urlsplit(started["Location"]).query))
    answered = _consent_session(alice_client).post(
        started["Location"].split("?")[0], data={**query, "decision": "deny"}, allow_redirects=False, timeout=5
    )
    page = alice_client.get(_local(answered.headers["Location"]))
    assert page.status_code == 400 and b"did not grant access" in page.content
    assert not Connection.objects.filter(system="exact").exists()


def test_no_refresh_before_570_seconds_even_when_forced(exact_connection, company):
    age_tokens(exact_connection, 300)
    before = dict(exact_connection.credentials)
    provider.refresh_if_needed(exact_connection, force=True, rejected_token=before["access_token"])
    assert exact_connection.credentials["access_token"] == before["access_token"]
    assert counters(company).get("refreshes", 0) == 0 and counters(company).get("too_early", 0) == 0


def test_refresh_after_570_seconds_rotates_the_refresh_token(exact_connection, company):
    age_tokens(exact_connection, 575)
    old_refresh = exact_connection.credentials["refresh_token"]
    ExactClient(exact_connection).me()
    stored = Connection.objects.get(pk=exact_connection.pk).credentials
    assert stored["refresh_token"] != old_refresh
    assert SandboxExactToken.objects.get(token=old_refresh).used
    assert counters(company)["refreshes"] == 1
    assert Connection.objects.get(pk=exact_connection.pk).settings["token_calls"]["count"] == 1


def test_too_early_answer_means_keep_the_current_token(exact_connection, company):
    """Our clock thinks the token is old; Exact (the sandbox) knows it is fresh and says
    TooEarlyToRefreshTokens: we keep using the current token and do not mark anything broken."""
    raw = requests.post(
        f"{state.host('nl')}/api/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": exact_connection.credentials["refresh_token"],
            "client_id": exact_oauth.client_id(),
            "client_secret": exact_oauth.client_secret(),
        },
        timeout=5,
    )
    assert raw.status_code == 400 and raw.json()["error"] == "access_denied"
    assert raw.headers["Reason"].startswith("TooEarlyToRefreshTokens")
    creds = dict(exact_connection.credentials)
    creds["issued_at"] -= 700
    creds["expires_at"] -= 700
    Connection.objects.filter(pk=exact_connection.pk).update(credentials=creds)
    exact_connection.refresh_from_db()
    token = provider.access_token(exact_connection)
    assert token == creds["access_token"]
    assert Connection.objects.get(pk=exact_connection.pk).status == Connection.Status.ACTIVE
    assert counters(company)["too_early"] == 2


def test_daily_token_budget_is_noticed(exact_connection, company):
    age_tokens(exact_connection, 600)
    settings = dict(exact_connection.settings)
    settings["token_calls"] = {"day": exact_oauth._today(), "count": exact_oauth.TOKEN_CALLS_WARN - 1}
    Connection.objects.filter(pk=exact_connection.pk).update(settings=settings)
    exact_connection.refresh_from_db()
    provider.access_token(exact_connection)
    assert Alert.objects.filter(key=f"exact-token-calls:{exact_connection.pk}", resolved_at=None).exists()


@pytest.mark.skipif("postgresql" not in db_connection.vendor, reason="row locks need PostgreSQL")
def test_two_racing_workers_refresh_exactly_once(exact_connection, company):
    age_tokens(exact_connection, 590)
    barrier = threading.Barrier(2)
    tokens, errors = [], []

    def worker():
        from django.db import connection as thread_db

        try:
            mine = Connection.objects.get(pk=exact_connection.pk)  # each worker has its own copy
            barrier.wait()
            tokens.append(provider.access_token(mine))
        except Exception as exc:
            errors.append(exc)
        finally:
            thread_db.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(set(tokens)) == 1
    assert counters(company).get("refreshes") == 1
    assert counters(company).get("old_refresh_token", 0) == 0
    assert counters(company).get("too_early", 0) == 0


def test_rotated_refresh_token_is_committed_before_the_new_access_token_is_used(exact_connection, company):
    age_tokens(exact_connection, 580)
    seen = []
    client = ExactClient(exact_connection)
    original = client.session.send

    def spy(request, **kwargs):
        token = request.headers["Authorization"][7:]
        stored = Connection.objects.get(pk=exact_connection.pk).credentials  # a fresh read: what is committed
        live = SandboxExactToken.objects.get(token=token)
        newest = SandboxExactToken.objects.filter(chain=live.chain, kind="refresh", used=False).get()
        seen.append(stored["refresh_token"] == newest.token and stored["access_token"] == token)
        raise requests.ConnectionError("worker killed right after the refresh")  # a crash before any use

    client.session.send = spy
    with pytest.raises(Exception):  # noqa: B017 - Transient from the killed call
        client.me()
    client.session.send = original
    assert seen == [True]
    # Another worker picks up from the database: no refresh needed now, and a later one works.
    again = Connection.objects.get(pk=exact_connection.pk)
    assert ExactClient(again).me()["CurrentDivision"] == company.code
    age_tokens(again, 600)
    ExactClient(again).me()
    assert counters(company)["refreshes"] == 2 and counters(company).get("old_refresh_token", 0) == 0


def test_old_refresh_token_is_reauth_and_never_retried(exact_connection, company):
    age_tokens(exact_connection, 600)
    stale = dict(exact_connection.credentials)
    provider.access_token(exact_connection)  # rotates
    Connection.objects.filter(pk=exact_connection.pk).update(credentials={**stale, "issued_at": 0, "expires_at": 0})
    exact_connection.refresh_from_db()
    age_tokens(exact_connection, 600)
    from connector.http import AuthExpired

    with pytest.raises(AuthExpired):
        provider.access_token(exact_connection)
    assert Connection.objects.get(pk=exact_connection.pk).status == Connection.Status.NEEDS_REAUTH
    assert counters(company)["old_refresh_token"] == 1


def test_keep_alive_refreshes_idle_connections(exact_connection, company):
    from integrations.exact.tasks import keep_alive_all

    assert keep_alive_all() == {"refreshed": 0, "failed": 0}  # fresh: nothing to do
    age_tokens(exact_connection, 8 * 86400)
    assert keep_alive_all() == {"refreshed": 1, "failed": 0}


def test_tokens_never_in_logs_events_or_pages(alice, alice_client, exact_base, caplog):
    caplog.set_level(logging.DEBUG)
    state.create_company("nl", "secret@example.com", "Secret BV", organization=alice.org)
    _, done = connect(alice_client, "nl", "secret@example.com")
    connection = Connection.objects.get(organization=alice.org, system="exact")
    first = dict(connection.credentials)
    age_tokens(connection, 600)
    ExactClient(connection).me()
    second = Connection.objects.get(pk=connection.pk).credentials
    pages = [done.content, alice_client.get(reverse("connections")).content]
    secrets = {first["access_token"], first["refresh_token"], second["access_token"], second["refresh_token"]}
    events = " ".join(f"{e.message} {e.data}" for e in Event.objects.all())
    alerts = " ".join(f"{a.message} {a.remediation}" for a in Alert.objects.all())
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in events and secret not in alerts
        assert all(secret.encode() not in page for page in pages)
        assert secret not in str(connection.settings)
