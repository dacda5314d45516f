"""Connecting Zoho Books: region choice, consent, callback, organisation choice, routing, refusals."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import time_machine
from django.urls import reverse

from connector.models import Alert, Connection
from integrations.zoho import oauth as zoho_oauth
from integrations.zoho.client import ZohoBooksClient
from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.models import SandboxZohoGrant, SandboxZohoToken
from tests.integrations.zoho.conftest import books
from tests.integrations.zoho.consent import connect_through_consent

pytestmark = pytest.mark.django_db(transaction=True)

REGIONS = ("us", "eu", "in", "au", "jp", "ca", "cn", "sa", "uk")


def alices_books(region, email, name="", **kwargs):
    """A sandbox Zoho login of alice's organisation: the consent page offers only the signed-in
    organisation's sandbox logins."""
    from accounts.models import Organization

    return state.create_org(region, email, name, organization=Organization.objects.get(name="Alice Ltd"), **kwargs)


def _local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def start_consent(client, region="us", **extra) -> tuple[str, dict]:
    started = client.post(reverse("zoho_connect"), {"region": region, **extra})
    assert started.status_code == 302
    return started["Location"], dict(parse_qsl(urlsplit(started["Location"]).query))


def accept(client, consent_url: str, consent: dict, email: str) -> str:
    answered = client.post(_local(consent_url), {**consent, "decision": "accept", "email": email})
    assert answered.status_code == 302
    return answered["Location"]


def test_connect_page_offers_every_data_centre(alice_client):
    page = alice_client.get(reverse("zoho_connect")).content.decode()
    for code in REGIONS:
        assert f'value="{code}"' in page
    assert alice_client.get(reverse("connections")).content.decode().count(reverse("zoho_connect")) == 1


def test_authorize_url_asks_for_offline_access_with_consent(alice_client, zoho_base):
    url, query = start_consent(alice_client, "eu")
    assert url.startswith(f"{zoho_base}/sandbox/zoho/eu/accounts/oauth/v2/auth?")
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert query["response_type"] == "code" and query["client_id"] == zoho_oauth.SANDBOX_CLIENT_ID
    assert "ZohoBooks.invoices.CREATE" in query["scope"].split(",")
    assert query["redirect_uri"] == zoho_base + reverse("zoho_callback")
    assert len(query["state"]) >= 40


def test_consent_page_has_accept_and_deny(alice_client, zoho_base):
    url, _ = start_consent(alice_client)
    assert requests.get(url, allow_redirects=False, timeout=5).status_code == 302  # to the login page
    page = alice_client.get(_local(url)).content.decode()
    assert 'value="accept"' in page and 'value="deny"' in page


@pytest.mark.parametrize("region", REGIONS)
def test_each_region_routes_to_its_own_accounts_server_and_books_domain(alice, alice_client, zoho_base, region):
    email = f"owner@{region}.example"
    alices_books(region, email, f"Books {region}")
    connection = connect_through_consent(alice_client, region, email)
    assert connection is not None and connection.organization_id == alice.org.pk
    assert connection.settings["region"] == region
    assert connection.settings["accounts_server"] == f"{zoho_base}/sandbox/zoho/{region}/accounts"
    assert connection.settings["api_domain"] == f"{zoho_base}/sandbox/zoho/{region}"
    client = ZohoBooksClient(connection)
    assert client.base_url == f"{zoho_base}/sandbox/zoho/{region}/books/v3/"
    assert client.organizations()[0]["name"] == f"Books {region}"
    # The same token is refused by another data centre, as Zoho's DCs do not share tokens.
    other = "eu" if region != "eu" else "us"
    answer = requests.get(
        f"{zoho_base}/sandbox/zoho/{other}/books/v3/organizations",
        headers={"Authorization": f"Zoho-oauthtoken {connection.credentials['access_token']}"},
        timeout=5,
    )
    assert answer.status_code == 401 and answer.json()["code"] == 57


def test_callback_with_a_forged_accounts_server_sends_nothing_there(alice_client, zoho_base):
    url, consent = start_consent(alice_client)
    callback = accept(alice_client, url, consent, "owner@books.example")
    forged = callback.replace("accounts-server=", "accounts-server=https%3A%2F%2Fevil.example%2F&x=")
    page = alice_client.get(_local(forged))
    assert page.status_code == 400 and b"not a known Zoho data centre" in page.content
    assert not Connection.objects.filter(system="zoho").exists()
    assert SandboxZohoGrant.objects.get().used_at is None  # the code never left for the forged host


def test_a_code_exchanged_twice_fails_cleanly_the_second_time(alice, alice_client, zoho_base):
    alices_books("us", "owner@books.example")
    url, consent = start_consent(alice_client)
    callback = accept(alice_client, url, consent, "owner@books.example")
    first = alice_client.get(_local(callback))
    assert first.status_code == 302
    assert Connection.objects.filter(system="zoho", organization=alice.org).count() == 1
    # Replaying the same callback: the state is spent, nothing is exchanged, the user is told to connect again.
    again = alice_client.get(_local(callback))
    assert again.status_code == 400 and b"Connect again" in again.content
    # A fresh Connect (new state) carrying the spent code: Zoho says invalid_code, never retried.
    _, fresh = start_consent(alice_client)
    code = dict(parse_qsl(urlsplit(callback).query))["code"]
    replay = alice_client.get(reverse("zoho_callback"), {"state": fresh["state"], "code": code})
    assert replay.status_code == 400
    assert b"invalid_code" in replay.content and b"Connect again" in replay.content
    assert Connection.objects.filter(system="zoho").count() == 1
    assert SandboxZohoToken.objects.filter(grant_type="authorization_code", kind="access").count() == 1


