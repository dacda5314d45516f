"""Exact test fixtures: the sandbox served by the live server, sandbox companies, connections."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from connector.models import Connection, Flow
from integrations.exact.sandbox import state
from integrations.exact.sandbox.models import SandboxExactToken, SandboxExactUser
from integrations.exact.sandbox.oauth import issue


@pytest.fixture
def exact_base(live_server, settings):
    """PUBLIC_BASE_URL points at the live server, so the sandbox hosts are the configured Exact hosts."""
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


@pytest.fixture
def company(exact_base, alice):
    user, divisions = state.create_company("nl", "owner@devries.example", "De Vries BV", organization=alice.org)
    return divisions[0]


def age_tokens(connection: Connection, seconds: int) -> None:
    """Pretend the current tokens were issued `seconds` ago, at Exact (sandbox) and here."""
    access = connection.credentials["access_token"]
    row = SandboxExactToken.objects.get(token=access)
    issued = timezone.now() - timedelta(seconds=seconds)
    SandboxExactToken.objects.filter(chain=row.chain, kind="access").update(
        issued_at=issued, expires_at=issued + timedelta(seconds=600)
    )
    creds = dict(connection.credentials)
    creds["issued_at"] = int(time.time()) - seconds
    creds["expires_at"] = creds["issued_at"] + 600
    connection.credentials = creds
    connection.save(update_fields=["credentials"])


def make_connection(owner_org, division, *, age: int = 0) -> Connection:
    tokens = issue(division.user)
    now = int(time.time())
    connection = Connection.objects.create(
        organization=owner_org,
        system="exact",
        label="Exact Online",
        credentials={
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "token_type": "bearer",
            "expires_at": now + 600,
            "issued_at": now,
        },
        settings={
            "country": division.user.country,
            "base_url": state.host(division.user.country),
            "division": division.code,
        },
    )
    if age:
        age_tokens(connection, age)
    return connection


def counters(division) -> dict:
    return SandboxExactUser.objects.get(pk=division.user_id).counters


@pytest.fixture
def exact_connection(alice, company) -> Connection:
    return make_connection(alice.org, company)


@pytest.fixture
def flow(alice, exact_connection):
    """An Exact ↔ ShipStation flow on the sandbox company (the webhook tests' receiving flow)."""
    shipstation = Connection.objects.create(organization=alice.org, system="shipstation", label="SS")
    return Flow.objects.create(
        organization=alice.org,
        preset="exact_shipstation",
        name="Exact ↔ ShipStation",
        source=exact_connection,
        target=shipstation,
        enabled=True,
    )


@pytest.fixture(autouse=True)
def _short_lived_db_connections():
    """Close the live server threads' database connections after each request (test DB teardown)."""
    from django.db import connection

    before = connection.settings_dict.get("CONN_MAX_AGE")
    connection.settings_dict["CONN_MAX_AGE"] = 0
    yield
    connection.settings_dict["CONN_MAX_AGE"] = before
