"""The record a run starts from: taking its lease and loading it (with its flow and both
connections) is one statement on PostgreSQL, and must give exactly what a queryset would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connector import engine
from connector.models import Connection, Flow, Record
from tests.connector import fake_systems
from tests.connector.fake_systems import WORLD

pytestmark = pytest.mark.django_db


@pytest.fixture
def flow(alice):
    fake_systems.register_fakes()
    WORLD.__init__()
    src = Connection.objects.create(
        organization=alice.org, system="fakesrc", label="Store", credentials={"token": "s3cret"}, webhook_secret="w"
    )
    tgt = Connection.objects.create(organization=alice.org, system="faketgt", label="Books")
    return Flow.objects.create(
        organization=alice.org, preset="fake_flow", source=src, target=tgt, enabled=True, options={"a": 1}
    )


def _changes(flow):
    source = engine.source_adapter(flow.source, options=flow.options)
    return list(source.changes_since("order", datetime(2000, 1, 1, tzinfo=UTC), timezone.now()))


def test_the_leased_record_equals_what_a_queryset_loads(flow):
    WORLD.add_order("L-1", total="12.50")
    record = engine.record_change(flow, _changes(flow)[0])
    loaded = engine._lease_and_load(record.pk)
    expected = Record.objects.select_related("flow__source", "flow__target").get(pk=record.pk)
    assert loaded is not None and loaded.lease_until is not None and loaded.lease_until > timezone.now()
    for field in Record._meta.concrete_fields:
        if field.attname not in ("payload", "lease_until"):
            assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.attname
    assert loaded.source_payload["number"] == "L-1"  # JSON decoded, not text
    for a, b in ((loaded.flow, expected.flow), (loaded.flow.source, expected.flow.source)):
        for field in type(a)._meta.concrete_fields:
            assert getattr(a, field.attname) == getattr(b, field.attname), field.attname
    assert loaded.flow.source.credentials == {"token": "s3cret"}  # decrypted, like the queryset
    assert loaded.flow.target.pk == flow.target_id
    # Held: a second worker gets nothing until the lease is released.
    assert engine._lease_and_load(record.pk) is None
    assert engine.sync_record(record.pk).status == "leased"
    Record.objects.filter(pk=record.pk).update(lease_until=None)
    assert engine.sync_record(record.pk).status == "synced"
    assert engine.sync_record(10**9).status == "gone"


def test_a_new_order_costs_a_fixed_number_of_statements(flow):
    """record_change + sync_record of a new order. Counting statements does not depend on the
    machine's load, unlike the CPU figures of bench/engine_overhead.py; more means a round trip
    crept into the hottest path."""
    WORLD.add_order("S-1", total="12.50")
    WORLD.add_order("S-2", total="13.50")
    first, second = _changes(flow)
    engine.sync_record(engine.record_change(flow, first).pk)  # warms the per-process caches
    with CaptureQueriesContext(connection) as recorded:
        record = engine.record_change(flow, second)
    with CaptureQueriesContext(connection) as synced:
        assert engine.sync_record(record.pk).status == "synced"
    # SELECT (not there yet), BEGIN, INSERT record, INSERT event, COMMIT
    assert len(recorded) == 5, [q["sql"][:80] for q in recorded]
    # lease + load, Link lookup, BEGIN, INSERT Link, UPDATE record, INSERT events, COMMIT; the
    # other backends take the lease and load the record in two statements.
    expected = 7 if connection.vendor == "postgresql" else 8
    assert len(synced) == expected, [q["sql"][:80] for q in synced]
    # Seen again (the poll's overlap window, a webhook of the same edit): one plain read, no lock.
    with CaptureQueriesContext(connection) as again:
        assert engine.record_change(flow, second) is None
    assert len(again) == 1, [q["sql"][:80] for q in again]
