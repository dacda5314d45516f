"""A merchant's first hour, in a real browser, never reloading to see what happened:

1. sign up (and confirm the e-mail) → connect three systems (ShipStation and Zoho Books sandboxes,
   a QuickBooks Desktop company file) → add a flow in the wizard → Start → the progress card counts
   the orders by itself → Zoho is down, so the order fails → its page says what to do in plain words
   → Replay → the page shows the invoice without a reload;
2. an owner invites a teammate → the teammate opens the mail's link, signs up with the address
   filled in, confirms it and lands in the inviting organisation (and no other);
3. Settings → API tokens → create one → call the REST API with it.

A real Celery worker does the work; the vendors are the sandboxes on the live server. Screenshots of
each step, at 1280 and 390 px wide, land in var/screenshots/journey-*.png for people to review."""

from __future__ import annotations

import re

import pytest
import requests
from django.core import mail
from playwright.sync_api import expect

from accounts.models import Membership, Organization
from connector.models import Connection, Record
from integrations.shipstation.client import ShipStationClient
from integrations.shipstation.sandbox.models import SandboxAccount
from integrations.zoho.sandbox import state as zoho_state
from integrations.zoho.sandbox.models import SandboxZohoDocument, SandboxZohoOrg
from tests.browser.test_accessibility import SCREENSHOTS, logged_in_context, open_page
from tests.conftest import make_flow
from tests.e2e.conftest import wait_until
from tests.integrations.shipstation.conftest import order_body
from tests.sandbox_session import member_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSPHRASE = "a long enough passphrase 7"
LIVE = 120_000  # ms a live region may take to show the worker's result (a worker, two vendors)


