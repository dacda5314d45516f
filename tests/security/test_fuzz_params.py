"""Malformed query parameters on every page and API endpoint: a 4xx with a message, never a 500.

The routes come from the URL resolver, not from a hand-kept list, so a new page is fuzzed the day it
is added. The parameters of each route are the ones its view's code reads (`GET.get("x")`,
`query_params.get("x")`, `params.get("x")`, `*_param(params, "x")`), in the view's module and the
project modules it uses, plus the usual paging names.
"""

from __future__ import annotations

import inspect
import re
import sys

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver

from connector.models import Delivery
from tests.conftest import make_flow, make_record

PROJECT = ("connector", "accounts", "integrations")
SKIPPED_PREFIXES = (
    "sandbox/",  # test doubles, not the product
    "accounts/",  # allauth's own views
    "hooks/",  # webhooks: POST bodies, covered by the webhook tests
    "api/schema/",
)
# Paging and OAuth-callback names, read by shared base classes the module scan may not see.
COMMON = {"page", "cursor", "after", "before", "code", "state", "error"}
MALFORMED = [
    "2024-02-30",  # well formed, not a day
    "9" * 26,  # past bigint
    "²",  # str.isdigit() says yes, int() says no
    "é🙂\x00",  # PostgreSQL refuses NUL in text
    "x" * 3000,
]
_READ = re.compile(
    r"""(?:GET|query_params|params)\s*(?:\.get(?:list)?\(|\[)\s*["'](\w+)["']"""
    r"""|_param\(\s*[\w.]+\s*,\s*["'](\w+)["']"""
)


def _walk(patterns, prefix=""):
    for entry in patterns:
        route = prefix + _route_text(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def _route_text(pattern) -> str:
    text = str(pattern)
    return text.removeprefix("^").removesuffix("$") if hasattr(pattern, "regex") and text.startswith("^") else text


def _view_of(callback):
    return getattr(callback, "cls", None) or getattr(callback, "view_class", None) or inspect.unwrap(callback)


def _sources_read_by(view) -> list[str]:
    """The view's module, and the project functions it imports (filter helpers such as filter_records)."""
    module = sys.modules[view.__module__]
    sources = [inspect.getsource(module)]
    for value in vars(module).values():
        if inspect.isfunction(value) and value.__module__.startswith(PROJECT) and value.__module__ != module.__name__:
            sources.append(inspect.getsource(value))
    return sources


def _params_of(view) -> set[str]:
    names = set(COMMON)
    for source in _sources_read_by(view):
        names |= {a or b for a, b in _READ.findall(source)}
    return names - {"csrfmiddlewaretoken"}


def _concrete(route: str) -> str | None:
    """A route without variables as a path; None for routes that need ids (or regex groups)."""
    if "<" in route or "(" in route or "\\" in route or "[" in route:
        return None
    return "/" + route


def pages() -> list[tuple[str, object]]:
    found = []
    admin = getattr(settings, "ADMIN_URL", "admin/")
    for route, entry in _walk(get_resolver().url_patterns):
        path = _concrete(route)
        if path is None or route.startswith((*SKIPPED_PREFIXES, admin)):
            continue
        found.append((path, _view_of(entry.callback)))
    return sorted({p: v for p, v in found}.items())


PAGES = pages()


@pytest.fixture
def world(alice):
    flow = make_flow(alice.org)
    for n in range(3):
        make_record(flow, f"100{n}", status="failed" if n else "synced")
    Delivery.objects.create(
        organization=alice.org, connection=flow.source, body=b"{}", headers={}, dedupe_key="d1", status="failed"
    )
    return flow


def test_the_resolver_yields_the_list_pages_and_the_api():
    paths = {path for path, _view in PAGES}
    assert {"/audit/", "/deliveries/", "/flows/", "/api/v1/records/", "/api/v1/events/"} <= paths
    params = dict(PAGES)
    assert {"since", "until", "flow", "q"} <= _params_of(params["/audit/"])
    assert {"record"} <= _params_of(params["/api/v1/events/"])


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "view"), PAGES, ids=[p for p, _v in PAGES])
def test_malformed_query_values_never_give_a_500(alice_client, world, path, view):
    alice_client.raise_request_exception = False
    baseline = alice_client.get(path)
    assert baseline.status_code < 500, f"{path} fails without parameters"
    if baseline.status_code == 405:
        return  # POST-only: reads no query parameters
    failures = []
    for name in sorted(_params_of(view)):
        for value in MALFORMED:
            response = alice_client.get(path, {name: value})
            if response.status_code >= 500:
                failures.append(f"?{name}={value[:20]!r} → {response.status_code}")
        for query in ({name: ["1", "\x00"]}, {f"{name}[]": "-1"}):
            response = alice_client.get(path, query)
            if response.status_code >= 500:
                failures.append(f"{query!r:.60} → {response.status_code}")
    assert not failures, f"{path}: " + "; ".join(failures[:10])


@pytest.mark.django_db
def test_an_impossible_date_on_the_audit_page_is_a_400_that_names_it(alice_client, world):
    response = alice_client.get("/audit/", {"since": "2024-02-30"})
    assert response.status_code == 400
    assert b"since" in response.content and b"YYYY-MM-DD" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["2024-02-30", "yesterday", "\x00"])
def test_an_impossible_date_in_the_api_is_a_400_with_the_field(alice_client, world, value):
    response = alice_client.get("/api/v1/records/", {"since": value})
    assert response.status_code == 400
    assert "since" in response.json()


@pytest.mark.django_db
def test_an_id_past_bigint_is_a_400_not_a_database_error(alice_client, world):
    response = alice_client.get("/api/v1/events/", {"record": "9" * 30})
    assert response.status_code == 400 and "record" in response.json()
    assert alice_client.get("/audit/", {"flow": "9" * 30}).status_code == 400


@pytest.mark.django_db
def test_a_forged_audit_cursor_is_a_400(alice_client, world):
    assert alice_client.get("/audit/", {"after": "not-a-cursor"}).status_code == 400


@pytest.mark.django_db
def test_valid_filters_still_filter(alice_client, world):
    response = alice_client.get("/api/v1/records/", {"status": "failed", "since": "2000-01-01"})
    assert response.status_code == 200
    assert {r["status"] for r in response.json()["results"]} == {"failed"}


@pytest.mark.django_db
def test_an_empty_post_to_qbwc_is_a_soap_fault(client):
    response = client.post("/qbwc/", b"", content_type="text/xml")
    assert response.status_code == 400 and b"Fault" in response.content and b"empty" in response.content
