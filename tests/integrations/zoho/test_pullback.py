"""Shipment pull-back: Zoho sandbox sales orders with tracking custom fields → a fake store side, once.

Pull-back finds the tracking and queues one "tracking" Record per sales order; the engine writes it
to the store (tracking.StoreTracking). `pull_back` below runs both, as beat and a worker would."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from connector import engine
from connector.canonical import Order, from_payload, to_payload
from connector.http import Transient
from connector.models import Alert, Connection, Event, Flow, Record
from integrations.zoho import pullback
from integrations.zoho import store as store_module
from integrations.zoho.adapter import ZohoBooksTarget
from integrations.zoho.sandbox import state
from tests.sandbox_session import member_of

pytestmark = pytest.mark.django_db(transaction=True)
FIXTURES = Path(__file__).parent / "fixtures"


class FakeStore:
    """The store side: records what it was told; can be made to fail a number of times (a 503)."""

    def __init__(self, fail: int = 0):
        self.shipped: list[pullback.TrackingInfo] = []
        self.statuses: list[tuple[str, str]] = []
        self.notes: list[tuple[str, str]] = []
        self.fail = fail

    def mark_shipped(self, connection, info):
        if self.fail:
            self.fail -= 1
            raise Transient("store is down", status=503)
        self.shipped.append(info)
        return {"ok": True}

    def set_status(self, connection, order_source_id, status):
        self.statuses.append((order_source_id, status))
        return {}

    def add_note(self, connection, order_source_id, text, customer_visible=False):
        self.notes.append((order_source_id, text))
        return {}


@pytest.fixture
def store(monkeypatch) -> FakeStore:
    """The flow's store as the writer and the rules reach it (integrations.zoho.store)."""
    fake = FakeStore()
    monkeypatch.setattr(store_module, "store_side_for", lambda flow, on_call=None: fake)
    return fake


def pull_back(flow, *, retries: bool = True, **kwargs) -> dict:
    """One pull-back run, then the worker's part: the engine runs each record it queued (a retry
    again at once when `retries`, as the worker does once its wait is over). The summary gains the
    engine's outcomes under "outcomes"."""
    queued: list[int] = []
    summary = pullback.pull_back(flow, enqueue=queued.append, **kwargs)
    if "paused" in summary:
        return summary
    summary["outcomes"] = [run(record_id, retries=retries) for record_id in queued]
    return summary


def run(record_id: int, *, retries: bool = True, replay: bool = False) -> str:
    outcome = engine.sync_record(record_id, replay=replay)
    while retries and outcome.status == "retry":
        outcome = engine.sync_record(record_id)
    return outcome.status


def tracking_record(flow, order: Record) -> Record:
    return Record.objects.get(flow=flow, object_type="tracking", source_id=order.target_id)


def the_order(number="2001", source_id="5512") -> Order:
    base = from_payload(Order, json.loads((FIXTURES / "order_2001_salesorder.json").read_text()))
    return dataclasses.replace(base, number=number, source_id=source_id)


@pytest.fixture
def flow(alice, zoho_connection):
    store = Connection.objects.create(organization=alice.org, system="woocommerce", label="Shop")
    return Flow.objects.create(
        organization=alice.org,
        preset="woocommerce_zoho",
        source=store,
        target=zoho_connection,
        options={"document": "sales_order"},
        enabled=True,
    )


def submit(flow, number="2001", source_id="5512") -> Record:
    """What the engine does for a sales-order flow: the adapter writes, the Record remembers the id."""
    order = the_order(number, source_id)
    target = ZohoBooksTarget(flow.target, options=flow.options)
    result = target.upsert("sales_order", order, target_id=None)
    target.client.session.close()
    return Record.objects.create(
        organization=flow.organization,
        flow=flow,
        object_type="order",
        source_id=source_id,
        source_ref=number,
        status="synced",
        target_id=result.target_id,
        payload=to_payload(order),
    )


def test_missing_custom_fields_pause_pull_back_with_an_exact_alert(flow, sandbox_org, store):
    state.add_custom_field(sandbox_org, "salesorder", "Carrier", "cf_carrier")
    summary = pull_back(flow)
    assert summary == {"paused": ["tracking_number", "shipping_method"]}
    alert = Alert.objects.get(key=pullback.fields_alert_key(flow), resolved_at=None)
    assert "tracking_number, shipping_method" in alert.message
    assert "label 'Tracking Number' (API name cf_tracking_number)" in alert.remediation
    assert "Settings → Preferences → Sales Orders → Custom Fields" in alert.remediation
    state.add_custom_field(sandbox_org, "salesorder", "Tracking Number", "cf_tracking_number")
    state.add_custom_field(sandbox_org, "salesorder", "Shipping Method", "cf_shipping_method")
    assert "paused" not in pull_back(flow)
    assert not Alert.objects.filter(key=pullback.fields_alert_key(flow), resolved_at=None).exists()