def snap(page, name: str) -> None:
    """Screenshots of the current page at 1280 and 390 px wide."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SCREENSHOTS / f"journey-{name}-{width}.png"), full_page=True)
    page.set_viewport_size(size)


def confirm_email(page) -> None:
    """Open the confirmation link from the mail, when sign-up asked for one."""
    page.wait_for_load_state()
    if not page.url.endswith("/accounts/confirm-email/"):
        return  # e.g. an invitation link already proved the address
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body).group(0)
    page.goto("/accounts/" + link.split("/accounts/", 1)[1])
    page.click("button[type=submit]")


def zoho_faults(live_server, org, **knobs) -> None:
    member_of(org.user.organization).post(
        f"{live_server.url}/sandbox/zoho/_control/faults",
        json={"organization_id": org.organization_id, **knobs},
        timeout=10,
    ).raise_for_status()


def test_sign_up_connect_start_fail_and_replay_without_reloading(browser, live_server, celery_worker):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = open_page(context)

    # --- Sign up and confirm the address -------------------------------------------------------------
    page.goto("/accounts/signup/")
    snap(page, "01-signup")
    page.fill("input[name=email]", "frank@example.com")
    page.fill("input[name=organization]", "Frank's Widgets")
    page.fill("input[name=password1]", PASSPHRASE)
    page.fill("input[name=password2]", PASSPHRASE)
    page.click("button[type=submit]")
    confirm_email(page)
    page.wait_for_url("**/")
    expect(page.locator("#onboarding")).to_contain_text("0 of 4 done")
    snap(page, "02-dashboard-new")
    org = Organization.objects.get(memberships__user__email="frank@example.com")

    # --- Connect three systems: "Try with sandbox accounts" where the Connect page offers it, else
    # the organisation's own sandbox accounts through the ordinary forms -----------------------------
    def try_sandbox(system: str) -> bool:
        page.goto("/connections/")
        page.locator(f"#system-{system}").get_by_role("link", name="Connect").click()
        button = page.get_by_role("button", name="Try with sandbox accounts")
        if not button.count():
            return False
        button.click()
        page.wait_for_load_state()
        consent = page.get_by_role("button", name="Accept")  # OAuth vendors: the sandbox's consent page
        if consent.count():
            consent.click()
            page.wait_for_load_state()
        return True

    if not try_sandbox("shipstation"):
        account = SandboxAccount.objects.create(name="Frank's warehouse", organization=org)
        page.fill("input[name=api_key]", account.api_key)
        page.fill("input[name=api_secret]", account.api_secret)
        page.fill("input[name=base_url]", f"{live_server.url}/sandbox/shipstation")
        page.get_by_role("button", name="Check and connect").click()
        page.wait_for_load_state()
    account = SandboxAccount.objects.get(organization=org)

    if not try_sandbox("zoho"):
        zoho_state.create_org("us", "books@frank.example", "Frank Books", organization=org)
        page.select_option("select[name=region]", "us")
        page.get_by_role("button", name="Continue to Zoho").click()
        page.fill("input[name=email]", "books@frank.example")
        page.get_by_role("button", name="Accept").click()
        page.wait_for_load_state()
    books = SandboxZohoOrg.objects.get(
        organization_id=Connection.objects.get(organization=org, system="zoho").settings["organization_id"]
    )

    if not try_sandbox("qbdesktop"):
        page.fill("input[name=label]", "Frank's company file")
        page.get_by_role("button", name="Create connection").click()
        expect(page.locator("#qbwc-password")).to_be_visible()  # the Web Connector password, shown once

    page.goto("/connections/")
    for system in ("shipstation", "zoho", "qbdesktop"):
        expect(page.locator(f"#system-{system} .badge-active")).to_have_count(1)
    snap(page, "03-connections")
    page.goto("/")
    expect(page.locator("#onboarding")).to_contain_text("2 of 4 done")

    # --- An order waits in ShipStation ---------------------------------------------------------------
    store = ShipStationClient(
        f"{live_server.url}/sandbox/shipstation", api_key=account.api_key, api_secret=account.api_secret
    )
    store.create_order(order_body("F-1001", email="customer@frank.example"))

    # --- The wizard: the connected systems are already chosen; the journal needs its accounts -------
    page.goto("/flows/new/")
    with page.expect_response(lambda r: "/flows/new/?" in r.url):  # the wizard redraws for this type
        page.select_option("select[name=preset]", "shipstation_zoho")
    page.wait_for_load_state("networkidle")
    expect(page.locator("select[name=target]")).to_have_value(str(Connection.objects.get(system="zoho").pk))
    expect(page.locator("select[name=source]")).to_have_value(str(Connection.objects.get(system="shipstation").pk))
    page.check("input[name=shipment_mode][value=journal]")
    expect(page.locator("select[name=expense_account_id]")).to_be_visible()
    page.check("input[name=shipment_mode][value=comment]")
    expect(page.locator("select[name=expense_account_id]")).to_be_hidden()  # only the chosen mode's options
    page.check("input[name=shipment_mode][value=journal]")
    page.select_option("select[name=expense_account_id]", zoho_state.account_id(books, "Shipping Expense"))
    page.select_option("select[name=offset_account_id]", zoho_state.account_id(books, "Petty Cash"))
    snap(page, "04-wizard")
    page.get_by_role("button", name="Create the flow").click()
    page.wait_for_url(re.compile(r"/flows/\d+/$"))
    zoho_faults(live_server, books, error_rate=1.0)  # Zoho Books goes down before the first run
    page.get_by_role("button", name="Start").click()
    page.get_by_role("button", name="Run now").click()  # the backfill run, without waiting for the schedule

    # --- Live progress: the card counts the failed order by itself (no reload) ----------------------
    progress = page.locator("#flow-progress")
    expect(progress).to_contain_text(re.compile(r"\b[1-9]\d* failed"), timeout=LIVE)
    snap(page, "05-progress-failed")

    # --- The failed record says what to do; Replay shows the invoice without a reload ---------------
    wait_until(
        lambda: Record.objects.filter(source_ref="F-1001", object_type="order", status="failed").exists(),
        timeout=LIVE / 1000,
        message="order F-1001 failed",
    )
    page.goto("/audit/?status=failed&q=F-1001")
    page.get_by_role("link", name="Order F-1001").click()
    expect(page.locator("h1")).to_contain_text("Failed")
    expect(page.get_by_text("What to do:")).to_be_visible()
    snap(page, "06-record-failed")
    zoho_faults(live_server, books, error_rate=0.0)
    page.get_by_role("button", name="Replay").click()
    expect(page.locator("h1")).to_contain_text("Synced", timeout=LIVE)
    expect(page.get_by_role("link", name=re.compile("Open in Zoho Books"))).to_be_visible()
    snap(page, "07-record-synced")
    assert SandboxZohoDocument.objects.filter(org=books, kind="invoice", reference_number="F-1001").count() == 1
    assert Record.objects.get(source_ref="F-1001", object_type="order").status == "synced"

    page.goto("/")
    expect(page.locator("#onboarding")).to_have_count(0)  # all four steps done: the checklist is gone
    snap(page, "08-dashboard-done")
    context.close()


def test_an_invited_teammate_signs_up_from_the_mail_and_joins(browser, live_server, alice):
    owner = logged_in_context(browser, live_server, alice, viewport={"width": 1280, "height": 900})
    page = open_page(owner)
    page.goto("/settings/members/")
    page.fill("input[name=email]", "dora@example.com")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("Invitation sent to dora@example.com.")).to_be_visible()
    snap(page, "10-invited")
    owner.close()
    link = re.search(r"https?://\S+/invitations/\S+/", mail.outbox[-1].body).group(0)

    teammate = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = open_page(teammate)
    page.goto("/invitations/" + link.split("/invitations/", 1)[1])
    page.wait_for_url("**/accounts/signup/**")
    assert page.locator("input[name=email]").input_value() == "dora@example.com"  # filled in
    snap(page, "11-invited-signup")
    if page.locator("input[name=organization]").is_visible():
        page.fill("input[name=organization]", "Dora's")
    page.fill("input[name=password1]", PASSPHRASE)
    page.fill("input[name=password2]", PASSPHRASE)
    page.click("button[type=submit]")
    confirm_email(page)
    if page.get_by_role("button", name="Accept invitation").count():
        page.get_by_role("button", name="Accept invitation").click()
    page.wait_for_url("**/")
    expect(page.locator(".topbar")).to_contain_text("Alice Ltd")
    snap(page, "12-teammate-dashboard")
    teammate.close()
    memberships = Membership.objects.filter(user__email="dora@example.com")
    assert [m.organization_id for m in memberships] == [alice.org.pk]  # no stray organisation


def test_an_api_token_made_in_settings_calls_the_api(browser, live_server, alice):
    make_flow(alice.org, preset="shipstation_zoho", name="Orders to Books")
    context = logged_in_context(browser, live_server, alice, viewport={"width": 1280, "height": 900})
    page = open_page(context)
    page.goto("/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="API tokens").click()
    page.fill("input[name=name]", "Reporting script")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").input_value()
    snap(page, "20-api-token")
    context.close()

    answer = requests.get(f"{live_server.url}/api/v1/flows/", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200
    assert [f["name"] for f in answer.json()["results"]] == ["Orders to Books"]
    assert requests.get(f"{live_server.url}/api/v1/flows/", timeout=10).status_code in (401, 403)
