"""Exact Online ↔ ShipStation, end to end, the way a merchant uses it.

A real Celery worker process, the live server, PostgreSQL/SQLite and Redis, and both sandboxes over
real HTTP. The merchant connects Exact through the sandbox consent page (choosing one of two
companies) and ShipStation with sandbox keys, adds the `exact_shipstation` flow with GL accounts, the
journal and cost centres picked from Exact, and presses Run now. Exact sales orders become ShipStation
orders (createorders, upserted by orderKey = Exact OrderID); labels bought in the ShipStation sandbox
(SHIP_NOTIFY) post balanced journal entries in Exact and write the tracking number back on the order;
a voided label is reversed once; a cancelled Exact order cancels its ShipStation order unless shipped.
Assertions are on both sandboxes' own state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.urls import reverse

from connector.models import Connection, Event, Flow, Record
from integrations.exact.oauth import webhook_secret
from integrations.exact.sandbox import state as exact_state
from integrations.exact.sandbox.models import SandboxExactEntity
from integrations.exact.webhooks import signed_body
from integrations.shipstation.client import ShipStationClient
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxOrder
from tests.e2e.conftest import wait_until
from tests.sandbox_session import signed_in

# Exact allows 60 calls a minute per company, and its sandbox counts them the same way. This test
# spends more than that in its first minute (connect, the flow form's lists, four orders, three
# entries), so a step may wait for the next minute window before it can finish: waits cover it.
EXACT_WAIT = 90

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def rows(division, entity: str) -> list[dict]:
    return [r.data for r in SandboxExactEntity.objects.filter(division=division, entity=entity).order_by("id")]


def entries(division) -> list[dict]:
    """Journal entries with their lines, as the accountant sees them in Exact."""
    lines = rows(division, "GeneralJournalEntryLines")
    return [
        {**e, "lines": [line for line in lines if line["EntryID"] == e["EntryID"]]}
        for e in rows(division, "GeneralJournalEntries")
    ]


def amount(line: dict) -> Decimal:
    return Decimal(str(line["AmountFC"]))


def synced(object_type: str, ref: str) -> bool:
    return Record.objects.filter(object_type=object_type, source_ref=ref, status="synced").exists()


def connect_exact(merchant, email: str):
    """Connections → Exact Online → NL → the sandbox consent page → Accept → back with a code."""
    started = merchant.post(reverse("exact_connect"), {"country": "nl"})
    assert started.status_code == 302
    consent = started["Location"]
    query = dict(parse_qsl(urlsplit(consent).query))
    me = get_user_model().objects.get(pk=merchant.session["_auth_user_id"])  # the consent page needs the login
    answered = signed_in(me).post(
        consent.split("?")[0], data={**query, "decision": "accept", "email": email}, allow_redirects=False, timeout=10
    )
    assert answered.status_code == 302, answered.text
    back = urlsplit(answered.headers["Location"])
    return merchant.get(f"{back.path}?{back.query}")


@pytest.fixture
def merchant(client, alice, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    client.force_login(alice)
    return client


def test_exact_to_shipstation_and_costs_back_end_to_end(merchant, alice, live_server, celery_worker):
    # --- Exact: a login with two companies; the second gets extra orders and a second project ----
    user, (first, company) = exact_state.create_company(
        "nl", "owner@alice.example", "Alice BV", divisions=2, organization=alice.org
    )
    item = next(r for r in company.entities.filter(entity="Items"))
    account = company.entities.get(entity="Accounts").guid
    delivery = company.entities.get(entity="Addresses").guid
    web = company.entities.get(entity="Projects").guid  # P-WEB, on orders 1 and 2
    b2b = exact_state.put(company, "Projects", {"Code": "P-B2B", "Description": "Wholesale", "Type": 4}).guid
    exact_state.add_sales_order(company, 3, account, delivery, item.guid, (1, 2, 3), price=7.99)  # no project
    exact_state.add_sales_order(company, 4, account, delivery, item.guid, (3,), project=b2b)  # unmapped → default
    orders = {str(r["OrderNumber"]): r for r in rows(company, "SalesOrders")}
    assert sorted(orders) == ["1", "2", "3", "4"]

    done = connect_exact(merchant, "owner@alice.example")
    exact = Connection.objects.get(organization=alice.org, system="exact")
    assert done["Location"] == reverse("exact_pick_division", args=[exact.pk])
    assert exact.settings["division"] == first.code  # Exact's current division until one is picked
    merchant.post(done["Location"], {"division": str(company.code)})
    exact.refresh_from_db()
    assert exact.settings["division"] == company.code and exact.status == "active"

    # --- ShipStation with its sandbox keys (validated live, webhooks subscribed) -------------------
    ss_account = SandboxAccount.objects.create(name="Alice's warehouse", organization=alice.org)
    response = merchant.post(
        reverse("shipstation_connect"),
        {
            "label": "Alice ShipStation",
            "api_key": ss_account.api_key,
            "api_secret": ss_account.api_secret,
            "base_url": f"{live_server.url}/sandbox/shipstation",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    shipstation = Connection.objects.get(organization=alice.org, system="shipstation")

    # --- The flow: GL accounts, journal and cost centres picked from Exact's own lists -------------
    merchant.post(
        reverse("flow_create"),
        {"preset": "exact_shipstation", "source": exact.pk, "target": shipstation.pk, "interval_seconds": 300},
    )
    flow = Flow.objects.get(organization=alice.org)
    gl = {r["Code"]: r["ID"] for r in rows(company, "GLAccounts")}
    page = merchant.get(reverse("flow_detail", args=[flow.pk])).content.decode()
    assert f'value="{gl["4600"]}"' in page and 'value="CC200"' in page  # listed from the chosen company
    response = merchant.post(
        reverse("flow_detail", args=[flow.pk]),
        {
            "exact_expense_gl_account": gl["4600"],
            "exact_offset_gl_account": gl["1600"],
            "exact_journal_code": "90",
            "exact_default_cost_center": "CC100",
            "exact_project_cost_centers": '{"P-WEB": "CC200"}',
        },
    )
    assert response.status_code == 302, response.content[-3000:]
    merchant.post(reverse("flow_toggle", args=[flow.pk]))
    flow.refresh_from_db()
    assert flow.enabled and flow.options["exact_project_cost_centers"] == {"P-WEB": "CC200"}

    # --- Run now: the four sales orders become ShipStation orders, once each ------------------------
    merchant.post(reverse("flow_run_now", args=[flow.pk]))
    for number in orders:
        wait_until(
            lambda n=number: synced("order", n), timeout=EXACT_WAIT, message=f"sales order {number} in ShipStation"
        )
    placed = {o.order_number: o for o in SandboxOrder.objects.filter(account=ss_account)}
    assert sorted(placed) == ["1", "2", "3", "4"]
    for number, so in orders.items():
        assert placed[number].order_key == so["OrderID"]
    three = placed["3"].data
    assert three["customerEmail"] == "inkoop@devries.example"
    assert three["shipTo"]["street1"] == "Damrak 70" and three["shipTo"]["country"] == "NL"
    assert [(i["sku"], i["quantity"], i["unitPrice"]) for i in three["items"]] == [
        ("MUG-01", 1, 7.99),
        ("MUG-01", 2, 7.99),
        ("MUG-01", 3, 7.99),
    ]
    calls = Event.objects.filter(kind="api_call", message__contains="orders/createorders")
    assert calls.exists() and not Event.objects.filter(kind="api_call", message__contains="orders/createorder ")

    # --- Labels in ShipStation (SHIP_NOTIFY) → balanced entries in Exact, tracking on the order ----
    ss = ShipStationClient(
        f"{live_server.url}/sandbox/shipstation", api_key=ss_account.api_key, api_secret=ss_account.api_secret
    )
    labels = {}
    for number, cost, insured in (("1", 10.00, True), ("3", 7.31, False), ("4", 4.5, False)):
        labels[number] = ss.request_json(
            "POST",
            "orders/createlabelfororder",
            json={
                "orderId": placed[number].pk,
                "carrierCode": "ups",
                "serviceCode": "ups_ground",
                "shipDate": datetime.now(UTC).date().isoformat(),
                "shipmentCost": cost,
                "insuranceOptions": {"insureShipment": insured, "insuredValue": 30},
            },
        )
    wait_until(lambda: len(entries(company)) == 3, timeout=EXACT_WAIT, message="three shipping-cost entries in Exact")
    by_order = {}
    for entry in entries(company):
        assert entry["JournalCode"] == "90" and sum(amount(x) for x in entry["lines"]) == 0  # balanced
        number = next(
            n for n, lb in labels.items() if any(lb["trackingNumber"] in x["Description"] for x in entry["lines"])
        )
        by_order[number] = entry
    one, three_e, four = by_order["1"]["lines"], by_order["3"]["lines"], by_order["4"]["lines"]
    # Order 1: 2 + 1 mugs at 12.50 (25.00, 12.50); 10.00 + 1.25 insurance split 2:1, project P-WEB → CC200.
    assert [(amount(x), x["GLAccount"], x.get("CostCenter")) for x in one] == [
        (Decimal("7.50"), gl["4600"], "CC200"),
        (Decimal("3.75"), gl["4600"], "CC200"),
        (Decimal("-11.25"), gl["1600"], None),
    ]
    # Order 3: 7.31 over 7.99 / 15.98 / 23.97 (1:2:3), to the cent, no project → default CC100.
    assert [amount(x) for x in three_e] == [Decimal("1.21"), Decimal("2.43"), Decimal("3.67"), Decimal("-7.31")]
    assert {x.get("CostCenter") for x in three_e[:-1]} == {"CC100"}
    # Order 4: project P-B2B is not mapped → the default cost centre.
    assert [(amount(x), x.get("CostCenter"), x.get("Project")) for x in four[:-1]] == [(Decimal("4.50"), "CC100", b2b)]
    assert one[0]["Project"] == web and "ups" in one[0]["Description"]

    def tracking_written():
        fresh = {str(r["OrderNumber"]): r for r in rows(company, "SalesOrders")}
        return all(labels[n]["trackingNumber"] in (fresh[n]["Remarks"] or "") for n in labels)

    wait_until(tracking_written, timeout=EXACT_WAIT, message="tracking numbers on the Exact sales orders")

    # --- A voided label is reversed once; a cancelled Exact order cancels unless shipped ------------
    ss.request_json("POST", "shipments/voidlabel", json={"shipmentId": labels["3"]["shipmentId"]})
    for number in ("1", "2"):  # 1 has shipped, 2 has not
        so = next(r for r in rows(company, "SalesOrders") if r["OrderNumber"] == int(number))
        exact_state.put(company, "SalesOrders", {**so, "Status": 45}, guid=so["OrderID"])
    merchant.post(reverse("flow_run_now", args=[flow.pk]))
    wait_until(lambda: len(entries(company)) == 4, timeout=EXACT_WAIT, message="the reversing entry")
    wait_until(
        lambda: SandboxOrder.objects.get(pk=placed["2"].pk).status == "cancelled",
        timeout=EXACT_WAIT,
        message="order 2 cancelled in ShipStation",
    )
    wait_until(
        lambda: Record.objects.filter(object_type="order", source_ref="1", status="skipped").exists(),
        timeout=EXACT_WAIT,
        message="order 1 left alone (already shipped)",
    )
    wait_until(lambda: not Record.objects.filter(status="pending").exists(), timeout=EXACT_WAIT, message="all settled")
    before = Flow.objects.get(pk=flow.pk).last_run_at
    merchant.post(reverse("flow_run_now", args=[flow.pk]))  # polling again changes nothing
    wait_until(lambda: Flow.objects.get(pk=flow.pk).last_run_at != before, timeout=EXACT_WAIT, message="another run")
    wait_until(lambda: not Record.objects.filter(status="pending").exists(), timeout=EXACT_WAIT, message="all settled")

    # --- A new order in Exact; its signed webhook brings it over without waiting for a poll -------
    new = exact_state.add_sales_order(company, 5, account, delivery, item.guid, (4,), project=web)
    body = signed_body(
        {"Topic": "SalesOrders", "Division": company.code, "Action": "Update", "Key": new.guid}, webhook_secret()
    )
    hook = f"{live_server.url}{reverse('exact_webhook', args=[exact.webhook_token])}"
    assert requests.post(hook, data=body, headers={"Content-Type": "application/json"}, timeout=10).status_code == 200
    wait_until(lambda: synced("order", "5"), timeout=EXACT_WAIT, message="order 5 from the Exact webhook")
    assert SandboxOrder.objects.get(account=ss_account, order_key=new.guid).data["items"][0]["quantity"] == 4

    # --- The end state, as the accountant and the warehouse see it --------------------------------
    posted = entries(company)
    assert len(posted) == 4 and all(sum(amount(x) for x in e["lines"]) == 0 for e in posted)
    (reversal,) = [e for e in posted if e["Reversal"]]
    assert [amount(x) for x in reversal["lines"]] == [-amount(x) for x in by_order["3"]["lines"]]
    assert SandboxOrder.objects.get(pk=placed["1"].pk).status == "shipped"
    assert SandboxOrder.objects.filter(account=ss_account).count() == 5
    assert Record.objects.filter(object_type="shipment", status="synced").count() == 3
    assert not Record.objects.filter(status__in=("failed", "needs_review")).exists()
    assert not rows(first, "GeneralJournalEntries")  # the other company is untouched


def test_new_orders_go_out_in_one_createorders_call(alice, live_server, settings):
    """The engine runs one record; the ShipStation target takes the other new orders of the flow
    along in the same `createorders` call and finishes each (Link, status, events) at once. A bad
    order in the batch fails on its own and does not sink the others. No worker: deterministic."""
    from connector import engine
    from tests.integrations.exact.conftest import make_connection

    settings.PUBLIC_BASE_URL = live_server.url
    _, (company,) = exact_state.create_company("nl", "batch@alice.example", "Batch BV", organization=alice.org)
    item = company.entities.get(entity="Items").guid
    account = company.entities.get(entity="Accounts").guid
    delivery = company.entities.get(entity="Addresses").guid
    for number in range(3, 8):
        exact_state.add_sales_order(company, number, account, delivery, item, (number,))
    exact = make_connection(alice.org, company)
    ss_account = SandboxAccount.objects.create(name="Batch warehouse", organization=alice.org)
    shipstation = Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="SS",
        credentials={"api_key": ss_account.api_key, "api_secret": ss_account.api_secret},
        settings={"base_url": f"{live_server.url}/sandbox/shipstation"},
    )
    flow = Flow.objects.create(
        organization=alice.org, preset="exact_shipstation", name="E↔S", source=exact, target=shipstation, enabled=True
    )
    queued: list[int] = []
    summary = engine.run_flow(flow, enqueue=queued.append)
    assert summary["order"] == 7 and len(queued) == 7
    # Order 6 cannot be mapped (no date); order 7 is already shipped in ShipStation (locked).
    broken = Record.objects.get(source_ref="6")
    Record.objects.filter(pk=broken.pk).update(source_payload={**broken.source_payload, "order_date": None})
    locked = Record.objects.get(source_ref="7")
    ss = ShipStationClient(
        f"{live_server.url}/sandbox/shipstation", api_key=ss_account.api_key, api_secret=ss_account.api_secret
    )
    ss.create_order(
        {
            "orderNumber": "7",
            "orderKey": locked.source_id,
            "orderDate": "2024-03-01 10:00:00",
            "orderStatus": "shipped",
            "billTo": {"name": "X"},
            "shipTo": {"name": "X"},
        }
    )

    assert engine.sync_record(queued[0]).status == "synced"

    placed = {o.order_number: o for o in SandboxOrder.objects.filter(account=ss_account)}
    assert sorted(placed) == ["1", "2", "3", "4", "5", "7"] and placed["7"].status == "shipped"
    assert Event.objects.filter(kind="api_call", message__contains="createorders").count() == 1  # 1 call for 6
    statuses = dict(Record.objects.values_list("source_ref", "status"))
    assert statuses == {
        "1": "synced",
        "2": "synced",
        "3": "synced",
        "4": "synced",
        "5": "synced",
        "6": "pending",
        "7": "failed",
    }
    assert "locked" in Record.objects.get(source_ref="7").last_error
    assert Record.objects.filter(lease_until__isnull=False).count() == 0  # every lease given back
    # Their own queued tasks: nothing left to write; the unmappable one fails visibly on its own.
    assert {engine.sync_record(pk).status for pk in queued[1:] if pk not in (broken.pk, locked.pk)} == {"unchanged"}
    assert engine.sync_record(broken.pk).status == "failed"
    assert "no order date" in Record.objects.get(pk=broken.pk).last_error


def test_a_cancellation_seen_while_its_order_went_out_in_a_batch_still_cancels_it(alice, live_server, settings):
    """A companion order leaves in another record's `createorders` call; while that call is out, a
    poll sees the order cancelled in Exact and refreshes the record. The batch must finish the record
    with the version it sent, so the record's own sync finds the cancellation new and cancels the
    ShipStation order (finished with the stored, newer payload, the cancellation counted as written
    and was never sent: the chaos run, bench/chaos.py, found two such orders)."""
    from connector import engine
    from integrations.shipstation.client import ShipStationClient as Client
    from tests.integrations.exact.conftest import make_connection

    settings.PUBLIC_BASE_URL = live_server.url
    _, (company,) = exact_state.create_company("nl", "race@alice.example", "Race BV", organization=alice.org)
    item = company.entities.get(entity="Items").guid
    account = company.entities.get(entity="Accounts").guid
    delivery = company.entities.get(entity="Addresses").guid
    exact_state.add_sales_order(company, 3, account, delivery, item, (2,))
    exact = make_connection(alice.org, company)
    ss_account = SandboxAccount.objects.create(name="Race warehouse", organization=alice.org)
    shipstation = Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="SS",
        credentials={"api_key": ss_account.api_key, "api_secret": ss_account.api_secret},
        settings={"base_url": f"{live_server.url}/sandbox/shipstation"},
    )
    flow = Flow.objects.create(
        organization=alice.org, preset="exact_shipstation", name="E↔S", source=exact, target=shipstation, enabled=True
    )
    queued: list[int] = []
    engine.run_flow(flow, enqueue=queued.append)
    first, companion = Record.objects.get(pk=queued[0]), Record.objects.get(source_ref="3")
    assert first.pk != companion.pk

    sent = Client.create_orders

    def cancelled_while_out(client, bodies):
        answer = sent(client, bodies)
        so = next(r for r in rows(company, "SalesOrders") if r["OrderNumber"] == 3)
        exact_state.put(company, "SalesOrders", {**so, "Status": 45}, guid=so["OrderID"])
        engine.run_flow(Flow.objects.get(pk=flow.pk), enqueue=lambda pk: None)  # the poll sees it
        return answer

    Client.create_orders = cancelled_while_out
    try:
        assert engine.sync_record(first.pk).status == "synced"
    finally:
        Client.create_orders = sent
    placed = SandboxOrder.objects.get(account=ss_account, order_number="3")
    assert placed.status == "awaiting_shipment"  # it went out open, in the batch
    companion.refresh_from_db()
    assert companion.source_payload["status"] == "cancelled"  # the poll's refresh is kept

    assert engine.sync_record(companion.pk).status == "synced"  # its own sync: the cancellation is new
    assert SandboxOrder.objects.get(pk=placed.pk).status == "cancelled"
