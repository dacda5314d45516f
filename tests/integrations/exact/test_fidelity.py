"""Exact Online answers quoted from public material, replayed against our client and our sandbox.

`tests/specs/exact/answers/exact-answers.json` holds Exact's own answers as integrators quoted them
(each entry names its source; PROVENANCE.md in that folder): the REST error envelope
`{"error": {"code", "message": {"lang", "value"}}}`, the mandatory-filtering and `$select` refusals,
and the token endpoint's too-early and old-refresh-token answers. The client must read each the way
it reads Exact, and the sandbox must answer the same request with the same status, shape and words.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError

from connector.http import Permanent
from connector.models import Connection
from integrations.exact import oauth as exact_oauth
from integrations.exact.client import ExactClient
from integrations.exact.sandbox import state

from .conftest import age_tokens

ANSWERS = Path(__file__).resolve().parents[2] / "specs" / "exact" / "answers" / "exact-answers.json"


def answer(name: str) -> dict:
    return next(a for a in json.loads(ANSWERS.read_text()) if a["name"] == name)


def as_response(recorded: dict) -> requests.Response:
    response = requests.Response()
    response.status_code = recorded["status"]
    response._content = recorded["body"].encode()
    response.headers.update(recorded["headers"])
    return response


def envelope_shape(body: dict) -> tuple:
    error = body["error"]
    return sorted(body), sorted(error), sorted(error["message"])


@pytest.fixture
def offline_client():
    return ExactClient(Connection(system="exact", settings={"country": "nl", "division": 1}))


@pytest.mark.parametrize("name", ["mandatory_filter", "mandatory_filter_older_release", "select_required"])
def test_the_client_reads_exacts_refusals_as_permanent_with_exacts_words(offline_client, name):
    recorded = answer(name)
    error = offline_client.classify(as_response(recorded))
    assert isinstance(error, Permanent) and error.status == 400
    assert error.message == json.loads(recorded["body"])["error"]["message"]["value"][:500]


pytestmark_live = pytest.mark.django_db(transaction=True)  # the sandbox runs in the live server


@pytestmark_live
@pytest.mark.parametrize(
    ("name", "path", "params"),
    [
        ("mandatory_filter", "crm/Accounts", {"$select": "ID,Code"}),
        ("select_required", "hrm/Costcenters", {}),
    ],
)
def test_the_sandbox_refuses_the_same_reads_with_the_same_answer(exact_connection, company, name, path, params):
    recorded = answer(name)
    real = json.loads(recorded["body"])
    ours = requests.get(
        f"{exact_connection.settings['base_url']}/api/v1/{company.code}/{path}",
        params=params,
        headers={"Authorization": f"Bearer {exact_connection.credentials['access_token']}"},
        timeout=5,
    )
    assert ours.status_code == recorded["status"]
    assert envelope_shape(ours.json()) == envelope_shape(real)
    assert ours.json()["error"]["message"]["value"] == real["error"]["message"]["value"]


def refresh_at_sandbox(refresh_token: str) -> requests.Response:
    return requests.post(
        f"{state.host('nl')}/api/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": exact_oauth.client_id(),
            "client_secret": exact_oauth.client_secret(),
        },
        timeout=5,
    )


@pytestmark_live
def test_token_endpoint_answers_match_exacts(exact_connection, company):
    too_early = answer("too_early_refresh")
    ours = refresh_at_sandbox(exact_connection.credentials["refresh_token"])  # a token issued just now
    assert ours.status_code == too_early["status"]
    assert ours.json() == json.loads(too_early["body"])
    assert ours.headers["Reason"] == too_early["headers"]["Reason"]
    age_tokens(exact_connection, 600)
    assert refresh_at_sandbox(exact_connection.credentials["refresh_token"]).status_code == 200
    spent = answer("old_refresh_token")
    again = refresh_at_sandbox(exact_connection.credentials["refresh_token"])  # rotated out by the refresh
    assert again.status_code == spent["status"] and again.json() == json.loads(spent["body"])


def test_the_refresh_code_reads_exacts_token_errors():
    """Too early: keep the current token. Old refresh token: only a new consent helps (EXACT.md §2.6)."""
    too_early = json.loads(answer("too_early_refresh")["body"])
    spent = json.loads(answer("old_refresh_token")["body"])
    provider = exact_oauth.provider
    assert provider.is_too_early(OAuthError(too_early["error"], too_early["error_description"]))
    assert not provider.is_too_early(OAuthError(spent["error"], spent["error_description"]))
    assert spent["error"] in provider.reauth_errors and too_early["error"] not in provider.reauth_errors
