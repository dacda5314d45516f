"""Zoho answers quoted from Zoho's documentation and from live answers integrators published, replayed
against our OAuth code, our Books client and our sandbox.

`tests/specs/zoho/answers/zoho-answers.json` (sources per entry; PROVENANCE.md in that folder): the
documented token response (`expires_in` in seconds), the older one some data centres still give
(`expires_in` in milliseconds with `expires_in_sec` beside it), the token endpoint's throttle answer,
Books error bodies, and the daily-quota headers `X-Rate-Limit-Limit/-Remaining/-Reset`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests
from authlib.oauth2.rfc6749 import OAuth2Token
from django.urls import reverse

from accounts.models import Organization
from connector.models import Alert, Connection
from integrations.zoho import oauth as zoho_oauth
from integrations.zoho.client import NotFound, ZohoBooksClient
from integrations.zoho.sandbox import accounts as sandbox_accounts
from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.models import SandboxZohoDocument

from .conftest import issue_tokens, make_connection

ANSWERS = Path(__file__).resolve().parents[2] / "specs" / "zoho" / "answers" / "zoho-answers.json"


def answer(name: str) -> dict:
    return next(a for a in json.loads(ANSWERS.read_text()) if a["name"] == name)


def as_response(recorded: dict) -> requests.Response:
    response = requests.Response()
    response.status_code = recorded["status"]
    response._content = json.dumps(recorded["body"]).encode() if recorded["body"] is not None else b""
    response.headers.update(recorded["headers"])
    return response


# --- Token shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["token_documented", "token_legacy_milliseconds"])
def test_both_token_shapes_mean_one_hour(name):
    body = answer(name)["body"]
    assert zoho_oauth.token_lifetime(body) == 3600
    # What Authlib hands over: an OAuth2Token whose expires_at it derived from expires_in alone.
    token = OAuth2Token({**body, "refresh_token": "1000.r"})
    before = int(time.time())
    creds = zoho_oauth.provider.credentials_from_token(dict(token), {})
    assert before + 3600 <= creds["expires_at"] <= int(time.time()) + 3600


@pytest.mark.parametrize(
    ("fields", "seconds"),
    [({"expires_in": 3600000}, 3600), ({"expires_in": 1800}, 1800), ({}, 3600), ({"expires_in": "x"}, 3600)],
)
def test_no_token_answer_is_kept_longer_than_an_hour(fields, seconds):
    assert zoho_oauth.token_lifetime({"access_token": "1000.a", **fields}) == seconds


def test_a_stored_expiry_beyond_an_hour_is_refreshed_now():
    provider = zoho_oauth.provider
    assert provider.needs_refresh({"access_token": "1000.a", "expires_at": int(time.time()) + 3_600_000})
    assert not provider.needs_refresh({"access_token": "1000.a", "expires_at": int(time.time()) + 3000})


def token_from_sandbox(zoho_base, region: str) -> dict:
    """A refresh at the sandbox's token endpoint of `region`, as our provider would send it."""
    owner = Organization.objects.create(name=f"Books {region} owner")
    org = state.create_org(region, f"owner@{region}.example", f"Books {region}", organization=owner)
    _, refresh = issue_tokens(org)
    return requests.post(
        f"{state.accounts_server(region)}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": zoho_oauth.SANDBOX_CLIENT_ID,
            "client_secret": zoho_oauth.SANDBOX_CLIENT_SECRET,
        },
        timeout=5,
    ).json()


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_answers_each_shape_as_zoho_does(zoho_base):
    legacy_region = sorted(sandbox_accounts.LEGACY_TOKEN_SHAPE)[0]
    documented = token_from_sandbox(zoho_base, "us")
    legacy = token_from_sandbox(zoho_base, legacy_region)
    real_documented, real_legacy = answer("token_documented")["body"], answer("token_legacy_milliseconds")["body"]
    assert documented["expires_in"] == real_documented["expires_in"] and "expires_in_sec" not in documented
    assert (legacy["expires_in"], legacy["expires_in_sec"]) == (
        real_legacy["expires_in"],
        real_legacy["expires_in_sec"],
    )
    assert set(real_legacy) <= set(legacy) and set(real_documented) - {"refresh_token"} <= set(documented)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("region", sorted(sandbox_accounts.LEGACY_TOKEN_SHAPE))
def test_a_refresh_in_a_milliseconds_data_centre_keeps_the_token_one_hour(alice, zoho_base, region):
    org = state.create_org(region, f"owner@{region}.example", f"Books {region}", organization=alice.org)
    connection = make_connection(alice.org, org, expires_in=60)  # inside the refresh margin
    first_token = connection.credentials["access_token"]
    ZohoBooksClient(connection).organizations()
    stored = Connection.objects.get(pk=connection.pk).credentials
    assert stored["access_token"] != first_token  # refreshed at the legacy data centre
    assert stored["expires_at"] <= time.time() + 3600


