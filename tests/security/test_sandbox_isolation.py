"""Sandboxes apart from the product, and one tenant's sandbox apart from another's.

- With SANDBOX_ENABLED off nothing under /sandbox/ exists and no sandbox module is even imported
  (a subprocess with the production settings); no product module imports a sandbox module.
- With it on, sandbox pages and `_control` endpoints need a login and act only on the sandbox
  accounts of the signed-in organisation: bob can neither see nor change alice's sandbox store,
  orders, consent choices or faults (404, as for something that does not exist).
- Callback and base URLs a sandbox calls are accepted only under PUBLIC_BASE_URL or on loopback,
  checked on the URL alone: these tests never connect anywhere.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from connector.registry import sandbox_of
from connector.sandbox.access import is_allowed_callback

ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = ("shipstation", "woocommerce", "zoho", "exact", "qbdesktop")
OUTSIDE = "https://attacker.example/hook"  # never contacted: refused before any request is made


# --- Sandboxes off: nothing there --------------------------------------------------------------

OFF_PROBE = """
import sys, django
django.setup()
from django.test import Client
from django.urls import Resolver404, resolve
import connector.urls  # every product URL module
client = Client()
paths = [f"/sandbox/{s}/{p}" for s in %r for p in ("", "_control/faults", "_try", "_control/accounts")]
statuses = {p: client.get(p).status_code for p in paths}
loaded = sorted(m for m in sys.modules if m.startswith(("integrations.", "connector.")) and "sandbox" in m.split("."))
from django.apps import apps
labels = sorted(a.label for a in apps.get_app_configs() if a.label.endswith("_sandbox"))
print(__import__("json").dumps({"statuses": statuses, "loaded": loaded, "labels": labels}))
"""


def test_with_sandboxes_off_nothing_under_sandbox_exists(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PUBLIC_BASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="connector.settings",
        ENV_FILE="",
        SECRET_KEY="sandbox-off-test-" + "x" * 40,
        FIELD_ENCRYPTION_KEYS="Nq0cI5mSsbXtD7vE0VfG4A6Jx0S5ZbzV3Qm8Hh2ZbLs=",
        DEBUG="false",
        SANDBOX_ENABLED="false",
        ALLOWED_HOSTS="testserver",
        DATABASE_URL=f"sqlite:///{tmp_path / 'off.sqlite3'}",
    )
    done = subprocess.run(
        [sys.executable, "-c", OFF_PROBE % (SYSTEMS,)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(facts["statuses"].values()) == {404}, facts["statuses"]
    assert facts["loaded"] == [] and facts["labels"] == []


def _imports(path: Path) -> set[str]:
    names = set()
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):  # imports inside functions count too
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base]) if base else ".".join(parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_no_product_module_imports_a_sandbox_module():
    offenders = []
    for top in ("accounts", "connector", "integrations"):
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).parts
            if "sandbox" in parts or "migrations" in parts:
                continue  # the sandbox apps (and their kit) themselves
            bad = [
                name
                for name in _imports(path)
                if "sandbox" in name.split(".") and name.split(".")[0] in ("integrations", "connector")
            ]
            if bad:
                offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert offenders == []


# --- Callback URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8123/hooks/x/",
        "http://localhost/hooks/x/",
        "http://[::1]:9000/cb",
        "http://127.0.0.1:8000/integrations/zoho/callback/",
    ],
)
def test_loopback_and_our_own_base_are_allowed(url, settings):
    settings.PUBLIC_BASE_URL = "https://connector.example.com"
    assert is_allowed_callback(url)
    assert is_allowed_callback("https://connector.example.com/hooks/shipstation/abc/")


@pytest.mark.parametrize(
    "url",
    [
        OUTSIDE,
        "http://connector.example.com/hooks/",  # our host, but not our scheme
        "https://connector.example.com:8443/hooks/",  # nor our port
        "https://connector.example.com.attacker.example/hooks/",
        "https://user@connector.example.com/hooks/",
        "http://127.0.0.1\\@attacker.example/",
        "https://attacker.example\\@127.0.0.1/",
        "http://127.0.0.1/\r\nX: y",
        "ftp://127.0.0.1/",
        "//127.0.0.1/",
        "",
    ],
)
def test_everything_else_is_refused_without_connecting(url, settings):
    settings.PUBLIC_BASE_URL = "https://connector.example.com"
    assert not is_allowed_callback(url)


# --- Two tenants -----------------------------------------------------------------------------


@pytest.fixture
def bob_client(bob):
    client = Client()
    client.force_login(bob)
    return client


def test_anonymous_callers_get_nothing(alice, client):
    sandbox_of("shipstation").provision(alice.org, alice)
    for path in (
        "/sandbox/shipstation/_control/faults",
        "/sandbox/shipstation/_control/accounts",
        "/sandbox/woocommerce/_control/faults",
        "/sandbox/zoho/_control/faults",
        "/sandbox/exact/_control/faults",
    ):
        assert client.post(path, "{}", content_type="application/json").status_code == 401, path
    assert client.get("/sandbox/shipstation/").status_code == 302  # to the login page
    assert client.get("/sandbox/zoho/").status_code == 302


def test_bob_cannot_see_or_change_alices_shipstation_sandbox(alice, bob_client, alice_client):
    from integrations.shipstation.sandbox.models import SandboxAccount

    facts = sandbox_of("shipstation").provision(alice.org, alice)
    account = SandboxAccount.objects.get(api_key=facts["ShipStation sandbox API key"])
    order = account.orders.first()
    page = bob_client.get(f"/sandbox/shipstation/?account={account.pk}").content.decode()
    assert account.api_key not in page and account.api_secret not in page and order.order_number not in page
    bob_client.post("/sandbox/shipstation/", {"account": account.pk, "action": "ship", "order_id": order.pk})
    assert not order.shipments.exists()
    faults = bob_client.post(
        f"/sandbox/shipstation/_control/faults?account={account.pk}",
        {"fault_5xx_rate": 1},
        content_type="application/json",
    )
    assert faults.status_code == 404
    assert bob_client.post(f"/sandbox/shipstation/_control/deliver?account={account.pk}").status_code == 404
    account.refresh_from_db()
    assert account.fault_5xx_rate == 0
    # alice herself may, through her login.
    mine = alice_client.post(
        f"/sandbox/shipstation/_control/faults?account={account.pk}", {"seed": 5}, content_type="application/json"
    )
    assert mine.status_code == 200 and mine.json()["seed"] == 5
    assert account.api_secret in alice_client.get("/sandbox/shipstation/").content.decode()


def test_bob_cannot_see_or_change_alices_woocommerce_store(alice, bob_client):
    from integrations.woocommerce.sandbox.models import SandboxOrder, SandboxStore

    sandbox_of("woocommerce").provision(alice.org, alice)
    shop = SandboxStore.objects.get(organization=alice.org)
    order = shop.orders.first()
    root = f"/sandbox/woocommerce/{shop.slug}"
    assert bob_client.get(f"{root}/admin/orders/").status_code == 404
    assert bob_client.post(f"{root}/admin/orders/", {"order_id": order.pk, "status": "cancelled"}).status_code == 404
    assert bob_client.post(f"{root}/admin/orders/", {"email": "x@example.com", "sku": "WOO-HAT"}).status_code == 404
    assert SandboxOrder.objects.get(pk=order.pk).status == order.status and shop.orders.count() == 3
    for path, body in (
        ("_control/faults", {"store": shop.slug, "error_rate": 1}),
        ("_control/flush", {"store": shop.slug}),
    ):
        answer = bob_client.post(f"/sandbox/woocommerce/{path}", body, content_type="application/json")
        assert answer.status_code == 404, path
    shop.refresh_from_db()
    assert not shop.faults
    authorize = bob_client.get(
        f"{root}/wc-auth/v1/authorize",
        {
            "app_name": "x",
            "scope": "read_write",
            "user_id": "1",
            "return_url": "http://127.0.0.1/",
            "callback_url": "http://127.0.0.1/",
        },
    )
    assert authorize.status_code == 404  # the store's consent page is its organisation's only
    listing = bob_client.get("/sandbox/woocommerce/").content.decode()
    assert shop.slug not in listing and shop.keys.first().consumer_secret not in listing


def test_bob_cannot_see_or_change_alices_zoho_books_or_consent_as_her(alice, bob, bob_client, settings):
    from integrations.zoho.sandbox.models import SandboxZohoGrant, SandboxZohoOrg

    facts = sandbox_of("zoho").provision(alice.org, alice)
    books = SandboxZohoOrg.objects.get(organization_id=facts["organization_id"])
    org_id = books.organization_id
    body = {"organization_id": org_id, "error_rate": 1}
    assert bob_client.post("/sandbox/zoho/_control/faults", body, content_type="application/json").status_code == 404
    assert bob_client.get("/sandbox/zoho/_control/faults", {"organization_id": org_id}).status_code == 404
    assert bob_client.get(f"/sandbox/zoho/_control/orgs/{org_id}/stats").status_code == 404
    assert bob_client.get(f"/sandbox/zoho/_control/orgs/{org_id}/salesorders").status_code == 404
    fields = bob_client.post(
        f"/sandbox/zoho/_control/orgs/{org_id}/customfields", {"tracking_fields": True}, content_type="application/json"
    )
    assert fields.status_code == 404
    books.refresh_from_db()
    assert not books.faults
    taken = bob_client.post(
        "/sandbox/zoho/_control/orgs", {"region": "us", "email": books.user.email}, content_type="application/json"
    )
    assert taken.status_code == 409  # alice's sandbox login cannot be taken over
    # The consent page offers bob only his own logins, and refuses to sign him in as alice's.
    from integrations.zoho.oauth import SANDBOX_CLIENT_ID
    from integrations.zoho.sandbox.accounts import registered_redirect_uri

    consent = {
        "client_id": SANDBOX_CLIENT_ID,
        "response_type": "code",
        "redirect_uri": registered_redirect_uri(),
        "scope": "ZohoBooks.invoices.CREATE",
        "state": "s",
    }
    assert books.user.email not in bob_client.get("/sandbox/zoho/us/accounts/oauth/v2/auth", consent).content.decode()
    answer = bob_client.post(
        "/sandbox/zoho/us/accounts/oauth/v2/auth", {**consent, "decision": "accept", "email": books.user.email}
    )
    assert answer.status_code == 404 and not SandboxZohoGrant.objects.exists()
    assert books.user.email not in bob_client.get("/sandbox/zoho/").content.decode()


def test_bob_cannot_see_or_change_alices_exact_company_or_consent_as_her(alice, bob_client):
    from integrations.exact.oauth import SANDBOX_CLIENT_ID
    from integrations.exact.sandbox.models import SandboxExactDivision, SandboxExactGrant
    from integrations.exact.sandbox.oauth import registered_redirect_uri

    facts = sandbox_of("exact").provision(alice.org, alice)
    division = SandboxExactDivision.objects.get(code=facts["division"])
    knobs = {"division": division.code, "error_rate": 1}
    assert bob_client.post("/sandbox/exact/_control/faults", knobs, content_type="application/json").status_code == 404
    assert bob_client.get(f"/sandbox/exact/_control/webhooks/{division.code}").status_code == 404
    assert bob_client.get(f"/sandbox/exact/_control/users/nl/{division.user.email}").status_code == 404
    division.refresh_from_db()
    assert not division.faults
    consent = {
        "client_id": SANDBOX_CLIENT_ID,
        "redirect_uri": registered_redirect_uri(),
        "response_type": "code",
        "state": "s",
    }
    assert division.user.email not in bob_client.get("/sandbox/exact/nl/api/oauth2/auth", consent).content.decode()
    answer = bob_client.post(
        "/sandbox/exact/nl/api/oauth2/auth", {**consent, "decision": "accept", "email": division.user.email}
    )
    assert answer.status_code == 404 and not SandboxExactGrant.objects.exists()


def test_bob_does_not_see_alices_quickbooks_company(alice, bob_client):
    facts = sandbox_of("qbdesktop").provision(alice.org, alice)
    page = bob_client.get("/sandbox/qbdesktop/").content.decode()
    assert facts["qbwc_user"] not in page


def test_control_endpoints_take_csrf_protection_for_session_callers(alice):
    sandbox_of("shipstation").provision(alice.org, alice)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    answer = strict.post("/sandbox/shipstation/_control/faults", {"seed": 1}, content_type="application/json")
    assert answer.status_code == 403
    assert (
        strict.post(
            "/sandbox/zoho/_control/orgs", {"region": "us", "email": "x@example.com"}, content_type="application/json"
        ).status_code
        == 403
    )


# --- Where a sandbox may call --------------------------------------------------------------------


def test_sandboxes_refuse_callbacks_outside_our_base_url_or_loopback(alice, alice_client):
    """Checked at the validation layer: nothing is sent to OUTSIDE (a connection attempt would show
    up as a different error, and the tests never reach the internet)."""
    import base64

    ss = sandbox_of("shipstation").provision(alice.org, alice)
    basic = base64.b64encode(
        f"{ss['ShipStation sandbox API key']}:{ss['ShipStation sandbox API secret']}".encode()
    ).decode()
    v1 = alice_client.post(
        "/sandbox/shipstation/webhooks/subscribe",
        {"target_url": OUTSIDE, "event": "ORDER_NOTIFY"},
        content_type="application/json",
        headers={"Authorization": f"Basic {basic}"},
    )
    assert v1.status_code == 400 and "loopback" in v1.content.decode()
    v2 = alice_client.post(
        "/sandbox/shipstation/v2/environment/webhooks",
        {"url": OUTSIDE, "event": "track"},
        content_type="application/json",
        headers={"API-Key": ss["ShipStation sandbox V2 API key"]},
    )
    assert v2.status_code == 400

    woo = sandbox_of("woocommerce").provision(alice.org, alice)
    slug = woo["store_url"].rstrip("/").rsplit("/", 1)[-1]
    auth = base64.b64encode(f"{woo['consumer_key']}:{woo['consumer_secret']}".encode()).decode()
    hook = alice_client.post(
        f"/sandbox/woocommerce/{slug}/wp-json/wc/v3/webhooks",
        {"topic": "order.created", "delivery_url": OUTSIDE},
        content_type="application/json",
        headers={"Authorization": f"Basic {auth}"},
    )
    assert hook.status_code == 400 and "delivery_url" in hook.content.decode()
    approve = alice_client.get(
        f"/sandbox/woocommerce/{slug}/wc-auth/v1/authorize",
        {"app_name": "x", "scope": "read_write", "user_id": "1", "return_url": OUTSIDE, "callback_url": OUTSIDE},
    )
    assert "PUBLIC_BASE_URL" in approve.content.decode()
