"""WooCommerce and ShipStation → Zoho Books sales orders, shipment pull-back and order rules,
end to end with a real Celery worker, the live server and the three sandboxes over real HTTP.

Alice connects a WooCommerce store (with the Shipment Tracking extension), a ShipStation account
and Zoho Books, adds one flow from each store, switches both to sales orders on the flow page, and
sets their order rules in the rule builder and through the API. Orders arrive by webhook; the
worker sends them as sales orders. The Zoho sandbox page is where a person fills tracking and voids
a sales order; pull-back (the Celery task beat queues) finds the tracking, and the worker writes it
to each store exactly once. Per-event rule checks that need no worker live in
tests/integrations/zoho/test_rules_events.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from connector.models import Alert, Connection, Event, Flow, Link, Record
from integrations.shipstation.client import ShipStationClient
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxOrder
from integrations.woocommerce.sandbox import tracking as woo_tracking
from integrations.woocommerce.sandbox.models import SandboxOrder as WooOrder
from integrations.woocommerce.sandbox.views import create_store
from integrations.zoho import pullback
from integrations.zoho.client import ZohoBooksClient
from integrations.zoho.pullback import pull_back_flow
from integrations.zoho.sandbox import state as zoho_state
from integrations.zoho.sandbox.models import SandboxZohoDocument
from tests.e2e.conftest import wait_until
from tests.e2e.test_woocommerce_zoho import Store, billing, connect_store, seed_item
from tests.integrations.shipstation.conftest import order_body
from tests.integrations.zoho.consent import connect_through_consent
from tests.sandbox_session import member_of

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WOO_RULES = [
    {
        "name": "Big order",
        "event": "scheduled",
        "when": [{"field": "total", "op": "gt", "value": "30"}],
        "actions": [{"type": "alert", "message": "A big order is on its way to Zoho"}],
    },
    {
        "name": "Tell the warehouse",
        "event": "after_submit",
        "actions": [{"type": "note", "text": "Sent to Zoho Books as a sales order."}],
    },
    {"name": "Empty", "event": "no_products", "actions": [{"type": "alert", "message": "An order without products"}]},
    {"name": "Voided", "event": "canceled_in_zoho", "actions": [{"type": "email", "to": "ops@alice.example"}]},
]
SHIPSTATION_RULES = [
    {"name": "Unknown SKU", "event": "invalid_sku", "actions": [{"type": "alert", "message": "Unknown SKU"}]},
    {"name": "Failed", "event": "general_error", "actions": [{"type": "alert", "message": "Not submitted"}]},
]


@pytest.fixture
def merchant(client, alice, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    client.force_login(alice)
    return client


def sales_order(org, number: str) -> SandboxZohoDocument | None:
    found = list(SandboxZohoDocument.objects.filter(org=org, kind="salesorder", reference_number=number))
    assert len(found) <= 1, f"{len(found)} sales orders for {number}"
    return found[0] if found else None


def record(flow: Flow, number: str) -> Record | None:
    return Record.objects.filter(flow=flow, object_type="order", source_ref=number).first()


def state_of(flow: Flow, number: str) -> tuple[str, str] | None:
    found = record(flow, number)
    return (found.status, found.stage) if found else None


def fired(flow: Flow, number: str, rule: str) -> bool:
    return Event.objects.filter(record=record(flow, number), data__rule=rule).exists()


def add_flow(merchant, preset: str, source: Connection, zoho: Connection, options: dict) -> Flow:
    """Flows → Add a flow → the flow page's options (sales orders) → Start."""
    merchant.post(
        reverse("flow_create"), {"preset": preset, "source": source.pk, "target": zoho.pk, "interval_seconds": 900}
    )
    flow = Flow.objects.get(preset=preset)
    saved = merchant.post(
        reverse("flow_detail", args=[flow.pk]),
        {"document": "sales_order", "pullback_interval_hours": "3", "pullback_lookback_hours": "4", **options},
    )
    assert saved.status_code == 302, saved.content.decode()[-2000:]
    merchant.post(reverse("flow_toggle", args=[flow.pk]))
    flow.refresh_from_db()
    assert flow.enabled and flow.options["document"] == "sales_order"
    return flow


