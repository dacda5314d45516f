"""ShipStation → Zoho Books, end to end, the way a merchant uses it.

A real Celery worker process, the live server, PostgreSQL/SQLite and Redis, and both sandboxes over
real HTTP. The merchant connects both systems (Zoho through the sandbox consent page), adds and
starts the flow; orders are created, edited, cancelled and shipped in the ShipStation sandbox (its
webhooks really POST to our hook URL); Zoho is made to fail for one order, which shows as failed and
is replayed after the fault is lifted. Assertions are on the Zoho sandbox's own state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from connector.models import Connection, Flow, Record
from integrations.shipstation.client import ShipStationClient
from integrations.shipstation.sandbox.models import SandboxAccount
from integrations.zoho.sandbox import state as zoho_state
from integrations.zoho.sandbox.models import SandboxZohoDocument
from tests.e2e.conftest import wait_until
from tests.integrations.shipstation.conftest import order_body
from tests.integrations.zoho.consent import connect_through_consent
from tests.sandbox_session import member_of

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def invoices(org, number: str):
    return list(SandboxZohoDocument.objects.filter(org=org, kind="invoice", reference_number=number))


def journals(org):
    return list(SandboxZohoDocument.objects.filter(org=org, kind="journal"))


def balanced(journal) -> bool:
    lines = journal.data["line_items"]
    debit = sum(Decimal(str(x["amount"])) for x in lines if x["debit_or_credit"] == "debit")
    credit = sum(Decimal(str(x["amount"])) for x in lines if x["debit_or_credit"] == "credit")
    return debit == credit and debit > 0


def record_status(number: str, object_type: str = "order") -> str | None:
    return Record.objects.filter(object_type=object_type, source_ref=number).values_list("status", flat=True).first()


def set_zoho_faults(live_server, org, **knobs):
    response = member_of(org.user.organization).post(
        f"{live_server.url}/sandbox/zoho/_control/faults",
        json={"organization_id": org.organization_id, **knobs},
        timeout=10,
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def merchant(client, alice, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    client.force_login(alice)
    return client


@dataclass
class Setup:
    account: SandboxAccount
    zoho_org: object
    flow: Flow
    ss: ShipStationClient


def connect_and_start(merchant, alice, live_server) -> Setup:
    """What a merchant does first: connect both systems, add the flow, choose options, start it."""
    # --- Connect ShipStation with its sandbox keys (validated live, webhooks subscribed) ----------
    account = SandboxAccount.objects.create(name="Alice's store", organization=alice.org)
    response = merchant.post(
        reverse("shipstation_connect"),
        {
            "label": "Alice ShipStation",
            "api_key": account.api_key,
            "api_secret": account.api_secret,
            "base_url": f"{live_server.url}/sandbox/shipstation",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    shipstation = Connection.objects.get(organization=alice.org, system="shipstation")
    assert account.webhooks.filter(active=True).count() == 2

    # --- Connect Zoho Books through the sandbox consent page ------------------------------------
    zoho_org = zoho_state.create_org("us", "books@alice.example", "Alice Books", organization=alice.org)
    zoho = connect_through_consent(merchant, "us", "books@alice.example")
    assert zoho is not None and zoho.organization_id == alice.org.pk and zoho.status == "active"

    # --- Add the flow, choose journal mode and the accounts, start it ----------------------------
    response = merchant.post(
        reverse("flow_create"),
        {"preset": "shipstation_zoho", "source": shipstation.pk, "target": zoho.pk, "interval_seconds": 300},
    )
    flow = Flow.objects.get(organization=alice.org)
    page = merchant.get(reverse("flow_detail", args=[flow.pk])).content.decode()
    expense = zoho_state.account_id(zoho_org, "Shipping Expense")
    offset = zoho_state.account_id(zoho_org, "Petty Cash")
    assert f'value="{expense}"' in page  # the accounts come from Zoho's chart of accounts
    response = merchant.post(
        reverse("flow_detail", args=[flow.pk]),
        {"shipment_mode": "journal", "expense_account_id": expense, "offset_account_id": offset},
    )
    assert response.status_code == 302
    merchant.post(reverse("flow_toggle", args=[flow.pk]))
    flow.refresh_from_db()
    assert flow.enabled and flow.options["expense_account_id"] == expense
    ss = ShipStationClient(
        f"{live_server.url}/sandbox/shipstation", api_key=account.api_key, api_secret=account.api_secret
    )
    return Setup(account, zoho_org, flow, ss)


def create_label(ss, order_id, cost=7.5):
    return ss.request_json(
        "POST",
        "orders/createlabelfororder",
        json={
            "orderId": order_id,
            "carrierCode": "stamps_com",
            "serviceCode": "usps_priority_mail",
            "shipDate": datetime.now(UTC).date().isoformat(),
            "shipmentCost": cost,
        },
    )


def test_shipstation_to_zoho_books_end_to_end(merchant, alice, live_server, celery_worker):
    setup = connect_and_start(merchant, alice, live_server)
    zoho_org, flow, ss = setup.zoho_org, setup.flow, setup.ss

    # --- Orders arrive in ShipStation; ORDER_NOTIFY webhooks bring them in --------------------------
    created = {n: ss.create_order(order_body(n, email=f"buyer{n}@example.com")) for n in ("E-1", "E-2", "E-3", "E-4")}
    for number in created:
        wait_until(lambda n=number: record_status(n) == "synced", timeout=90, message=f"order {number} synced")
    for number in created:
        (invoice,) = invoices(zoho_org, number)
        assert Decimal(invoice.data["total"]) == Decimal("27.05")  # 2 x 10.50 + 1.05 tax + 5.00 shipping

    # --- Zoho fails for one order: it shows as failed; fault lifted; Replay syncs it ----------------
    set_zoho_faults(live_server, zoho_org, error_rate=1.0)
    ss.create_order(order_body("E-5", email="buyer5@example.com"))
    wait_until(lambda: record_status("E-5") == "failed", timeout=90, message="order E-5 failed")
    failed = Record.objects.get(source_ref="E-5", object_type="order")
    assert failed.last_error and failed.remediation
    assert b"E-5" in merchant.get(reverse("audit_log") + "?status=failed").content
    set_zoho_faults(live_server, zoho_org, error_rate=0.0)
    merchant.post(reverse("record_replay", args=[failed.pk]))
    wait_until(lambda: record_status("E-5") == "synced", timeout=90, message="order E-5 replayed")
    assert len(invoices(zoho_org, "E-5")) == 1

    # --- Edit one, cancel one (found by polling: ShipStation only notifies new orders) -------------
    edited = order_body("E-2", email="buyerE-2@example.com")
    edited["items"][0]["quantity"] = 3
    edited["amountPaid"] = 37.55
    ss.create_order(edited)
    ss.create_order(order_body("E-3", email="buyerE-3@example.com", status="cancelled"))
    merchant.post(reverse("flow_run_now", args=[flow.pk]))

    def edit_and_void_applied():
        (e2,) = invoices(zoho_org, "E-2")
        (e3,) = invoices(zoho_org, "E-3")
        return Decimal(e2.data["total"]) == Decimal("37.55") and e3.data.get("status") == "void"

    wait_until(edit_and_void_applied, timeout=90, message="edit and void in Zoho")

    # --- Ship two orders (SHIP_NOTIFY), then void one label (found by polling voidDate) -------------
    labels = {number: create_label(ss, created[number]["orderId"]) for number in ("E-1", "E-4")}
    wait_until(lambda: len(journals(zoho_org)) == 2, timeout=90, message="two shipment journals")
    ss.request_json("POST", "shipments/voidlabel", json={"shipmentId": labels["E-4"]["shipmentId"]})
    merchant.post(reverse("flow_run_now", args=[flow.pk]))
    wait_until(lambda: len(journals(zoho_org)) == 3, timeout=90, message="the reversal journal")

    # --- The end state, as the accountant sees it in Zoho --------------------------------------------
    # (shipping changed the orders' status too: let those updates finish)
    wait_until(lambda: not Record.objects.filter(status="pending").exists(), timeout=60, message="quiet")
    for number in ("E-1", "E-2", "E-3", "E-4", "E-5"):
        assert len(invoices(zoho_org, number)) == 1, f"exactly one invoice for {number}"
    posted = journals(zoho_org)
    assert all(balanced(j) for j in posted)
    amounts = sorted(Decimal(str(j.data["total"])) for j in posted)
    assert amounts == [Decimal("7.50")] * 3
    references = sorted(j.reference_number for j in posted)
    assert references.count("E-4") == 2 and references.count("E-1") == 1
    assert record_status("E-1", "order") == "synced"
    assert Record.objects.filter(object_type="shipment", status="synced").count() == 2


def test_chaos_same_end_state_nothing_duplicated_nothing_lost(merchant, alice, live_server, celery_worker):
    """The same flow with 10% 5xx and 5% 429 from both vendors and duplicate webhooks: after the
    merchant replays what failed, the books are exactly what a calm run gives."""
    setup = connect_and_start(merchant, alice, live_server)
    ss, zoho_org, flow = setup.ss, setup.zoho_org, setup.flow
    calm = ss.sleep
    ss.sleep = lambda seconds: calm(min(seconds, 0.5))  # our own test calls: do not wait a window out
    # Scaled clocks: ShipStation's window is 5 s (its 429s say "wait until the window resets") and
    # Zoho's 429s say Retry-After: 3, so the run fits in a test.
    SandboxAccount.objects.filter(pk=setup.account.pk).update(
        fault_5xx_rate=0.10, fault_429_rate=0.05, duplicate_webhook_rate=0.5, seed=11, rate_window_seconds=5
    )
    set_zoho_faults(live_server, zoho_org, error_rate=0.10, rate_429=0.05, seed=12, retry_after_seconds=3)
    numbers = [f"C-{i}" for i in range(1, 9)]
    created = {}
    for number in numbers:
        created[number] = _with_retries(lambda n=number: ss.create_order(order_body(n, email=f"{n}@example.com")))
    for number in numbers[:3]:
        _with_retries(lambda n=number: create_label(ss, created[n]["orderId"]))

    def settled():
        merchant.post(reverse("flow_run_now", args=[flow.pk]))
        merchant.post(reverse("bulk_replay"), {"status": "failed"})
        orders = Record.objects.filter(object_type="order", status="synced").count()
        shipments = Record.objects.filter(object_type="shipment", status="synced").count()
        return orders == len(numbers) and shipments == 3

    wait_until(settled, timeout=300, interval=3, message="every order and shipment synced despite the faults")
    for number in numbers:
        assert len(invoices(zoho_org, number)) == 1, f"exactly one invoice for {number}"
        assert Decimal(invoices(zoho_org, number)[0].data["total"]) == Decimal("27.05")
    posted = journals(zoho_org)
    assert len(posted) == 3 and all(balanced(j) for j in posted)
    assert sorted(j.reference_number for j in posted) == numbers[:3]
    assert Record.objects.filter(object_type="order").count() == len(numbers)  # nothing lost, nothing extra


def _with_retries(call, attempts: int = 8):
    """The test's own calls to the sandbox go through the same faults; a person would retry them."""
    from connector.http import Transient

    for attempt in range(attempts):
        try:
            return call()
        except Transient:
            if attempt == attempts - 1:
                raise
    return None