def test_token_endpoint_codes_are_single_use_and_expire_after_two_minutes(alice_client, zoho_base):
    alices_books("us", "owner@books.example")
    token_url = f"{zoho_base}/sandbox/zoho/us/accounts/oauth/v2/token"
    codes = []
    for _ in range(2):
        url, consent = start_consent(alice_client)
        codes.append(dict(parse_qsl(urlsplit(accept(alice_client, url, consent, "owner@books.example")).query))["code"])
    form = {
        "grant_type": "authorization_code",
        "client_id": zoho_oauth.SANDBOX_CLIENT_ID,
        "client_secret": zoho_oauth.SANDBOX_CLIENT_SECRET,
        "redirect_uri": zoho_base + reverse("zoho_callback"),
    }
    first = requests.post(token_url, params={**form, "code": codes[0]}, timeout=5).json()  # query params, as documented
    assert first["expires_in"] == 3600 and first["refresh_token"] and first["api_domain"].endswith("/sandbox/zoho/us")
    assert requests.post(token_url, data={**form, "code": codes[0]}, timeout=5).json() == {"error": "invalid_code"}
    with time_machine.travel(SandboxZohoGrant.objects.get(code=codes[1]).created_at + state.CODE_LIFETIME * 1.5):
        assert requests.post(token_url, data={**form, "code": codes[1]}, timeout=5).json() == {"error": "invalid_code"}


def test_an_expired_code_shows_connect_again(alice_client, zoho_base):
    alices_books("us", "owner@books.example")
    url, consent = start_consent(alice_client)
    callback = accept(alice_client, url, consent, "owner@books.example")
    SandboxZohoGrant.objects.update(created_at=SandboxZohoGrant.objects.get().created_at - state.CODE_LIFETIME * 2)
    page = alice_client.get(_local(callback))
    assert page.status_code == 400 and b"Connect again" in page.content
    assert not Connection.objects.filter(system="zoho").exists()


def test_deny_on_the_consent_page(alice_client, zoho_base):
    url, consent = start_consent(alice_client)
    denied = alice_client.post(_local(url), {**consent, "decision": "deny"})
    page = alice_client.get(_local(denied["Location"]))
    assert page.status_code == 400 and b"access_denied" in page.content
    assert not Connection.objects.filter(system="zoho").exists()


def test_state_is_bound_to_the_organisation_and_user(alice_client, bob, client, zoho_base):
    alices_books("us", "owner@books.example")
    url, consent = start_consent(alice_client)
    callback = accept(alice_client, url, consent, "owner@books.example")
    client.force_login(bob)  # bob's own session has no pending Connect with this state
    page = client.get(_local(callback))
    assert page.status_code == 400
    assert not Connection.objects.filter(system="zoho").exists()


def test_several_organisations_are_offered_for_choice(alice_client, zoho_base):
    first = alices_books("us", "owner@books.example", "Main Books")
    second = alices_books("us", "owner@books.example", "Second Books")
    url, consent = start_consent(alice_client)
    done = alice_client.get(_local(accept(alice_client, url, consent, "owner@books.example")))
    connection = Connection.objects.get(system="zoho")
    assert done["Location"] == reverse("zoho_pick_organization", args=[connection.pk])
    page = alice_client.get(done["Location"]).content.decode()
    assert "Main Books" in page and "Second Books" in page
    alice_client.post(done["Location"], {"organization_id": second.organization_id})
    connection.refresh_from_db()
    assert connection.settings["organization_id"] == second.organization_id != first.organization_id
    assert "Second Books" in connection.label


def test_reconnect_updates_the_same_connection_and_resolves_the_alert(alice, alice_client, zoho_base):
    alices_books("us", "owner@books.example")
    connection = connect_through_consent(alice_client, "us", "owner@books.example")
    zoho_oauth.provider.mark_needs_reauth(connection, "Zoho Books no longer accepts this connection.")
    alert = Alert.objects.get(key=f"reauth:{connection.pk}")
    assert f"connection={connection.pk}" in alert.remediation  # the Reconnect link
    url, consent = start_consent(alice_client, connection=connection.pk)
    alice_client.get(_local(accept(alice_client, url, consent, "owner@books.example")))
    assert Connection.objects.filter(system="zoho").count() == 1
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_disconnect_revokes_the_refresh_token(alice_client, zoho_base, sandbox_org):
    connection = connect_through_consent(alice_client, "us", sandbox_org.user.email)
    refresh = connection.credentials["refresh_token"]
    access = connection.credentials["access_token"]
    answer = alice_client.post(reverse("zoho_disconnect", args=[connection.pk]))
    assert answer.status_code == 302
    assert SandboxZohoToken.objects.get(token=refresh).revoked_at is not None
    connection.refresh_from_db()
    assert connection.status == Connection.Status.DISABLED and connection.credentials == {}
    assert books(zoho_base, sandbox_org, access, "GET", "contacts").status_code == 401


def test_other_tenants_cannot_see_or_disconnect(alice_client, bob, client, zoho_base, sandbox_org):
    connection = connect_through_consent(alice_client, "us", sandbox_org.user.email)
    client.force_login(bob)
    assert client.get(reverse("zoho_connection", args=[connection.pk])).status_code == 404
    assert client.post(reverse("zoho_disconnect", args=[connection.pk])).status_code == 404
    assert client.get(reverse("zoho_connect"), {"connection": connection.pk}).status_code == 404


def test_a_sandbox_connection_links_its_sales_orders_page(alice_client, zoho_base, sandbox_org):
    connection = connect_through_consent(alice_client, "us", sandbox_org.user.email)
    page = alice_client.get(reverse("zoho_connection", args=[connection.pk])).content.decode()
    assert reverse("zoho_sandbox_salesorders", args=[sandbox_org.organization_id]) in page