def pull_back_now(flow: Flow, *, paused: bool = False) -> None:
    """What beat's pull_back_due_flows queues, run by the worker; waits until that run is done."""
    before = pullback.last_run_at(flow)
    pull_back_flow.delay(flow.pk)
    if paused:  # a paused run saves no state: it raises the Alert
        key = pullback.fields_alert_key(flow)
        wait_until(lambda: Alert.objects.filter(key=key, resolved_at=None).exists(), timeout=20, message="the Alert")
    else:
        wait_until(lambda: pullback.last_run_at(flow) != before, timeout=20, message=f"pull-back of {flow}")


def test_sales_orders_pull_back_and_rules_end_to_end(merchant, alice, live_server, celery_worker):
    # --- Zoho Books knows some items already; the store has the Shipment Tracking extension -------
    books = zoho_state.create_org("us", "books@alice.example", "Alice Books", organization=alice.org)
    zoho = connect_through_consent(merchant, "us", "books@alice.example")
    hat_item = seed_item(books, "Woo Hat", "12.00", sku="WOO-HAT")
    gift_item = seed_item(books, "Gift box (Zoho's own)", "3.00")
    widget_item = seed_item(books, "Widget", "10.50", sku="SKU-1")

    shop = create_store("alice-so", name="Alice's shop", currency="USD", tax_rate="0.1", organization=alice.org)
    woo_tracking.enable(shop)
    store = Store(f"{live_server.url}/sandbox/woocommerce/{shop.slug}", shop.keys.first())
    woo = connect_store(merchant, live_server, shop)

    account = SandboxAccount.objects.create(name="Alice's warehouse", organization=alice.org)
    merchant.post(
        reverse("shipstation_connect"),
        {
            "label": "Alice ShipStation",
            "api_key": account.api_key,
            "api_secret": account.api_secret,
            "base_url": f"{live_server.url}/sandbox/shipstation",
        },
    )
    shipstation = Connection.objects.get(system="shipstation")
    ss = ShipStationClient(
        f"{live_server.url}/sandbox/shipstation", api_key=account.api_key, api_secret=account.api_secret
    )

    # --- Two flows into Zoho as sales orders: contacts created for the shop, not for ShipStation --
    woo_flow = add_flow(
        merchant, "woocommerce_zoho", woo, zoho, {"create_contact_if_missing": "on", "create_missing_items": "on"}
    )
    expense, offset = zoho_state.account_id(books, "Shipping Expense"), zoho_state.account_id(books, "Petty Cash")
    ss_flow = add_flow(
        merchant,
        "shipstation_zoho",
        shipstation,
        zoho,
        {"shipment_mode": "journal", "expense_account_id": expense, "offset_account_id": offset},
    )

    # --- Rules: one in the rule builder, the rest through the API --------------------------------
    built = merchant.post(
        reverse("zoho_rule_new", args=[woo_flow.pk]),
        {
            "name": "Gift wrap hats",
            "event": "before_submit",
            "match": "all",
            "enabled": "on",
            "cond_field": ["sku"],
            "cond_op": ["matches"],
            "cond_value": ["WOO-HAT*"],
            "act_type": ["note"],
            "act_value": ["Gift wrap the hats"],
            "act_sku": [""],
            "act_visible": [""],
            "action": "save",
        },
    )
    assert built.status_code == 302
    api = reverse("zoho_api_rules", args=[woo_flow.pk])
    current = merchant.get(api).json()["rules"]
    assert merchant.put(api, {"rules": current + WOO_RULES}, content_type="application/json").status_code == 200
    ss_api = reverse("zoho_api_rules", args=[ss_flow.pk])
    assert merchant.put(ss_api, {"rules": SHIPSTATION_RULES}, content_type="application/json").status_code == 200

    # --- Orders arrive by webhook -----------------------------------------------------------------
    w1 = store.place(
        {
            "billing": billing("Ada", "Lovelace", "ada@example.com"),
            "line_items": [
                {"sku": "WOO-HAT", "quantity": 2},  # known in Zoho by SKU
                {"sku": "WOO-MUG", "quantity": 1},  # unknown: created
                {"sku": "WOO-TEE", "quantity": 1, "meta_data": [{"key": "zohobooks_item_id", "value": gift_item}]},
            ],
            "shipping_lines": [{"method_title": "Flat rate", "total": "5.00"}],
            "customer_note": "Leave at the door",
        }
    )
    w2 = store.place(
        {"billing": billing("Grace", "Hopper", "grace@example.com"), "line_items": [{"sku": "WOO-MUG", "quantity": 1}]}
    )
    w3 = store.place(
        {
            "billing": billing("Alan", "Turing", "alan@example.com"),
            "shipping_lines": [{"method_title": "Flat rate", "total": "5.00"}],
        }
    )
    client = ZohoBooksClient(Connection.objects.get(pk=zoho.pk))
    client.create_contact(
        {"contact_name": "Buyer One", "contact_persons": [{"email": "buyer@example.com", "is_primary_contact": True}]}
    )
    s1 = ss.create_order(order_body("S-1", email="buyer@example.com"))
    s2 = ss.create_order(
        order_body("S-2", email="buyer@example.com", items=[{**order_body("x")["items"][0], "sku": "SKU-404"}])
    )
    ss.create_order(order_body("S-3", email="stranger@example.com"))
    number = {o["id"]: str(o["number"]) for o in (w1, w2, w3)}
    n1, n2, n3 = number[w1["id"]], number[w2["id"]], number[w3["id"]]

    wait_until(
        lambda: (
            state_of(woo_flow, n1) == ("synced", "submitted")
            and state_of(woo_flow, n2) == ("synced", "submitted")
            and state_of(woo_flow, n3) == ("failed", "not_submitted")
            and state_of(ss_flow, "S-1") == ("synced", "submitted")
            and state_of(ss_flow, "S-2") == ("failed", "not_submitted")
            and state_of(ss_flow, "S-3") == ("failed", "not_submitted")
        ),
        timeout=40,
        message="orders submitted or not submitted",
    )

    # W1: known, created and overridden items; notes from the store and the before-submit rule.
    so1 = sales_order(books, n1)
    assert Decimal(so1.data["total"]) == Decimal(w1["total"])
    items = {line["name"]: line["item_id"] for line in so1.data["line_items"]}
    assert items["Woo Hat"] == hat_item and items["Woo Tee"] == gift_item
    (mug,) = SandboxZohoDocument.objects.filter(org=books, kind="item", data__sku="WOO-MUG")
    assert items["Woo Mug"] == mug.object_id
    assert not SandboxZohoDocument.objects.filter(org=books, kind="item", data__sku="WOO-TEE").exists()
    assert so1.data["notes"] == "Leave at the door\nGift wrap the hats"
    assert "Gift wrap" not in sales_order(books, n2).data["notes"]  # no hat: the rule did not fire
    # Contacts: created for the shop's buyers (option on).
    assert SandboxZohoDocument.objects.filter(org=books, kind="contact", email="grace@example.com").count() == 1
    # Rules fired where they should, as Events; after submit the shop got its staff note.
    assert fired(woo_flow, n1, "Big order") and not fired(woo_flow, n2, "Big order")
    assert Alert.objects.filter(message="A big order is on its way to Zoho", resolved_at=None).count() == 1
    assert fired(woo_flow, n1, "Tell the warehouse") and fired(woo_flow, n3, "Empty")
    shop_notes = [n.note for n in WooOrder.objects.get(pk=w1["id"]).notes.all()]
    assert shop_notes == ["Sent to Zoho Books as a sales order."]
    # ShipStation: the item must exist (creating is off), and so must the contact (creating is off).
    assert sales_order(books, "S-1").data["line_items"][0]["item_id"] == widget_item
    assert fired(ss_flow, "S-2", "Unknown SKU") and "SKU-404" in record(ss_flow, "S-2").last_error
    s3 = record(ss_flow, "S-3")
    assert fired(ss_flow, "S-3", "Failed") and "stranger@example.com" in s3.remediation
    assert not sales_order(books, "S-2") and not sales_order(books, "S-3")
    # The accountant creates the contact; Replay submits the order.
    client.create_contact(
        {
            "contact_name": "A Stranger",
            "contact_persons": [{"email": "stranger@example.com", "is_primary_contact": True}],
        }
    )
    merchant.post(reverse("record_replay", args=[s3.pk]))
    wait_until(lambda: state_of(ss_flow, "S-3") == ("synced", "submitted"), timeout=20, message="S-3 replayed")

    # --- Pull-back: paused until the custom fields exist ------------------------------------------
    pull_back_now(woo_flow, paused=True)
    alert = Alert.objects.get(key=pullback.fields_alert_key(woo_flow), resolved_at=None)
    assert "tracking_number, carrier, shipping_method" in alert.message and "cf_carrier" in alert.remediation

    # A person in Zoho creates the fields, fills tracking on two sales orders and voids one.
    page = f"{live_server.url}/sandbox/zoho/_control/orgs/{books.organization_id}"
    requests = member_of(books.user.organization)  # the sandbox's pages belong to its organisation
    assert requests.post(f"{page}/customfields", json={"tracking_fields": True}, timeout=10).status_code == 201
    for number, carrier, tracking in ((n1, "UPS", "1Z999AA1"), ("S-1", "FedEx", "7712")):
        filled = requests.post(
            f"{page}/salesorders",
            data={
                "salesorder_id": sales_order(books, number).object_id,
                "tracking_number": tracking,
                "carrier": carrier,
                "shipping_method": "Ground",
            },
            timeout=10,
        )
        assert filled.status_code == 200 and tracking in filled.text
    requests.post(
        f"{page}/salesorders", data={"salesorder_id": sales_order(books, n2).object_id, "status": "void"}, timeout=10
    )

    for _ in range(2):  # twice: nothing is sent twice
        pull_back_now(woo_flow)
        pull_back_now(ss_flow)
    assert not Alert.objects.filter(key=pullback.fields_alert_key(woo_flow), resolved_at=None).exists()
    # Each tracking is a record of its flow that the worker writes to the store, once.
    tracked = {
        flow: Record.objects.filter(flow=flow, object_type="tracking", source_id=sales_order(books, number).object_id)
        for flow, number in ((woo_flow, n1), (ss_flow, "S-1"))
    }
    wait_until(
        lambda: all(records.filter(status="synced").count() == 1 for records in tracked.values()),
        timeout=30,
        message="tracking written back to both stores",
    )
    for records in tracked.values():
        assert Event.objects.filter(record=records.get(), kind="created").count() == 1

    shipped = WooOrder.objects.get(pk=w1["id"])
    assert shipped.status == "completed"
    (tracked,) = woo_tracking.items(shipped)
    assert (tracked["tracking_provider"], tracked["tracking_number"]) == ("UPS", "1Z999AA1")
    customer_notes = [n.note for n in shipped.notes.filter(customer_note=True)]
    assert len(customer_notes) == 1 and "UPS Ground" in customer_notes[0] and "1Z999AA1" in customer_notes[0]
    assert SandboxOrder.objects.get(pk=s1["orderId"]).status == "shipped"
    assert SandboxOrder.objects.get(pk=s2["orderId"]).status == "awaiting_shipment"  # never submitted, never shipped
    for flow, number in ((woo_flow, n1), (ss_flow, "S-1")):
        assert state_of(flow, number)[1] == "shipped"
        sent = Event.objects.filter(record=record(flow, number), data__stage="shipped", message__startswith="Shipped:")
        assert sent.count() == 1  # once, over three pull-back runs
    # Voided in Zoho: recorded once, with its rule.
    assert state_of(woo_flow, n2)[1] == "canceled" and fired(woo_flow, n2, "Voided")
    assert Event.objects.filter(record=record(woo_flow, n2), data__canceled_in_zoho=True).count() == 1

    # --- A rule preview changes nothing -----------------------------------------------------------
    counts = (Record.objects.count(), Event.objects.count(), Link.objects.count(), Alert.objects.count())
    zoho_docs = SandboxZohoDocument.objects.filter(org=books).count()
    preview = merchant.post(
        reverse("zoho_api_rules_preview", args=[woo_flow.pk]),
        {"rules": [{"name": "Hold all", "event": "before_submit", "actions": [{"type": "hold"}]}]},
        content_type="application/json",
    ).json()["orders"]
    assert {row["order"] for row in preview} == {n1, n2, n3} and {row["outcome"] for row in preview} == {"held"}
    assert (Record.objects.count(), Event.objects.count(), Link.objects.count(), Alert.objects.count()) == counts
    assert SandboxZohoDocument.objects.filter(org=books).count() == zoho_docs
    assert sales_order(books, n1).data["status"] != "void"
