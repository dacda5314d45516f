"""Tenant isolation: alice never sees or changes bob's rows through any page or API endpoint."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import ApiToken, Invitation
from connector.models import Alert, Delivery, Event
from tests.conftest import make_flow, make_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def bobs_world(bob):
    flow = make_flow(bob.org, name="Bob's flow")
    record = make_record(flow, "BOB-1001", search_text="secret-customer@bob.example")
    Alert.objects.create(organization=bob.org, key="reauth:x", message="Bob must reconnect")
    invitation = Invitation.objects.create(organization=bob.org, email="friend@bob.example", invited_by=bob)
    delivery = Delivery.objects.create(
        organization=bob.org, connection=flow.source, dedupe_key="bob", body=b"{}", status=Delivery.Status.FAILED
    )
    return {
        "flow": flow,
        "record": record,
        "invitation": invitation,
        "event": Event.objects.get(record=record),
        "delivery": delivery,
    }


def _int_routes():
    """Every URL pattern that takes an integer id, so new pages are crawled automatically."""

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and ("<int:" in str(p.pattern) or "(?P<pk>" in str(p.pattern)):
                yield prefix + str(p.pattern), p.name

    return list(walk(get_resolver().url_patterns))


def test_the_crawl_covers_pages_and_api(bobs_world):
    routes = [r for r, _ in _int_routes()]
    assert any(r.startswith("audit/") for r in routes)
    assert any(r.startswith("api/v1/^records") for r in routes)


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_id_route_answers_404_for_another_tenants_rows(client, alice, bobs_world, method):
    client.force_login(alice)
    ids = {o.pk for o in bobs_world.values()} | {bobs_world["flow"].source_id, bobs_world["flow"].target_id}
    checked = 0
    for route, _name in _int_routes():
        if route.startswith("admin/"):
            continue  # staff only; alice is not staff
        for pk in ids:
            if "(?P<format>" in route:
                continue  # the same view with a format suffix
            url = "/" + route.replace("<int:pk>", str(pk)).replace("(?P<pk>[^/.]+)", str(pk))
            url = url.replace("^", "").replace("$", "")
            if "<" in url:
                continue
            response = getattr(client, method)(url)
            assert response.status_code in (404, 405), f"{method.upper()} {url} answered {response.status_code}"
            assert b"BOB-1001" not in response.content
            checked += 1
    assert checked > 5


def test_lists_and_search_never_show_another_tenants_rows(client, alice, bobs_world):
    client.force_login(alice)
    record_link = f'href="/audit/{bobs_world["record"].pk}/"'.encode()
    for url in [reverse("dashboard"), reverse("audit_log"), reverse("team")]:
        body = client.get(url).content
        assert b"BOB-1001" not in body and b"Bob must reconnect" not in body and b"friend@bob.example" not in body
    assert record_link not in client.get(reverse("audit_log") + "?q=BOB-1001").content
    audit = client.get(reverse("audit_log") + f"?flow={bobs_world['flow'].pk}").content
    assert b"BOB-1001" not in audit


def test_api_lists_and_details_are_scoped_with_token_auth(client, alice, bobs_world):
    _token, key = ApiToken.issue(alice, alice.org, "tenant isolation")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    for name in ["connection", "flow", "record", "event"]:
        listing = client.get(reverse(f"{name}-list"), **auth)
        assert listing.status_code == 200
        assert listing.json()["results"] == []
    assert client.get(reverse("record-detail", args=[bobs_world["record"].pk]), **auth).status_code == 404
    assert client.get(reverse("flow-detail", args=[bobs_world["flow"].pk]), **auth).status_code == 404


def test_api_requires_authentication(client, bobs_world):
    assert client.get(reverse("record-list")).status_code in (401, 403)


def test_withdrawing_another_tenants_invitation_is_404(client, alice, bobs_world):
    client.force_login(alice)
    response = client.post(reverse("revoke_invitation", args=[bobs_world["invitation"].pk]))
    assert response.status_code == 404
    assert Invitation.objects.filter(pk=bobs_world["invitation"].pk).exists()


def test_unknown_urls_are_404(client, alice):
    client.force_login(alice)
    assert client.get("/no/such/page/").status_code == 404
    assert client.get("/audit/999999/").status_code == 404
