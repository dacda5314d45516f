"""Every organisation gets its own sandbox accounts on demand: the "Try with sandbox accounts"
button on each Connect page, the sandbox pages with the organisation's keys, the demo command
(which uses the same provisioning and prints the credentials on every run), and the public URL
that follows PORT."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from connector.models import Connection
from tests.conftest import make_user

ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = ("shipstation", "woocommerce", "zoho", "exact", "qbdesktop")


@pytest.mark.parametrize("system", SYSTEMS)
def test_each_connect_page_offers_the_try_button(alice_client, system):
    page = alice_client.get(reverse(f"{system}_connect")).content.decode()
    assert "Try with sandbox accounts" in page and f'action="/sandbox/{system}/_try"' in page


def test_the_button_is_not_there_without_the_sandbox(monkeypatch):
    monkeypatch.setattr("connector.templatetags.sandboxes.sandbox_of", lambda key: None)
    rendered = Template('{% load sandboxes %}{% sandbox_try_button "shipstation" %}').render(Context({}))
    assert rendered.strip() == ""


def test_shipstation_try_makes_the_organisations_account_and_connects_it(alice, alice_client):
    from integrations.shipstation.sandbox.models import SandboxAccount

    empty = alice_client.get("/sandbox/shipstation/").content.decode()
    assert "manage.py" not in empty and "Try with sandbox accounts" in empty
    answer = alice_client.post("/sandbox/shipstation/_try")
    account = SandboxAccount.objects.get(organization=alice.org)
    connection = Connection.objects.get(organization=alice.org, system="shipstation")
    assert answer.status_code == 302 and answer["Location"] == reverse("shipstation_connection", args=[connection.pk])
    assert connection.credentials == {"api_key": account.api_key, "api_secret": account.api_secret}
    assert len(connection.settings["webhook_ids"]) == 2 and account.orders.count() == 3
    page = alice_client.get("/sandbox/shipstation/").content.decode()
    assert account.api_key in page and account.api_secret in page and "manage.py" not in page
    alice_client.post("/sandbox/shipstation/_try")  # again: nothing new
    assert SandboxAccount.objects.filter(organization=alice.org).count() == 1
    assert Connection.objects.filter(organization=alice.org, system="shipstation").count() == 1


def test_woocommerce_try_makes_a_store_with_keys_and_connects_it(alice, alice_client):
    from integrations.woocommerce.sandbox.models import SandboxStore

    answer = alice_client.post("/sandbox/woocommerce/_try")
    shop = SandboxStore.objects.get(organization=alice.org)
    connection = Connection.objects.get(organization=alice.org, system="woocommerce")
    assert answer["Location"] == reverse("woocommerce_connection", args=[connection.pk])
    key = shop.keys.get()
    assert connection.credentials["consumer_key"] == key.consumer_key
    receiver = reverse("woocommerce_webhook", args=[connection.webhook_token])
    assert shop.webhooks.count() == 3 and all(h.delivery_url.endswith(receiver) for h in shop.webhooks.all())
    page = alice_client.get("/sandbox/woocommerce/").content.decode()
    assert key.consumer_key in page and key.consumer_secret in page


def test_quickbooks_try_shows_the_web_connector_password_once(alice, alice_client):
    answer = alice_client.post("/sandbox/qbdesktop/_try", follow=True)
    connection = Connection.objects.get(organization=alice.org, system="qbdesktop")
    assert answer.redirect_chain[-1][0] == reverse("qbdesktop_detail", args=[connection.pk])
    assert "password" in answer.content.decode() and connection.qbwc_user.username in answer.content.decode()


@pytest.mark.parametrize(
    ("system", "consent_path"),
    [("zoho", "/sandbox/zoho/us/accounts/oauth/v2/auth"), ("exact", "/sandbox/exact/nl/api/oauth2/auth")],
)
def test_oauth_systems_try_through_their_consent_page(alice, alice_client, system, consent_path):
    answer = alice_client.post(f"/sandbox/{system}/_try")
    assert answer.status_code == 302
    consent = urlsplit(answer["Location"])
    assert consent.path == consent_path and dict(parse_qsl(consent.query))["state"]
    page = alice_client.get(f"{consent.path}?{consent.query}").content.decode()
    assert f"{system}-{alice.org.pk}@sandbox.example" in page or f"books-{alice.org.pk}@sandbox.example" in page


def test_zoho_try_connects_over_http_through_consent_and_callback(alice, alice_client, live_server, settings):
    """The whole button: the org's login is made, the consent page signs it in, the callback
    exchanges the code over HTTP with the sandbox, and the Books organisation is picked."""
    settings.PUBLIC_BASE_URL = live_server.url
    started = alice_client.post("/sandbox/zoho/_try")
    consent = urlsplit(started["Location"])
    carried = dict(parse_qsl(consent.query))
    accepted = alice_client.post(
        consent.path, {**carried, "decision": "accept", "email": f"books-{alice.org.pk}@sandbox.example"}
    )
    back = urlsplit(accepted["Location"])
    done = alice_client.get(f"{back.path}?{back.query}")
    assert done.status_code == 302 and done["Location"] == reverse("connections")
    connection = Connection.objects.get(organization=alice.org, system="zoho")
    assert connection.status == Connection.Status.ACTIVE and connection.settings["organization_id"]


def test_members_cannot_press_try(db):
    member, org = make_user("member@example.com", "Members Ltd", role=Role.MEMBER)
    client = Client()
    client.force_login(member)
    assert client.post("/sandbox/shipstation/_try").status_code == 403
    assert not Connection.objects.filter(organization=org).exists()


@pytest.mark.django_db
def test_demo_json_prints_the_sandbox_credentials_every_time():
    first, second = StringIO(), StringIO()
    call_command("demo", "--json", stdout=first)
    call_command("demo", "--json", stdout=second)
    one, two = json.loads(first.getvalue()), json.loads(second.getvalue())
    assert set(one["sandboxes"]) == set(two["sandboxes"]) == set(SYSTEMS)
    for key in ("ShipStation sandbox API key", "ShipStation sandbox API secret"):
        assert two["sandboxes"]["shipstation"][key] == one["sandboxes"]["shipstation"][key]
    assert two["sandboxes"]["woocommerce"]["consumer_secret"] == one["sandboxes"]["woocommerce"]["consumer_secret"]
    assert two["sandboxes"]["zoho"]["organization_id"] == one["sandboxes"]["zoho"]["organization_id"]
    assert two["sandboxes"]["exact"]["division"] == one["sandboxes"]["exact"]["division"]
    assert two["sandboxes"]["qbdesktop"]["qbwc_password"]  # stored hashed: a fresh one each run
    assert Connection.objects.count() == len(SYSTEMS)  # nothing connected twice


def _settings_value(env_extra: dict, expression: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PUBLIC_BASE_URL", "PORT", "DJANGO_SETTINGS_MODULE")}
    env.update(DJANGO_SETTINGS_MODULE="tests.settings", **env_extra)
    probe = f"import django; django.setup(); from django.conf import settings; print({expression})"
    done = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_public_base_url_follows_port():
    assert _settings_value({"PORT": "8501"}, "settings.PUBLIC_BASE_URL") == "http://127.0.0.1:8501"
    assert _settings_value({}, "settings.PUBLIC_BASE_URL") == "http://127.0.0.1:8000"
    pinned = {"PORT": "8501", "PUBLIC_BASE_URL": "https://connector.example.com/"}
    assert _settings_value(pinned, "settings.PUBLIC_BASE_URL") == "https://connector.example.com"


def test_the_demo_env_file_leaves_the_public_url_to_port():
    written = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_env.py")], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert not [line for line in written.splitlines() if line.startswith("PUBLIC_BASE_URL=")]
    makefile = (ROOT / "Makefile").read_text()
    assert "export PORT" in makefile and "--port $(PORT)" in makefile


@pytest.mark.parametrize("system", SYSTEMS)
def test_each_sandbox_page_shows_the_organisations_own_accounts(alice, alice_client, system):
    from connector.registry import sandbox_of

    facts = sandbox_of(system).provision(alice.org, alice)
    page = alice_client.get(f"/sandbox/{system}/")
    assert page.status_code == 200
    shown = {
        "shipstation": facts.get("ShipStation sandbox API secret"),
        "woocommerce": facts.get("consumer_secret"),
        "zoho": facts.get("organization_id"),
        "exact": str(facts.get("division")),
        "qbdesktop": facts.get("qbwc_user"),
    }[system]
    assert shown and shown in page.content.decode()
