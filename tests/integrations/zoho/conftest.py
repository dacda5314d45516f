"""Zoho test fixtures: the sandbox served by the live server, sandbox organisations, connections."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from connector.models import Connection
from integrations.zoho.oauth import SANDBOX_CLIENT_ID
from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.models import SandboxZohoOrg, SandboxZohoToken
from tests.sandbox_session import member_of


@pytest.fixture
def zoho_base(live_server, settings):
    """PUBLIC_BASE_URL points at the live server, so the sandbox hosts are the known Zoho hosts."""
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


@pytest.fixture
def sandbox_org(zoho_base, alice) -> SandboxZohoOrg:
    return state.create_org("us", "owner@books.example", "Alice Books", organization=alice.org)


def issue_tokens(org: SandboxZohoOrg, *, expires_in: int = 3600) -> tuple[str, str]:
    """Tokens as the sandbox's token endpoint would have issued them (skips the consent page)."""
    refresh = SandboxZohoToken.objects.create(
        token="1000." + secrets.token_hex(24),
        kind="refresh",
        user=org.user,
        client_id=SANDBOX_CLIENT_ID,
        grant_type="authorization_code",
    )
    access = SandboxZohoToken.objects.create(
        token="1000." + secrets.token_hex(24),
        kind="access",
        user=org.user,
        parent=refresh,
        client_id=SANDBOX_CLIENT_ID,
        grant_type="authorization_code",
        expires_at=timezone.now() + timedelta(seconds=expires_in),
    )
    return access.token, refresh.token


def make_connection(owner_org, sandbox: SandboxZohoOrg, *, expires_in: int = 3600, **extra_settings) -> Connection:
    access, refresh = issue_tokens(sandbox, expires_in=expires_in)
    region = sandbox.user.region
    return Connection.objects.create(
        organization=owner_org,
        system="zoho",
        label="Zoho Books",
        credentials={
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_at": int(time.time()) + expires_in,
        },
        settings={
            "region": region,
            "accounts_server": state.accounts_server(region),
            "api_domain": state.api_domain(region),
            "organization_id": sandbox.organization_id,
            # A roomy client bucket keeps tests fast; the sandbox still enforces Zoho's 100/min.
            "rate_limit_per_minute": 6000,
            **extra_settings,
        },
    )


@pytest.fixture
def zoho_connection(alice, sandbox_org) -> Connection:
    return make_connection(alice.org, sandbox_org)


def set_faults(base: str, org: SandboxZohoOrg, **knobs) -> dict:
    answer = member_of(org.user.organization).post(
        f"{base}/sandbox/zoho/_control/faults", json={"organization_id": org.organization_id, **knobs}, timeout=5
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def books(base: str, org: SandboxZohoOrg, token: str, method: str, path: str, **kwargs) -> requests.Response:
    """A raw call to the sandbox Books API, as Zoho's own docs show it."""
    params = {"organization_id": org.organization_id, **kwargs.pop("params", {})}
    headers = {"Authorization": f"Zoho-oauthtoken {token}", **kwargs.pop("headers", {})}
    region = org.user.region
    return requests.request(
        method, f"{base}/sandbox/zoho/{region}/books/v3/{path}", params=params, headers=headers, timeout=10, **kwargs
    )


@pytest.fixture(autouse=True)
def _short_lived_db_connections():
    """The live server keeps HTTP/1.1 connections open, and with them its threads' database
    connections (CONN_MAX_AGE): close them at the end of each request so the test database can be
    dropped at the end of the session."""
    from django.db import connection

    before = connection.settings_dict.get("CONN_MAX_AGE")
    connection.settings_dict["CONN_MAX_AGE"] = 0
    yield
    connection.settings_dict["CONN_MAX_AGE"] = before
