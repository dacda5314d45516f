"""Production, started exactly as README's "Deploy" says: in a fresh checkout, the Procfile's release
phase (migrate, collectstatic, check --deploy) on an empty database, then the Procfile's web process
(gunicorn) with DEBUG and the sandboxes off, behind a TLS proxy (BEHIND_PROXY, X-Forwarded-Proto).
Every public page, every page of a signed-in owner and every static file those pages use answer 200.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from django.urls import reverse

from connector.registry import systems
from tests.deploy import kit
from tests.security.test_csp import parameterless_routes

HOST = "connector.example.com"
EMAIL = "owner@example.com"
PASSWORD = "a long production password 77"

SEED = f"""
import json
import os
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from accounts.models import Membership, Organization, Role
from connector.models import Connection, Delivery, Event, Flow, Record

user = get_user_model().objects.create_user(username="owner", email="{EMAIL}", password="{PASSWORD}")
EmailAddress.objects.create(user=user, email="{EMAIL}", verified=True, primary=True)
org = Organization.objects.create(name="Production Ltd")
Membership.objects.create(user=user, organization=org, role=Role.OWNER)
# Disabled connections render without calling the vendor; Zoho's page never calls Zoho.
connections = {{
    system: Connection.objects.create(organization=org, system=system, label=system, status="disabled")
    for system in ("shipstation", "woocommerce", "exact")
}}
connections["zoho"] = Connection.objects.create(
    organization=org, system="zoho", label="Books",
    settings={{"region": "us", "organization_id": "1", "organization_name": "Books"}},
)
flow = Flow.objects.create(
    organization=org, preset="shipstation_zoho", source=connections["shipstation"], target=connections["zoho"]
)
record = Record.objects.create(
    organization=org, flow=flow, object_type="order", source_id="1001", source_ref="1001",
    status="failed", last_error="Zoho said no",
)
Event.objects.create(organization=org, record=record, kind="received", message="seen")
delivery = Delivery.objects.create(
    organization=org, connection=connections["shipstation"], dedupe_key="a", body=b"{{}}", status="failed"
)
print(json.dumps({{
    "flow": flow.pk, "record": record.pk, "delivery": delivery.pk,
    "connections": {{system: c.pk for system, c in connections.items()}},
}}))
"""


class Browser:
    """A browser behind the TLS proxy: every request says https (X-Forwarded-Proto) and the public
    host. Cookies are carried by hand: they are Secure, and the socket here is plain HTTP."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        headers.update(kwargs.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = requests.request(
            method, urljoin(self.base, path), headers=headers, allow_redirects=False, timeout=60, **kwargs
        )
        self.cookies.update({cookie.name: cookie.value for cookie in response.cookies})
        return response

    def get(self, path: str) -> requests.Response:
        return self.request("GET", path)

    def post_form(self, path: str, data: dict) -> requests.Response:
        data = {**data, "csrfmiddlewaretoken": self.cookies["csrftoken"]}
        origin = {"Origin": f"https://{HOST}", "Referer": f"https://{HOST}{path}"}
        return self.request("POST", path, data=data, headers=origin)


def assets_of(page_url: str, html: str) -> set[str]:
    """Same-site scripts, stylesheets, icons and images a page loads."""
    found = re.findall(r"<(?:script|img)\b[^>]*\ssrc=\"([^\"]+)\"", html)
    found += re.findall(r"<link\b[^>]*\shref=\"([^\"]+)\"", html)
    return {urljoin(page_url, url) for url in found if not url.startswith(("//", "http:", "https:", "data:"))}


def css_assets(css_url: str, css: str) -> set[str]:
    urls = re.findall(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)", css)
    return {urljoin(css_url, u).split("#")[0] for u in urls if not u.startswith(("data:", "#", "http", "//"))}


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """The release phase, then gunicorn, on a fresh checkout and a fresh database."""
    tmp = tmp_path_factory.mktemp("production")
    checkout = kit.copy_checkout(tmp / "checkout")
    port = kit.free_port()
    with kit.fresh_database(tmp) as database_url:
        env = kit.base_env(
            SECRET_KEY="production-" + "s3cret-" * 8,
            FIELD_ENCRYPTION_KEYS=kit.FERNET_KEY,
            DATABASE_URL=database_url,
            PUBLIC_BASE_URL=f"https://{HOST}",
            ALLOWED_HOSTS=HOST,
            BEHIND_PROXY="true",
            DEBUG="false",
            SANDBOX_ENABLED="false",
            HOST="127.0.0.1",
            PORT=str(port),
            WEB_CONCURRENCY="2",
        )
        if os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = os.environ["REDIS_URL"]
        processes = kit.procfile(checkout)
        release = kit.run(checkout, processes["release"], env)
        seeded = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SEED], cwd=checkout, env=env, capture_output=True, text=True
        )
        assert seeded.returncode == 0, seeded.stderr
        web = kit.start(checkout, processes["web"], env, tmp / "web.log")
        try:
            wait_until_serving(Browser(port), web, tmp / "web.log")
            yield {
                "port": port,
                "ids": json.loads(seeded.stdout.strip().splitlines()[-1]),
                "release": release,
                "checkout": checkout,
                "log": tmp / "web.log",
            }
        finally:
            kit.stop(web)
            kit.stop_embedded_redis(checkout)


