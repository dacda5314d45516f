"""Rows one order writes as it goes through a flow: the per-order figures README's Capacity section
multiplies out. Counted, not timed: a change here changes the capacity model, so README follows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from connector import engine
from connector.models import Alert, Connection, Delivery, Event, Flow, Link, Record
from tests.connector import fake_systems
from tests.connector.fake_systems import WORLD

pytestmark = pytest.mark.django_db

#: Rows per order (README, Capacity): created once, then edited once at the source.
ROWS_NEW_ORDER = {"records": 1, "events": 4, "links": 1}
ROWS_EDIT = {"records": 0, "events": 4, "links": 0}


def rows(org) -> dict:
    return {
        "records": Record.objects.for_org(org).count(),
        "events": Event.objects.for_org(org).count(),
        "links": Link.objects.for_org(org).count(),
        "deliveries": Delivery.objects.for_org(org).count(),
        "alerts": Alert.objects.for_org(org).count(),
    }


def through_the_flow(flow: Flow) -> None:
    source = engine.source_adapter(flow.source, options=flow.options)
    for change in source.changes_since("order", datetime(2000, 1, 1, tzinfo=UTC), timezone.now()):
        record = engine.record_change(flow, change)
        if record is not None:
            engine.sync_record(record.pk)


def test_rows_one_order_writes_when_created_and_when_edited(alice, monkeypatch):
    fake_systems.register_fakes()
    WORLD.__init__()
    monkeypatch.setattr(engine, "_enqueue", lambda record_id, replay=False: None)  # run inline below
    src = Connection.objects.create(organization=alice.org, system="fakesrc", label="Store")
    tgt = Connection.objects.create(organization=alice.org, system="faketgt", label="Books")
    flow = Flow.objects.create(organization=alice.org, preset="fake_flow", source=src, target=tgt, enabled=True)
    before = rows(alice.org)
    order = WORLD.add_order("1001", total="36.47")
    through_the_flow(flow)
    created = rows(alice.org)
    WORLD.edit(order.source_id, total=order.total + 1)
    through_the_flow(flow)
    edited = rows(alice.org)
    through_the_flow(flow)  # seen again, unchanged: nothing new is written
    again = rows(alice.org)

    new = {k: created[k] - before[k] for k in ROWS_NEW_ORDER}
    edit = {k: edited[k] - created[k] for k in ROWS_EDIT}
    assert (WORLD.creates, WORLD.updates) == (1, 1)
    assert new == ROWS_NEW_ORDER, new
    assert edit == ROWS_EDIT, edit
    assert again == edited
