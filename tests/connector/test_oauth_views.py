"""The generic OAuth pages (connector/web/oauth_views.py), driven through a made-up vendor.

A stub provider (its token endpoint is the scripted stub server) and a stub adapter (its vendor
accounts are a dict the test sets) are mounted on their own URLs, so what is checked here is the
core's behaviour for any system: which account a Connect settles on, when the merchant is asked,
roles, tenancy, CSRF and the confirmed Disconnect.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import path, reverse

from accounts.models import Membership, Role
from connector.http import Transient
from connector.models import Connection
from connector.oauth import SESSION_KEY, OAuthProvider, OAuthRefused
from connector.urls import urlpatterns as site_urlpatterns
from connector.web.oauth_views import (
    AccountList,
    CallbackView,
    ConnectionView,
    ConnectView,
    DisconnectView,
    OAuthAdapter,
    PickAccountView,
)
from tests.conftest import PASSWORD
from tests.connector.vendor_stub import StubServer

pytestmark = pytest.mark.django_db

PLACES = ("north", "south")
VENDOR: dict = {}


class StubOAuth(OAuthProvider):
    system = "stubvendor"
    display_name = "Stub Vendor"
    connect_url_name = "stub_connect"
    callback_url_name = "stub_callback"
    endpoint = ""

    def client_id(self) -> str:
        return "client-1"

    def client_secret(self) -> str:
        return "CLIENT-SECRET"

    def check_context(self, context: dict) -> None:
        if context.get("place") not in PLACES:
            raise OAuthRefused("Unknown place.", "Choose one of the listed places.")

    def authorize_endpoint(self, context: dict) -> str:
        return self.endpoint + "auth"

    def token_endpoint(self, context: dict) -> str:
        return self.endpoint + "token"


class StubPages(OAuthAdapter):
    provider = StubOAuth()
    connect_template = "stub/connect.html"
    pick_template = "stub/pick.html"
    connection_template = "stub/connection.html"
    connection_url_name = "stub_connection"
    pick_url_name = "stub_pick"
    location_field = "place"
    default_location = "south"
    account_field = "account"
    accounts_noun = "ledgers"
    no_accounts_message = "This login has no ledger."

    def connect_context(self) -> dict:
        return {"places": PLACES}

    def connection_context(self, connection: Connection) -> dict:
        return {"extra": "stub extra"}

    def list_accounts(self, connection: Connection) -> AccountList:
        VENDOR["calls"] += 1
        if VENDOR["down"]:
            raise Transient("Stub Vendor is down.")
        return AccountList([dict(a) for a in VENDOR["accounts"]], current=VENDOR["current"])

    def account_id(self, account: dict) -> str:
        return str(account["id"])

    def account_name(self, account: dict) -> str:
        return account["title"]

    def chosen_account_id(self, connection: Connection) -> str | None:
        return connection.settings.get("account")

    def choose_account(self, connection: Connection, account: dict) -> None:
        connection.settings = {**connection.settings, "account": account["id"], "account_title": account["title"]}
        connection.save(update_fields=["settings", "updated_at"])
        VENDOR["hooked"].append(account["id"])  # the vendor-side set-up a choice may need (a webhook)

    def notices(self, connection: Connection) -> list[tuple[int, str]]:
        return [(messages.INFO, f"Hooked {connection.settings['account']}.")]


class CurrentFirstPages(StubPages):
    choose_current_first = True


urlpatterns = [
    path("stub/connect/", ConnectView.adapter_view(StubPages), name="stub_connect"),
    path("stub/callback/", CallbackView.adapter_view(StubPages), name="stub_callback"),
    path("stub/callback-current-first/", CallbackView.adapter_view(CurrentFirstPages), name="stub_callback_cf"),
    path("stub/<int:pk>/", ConnectionView.adapter_view(StubPages), name="stub_connection"),
    path("stub/<int:pk>/account/", PickAccountView.adapter_view(StubPages), name="stub_pick"),
    path("stub/<int:pk>/disconnect/", DisconnectView.adapter_view(StubPages), name="stub_disconnect"),
    *site_urlpatterns,
]


def ledger(code: str) -> dict:
    return {"id": code, "title": f"Ledger {code}"}


@pytest.fixture(autouse=True)
def stub_vendor(settings):
    server = StubServer()
    settings.ROOT_URLCONF = __name__
    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [*engine["DIRS"], Path(__file__).parent / "oauth_pages"]}]
    StubOAuth.endpoint = server.url
    VENDOR.clear()
    VENDOR.update(accounts=[ledger("A")], current=None, down=False, calls=0, hooked=[])
    yield server
    server.close()


@pytest.fixture
def member(alice):
    user = get_user_model().objects.create_user(username="mallory", email="mallory@example.com", password=PASSWORD)
    Membership.objects.create(user=user, organization=alice.org, role=Role.MEMBER)
    return user


def said(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def connect(client, stub_vendor, *, callback: str = "stub_callback", **form):
    """Connect → (the vendor's consent, skipped) → callback with a code the token endpoint accepts."""
    started = client.post(reverse("stub_connect"), {"place": "north", **form})
    assert started.status_code == 302 and started["Location"].startswith(stub_vendor.url + "auth?")
    state = dict(parse_qsl(urlsplit(started["Location"]).query))["state"]
    stub_vendor.queue(200, {"access_token": "AT-1", "refresh_token": "RT-1", "expires_in": 3600})
    return client.get(reverse(callback), {"state": state, "code": "CODE-1"})


def stored() -> Connection:
    return Connection.objects.get(system="stubvendor")


def test_the_connect_page_presets_the_location_and_a_reconnect_its_own(alice, alice_client, stub_vendor):
    assert 'value="south" checked' in alice_client.get(reverse("stub_connect")).content.decode()
    connect(alice_client, stub_vendor)
    page = alice_client.get(reverse("stub_connect"), {"connection": stored().pk}).content.decode()
    assert "Reconnect Stub Vendor" in page and 'value="north" checked' in page


def test_an_unknown_location_is_refused_before_anything_is_remembered(alice_client, stub_vendor):
    refused = alice_client.post(reverse("stub_connect"), {"place": "west"})
    assert refused.status_code == 400 and b"Unknown place." in refused.content
    assert "stubvendor" not in alice_client.session.get(SESSION_KEY, {})
    assert stub_vendor.requests == []


def test_a_login_with_one_account_is_settled_at_once(alice_client, stub_vendor):
    done = connect(alice_client, stub_vendor)
    assert done.status_code == 302 and done["Location"] == reverse("connections")
    assert said(done) == ["Stub Vendor is connected to “Ledger A”.", "Hooked A."]
    assert stored().settings["account"] == "A" and VENDOR["hooked"] == ["A"]


def test_several_accounts_are_offered_with_the_current_one_preselected(alice_client, stub_vendor):
    VENDOR.update(accounts=[ledger("A"), ledger("B")], current="B")
    done = connect(alice_client, stub_vendor)
    connection = stored()
    assert done["Location"] == reverse("stub_pick", args=[connection.pk])
    assert "account" not in connection.settings and VENDOR["hooked"] == []  # nothing chosen for the merchant
    page = alice_client.get(done["Location"]).content.decode()
    assert 'value="B" checked' in page and 'value="A" >' in page
    picked = alice_client.post(done["Location"], {"account": "A"})
    assert picked["Location"] == reverse("connections") and "Hooked A." in said(picked)
    assert stored().settings["account"] == "A"
    # Later the page preselects the account in use, not the vendor's current one.
    assert 'value="A" checked' in alice_client.get(done["Location"]).content.decode()


def test_an_adapter_may_use_the_current_account_until_the_merchant_picks(alice_client, stub_vendor):
    VENDOR.update(accounts=[ledger("A"), ledger("B")], current="B")
    done = connect(alice_client, stub_vendor, callback="stub_callback_cf")
    assert done["Location"] == reverse("stub_pick", args=[stored().pk])
    assert stored().settings["account"] == "B" and VENDOR["hooked"] == ["B"]


def test_a_reconnect_keeps_the_account_chosen_before_while_the_login_still_sees_it(alice_client, stub_vendor):
    connect(alice_client, stub_vendor)
    pk = stored().pk
    VENDOR.update(accounts=[ledger("B"), ledger("A")], current="B")
    again = connect(alice_client, stub_vendor, connection=pk)
    assert again["Location"] == reverse("connections")
    assert Connection.objects.filter(system="stubvendor").count() == 1 and stored().settings["account"] == "A"
    VENDOR.update(accounts=[ledger("B"), ledger("C")])  # A is gone: the merchant is asked
    assert connect(alice_client, stub_vendor, connection=pk)["Location"] == reverse("stub_pick", args=[pk])


def test_accounts_that_cannot_be_listed_or_do_not_exist_lead_to_the_connection_page(alice_client, stub_vendor):
    VENDOR["down"] = True
    done = connect(alice_client, stub_vendor)
    connection = stored()
    assert done["Location"] == reverse("stub_connection", args=[connection.pk])
    assert said(done) == ["Stub Vendor is connected, but its ledgers could not be listed: Stub Vendor is down."]
    assert connection.status == Connection.Status.ACTIVE and connection.credentials["access_token"] == "AT-1"
    page = alice_client.get(reverse("stub_pick", args=[connection.pk]))
    assert page["Location"] == done["Location"]
    assert said(page)[-1] == "Stub Vendor ledgers could not be listed: Stub Vendor is down."
    VENDOR.update(down=False, accounts=[])
    empty = connect(alice_client, stub_vendor, connection=connection.pk)
    assert empty["Location"] == done["Location"] and said(empty)[-1] == "This login has no ledger."


def test_the_pick_page_takes_only_a_listed_account_and_only_get_or_post(alice_client, stub_vendor):
    VENDOR.update(accounts=[ledger("A"), ledger("B")])
    connect(alice_client, stub_vendor)
    url = reverse("stub_pick", args=[stored().pk])
    wrong = alice_client.post(url, {"account": "Z"})
    assert wrong.status_code == 200 and said(wrong) == ["Choose one of the listed ledgers."]
    assert "account" not in stored().settings
    calls = VENDOR["calls"]
    assert alice_client.put(url).status_code == 405 and alice_client.head(url).status_code == 405
    assert VENDOR["calls"] == calls  # the vendor is not asked for a request that is refused anyway


def test_members_see_the_connection_page_but_change_nothing(alice_client, client, member, stub_vendor):
    connect(alice_client, stub_vendor)
    connection = stored()
    client.force_login(member)
    assert client.get(reverse("stub_connection", args=[connection.pk])).status_code == 200
    for response in (
        client.get(reverse("stub_connect")),
        client.post(reverse("stub_connect"), {"place": "north"}),
        client.get(reverse("stub_callback"), {"state": "s", "code": "c"}),
        client.get(reverse("stub_pick", args=[connection.pk])),
        client.post(reverse("stub_pick", args=[connection.pk]), {"account": "A"}),
        client.post(reverse("stub_disconnect", args=[connection.pk])),
    ):
        assert response.status_code == 403 and b"Only owners and admins" in response.content
    assert stored().status == Connection.Status.ACTIVE and VENDOR["calls"] == 1


def test_another_organisations_connection_is_a_404_everywhere(alice_client, bob, client, stub_vendor):
    connect(alice_client, stub_vendor)
    pk = stored().pk
    client.force_login(bob)
    assert client.get(reverse("stub_connect"), {"connection": pk}).status_code == 404
    assert client.post(reverse("stub_connect"), {"place": "north", "connection": pk}).status_code == 404
    assert client.get(reverse("stub_connection", args=[pk])).status_code == 404
    assert client.get(reverse("stub_pick", args=[pk])).status_code == 404
    assert client.post(reverse("stub_pick", args=[pk]), {"account": "A"}).status_code == 404
    assert client.post(reverse("stub_disconnect", args=[pk])).status_code == 404
    assert stored().status == Connection.Status.ACTIVE and VENDOR["calls"] == 1


def test_disconnect_is_confirmed_on_the_page_then_posted_with_the_csrf_token(alice, alice_client, stub_vendor):
    connect(alice_client, stub_vendor)
    connection = stored()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    page = browser.get(reverse("stub_connection", args=[connection.pk])).content.decode()
    url = reverse("stub_disconnect", args=[connection.pk])
    assert '<details class="danger-zone"' in page and f'action="{url}"' in page and "Yes, disconnect" in page
    assert "stub extra" in page and "Ledger A" in page
    assert browser.get(url).status_code == 405
    assert browser.post(url).status_code == 403  # no CSRF token
    assert stored().status == Connection.Status.ACTIVE
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    done = browser.post(url, {"csrfmiddlewaretoken": token})
    assert done["Location"] == reverse("connections") and said(done) == ["Stub Vendor is disconnected."]
    connection.refresh_from_db()
    assert connection.status == Connection.Status.DISABLED and connection.credentials == {}
