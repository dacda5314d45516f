"""The sandbox Exact OAuth server answers as Exact does (EXACT.md §2.6), over the test client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connector.redis import get_redis
from integrations.exact.oauth import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from integrations.exact.sandbox import state
from integrations.exact.sandbox.models import SandboxExactGrant, SandboxExactToken, SandboxExactUser
from integrations.exact.sandbox.oauth import issue

pytestmark = pytest.mark.django_db(transaction=True)  # refusals are counted on commit
TOKEN_URL = "/sandbox/exact/nl/api/oauth2/token"
CLIENT = {"client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET}


@pytest.fixture
def user(alice):
    return state.create_company("nl", "owner@bv.example", "BV", seed=False, organization=alice.org)[0]


def post(client, **form):
    return client.post(TOKEN_URL, {**CLIENT, **form})


def counters(user) -> dict:
    return SandboxExactUser.objects.get(pk=user.pk).counters


def test_a_code_is_spent_by_a_redirect_mismatch_and_then_bad_request(client, user):
    SandboxExactGrant.objects.create(code="c0de", user=user, redirect_uri="http://127.0.0.1/cb")
    mismatch = post(client, grant_type="authorization_code", code="c0de", redirect_uri="http://127.0.0.1/other")
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_grant"
    again = post(client, grant_type="authorization_code", code="c0de", redirect_uri="http://127.0.0.1/cb")
    assert (again.status_code, again.content, again["Content-Type"]) == (400, b"Bad Request", "text/plain")


def test_an_expired_code_is_bad_request(client, user):
    grant = SandboxExactGrant.objects.create(code="old", user=user, redirect_uri="http://127.0.0.1/cb")
    SandboxExactGrant.objects.filter(pk=grant.pk).update(created_at=timezone.now() - timedelta(seconds=180))
    answer = post(client, grant_type="authorization_code", code="old", redirect_uri="http://127.0.0.1/cb")
    assert (answer.status_code, answer.content) == (400, b"Bad Request")


def test_rotation_spends_the_old_refresh_token_and_counts_its_reuse(client, user):
    tokens = issue(user)
    issued = timezone.now() - timedelta(seconds=570)
    SandboxExactToken.objects.filter(kind="access").update(issued_at=issued, expires_at=issued + timedelta(seconds=600))
    fresh = post(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert fresh.status_code == 200 and fresh.json()["refresh_token"] != tokens["refresh_token"]
    assert fresh.json()["expires_in"] == "600" and fresh.json()["token_type"] == "bearer"
    reused = post(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert reused.status_code == 401 and reused.json() == {
        "error": "unauthorized_client",
        "error_description": "Old refresh token used.",
    }
    assert counters(user) == {"refreshes": 1, "old_refresh_token": 1}


def test_too_early_carries_the_reason_header(client, user):
    tokens = issue(user)
    early = post(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert early.status_code == 400 and early.json()["error"] == "access_denied"
    assert early["Reason"] == "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired"
    assert counters(user) == {"too_early": 1}


def test_unknown_and_expired_refresh_tokens(client, user):
    unknown = post(client, grant_type="refresh_token", refresh_token="nope")
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_grant"
    assert int(get_redis().get("sandbox:exact:nl:invalid_grant")) == 1
    tokens = issue(user)
    SandboxExactToken.objects.filter(kind="refresh").update(expires_at=timezone.now() - timedelta(days=1))
    expired = post(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_request"
    assert expired.json()["error_description"].startswith("The refresh token expired at ")


def test_client_credentials_are_checked_before_anything(client, user):
    tokens = issue(user)
    answer = post(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_secret="x")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_client"
    assert not SandboxExactToken.objects.filter(used=True).exists()