# --- The UK data centre ----------------------------------------------------------------------------


def test_the_uk_data_centre_is_zohos_own_pair(settings):
    settings.ZOHO_USE_SANDBOX = False
    uk = zoho_oauth.region("uk")
    assert (uk.accounts_server, uk.api_domain) == ("https://accounts.zoho.uk", "https://www.zohoapis.uk")
    assert zoho_oauth.region_for("https://www.zohoapis.uk", "api_domain") == "uk"


@pytest.mark.django_db(transaction=True)
def test_uk_is_offered_and_routed_to_its_own_sandbox(alice, alice_client, zoho_base):
    assert 'value="uk"' in alice_client.get(reverse("zoho_connect")).content.decode()
    org = state.create_org("uk", "owner@uk.example", "Books UK", currency_code="GBP", organization=alice.org)
    client = ZohoBooksClient(make_connection(alice.org, org))
    assert client.base_url == f"{zoho_base}/sandbox/zoho/uk/books/v3/"
    assert client.organizations()[0]["name"] == "Books UK"


# --- Books bodies and headers ----------------------------------------------------------------------


def books_url(sandbox_org, path: str) -> str:
    return f"{state.api_domain(sandbox_org.user.region)}/books/v3/{path}?organization_id={sandbox_org.organization_id}"


def auth(connection: Connection) -> dict:
    return {"Authorization": f"Zoho-oauthtoken {connection.credentials['access_token']}"}


@pytest.mark.django_db(transaction=True)
def test_an_unknown_invoice_is_zohos_1002_and_the_client_says_not_found(zoho_connection, sandbox_org):
    real = answer("books_invoice_not_found")
    ours = requests.get(books_url(sandbox_org, "invoices/460000000000000001"), headers=auth(zoho_connection), timeout=5)
    assert ours.status_code == real["status"] and ours.json() == real["body"]
    error = ZohoBooksClient(zoho_connection).classify(as_response(real))
    assert isinstance(error, NotFound) and error.message == "Invoice does not exist."


@pytest.mark.django_db(transaction=True)
def test_the_legacy_jsonstring_form_body_is_accepted_other_forms_are_1038(zoho_connection, sandbox_org):
    contact = {"contact_name": "Form Body Ltd", "contact_type": "customer"}
    created = requests.post(
        books_url(sandbox_org, "contacts"),
        data={"JSONString": json.dumps(contact)},
        headers=auth(zoho_connection),
        timeout=5,
    )
    assert created.status_code == 201 and created.json()["code"] == 0
    assert SandboxZohoDocument.objects.filter(org=sandbox_org, kind="contact", data__contact_name="Form Body Ltd")
    contact_id = created.json()["contact"]["contact_id"]
    renamed = requests.put(
        books_url(sandbox_org, f"contacts/{contact_id}"),
        data={"JSONString": json.dumps({"contact_name": "Form Body Limited"})},
        headers=auth(zoho_connection),
        timeout=5,
    )
    assert renamed.status_code == 200 and renamed.json()["contact"]["contact_name"] == "Form Body Limited"
    real = answer("books_not_json")
    plain_form = requests.post(
        books_url(sandbox_org, "contacts"), data=contact, headers=auth(zoho_connection), timeout=5
    )
    assert plain_form.status_code == real["status"] and plain_form.json() == real["body"]


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_sends_zohos_daily_quota_headers(zoho_connection, sandbox_org):
    real = answer("books_daily_quota_headers")["headers"]
    ours = requests.get(books_url(sandbox_org, "contacts"), headers=auth(zoho_connection), timeout=5)
    for name, value in real.items():
        assert value.isdigit() and ours.headers[name].isdigit(), name
    assert 0 < int(ours.headers["X-Rate-Limit-Reset"]) <= 86400  # seconds until the daily reset
    assert int(ours.headers["X-Rate-Limit-Remaining"]) == int(ours.headers["X-Rate-Limit-Limit"]) - 1


@pytest.mark.django_db(transaction=True)
def test_the_client_reads_zohos_headers_and_stops_at_a_spent_daily_quota(zoho_connection):
    client = ZohoBooksClient(zoho_connection)
    real = answer("books_daily_quota_headers")
    client.observe_limits(as_response(real))  # 6775 left: nothing to do
    assert not Alert.objects.filter(resolved_at=None).exists()
    spent = {**real, "headers": {**real["headers"], "X-Rate-Limit-Remaining": "0"}}
    client.observe_limits(as_response(spent))
    alert = Alert.objects.get(resolved_at=None)
    assert "daily" in alert.message and alert.connection_id == zoho_connection.pk
    wait = client.limiter.try_acquire(client.rate_limit_key(), client.rate_limit)
    assert 34000 < wait <= 34881  # blocked until Zoho's reset, in seconds
