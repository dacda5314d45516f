"""Each order-rule event fires in the situation that names it, through the real engine and the Zoho
sandbox (the cheap per-event checks; the end-to-end test runs a few of them with a worker)."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail

from connector import engine
from connector.adapters import Change
from connector.canonical import LineItem, Order, from_payload
from connector.models import Alert, Connection, Event, Flow, Record
from integrations.zoho import store as store_module
from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.models import SandboxZohoDocument

pytestmark = pytest.mark.django_db(transaction=True)
FIXTURES = Path(__file__).parent / "fixtures"


class FakeStore:
    def __init__(self):
        self.calls = []

    def mark_shipped(self, connection, info):
        self.calls.append(("shipped", info.order_source_id, info.tracking_number))
        return {}

    def set_status(self, connection, order_source_id, status):
        self.calls.append(("status", order_source_id, status))
        return {}

    def add_note(self, connection, order_source_id, text, customer_visible=False):
        self.calls.append(("note", order_source_id, text, customer_visible))
        return {}


@pytest.fixture
def store(monkeypatch) -> FakeStore:
    fake = FakeStore()
    monkeypatch.setattr(store_module, "store_side_for", lambda flow: fake)
    return fake


@pytest.fixture
def flow(alice, zoho_connection):
    shop = Connection.objects.create(organization=alice.org, system="woocommerce", label="Shop")
    return Flow.objects.create(
        organization=alice.org,
        preset="woocommerce_zoho",
        source=shop,
        target=zoho_connection,
        options={"document": "sales_order"},
        enabled=True,
    )


def an_order(number="2001", **changes) -> Order:
    base = from_payload(Order, json.loads((FIXTURES / "order_2001_salesorder.json").read_text()))
    return dataclasses.replace(base, number=number, source_id=f"id-{number}", **changes)


def sync(flow, order: Order) -> Record:
    record = engine.record_change(flow, Change("order", order.source_id, order.number, order.modified_at, order))
    engine.sync_record(record.pk)
    record.refresh_from_db()
    return record


def with_rules(flow, *rules):
    flow.options = {**flow.options, "rules": list(rules)}
    flow.save()


def rule(name, event, *actions, when=()):
    return {"name": name, "event": event, "when": list(when), "actions": list(actions)}


def fired(record, name) -> list[Event]:
    return list(Event.objects.filter(record=record, data__rule=name, kind="alert"))


def sales_order(org, number):
    return SandboxZohoDocument.objects.filter(org=org, kind="salesorder", reference_number=number).first()


def test_scheduled_and_before_submit_and_after_submit(flow, sandbox_org, store):
    with_rules(
        flow,
        rule("Seen", "scheduled", {"type": "alert", "message": "New order on its way"}),
        rule("Gift", "before_submit", {"type": "note", "text": "Gift wrap"}, when=[{"field": "sku", "op": "matches", "value": "CAP-*"}]),
        rule("Tax", "before_submit", {"type": "set_tax_id", "tax_id": "T-EXEMPT", "sku": "NOPE-*"}),
        rule("Thanks", "after_submit", {"type": "note", "text": "Sent to accounts", "customer_visible": True},
             {"type": "set_store_status", "status": "on-hold"}, {"type": "email", "to": "alice@example.com"}),
    )  # fmt: skip
    record = sync(flow, an_order())
    assert record.status == "synced" and record.stage == "submitted"
    assert [e.data["event"] for e in Event.objects.filter(record=record, kind="alert").order_by("id")] == [
        "scheduled",
        "before_submit",
        "before_submit",
        "after_submit",
    ]
    assert Alert.objects.get(record=record, resolved_at=None).message == "New order on its way"
    assert sales_order(sandbox_org, "2001").data["notes"] == "Leave at the door\nGift wrap"  # changed before submit
    assert store.calls == [("note", "id-2001", "Sent to accounts", True), ("status", "id-2001", "on-hold")]
    (email,) = mail.outbox
    assert email.to == ["alice@example.com"] and "2001" in email.subject and "After submit" in email.subject


def test_invalid_sku_when_creating_items_is_off(flow, sandbox_org):
    flow.options["create_missing_items"] = False
    with_rules(flow, rule("Bad SKU", "invalid_sku", {"type": "email", "to": "alice@example.com"}))
    record = sync(flow, an_order())
    assert record.status == "failed" and record.stage == "not_submitted" and "MUG-1" in record.last_error
    assert "Create the items in Zoho Books" in record.remediation
    assert len(fired(record, "Bad SKU")) == 1 and "MUG-1" in mail.outbox[0].body
    assert sales_order(sandbox_org, "2001") is None


def test_no_products(flow, sandbox_org):
    with_rules(flow, rule("Empty", "no_products", {"type": "alert", "message": "Order without products"}))
    empty = an_order(lines=(LineItem(sku="X", name="X", quantity=Decimal("0"), unit_price=Decimal("1")),))
    record = sync(flow, empty)
    assert record.status == "failed" and record.stage == "not_submitted"
    assert len(fired(record, "Empty")) == 1 and Alert.objects.filter(message="Order without products").exists()


def test_general_error_on_a_missing_contact(flow, sandbox_org):
    flow.options["create_contact_if_missing"] = False
    with_rules(
        flow,
        rule("Oops", "general_error", {"type": "alert", "message": "Not submitted"}),
        rule("Never", "invalid_sku", {"type": "alert", "message": "wrong event"}),
    )
    record = sync(flow, an_order())
    assert record.status == "failed" and record.stage == "not_submitted"
    assert "Create a contact in Zoho Books" in record.remediation
    assert len(fired(record, "Oops")) == 1 and not fired(record, "Never")


def test_hold_and_skip(flow, sandbox_org):
    with_rules(
        flow,
        rule("Big", "before_submit", {"type": "hold"}, when=[{"field": "total", "op": "gt", "value": "100"}]),
        rule("Canada", "scheduled", {"type": "skip"}, when=[{"field": "email", "op": "contains", "value": "@skip."}]),
    )
    held = sync(flow, an_order("2002", total=Decimal("141.81"), shipping=Decimal("104.95")))
    assert held.status == "needs_review" and "held by an order rule" in held.last_error
    customer = dataclasses.replace(an_order().customer, email="a@skip.example", key="a@skip.example")
    skipped = sync(flow, an_order("2003", customer=customer))
    assert skipped.status == "skipped" and skipped.stage == "not_submitted"
    assert sales_order(sandbox_org, "2002") is None and sales_order(sandbox_org, "2003") is None


def test_canceled_in_zoho_on_the_next_store_edit(flow, sandbox_org):
    with_rules(flow, rule("Voided", "canceled_in_zoho", {"type": "alert", "message": "Voided in Zoho"}))
    record = sync(flow, an_order())
    state.set_sales_order(sandbox_org, record.target_id, status="void")
    record = sync(flow, an_order(notes="Please hurry"))
    assert record.status == "skipped" and record.stage == "canceled"
    assert len(fired(record, "Voided")) == 1
    assert sales_order(sandbox_org, "2001").data["notes"] == "Leave at the door"


def test_a_failing_store_action_is_recorded_and_the_order_still_syncs(flow, sandbox_org):
    """The shop connection has no store behind it: the action fails visibly, the sync goes on."""
    with_rules(flow, rule("Status", "after_submit", {"type": "set_store_status", "status": "completed"}))
    record = sync(flow, an_order())
    assert record.status == "synced"
    failed = Event.objects.get(record=record, kind="failed", data__rule="Status")
    assert "set_store_status failed" in failed.message


def test_a_missing_contact_in_another_currency_says_which(flow, sandbox_org):
    """Zoho gives a sales order its contact's currency: the USD contact does not do for a EUR order."""
    flow.target.settings = {**flow.target.settings, "currency_code": "USD"}
    flow.target.save()
    flow.options["create_contact_if_missing"] = False
    flow.save()
    from integrations.zoho.client import ZohoBooksClient

    ZohoBooksClient(flow.target).create_contact(
        {"contact_name": "Grace", "contact_persons": [{"email": "grace@example.com", "is_primary_contact": True}]}
    )
    record = sync(flow, an_order(currency="EUR"))
    assert record.status == "failed" and "grace@example.com and the currency EUR" in record.last_error
    assert sync(flow, an_order("2002")).status == "synced"  # in USD the contact is found


