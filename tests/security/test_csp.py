"""Content-Security-Policy: every page is sent with a strict policy, and no page relies on what that
policy forbids (inline <script>, <style> blocks, style="" or on*="" attributes, javascript: URLs).

The crawl covers the named pages (dashboard, connections, every Connect page and connection page,
flows, flow create and detail, audit log, record, deliveries, login, signup, password reset) and,
so that new pages are checked without editing this file, every other URL without parameters that a
merchant can open with GET (Settings pages included once they exist)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from connector.models import Connection, Delivery
from connector.registry import get_system, systems
from tests.conftest import make_flow, make_record

pytestmark = pytest.mark.django_db

# Not merchant pages: the API (JSON), vendor-facing endpoints, sandboxes (emulators of vendor sites).
SKIPPED_PREFIXES = ("admin/", "api/", "hooks/", "qbwc", "sandbox/", "healthz", "metrics", "accounts/")


class InlineFinder(HTMLParser):
    """Collects everything in a page that a strict CSP would block or that needs 'unsafe-inline'."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []
        self.ids: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script":
            kind = (attributes.get("type") or "").strip().lower()
            if kind not in ("", "text/javascript", "application/javascript", "module"):
                return  # a data block (e.g. application/json): never executed, allowed by CSP
            if not attributes.get("src"):
                self.problems.append("inline <script>")
            self._in_script = True
        if tag == "style":
            self.problems.append("<style> block")
        for name, value in attrs:
            if name == "style":
                self.problems.append(f'style="{value}" on <{tag}>')
            if name.startswith("on"):
                self.problems.append(f"{name} handler on <{tag}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"javascript: URL on <{tag}>")
            if name.startswith("hx-on"):
                self.problems.append(f"{name} (evaluated JavaScript) on <{tag}>")
        if attributes.get("id"):
            self.ids.append(attributes["id"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append("script with inline code")


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def assert_strict_and_clean(response, url: str) -> None:
    directives = policy(response)
    assert directives, f"{url}: no Content-Security-Policy header"
    assert directives.get("default-src") == ["'self'"], url
    for name in ("script-src", "style-src"):
        sources = directives.get(name, directives["default-src"])
        assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources, f"{url}: {name} {sources}"
        assert all(s == "'self'" for s in sources), f"{url}: {name} allows {sources}"
    assert directives.get("object-src") == ["'none'"], url
    assert directives.get("frame-ancestors") == ["'none'"], url
    finder = InlineFinder()
    finder.feed(response.content.decode())
    assert not finder.problems, f"{url}: {finder.problems}"
    duplicates = sorted({i for i in finder.ids if finder.ids.count(i) > 1})
    assert not duplicates, f"{url}: duplicate element ids {duplicates}"


def parameterless_routes() -> list[str]:
    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                if "<" not in route and "(?P" not in route and not route.startswith(SKIPPED_PREFIXES):
                    yield "/" + route.replace("^", "").replace("$", "")

    return sorted(set(walk(get_resolver().url_patterns)))


@pytest.fixture
def alices_world(alice):
    flow = make_flow(alice.org, preset="shipstation_zoho", name="Alice's flow")
    flow.target.settings = {"region": "us", "organization_id": "1", "organization_name": "Alice Books"}
    flow.target.save()
    record = make_record(flow, "A-1001", status="failed", last_error="Zoho said no")
    delivery = Delivery.objects.create(
        organization=alice.org, connection=flow.source, dedupe_key="a", body=b"{}", status=Delivery.Status.FAILED
    )
    # One connection per system for its connection page. Disabled ones are rendered without calling
    # the vendor (the tests never leave 127.0.0.1); Zoho's page never calls Zoho.
    connections = {"shipstation": flow.source, "zoho": flow.target}
    for system in ("woocommerce", "exact"):
        connections[system] = Connection.objects.create(
            organization=alice.org, system=system, label=f"Alice {system}", status=Connection.Status.DISABLED
        )
    flow.source.status = Connection.Status.DISABLED
    flow.source.save()
    return {"flow": flow, "record": record, "delivery": delivery, "connections": connections}


def test_every_merchant_page_has_a_strict_policy_and_no_inline_code(alice_client, alices_world):
    flow, record = alices_world["flow"], alices_world["record"]
    urls = [
        reverse("dashboard"),
        reverse("connections"),
        reverse("flows"),
        reverse("flow_create"),
        reverse("flow_create") + "?preset=shipstation_zoho",
        reverse("flow_detail", args=[flow.pk]),
        reverse("audit_log"),
        reverse("record_detail", args=[record.pk]),
        reverse("deliveries"),
        reverse("team"),
        reverse("account_change_password"),
        reverse("account_email"),
        reverse("zoho_rules", args=[flow.pk]),
        reverse("zoho_rule_new", args=[flow.pk]),
        "/no/such/page/",
    ]
    for system in systems():
        if system.connect_url_name:
            urls.append(reverse(system.connect_url_name))
        connection = alices_world["connections"].get(system.key)
        if connection is not None and system.connection_url_name:
            urls.append(reverse(system.connection_url_name, args=[connection.pk]))
    urls += [u for u in parameterless_routes() if u not in urls]

    # QuickBooks Desktop: its connection page right after creating one (the password shown once).
    qbd = alice_client.post(
        reverse(get_system("qbdesktop").connect_url_name),
        {"label": "Books", "time_zone": "UTC", "run_every_minutes": 15},
    )
    assert qbd.status_code == 200
    assert_strict_and_clean(qbd, "qbdesktop connect POST")

    checked = 0
    for url in urls:
        response = alice_client.get(url)
        if response.status_code in (301, 302, 405):
            continue  # an action endpoint, or a page that sends elsewhere
        assert response.status_code in (200, 400, 404), f"{url} answered {response.status_code}"
        assert_strict_and_clean(response, url)
        checked += 1
    assert checked >= 15


@pytest.mark.parametrize("name", ["account_login", "account_signup", "account_reset_password"])
def test_sign_in_pages_have_a_strict_policy_and_no_inline_code(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert_strict_and_clean(response, reverse(name))


def test_a_form_error_page_is_clean_too(client, db):
    response = client.post(reverse("account_login"), {"login": "nobody@example.com", "password": "wrong"})
    assert response.status_code == 200
    assert_strict_and_clean(response, "login with an error")


def test_htmx_is_told_not_to_inject_styles_or_evaluate_code(alice_client):
    page = alice_client.get(reverse("dashboard")).content.decode()
    assert '<meta name="htmx-config"' in page
    assert '"includeIndicatorStyles":false' in page and '"allowEval":false' in page


def test_the_finder_sees_what_the_policy_would_block():
    """The checks above can fail: each forbidden construct is reported."""
    finder = InlineFinder()
    finder.feed(
        '<script>alert(1)</script><style>p{}</style><p style="color:red" onclick="x()">'
        '<a href="javascript:void(0)">x</a><select onchange="this.form.submit()"></select>'
        '<script src="/static/js/app.js"></script><script type="application/json">{"a": 1}</script>'
    )
    assert finder.problems == [
        "inline <script>",
        "script with inline code",
        "<style> block",
        'style="color:red" on <p>',
        "onclick handler on <p>",
        "javascript: URL on <a>",
        "onchange handler on <select>",
    ]


def test_the_api_docs_page_runs_under_the_policy(alice_client):
    """Swagger UI's start-up script is a file of its own (drf-spectacular's split view) and its page
    styles come from our stylesheet, so the docs page needs nothing inline either."""
    response = alice_client.get(reverse("api-docs"))
    assert response.status_code == 200
    assert_strict_and_clean(response, "/api/docs/")
    assert '<script src="/api/docs/?script="></script>' in response.content.decode()
    script = alice_client.get(reverse("api-docs") + "?script=")
    assert script.status_code == 200 and "javascript" in script["Content-Type"]


def test_no_template_carries_inline_script_or_style():
    """Pages the crawl does not open (sandbox pages, partials, e-mails) are checked at the source."""
    import re

    from django.conf import settings

    root = Path(settings.BASE_DIR)
    forbidden = re.compile(
        r"""<style\b|\sstyle\s*=|\son[a-z]+\s*=\s*["']|<script(?![^>]*\bsrc=)[^>]*>|javascript:""", re.I
    )
    comment = re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}|{#.*?#}", re.S)
    found = []
    for path in sorted(root.glob("**/templates/**/*.html")):
        if ".venv" in path.parts or "var" in path.parts:
            continue
        text = comment.sub("", path.read_text())
        found += [f"{path.relative_to(root)}: {m.group(0)!r}" for m in forbidden.finditer(text)]
    assert not found, "\n".join(found)