def test_tracking_filled_in_zoho_reaches_the_store_exactly_once(flow, sandbox_org, store):
    state.add_tracking_fields(sandbox_org)
    record = submit(flow)
    submit(flow, "2002", "5513")  # no tracking yet: waits
    assert pull_back(flow)["queued"] == 0 and not store.shipped
    state.set_sales_order(
        sandbox_org, record.target_id, tracking_number="1Z999AA1", carrier="UPS", shipping_method="Ground"
    )
    first = pull_back(flow)
    assert first["queued"] == 1 and first["waiting"] == 1 and first["outcomes"] == ["synced"]
    (info,) = store.shipped
    assert (info.order_source_id, info.tracking_number, info.carrier, info.shipping_method) == (
        "5512",
        "1Z999AA1",
        "UPS",
        "Ground",
    )
    again = pull_back(flow)  # still in the window: not sent twice
    assert again["queued"] == 0 and again["already"] == 1 and len(store.shipped) == 1
    shipped = Event.objects.get(record=record, data__stage="shipped")
    assert "UPS 1Z999AA1" in shipped.message
    record.refresh_from_db()
    assert record.stage == "shipped"
    # The write-back is a record of its own: the audit trail of the store call, like any other.
    tracked = tracking_record(flow, record)
    assert (tracked.status, tracked.source_ref, tracked.target_id) == ("synced", "2001", "5512")
    assert tracked.result["number"] == "UPS 1Z999AA1" and "2001" in tracked.search_text
    assert Event.objects.filter(record=tracked, kind="created").count() == 1


def test_a_store_failure_is_retried_later_and_still_sent_once(flow, sandbox_org, store):
    state.add_tracking_fields(sandbox_org)
    record = submit(flow)
    state.set_sales_order(sandbox_org, record.target_id, tracking_number="TRK1", carrier="USPS")
    store.fail = 1
    assert pull_back(flow, retries=False)["outcomes"] == ["retry"]
    tracked = tracking_record(flow, record)
    assert tracked.status == "pending" and Event.objects.filter(record=tracked, kind="failed").exists()
    # Hours later the sales order is outside the look-back window: the engine retries the record.
    later = timezone.now() + timedelta(hours=10)
    assert pull_back(flow, now=later)["queued"] == 0
    assert run(tracked.pk) == "synced" and len(store.shipped) == 1
    assert pull_back(flow, now=later)["queued"] == 0 and len(store.shipped) == 1
    assert Event.objects.filter(record=record, data__stage="shipped", message__startswith="Shipped:").count() == 1


def test_a_sales_order_voided_in_zoho_is_recorded_once_and_fires_its_rule(flow, sandbox_org, store):
    state.add_tracking_fields(sandbox_org)
    flow.options["rules"] = [
        {"name": "Tell me", "event": "canceled_in_zoho", "actions": [{"type": "alert", "message": "Voided in Zoho"}]}
    ]
    flow.save()
    record = submit(flow)
    state.set_sales_order(sandbox_org, record.target_id, status="void")
    assert pull_back(flow)["canceled"] == 1
    assert pull_back(flow)["canceled"] == 0
    assert Event.objects.filter(record=record, data__stage="canceled").count() == 1
    assert Alert.objects.filter(record=record, message="Voided in Zoho", resolved_at=None).exists()
    assert not store.shipped


def test_shipped_rules_reach_the_store_side(flow, sandbox_org, store):
    state.add_tracking_fields(sandbox_org)
    flow.options["rules"] = [
        {"name": "Complete", "event": "shipped", "actions": [{"type": "set_store_status", "status": "completed"}]}
    ]
    flow.save()
    record = submit(flow)
    state.set_sales_order(sandbox_org, record.target_id, tracking_number="T", carrier="DHL")
    pull_back(flow)
    assert store.statuses == [("5512", "completed")]
    assert Event.objects.filter(record=record, data__rule="Complete", data__event="shipped").exists()


def test_the_window_always_exceeds_the_interval():
    assert pullback.pullback_window({}) == (timedelta(hours=3), timedelta(hours=4))
    interval, lookback = pullback.pullback_window({"pullback_interval_hours": 6, "pullback_lookback_hours": 2})
    assert interval == timedelta(hours=6) and lookback == timedelta(hours=6, minutes=30)


def test_due_follows_the_interval(flow, sandbox_org, store):
    state.add_tracking_fields(sandbox_org)
    now = timezone.now()
    assert pullback.due(flow, now)
    pull_back(flow, now=now)
    assert not pullback.due(flow, now + timedelta(hours=2)) and pullback.due(flow, now + timedelta(hours=3))


