"""In a real browser, the way a merchant does it: connect ShipStation and Zoho Books,
add and start the flow, open a failed record, press Replay, and see it synced. A real Celery worker
does the work; the vendors are the sandboxes on the live server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from connector.models import Connection, Record
from integrations.shipstation.client import ShipStationClient
from integrations.shipstation.sandbox.models import SandboxAccount
from integrations.zoho.sandbox import state as zoho_state
from integrations.zoho.sandbox.models import SandboxZohoDocument
from tests.conftest import PASSWORD
from tests.e2e.conftest import wait_until
from tests.integrations.shipstation.conftest import order_body
from tests.sandbox_session import member_of

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def zoho_faults(live_server, org, **knobs):
    member_of(org.user.organization).post(
        f"{live_server.url}/sandbox/zoho/_control/faults",
        json={"organization_id": org.organization_id, **knobs},
        timeout=10,
    ).raise_for_status()


def test_connect_start_fail_replay_in_the_browser(page, alice, live_server, celery_worker):
    account = SandboxAccount.objects.create(name="Alice's store", organization=alice.org)
    zoho_org = zoho_state.create_org("us", "books@alice.example", "Alice Books", organization=alice.org)

    page.goto("/accounts/login/")
    page.fill("input[name=login]", alice.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")

    # ShipStation: keys form, validated live against the sandbox.
    page.goto("/connections/")
    page.locator("#system-shipstation").get_by_role("link", name="Connect").click()
    page.fill("input[name=api_key]", account.api_key)
    page.fill("input[name=api_secret]", account.api_secret)
    page.fill("input[name=base_url]", f"{live_server.url}/sandbox/shipstation")
    page.get_by_role("button", name="Check and connect").click()
    page.wait_for_load_state()

    # Zoho Books: region, then the (sandbox) consent page, then back.
    page.goto("/connections/")
    page.locator("#system-zoho").get_by_role("link", name="Connect").click()
    page.select_option("select[name=region]", "us")
    page.get_by_role("button", name="Continue to Zoho").click()
    page.fill("input[name=email]", "books@alice.example")
    page.get_by_role("button", name="Accept").click()
    page.wait_for_load_state()
    page.goto("/connections/")
    assert page.locator("#system-zoho .badge-active").count() == 1
    assert page.locator("#system-shipstation .badge-active").count() == 1

    # The flow: the wizard offers the connected systems, then journal accounts from Zoho's chart; start.
    page.goto("/flows/new/")
    with page.expect_response(lambda r: "/flows/new/?" in r.url):  # the wizard redraws for this type
        page.select_option("select[name=preset]", "shipstation_zoho")
    page.wait_for_load_state("networkidle")
    expect(page.locator("select[name=target]")).to_have_value(str(Connection.objects.get(system="zoho").pk))
    expect(page.locator("select[name=source]")).to_have_value(str(Connection.objects.get(system="shipstation").pk))
    page.check("input[name=shipment_mode][value=journal]")
    page.select_option("select[name=expense_account_id]", zoho_state.account_id(zoho_org, "Shipping Expense"))
    page.select_option("select[name=offset_account_id]", zoho_state.account_id(zoho_org, "Petty Cash"))
    page.get_by_role("button", name="Create the flow").click()
    page.wait_for_url(re.compile(r"/flows/\d+/$"))
    page.get_by_role("button", name="Start").click()
    assert page.locator("h1 .badge-active").inner_text() == "running"

    # Zoho fails: the order shows as failed in the audit log.
    zoho_faults(live_server, zoho_org, error_rate=1.0)
    ss = ShipStationClient(
        f"{live_server.url}/sandbox/shipstation", api_key=account.api_key, api_secret=account.api_secret
    )
    ss.create_order(order_body("B-1", email="b1@example.com"))
    wait_until(
        lambda: Record.objects.filter(source_ref="B-1", object_type="order", status="failed").exists(),
        timeout=90,
        message="B-1 failed",
    )
    page.goto("/audit/?status=failed")
    page.get_by_role("link", name="order B-1").click()
    assert "Failed" in page.locator("h1").inner_text()
    assert page.get_by_text("What to do:").is_visible()

    # The fault is lifted; Replay; the record page shows it synced.
    zoho_faults(live_server, zoho_org, error_rate=0.0)
    page.get_by_role("button", name="Replay").click()
    wait_until(
        lambda: Record.objects.filter(source_ref="B-1", object_type="order", status="synced").exists(),
        timeout=90,
        message="B-1 synced after replay",
    )
    page.reload()
    assert "Synced" in page.locator("h1").inner_text()
    assert SandboxZohoDocument.objects.filter(org=zoho_org, kind="invoice", reference_number="B-1").count() == 1