def wait_until_serving(browser: Browser, web, log: Path) -> None:
    for _ in range(300):
        assert web.poll() is None, f"gunicorn exited:\n{log.read_text()}"
        try:
            if browser.get("/healthz").status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not answer /healthz:\n{log.read_text()}")


def check_static(browser: Browser, urls: set[str]) -> int:
    """GET every static file (and what stylesheets load in turn): all 200."""
    seen: set[str] = set()
    todo = set(urls)
    while todo:
        url = todo.pop()
        seen.add(url)
        path = urlsplit(url)._replace(scheme="", netloc="").geturl()
        response = browser.get(path)
        assert response.status_code == 200, f"{path} answered {response.status_code}"
        if path.split("?")[0].endswith(".css"):
            todo |= css_assets(url, response.text) - seen
    return len(seen)


def owner_pages(ids: dict) -> list[str]:
    flow, connections = ids["flow"], ids["connections"]
    pages = [
        reverse("dashboard"),
        reverse("connections"),
        reverse("flows"),
        reverse("flow_create"),
        reverse("flow_create") + "?preset=shipstation_zoho",
        reverse("flow_detail", args=[flow]),
        reverse("audit_log"),
        reverse("record_detail", args=[ids["record"]]),
        reverse("deliveries"),
        reverse("delivery_detail", args=[ids["delivery"]]),
        reverse("settings_organization"),
        reverse("team"),
        reverse("settings_api_tokens"),
        reverse("settings_notifications"),
        reverse("settings_profile"),
        reverse("account_change_password"),
        reverse("account_email"),
        reverse("zoho_rules", args=[flow]),
        reverse("zoho_rule_new", args=[flow]),
    ]
    for system in systems():
        if system.connect_url_name:
            pages.append(reverse(system.connect_url_name))
        if system.key in connections and system.connection_url_name:
            pages.append(reverse(system.connection_url_name, args=[connections[system.key]]))
    return pages


def test_the_release_phase_ends_with_a_clean_deploy_check(production):
    assert "System check identified no issues" in production["release"]
    assert (production["checkout"] / "var" / "staticfiles" / "staticfiles.json").exists()


def test_public_pages_and_their_static_files_answer_200(production):
    browser = Browser(production["port"])
    assets: set[str] = set()
    for path in ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/api/docs/", "/healthz"]:
        response = browser.get(path)
        assert response.status_code == 200, f"{path} answered {response.status_code}"
        assets |= assets_of(browser.base + path, response.text)
    assert browser.get("/api/schema/").status_code == 200
    # Hashed names: the manifest storage is in use (long cache lifetimes are safe).
    assert any(re.search(r"\.[0-9a-f]{12}\.(css|js)$", url) for url in assets), assets
    assert check_static(browser, assets) >= 5


def test_every_page_of_a_signed_in_owner_and_its_static_files_answer_200(production):
    browser = Browser(production["port"])
    assert browser.get("/accounts/login/").status_code == 200
    login = browser.post_form("/accounts/login/", {"login": EMAIL, "password": PASSWORD})
    assert login.status_code == 302 and login.headers["Location"] == "/", login.text[:2000]

    assets: set[str] = set()
    pages = owner_pages(production["ids"])
    for path in pages:
        response = browser.get(path)
        assert response.status_code == 200, f"{path} answered {response.status_code}"
        assets |= assets_of(browser.base + path, response.text)
    # Other addresses without parameters (new pages are covered too): pages, or action endpoints and
    # OAuth callbacks that refuse a bare GET (405, 400), never a server error.
    for path in [p for p in parameterless_routes() if p not in pages]:
        response = browser.get(path)
        assert response.status_code in (200, 302, 400, 405), f"{path} answered {response.status_code}"
        assets |= assets_of(browser.base + path, response.text) if response.status_code == 200 else set()

    # QuickBooks Desktop: connecting shows the Web Connector password once and links the .qwc file,
    # whose AppURL is the public HTTPS address of /qbwc/.
    qbd = browser.post_form(
        reverse("qbdesktop_connect"), {"label": "Books", "time_zone": "UTC", "run_every_minutes": 15}
    )
    assert qbd.status_code == 200, qbd.text[:2000]
    qwc_path = re.search(r"/integrations/qbdesktop/\d+/qwc/", qbd.text).group(0)
    qwc = browser.get(qwc_path)
    assert qwc.status_code == 200 and f"<AppURL>https://{HOST}/qbwc/</AppURL>" in qwc.text
    assert check_static(browser, assets | assets_of(browser.base + "/", qbd.text)) >= 5
    assert "Traceback" not in production["log"].read_text()


def test_plain_http_is_sent_to_https_but_the_load_balancer_probe_is_answered(production):
    base = f"http://127.0.0.1:{production['port']}"
    page = requests.get(base + "/accounts/login/", headers={"Host": HOST}, allow_redirects=False, timeout=30)
    assert page.status_code == 301 and page.headers["Location"] == f"https://{HOST}/accounts/login/"
    probe = requests.get(base + "/healthz", headers={"Host": HOST}, allow_redirects=False, timeout=30)
    assert probe.status_code == 200 and probe.json()["database"] == "ok"