def test_submit_rule_decides_when_the_flow_sends_only_rule_submitted_orders(flow, sandbox_org, store):
    flow.options = {**flow.options, "rule_submit_only": True}
    flow.save()
    with_rules(
        flow,
        rule("Big ones", "before_submit", {"type": "submit"}, when=[{"field": "total", "op": "gte", "value": "20"}]),
    )
    small = sync(flow, an_order("2101", total=Decimal("5.00")))
    assert small.status == "skipped" and small.stage == "not_submitted"
    assert "only orders a rule submits" in Event.objects.filter(record=small).last().message
    assert sales_order(sandbox_org, "2101") is None
    big = an_order("2102")
    assert big.total >= 20
    done = sync(flow, big)
    assert done.status == "synced" and sales_order(sandbox_org, "2102") is not None
    assert fired(done, "Big ones")


def test_cancel_in_zoho_after_submit_voids_the_sales_order(flow, sandbox_org, store):
    with_rules(
        flow,
        rule(
            "No exports",
            "after_submit",
            {"type": "cancel_in_zoho"},
            when=[{"field": "country", "op": "ne", "value": "ZZ"}],
        ),
    )
    record = sync(flow, an_order("2201"))
    written = sales_order(sandbox_org, "2201")
    assert written is not None and written.data["status"] == "void"
    assert record.stage == "canceled" and fired(record, "No exports")