def test_the_store_side_is_the_source_adapters_own_methods(flow, monkeypatch):
    """Pull-back and rules reach the store only through connector.adapters' optional methods."""
    from connector.adapters import NotSupported, SourceAdapter
    from connector.registry import get_system

    calls = []

    class Store(SourceAdapter):
        system = "woocommerce"

        def changes_since(self, object_type, since, until):
            return iter(())

        def fetch(self, object_type, source_id):
            return None

        def changes_from_delivery(self, delivery):
            return []

        def mark_shipped(self, tracking):
            calls.append(("shipped", tracking))
            return {"ok": True}

        def add_order_note(self, order_id, text, customer_visible=False):
            calls.append(("note", order_id, text, customer_visible))
            return {}

    monkeypatch.setattr(
        store_module, "get_system", lambda key: dataclasses.replace(get_system("woocommerce"), source_adapter=Store)
    )
    side = store_module.AdapterStoreSide()
    info = pullback.TrackingInfo(
        order_id="5512",
        order_number="2001",
        salesorder_id="1",
        tracking_number="1Z9",
        carrier="UPS",
        shipping_method="Ground",
    )
    assert side.mark_shipped(flow.source, info) == {"ok": True}
    tracking = calls[0][1]
    assert (tracking.order_id, tracking.order_number, tracking.carrier, tracking.tracking_number) == (
        "5512",
        "2001",
        "UPS",
        "1Z9",
    )
    assert "UPS Ground" in tracking.note() and "1Z9" in tracking.note()
    side.add_note(flow.source, "5512", "Packed", customer_visible=True)
    assert calls[1] == ("note", "5512", "Packed", True)
    with pytest.raises(NotSupported, match="cannot set order statuses"):
        side.set_status(flow.source, "5512", "completed")  # the contract's default


def test_a_store_that_cannot_take_the_shipment_fails_it_visibly(flow, sandbox_org, monkeypatch):
    from connector.registry import get_system

    state.add_tracking_fields(sandbox_org)
    record = submit(flow)
    state.set_sales_order(sandbox_org, record.target_id, tracking_number="T1", carrier="UPS")
    monkeypatch.setattr(
        store_module, "get_system", lambda key: dataclasses.replace(get_system("woocommerce"), source_adapter=None)
    )
    assert pull_back(flow)["outcomes"] == ["failed"]
    tracked = tracking_record(flow, record)
    failed = Event.objects.get(record=tracked, kind="failed")
    assert "not a store the connector can send shipments to" in failed.message
    assert tracked.status == "failed" and "press Replay" in tracked.remediation
    assert not Event.objects.filter(record=record, data__stage="shipped").exists()


def test_the_sandbox_page_lets_a_person_fill_tracking(flow, sandbox_org, zoho_base, store):
    requests = member_of(sandbox_org.user.organization)  # the page belongs to the sandbox's organisation

    base = f"{zoho_base}/sandbox/zoho/_control/orgs/{sandbox_org.organization_id}"
    created = requests.post(f"{base}/customfields", json={"tracking_fields": True}, timeout=5)
    assert created.status_code == 201 and len(created.json()["fields"]) == 3
    record = submit(flow)
    answer = requests.post(
        f"{base}/salesorders",
        json={"salesorder_id": record.target_id, "tracking_number": "9400", "carrier": "USPS", "status": "fulfilled"},
        timeout=5,
    )
    assert answer.status_code == 200 and answer.json()["status"] == "fulfilled"
    bad = requests.post(f"{base}/salesorders", json={"salesorder_id": record.target_id, "status": "lost"}, timeout=5)
    assert bad.status_code == 400
    page = requests.get(f"{base}/salesorders", timeout=5)
    assert page.status_code == 200 and "9400" in page.text and "2001" in page.text
    assert pull_back(flow)["outcomes"] == ["synced"] and store.shipped[0].tracking_number == "9400"


def test_the_order_stage_is_on_the_record_and_filterable(db):
    """Issue 10: submitted / shipped / canceled / not submitted, filterable in the audit log."""
    from connector.web.audit import filter_records
    from tests.conftest import make_flow, make_record, make_user

    _, org = make_user("stage@example.com", "Stage Ltd")
    flow = make_flow(org)
    shipped = make_record(flow, "S-1", stage="shipped")
    make_record(flow, "S-2", stage="submitted")
    from connector.models import Record

    assert list(filter_records(Record.objects.for_org(org), {"stage": "shipped"})) == [shipped]


def test_the_sandbox_page_creates_the_tracking_fields_for_the_demo(flow, sandbox_org, zoho_base, store):
    requests = member_of(sandbox_org.user.organization)  # the page belongs to the sandbox's organisation

    page = f"{zoho_base}/sandbox/zoho/_control/orgs/{sandbox_org.organization_id}/salesorders"
    record = submit(flow)
    assert "Create the three custom fields" in requests.get(page, timeout=5).text
    assert pull_back(flow) == {"paused": ["tracking_number", "carrier", "shipping_method"]}
    created = requests.post(page, data={"tracking_fields": "1"}, timeout=5)
    assert created.status_code == 200 and "Create the three custom fields" not in created.text
    requests.post(page, data={"tracking_fields": "1"}, timeout=5)  # twice: still three fields
    assert state.documents(sandbox_org, "customfield").filter(parent_id="salesorder").count() == 3
    filled = requests.post(
        page,
        data={
            "salesorder_id": record.target_id,
            "tracking_number": "9400",
            "carrier": "USPS",
            "shipping_method": "Priority",
        },
        timeout=5,
    )
    assert filled.status_code == 200 and 'value="Priority"' in filled.text
    assert pull_back(flow)["outcomes"] == ["synced"] and store.shipped[0].shipping_method == "Priority"
