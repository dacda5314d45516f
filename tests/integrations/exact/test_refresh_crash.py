"""A worker killed around a token refresh: before the request, and between Exact's answer
and our commit. A kill is a BaseException raised at that point (nothing in the provider catches it),
so the row lock's transaction rolls back (PostgreSQL) or nothing was written yet (SQLite + Redis lock).
We assert what the sandbox's token endpoint saw and what the next worker gets."""

from __future__ import annotations

import threading

import pytest
from django.db import connection as db_connection

from connector.http import AuthExpired
from connector.models import Alert, Connection
from integrations.exact.oauth import ExactOAuth, provider
from integrations.exact.sandbox.models import SandboxExactToken
from tests.integrations.exact.conftest import age_tokens, counters

pytestmark = pytest.mark.django_db(transaction=True)


class Killed(BaseException):
    """The worker process dies here (SIGKILL, OOM): no except clause sees it."""


def _sessions_that(monkeypatch, *, before=None, after=None):
    """Wrap the provider's token sessions: call `before()` ahead of the refresh request and `after()`
    once Exact's answer is in our hands."""
    original = provider.oauth_session

    def session(**kwargs):
        oauth = original(**kwargs)
        refresh = oauth.refresh_token

        def refresh_token(*args, **kw):
            if before:
                before()
            token = refresh(*args, **kw)
            if after:
                after()
            return token

        oauth.refresh_token = refresh_token
        return oauth

    monkeypatch.setattr(provider, "oauth_session", session)


def _newest_refresh_token(access_token: str) -> SandboxExactToken:
    chain = SandboxExactToken.objects.get(token=access_token).chain
    return SandboxExactToken.objects.get(chain=chain, kind="refresh", used=False)


def test_killed_before_the_refresh_request_the_next_worker_refreshes_with_the_same_token(
    exact_connection, company, monkeypatch
):
    age_tokens(exact_connection, 580)
    before = dict(Connection.objects.get(pk=exact_connection.pk).credentials)

    def die():
        raise Killed

    _sessions_that(monkeypatch, before=die)
    with pytest.raises(Killed):
        provider.access_token(exact_connection)
    monkeypatch.undo()

    # Exact never heard of it: the refresh token is unspent and still ours.
    assert counters(company).get("refreshes", 0) == 0
    assert not SandboxExactToken.objects.get(token=before["refresh_token"]).used
    stored = Connection.objects.get(pk=exact_connection.pk)
    assert stored.credentials["refresh_token"] == before["refresh_token"]
    assert "token_calls" not in stored.settings  # the rolled-back attempt left no trace

    # The next worker (its own copy from the database; on SQLite the Redis lock was released).
    token = provider.access_token(Connection.objects.get(pk=exact_connection.pk))
    stored = Connection.objects.get(pk=exact_connection.pk)
    assert token == stored.credentials["access_token"] != before["access_token"]
    assert stored.credentials["refresh_token"] == _newest_refresh_token(token).token
    assert SandboxExactToken.objects.get(token=before["refresh_token"]).used
    seen = counters(company)
    assert seen["refreshes"] == 1
    assert seen.get("old_refresh_token", 0) == 0 and seen.get("too_early", 0) == 0
    assert stored.status == Connection.Status.ACTIVE and stored.settings["token_calls"]["count"] == 1


def test_killed_between_exacts_answer_and_our_commit_is_the_one_unsavable_window(
    exact_connection, company, monkeypatch
):
    """Exact rotated (the old refresh token is spent) but our commit never happened. Nothing can
    save this: the next worker presents the spent token, Exact answers `Old refresh token used`, and
    the connection asks for a reconnect (visibly, with an Alert) instead of retrying."""
    age_tokens(exact_connection, 580)
    before = dict(Connection.objects.get(pk=exact_connection.pk).credentials)
    original = ExactOAuth.credentials_from_token

    def store_then_die(self, token, previous):
        original(self, token, previous)
        raise Killed  # inside the token-store step, before the UPDATE

    monkeypatch.setattr(ExactOAuth, "credentials_from_token", store_then_die)
    with pytest.raises(Killed):
        provider.access_token(exact_connection)
    monkeypatch.undo()

    assert counters(company)["refreshes"] == 1  # Exact answered and rotated
    assert SandboxExactToken.objects.get(token=before["refresh_token"]).used
    stored = Connection.objects.get(pk=exact_connection.pk)
    assert stored.credentials["refresh_token"] == before["refresh_token"]  # the new one was lost

    with pytest.raises(AuthExpired):
        provider.access_token(Connection.objects.get(pk=exact_connection.pk))
    stored = Connection.objects.get(pk=exact_connection.pk)
    assert stored.status == Connection.Status.NEEDS_REAUTH
    assert Alert.objects.filter(key=f"reauth:{stored.pk}", resolved_at=None).exists()
    seen = counters(company)
    assert seen["refreshes"] == 1 and seen["old_refresh_token"] == 1  # one refusal, never retried
    with pytest.raises(AuthExpired):
        provider.access_token(stored)
    assert counters(company)["old_refresh_token"] == 1


def test_the_window_between_exacts_answer_and_our_commit_is_a_single_statement(exact_connection, company, monkeypatch):
    age_tokens(exact_connection, 580)
    answered = []
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        if answered:
            statements.append(sql)
        return execute(sql, params, many, context)

    _sessions_that(monkeypatch, after=lambda: answered.append(True))
    with db_connection.execute_wrapper(record):
        token = provider.access_token(exact_connection)
    assert answered == [True] and counters(company)["refreshes"] == 1
    assert len(statements) == 1, statements
    assert statements[0].startswith('UPDATE "connector_connection"')
    stored = Connection.objects.get(pk=exact_connection.pk)
    assert stored.credentials["access_token"] == token
    assert stored.credentials["refresh_token"] == _newest_refresh_token(token).token
    assert stored.settings["token_calls"]["count"] == 1  # the day's count rode on the same UPDATE


def test_eight_workers_in_two_processes_refresh_once_on_any_database(exact_connection, company):
    """Two 'processes' (providers with their own single-flight state) × 4 threads race one expiry:
    the row lock (PostgreSQL) or the Redis lock (SQLite) lets exactly one refresh through."""
    age_tokens(exact_connection, 590)
    processes = [type(f"Process{n}", (ExactOAuth,), {"_flights": {}, "_landed": {}})() for n in range(2)]
    barrier = threading.Barrier(8)
    tokens, errors = [], []

    def worker(oauth: ExactOAuth) -> None:
        from django.db import connection as thread_db

        try:
            mine = Connection.objects.get(pk=exact_connection.pk)
            barrier.wait()
            tokens.append(oauth.access_token(mine))
        except Exception as exc:
            errors.append(exc)
        finally:
            thread_db.close()

    threads = [threading.Thread(target=worker, args=(processes[n % 2],)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    stored = Connection.objects.get(pk=exact_connection.pk)
    assert tokens == [stored.credentials["access_token"]] * 8
    seen = counters(company)
    assert seen["refreshes"] == 1
    assert seen.get("old_refresh_token", 0) == 0 and seen.get("too_early", 0) == 0
