"""How ZohoBooksClient names Zoho's failures: HTTP status and Zoho's own code and words, in order."""

from __future__ import annotations

import json

import pytest
import requests

from connector.http import AuthExpired, Permanent, RateLimited, Transient
from connector.models import Connection
from integrations.zoho.client import Duplicate, NotFound, ZohoBooksClient


def answer(status: int, body: dict | None, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode() if body is not None else b"<html>oops</html>"
    response.headers.update(headers)
    return response


@pytest.fixture
def books():
    from integrations.zoho.oauth import REGIONS, region

    api_domain = region(next(iter(REGIONS))).api_domain  # the sandbox's in tests: nothing is called
    connection = Connection(system="zoho", settings={"api_domain": api_domain, "organization_id": "7"})
    client = ZohoBooksClient(connection)
    yield client
    client.close()


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "remediation"),
    [
        (200, {"code": 0, "message": "success"}, {}, None, None),
        (200, {"contacts": []}, {}, None, None),
        (401, {"code": 14, "message": "Invalid token"}, {}, AuthExpired, "Reconnect Zoho Books"),
        (400, {"code": 57, "message": "Not authorized"}, {}, AuthExpired, "Reconnect Zoho Books"),
        (429, {"code": 44, "message": "Slow down"}, {}, RateLimited, None),
        (503, None, {}, Transient, None),
        (400, {"code": 6041, "message": "No organisation"}, {}, Permanent, "not available to this login"),
        (400, {"code": 1001, "message": "Invoice INV-1 already exists"}, {}, Duplicate, None),
        (404, {"code": 5, "message": "Invalid URL"}, {}, NotFound, None),
        (400, {"code": 1002, "message": "Contact does not exist."}, {}, NotFound, None),
        (400, {"code": 4, "message": "Invalid value"}, {}, Permanent, "Correct the data"),
        (200, {"code": 9, "message": "Odd"}, {}, Permanent, "Correct the data"),  # a failure behind a 200
    ],
)
def test_zoho_answers_become_typed_errors(books, status, body, headers, kind, remediation):
    error = books.classify(answer(status, body, **headers))
    if kind is None:
        assert error is None
        return
    assert type(error) is kind and error.status == status
    assert (body or {}).get("code") == error.vendor_code
    if remediation:
        assert remediation in error.remediation


def test_a_429_names_no_wait_so_the_client_paces_or_waits_until_the_daily_reset(books):
    # Zoho sends no Retry-After: 0.0 leaves the wait to the shared client's pacing (connector.http),
    # which probes after a token interval instead of stopping for a minute.
    minute = books.classify(answer(429, {"code": 44, "message": "Slow down"}))
    assert minute.retry_after == 0.0 and "rate limit" in str(minute)
    daily = books.classify(
        answer(429, {"message": "Limit"}, **{"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "900"})
    )
    assert daily.retry_after == 900.0 and "daily limit" in str(daily)


def test_the_first_matching_check_wins(books):
    # A 401 that also says "already exists" is about credentials; a 5xx "does not exist" is the server's.
    assert type(books.classify(answer(401, {"message": "Contact already exists"}))) is AuthExpired
    assert type(books.classify(answer(500, {"message": "Item does not exist"}))) is Transient
    assert type(books.classify(answer(404, {"message": "Contact already exists"}))) is Duplicate
