"""The sandbox Zoho Accounts server keeps Zoho's token limits (ZOHO.md §1.3), over the test client."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from integrations.zoho.oauth import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from integrations.zoho.sandbox import accounts, state
from integrations.zoho.sandbox.models import SandboxZohoToken
from integrations.zoho.sandbox.provision import issue_tokens

pytestmark = pytest.mark.django_db
TOKEN_URL = "/sandbox/zoho/us/accounts/oauth/v2/token"
CLIENT = {"client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET}


@pytest.fixture
def user(alice):
    return state.create_org("us", "owner@books.example", "Alice Books", organization=alice.org).user


def refresh(client, token: str, **extra):
    return client.post(TOKEN_URL, {"grant_type": "refresh_token", "refresh_token": token, **CLIENT, **extra})


def test_ten_access_token_requests_per_ten_minutes_per_refresh_token(client, user):
    _, token = issue_tokens(user)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(10):
            answer = refresh(client, token)
            assert answer.status_code == 200 and "refresh_token" not in answer.json()  # never rotates
        throttled = refresh(client, token)
        assert throttled.status_code == 400 and throttled.json() == accounts.TOO_MANY
    _, other = issue_tokens(user)
    with time_machine.travel(start + timedelta(minutes=9, seconds=59), tick=False):
        assert refresh(client, token).status_code == 400  # a rolling window: no reset at a slot boundary
        assert refresh(client, other).status_code == 200  # counted per refresh token
    with time_machine.travel(start + timedelta(minutes=10, seconds=1), tick=False):
        assert refresh(client, token).status_code == 200


def test_an_eleventh_access_token_invalidates_the_oldest(client, user):
    first, token = issue_tokens(user)
    for _ in range(10):
        assert refresh(client, token).status_code == 200
    assert SandboxZohoToken.objects.get(token=first).revoked_at is not None
    live = SandboxZohoToken.objects.filter(parent__token=token, revoked_at=None)
    assert live.count() == state.MAX_ACCESS_PER_REFRESH


def test_a_twenty_first_refresh_token_silently_invalidates_the_oldest(client, user):
    oldest = issue_tokens(user)[1]
    for _ in range(state.MAX_REFRESH_PER_USER):
        issue_tokens(user)
    assert refresh(client, oldest).json() == {"error": "invalid_code"}
    live = SandboxZohoToken.objects.filter(user=user, kind="refresh", revoked_at=None)
    assert live.count() == state.MAX_REFRESH_PER_USER


def test_a_wrong_client_secret_is_refused_and_nothing_issued(client, user):
    _, token = issue_tokens(user)
    before = SandboxZohoToken.objects.count()
    answer = refresh(client, token, client_secret="wrong")
    assert answer.status_code == 200 and answer.json() == {"error": "invalid_client"}
    assert SandboxZohoToken.objects.count() == before


def test_revoking_a_refresh_token_takes_its_access_tokens_along(client, user):
    access, token = issue_tokens(user)
    assert client.post(f"/sandbox/zoho/us/accounts/oauth/v2/token/revoke?token={token}").json() == {"status": "success"}
    assert SandboxZohoToken.objects.get(token=access).revoked_at is not None
    again = client.post(f"/sandbox/zoho/us/accounts/oauth/v2/token/revoke?token={token}")
    assert again.status_code == 400
    assert refresh(client, token).json() == {"error": "invalid_code"}
