"""Every page, in a real browser at 1280 px and at 390 px (a phone): no serious or critical axe-core
violations (WCAG 2.1 A/AA rules), no sideways scrolling on the phone, every main navigation item
reachable there, and nothing the Content-Security-Policy had to block. Dark mode is checked too.

axe-core is vendored in tests/browser/vendor/ (see its README) and evaluated through the DevTools
protocol by the test, so the application never serves it and the page's own CSP stays in force.
Screenshots land in var/screenshots/ for people to look at."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from connector.models import Connection, Delivery, Event, Record
from connector.registry import sandboxes, systems
from tests.conftest import make_flow, make_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}


def seed(alice) -> dict:
    """A lived-in organisation: a flow with synced, failed and waiting records, a failed delivery,
    an alert, and one connection per system (disabled ones are drawn without calling the vendor)."""
    flow = make_flow(alice.org, preset="shipstation_zoho", name="Orders to Books")
    flow.target.settings = {"region": "us", "organization_id": "1", "organization_name": "Alice Books"}
    flow.target.save()
    synced = make_record(flow, "1001", status=Record.Status.SYNCED, target_id="INV-000123")
    Event.objects.create(organization=alice.org, record=synced, kind="created", message="Invoice created.")
    failed = make_record(
        flow,
        "1002",
        status=Record.Status.FAILED,
        last_error="Zoho Books answered 400: the item MUG-01 does not exist.",
        remediation="Create the item MUG-01 in Zoho Books, then press Replay.",
    )
    Event.objects.create(organization=alice.org, record=failed, kind="failed", message="Zoho Books refused it.")
    make_record(flow, "1003", status=Record.Status.NEEDS_REVIEW, last_error="SKU MUG-01 unknown")
    Delivery.objects.create(
        organization=alice.org,
        connection=flow.source,
        dedupe_key="d1",
        body=b'{"resource_url": "https://ssapi.shipstation.com/orders?importBatch=1"}',
        status=Delivery.Status.FAILED,
    )
    connections = {"shipstation": flow.source, "zoho": flow.target}
    for system in ("woocommerce", "exact"):
        connections[system] = Connection.objects.create(
            organization=alice.org, system=system, label=f"Alice's {system}", status=Connection.Status.DISABLED
        )
    Connection.objects.filter(pk=flow.source_id).update(status=Connection.Status.DISABLED)
    return {"flow": flow, "record": failed, "connections": connections}


def member_pages(world) -> dict[str, str]:
    flow, record = world["flow"], world["record"]
    pages = {
        "dashboard": reverse("dashboard"),
        "connections": reverse("connections"),
        "flows": reverse("flows"),
        "flow-create": reverse("flow_create"),
        "flow-detail": reverse("flow_detail", args=[flow.pk]),
        "audit": reverse("audit_log"),
        "record": reverse("record_detail", args=[record.pk]),
        "deliveries": reverse("deliveries"),
        "zoho-rules": reverse("zoho_rules", args=[flow.pk]),
        "not-found": "/no/such/page/",
        "password-change": reverse("account_change_password"),
        "email-addresses": reverse("account_email"),
    }
    for name in ("settings_organization", "team", "settings_api_tokens", "settings_notifications", "settings_profile"):
        pages[name.replace("_", "-")] = reverse(name)
    for sandbox in sandboxes():  # the organisation's sandbox pages (keys, orders), when sandboxes are on
        if sandbox.page_url_name:
            pages[f"sandbox-{sandbox.system}"] = reverse(sandbox.page_url_name)
    for system in systems():
        if system.connect_url_name:
            pages[f"connect-{system.key}"] = reverse(system.connect_url_name)
        connection = world["connections"].get(system.key)
        if connection is not None and system.connection_url_name:
            pages[f"connection-{system.key}"] = reverse(system.connection_url_name, args=[connection.pk])
    return pages


ANONYMOUS_PAGES = {
    "login": "/accounts/login/",
    "signup": "/accounts/signup/",
    "password-reset": "/accounts/password/reset/",
}


def open_page(context):
    """A page whose console messages are kept (the browser reports CSP blocks there)."""
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.console_messages = []
    page.on("console", lambda message: page.console_messages.append(message.text))
    return page


def audit(page, name: str, url: str, width_name: str, *, navigate: bool = True) -> list[str]:
    """Open `url`, run axe, check for sideways scrolling, save a screenshot; the problems found."""
    if navigate:
        page.console_messages.clear()
        page.goto(url)
        page.wait_for_load_state("networkidle")
    problems = []
    page.evaluate(AXE)
    result = page.evaluate(f"axe.run(document, {json.dumps(AXE_OPTIONS)})")
    for violation in result["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = [", ".join(map(str, n["target"])) for n in violation["nodes"][:4]]
            problems.append(f"{name} [{width_name}] {violation['id']}: {violation['help']} → {targets}")
    if width_name == "phone":
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 0:
            wide = page.evaluate(
                """() => [...document.querySelectorAll('body *')]
                  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                  .slice(0, 4).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + e.className)"""
            )
            problems.append(f"{name} [phone] scrolls sideways by {overflow}px: {wide}")
    blocked = [m for m in page.console_messages if "Content Security Policy" in m]
    problems += [f"{name} [{width_name}] CSP blocked: {b}" for b in blocked]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{width_name}.png"), full_page=True)
    return problems


def logged_in_context(browser, live_server, user, *, viewport, color_scheme="light"):
    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=live_server.url, viewport=viewport, color_scheme=color_scheme)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return context


@pytest.mark.parametrize("width_name", list(WIDTHS))
def test_every_page_passes_axe_and_fits_the_screen(browser, live_server, alice, width_name):
    world = seed(alice)
    width, height = WIDTHS[width_name]
    problems: list[str] = []

    anonymous = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": height})
    page = open_page(anonymous)
    for name, url in ANONYMOUS_PAGES.items():
        problems += audit(page, name, url, width_name)
    anonymous.close()

    context = logged_in_context(browser, live_server, alice, viewport={"width": width, "height": height})
    page = open_page(context)
    for name, url in member_pages(world).items():
        problems += audit(page, name, url, width_name)

    if width_name == "phone":
        page.goto(reverse("dashboard"))
        for link in page.get_by_role("navigation", name="Main").get_by_role("link").all():
            box = link.bounding_box()
            assert link.is_visible() and box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (
                f"main navigation item {link.inner_text()!r} is off screen at {width}px"
            )
    context.close()
    assert not problems, "\n".join(problems)


def test_dark_mode_keeps_contrast(browser, live_server, alice):
    world = seed(alice)
    context = logged_in_context(
        browser, live_server, alice, viewport={"width": 1280, "height": 900}, color_scheme="dark"
    )
    page = open_page(context)
    problems = []
    pages = member_pages(world)
    for name, url in pages.items():
        problems += audit(page, f"dark-{name}", url, "desktop")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    context.close()
    assert background != "rgb(246, 247, 251)", "the dark scheme was not applied"
    assert not problems, "\n".join(problems)


def test_the_skip_link_is_the_first_stop_and_lands_on_the_content(browser, live_server, alice):
    context = logged_in_context(browser, live_server, alice, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(reverse("dashboard"))
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    context.close()


def test_the_audit_reports_what_it_should(browser, live_server):
    """The checks above can fail: an unlabelled control, an image without text and a too-wide box."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = open_page(context)
    page.goto(f"{live_server.url}/accounts/login/")
    page.set_content(
        '<!doctype html><html lang="en"><title>x</title><body><main><h1>x</h1><img src="/x.png">'
        '<select></select><div id="wide">' + "W" * 20 + "</div></main></body></html>"
    )
    page.evaluate("document.getElementById('wide').style.width = '900px'")
    problems = audit(page, "broken", page.url, "phone", navigate=False)
    context.close()
    assert any("image-alt" in p for p in problems)
    assert any("select-name" in p for p in problems)
    assert any("scrolls sideways" in p for p in problems)


def test_disconnect_asks_first_and_looks_destructive(browser, live_server, alice):
    world = seed(alice)
    zoho = world["connections"]["zoho"]
    context = logged_in_context(browser, live_server, alice, viewport={"width": 1280, "height": 900})
    page = open_page(context)
    page.goto(reverse("zoho_connection", args=[zoho.pk]))
    confirm = page.get_by_role("button", name="Yes, disconnect")
    assert not confirm.is_visible()  # nothing is one click away
    page.get_by_text(f"Disconnect {zoho.label}…").click()
    assert confirm.is_visible()
    colour = confirm.evaluate("b => getComputedStyle(b).backgroundColor")
    assert colour == "rgb(179, 38, 30)"  # the destructive red
    confirm.click()
    page.wait_for_load_state()
    zoho.refresh_from_db()
    assert zoho.status == Connection.Status.DISABLED
    context.close()
