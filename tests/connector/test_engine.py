"""The engine's rules (DESIGN §5) against in-memory fake systems."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from accounts.models import ApiToken
from connector import engine
from connector.adapters import WriteResult
from connector.canonical import OrderStatus
from connector.http import AuthExpired, NeedsReview, Permanent, RateLimited, Transient, Uncertain
from connector.models import Alert, Connection, Delivery, Event, Flow, Link, Record
from connector.registry import AuthKind, FlowPreset, Role, SystemInfo, register_preset, register_system
from tests.connector import fake_systems
from tests.connector.fake_systems import WORLD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def world():
    fake_systems.register_fakes()
    WORLD.__init__()
    return WORLD


@pytest.fixture
def queued(monkeypatch):
    ids: list[int] = []
    monkeypatch.setattr(engine, "_enqueue", lambda record_id, replay=False: ids.append(record_id))
    return ids


@pytest.fixture
def flow(alice):
    src = Connection.objects.create(organization=alice.org, system="fakesrc", label="Store")
    tgt = Connection.objects.create(organization=alice.org, system="faketgt", label="Books")
    return Flow.objects.create(organization=alice.org, preset="fake_flow", source=src, target=tgt, enabled=True)


def poll_and_sync(flow, queued):
    engine.run_flow(Flow.objects.get(pk=flow.pk))
    outcomes = [engine.sync_record(pk) for pk in queued]
    queued.clear()
    return outcomes


def test_an_order_becomes_one_invoice_however_often_it_is_seen(flow, queued, world):
    world.add_order("1001")
    poll_and_sync(flow, queued)
    poll_and_sync(flow, queued)  # overlap window sees it again
    record = Record.objects.get()
    assert record.status == "synced" and record.target_id == "inv-1"
    assert record.target_url == "https://books.fake/inv-1"
    assert world.creates == 1 and world.updates == 0
    assert Link.objects.get().external_id == "inv-1"
    kinds = list(record.events.values_list("kind", flat=True))
    assert kinds[:2] == ["received", "mapped"] and "created" in kinds and "api_call" in kinds
    # Re-running the synced record writes nothing.
    assert engine.sync_record(record.pk).status == "unchanged" and world.updates == 0


def test_an_edit_updates_the_same_invoice(flow, queued, world):
    order = world.add_order("1002", total="10.00")
    poll_and_sync(flow, queued)
    world.edit(order.source_id, total=__import__("decimal").Decimal("12.50"))
    poll_and_sync(flow, queued)
    assert world.creates == 1 and world.updates == 1
    assert world.documents["inv-1"]["total"] == __import__("decimal").Decimal("12.50")


def test_a_cancelled_order_voids_its_invoice_and_one_never_written_is_skipped(flow, queued, world):
    order = world.add_order("1003")
    poll_and_sync(flow, queued)
    world.edit(order.source_id, status=OrderStatus.CANCELLED)
    poll_and_sync(flow, queued)
    assert world.documents["inv-1"]["status"] == "void"
    world.add_order("1004", status=OrderStatus.CANCELLED)
    poll_and_sync(flow, queued)
    assert Record.objects.get(source_ref="1004").status == "skipped" and world.creates == 1


def test_a_crash_after_the_vendors_2xx_heals_without_a_duplicate(flow, queued, world):
    world.add_order("1005")
    world.lose_commit = True
    poll_and_sync(flow, queued)
    record = Record.objects.get()
    assert record.status == "failed" and not Link.objects.exists()
    engine.sync_record(record.pk, replay=True)
    record.refresh_from_db()
    assert record.status == "synced" and world.creates == 1 and world.updates == 1  # found by natural key


def test_an_uncertain_write_searches_before_retrying(flow, queued, world):
    world.add_order("1006")
    world.fail_next = [Uncertain("timeout after sending")]
    outcomes = poll_and_sync(flow, queued)
    assert outcomes[0].status == "retry" and outcomes[0].retry_in >= 0
    assert engine.sync_record(Record.objects.get().pk).status == "synced"
    assert world.creates == 1


def test_an_older_version_never_overwrites_a_newer_one(flow, world):
    order = world.add_order("1007")
    newer = engine.Change("order", order.source_id, ref="1007", modified_at=order.modified_at, obj=order)
    older = engine.Change(
        "order", order.source_id, ref="1007", modified_at=order.modified_at - timedelta(minutes=1), obj=order
    )
    assert engine.record_change(flow, newer) is not None
    assert engine.record_change(flow, older) is None
    assert Event.objects.filter(kind="skipped").count() == 1


def test_transient_errors_retry_then_fail_visibly(flow, queued, world):
    world.add_order("1008")
    world.fail_next = [Transient("502 from vendor")] * engine.MAX_ATTEMPTS
    engine.run_flow(flow)
    record_id = queued[0]
    outcomes = [engine.sync_record(record_id) for _ in range(engine.MAX_ATTEMPTS)]
    assert [o.status for o in outcomes[:-1]] == ["retry"] * (engine.MAX_ATTEMPTS - 1)
    assert outcomes[-1].status == "failed"
    record = Record.objects.get()
    assert "502" in record.last_error and "Replay" in record.remediation


def test_rate_limited_waits_what_the_vendor_said(flow, queued, world):
    world.add_order("1009")
    world.fail_next = [RateLimited("429", retry_after=42)]
    (outcome,) = poll_and_sync(flow, queued)
    assert outcome.status == "retry" and outcome.retry_in >= 42


def test_permanent_error_fails_with_remediation_then_replay_syncs(flow, queued, world):
    world.add_order("1010")
    world.fail_next = [Permanent("Reference number too long", status=400)]
    poll_and_sync(flow, queued)
    record = Record.objects.get()
    assert record.status == "failed" and "too long" in record.last_error and record.remediation
    engine.replay(record)
    assert queued == [record.pk]
    assert engine.sync_record(record.pk, replay=True).status == "synced"
    assert Event.objects.filter(record=record, kind="replayed").exists()


def test_needs_review_raises_an_alert_and_the_batch_continues(flow, queued, world):
    world.add_order("1011")
    world.add_order("1012")
    world.fail_next = [NeedsReview("Customer 'Acme' is not in QuickBooks", remediation="Create it, then Replay.")]
    poll_and_sync(flow, queued)
    statuses = dict(Record.objects.values_list("source_ref", "status"))
    assert sorted(statuses.values()) == ["needs_review", "synced"]
    alert = Alert.objects.get(resolved_at=None)
    assert "Acme" in alert.message and alert.remediation == "Create it, then Replay."


def test_auth_expired_marks_the_connection_for_reconnecting(flow, queued, world):
    world.add_order("1013")
    world.fail_next = [AuthExpired("401")]
    poll_and_sync(flow, queued)
    flow.target.refresh_from_db()
    assert flow.target.status == "needs_reauth"
    assert Alert.objects.filter(key=f"reauth:{flow.target_id}", resolved_at=None).exists()


def test_the_cursor_does_not_move_when_a_poll_fails(flow, world):
    world.poll_error = Transient("vendor down")
    with pytest.raises(Transient):
        engine.run_flow(flow)
    assert Flow.objects.get(pk=flow.pk).cursor == {}
    world.poll_error = None
    now = datetime.now(UTC)
    engine.run_flow(flow, now=now, enqueue=lambda pk: None)
    assert Flow.objects.get(pk=flow.pk).cursor["order"] == now.isoformat()


def test_a_leased_record_is_not_run_twice(flow, queued, world):
    world.add_order("1014")
    engine.run_flow(flow)
    assert engine.acquire_lease(queued[0])
    assert engine.sync_record(queued[0]).status == "leased"
    assert world.creates == 0


def test_webhook_delivery_becomes_a_record(flow, queued, world):
    order = world.add_order("1015")
    delivery = Delivery.objects.create(
        organization=flow.organization, connection=flow.source, dedupe_key="x", body=order.source_id.encode()
    )
    assert engine.ingest_delivery(delivery) == 1
    engine.sync_record(queued[0])
    assert world.creates == 1


def test_replay_through_the_api_changes_nothing_for_a_synced_record(client, alice, flow, queued, world):
    world.add_order("1016")
    poll_and_sync(flow, queued)
    record = Record.objects.get()
    _token, key = ApiToken.issue(alice, alice.org, "replay")
    response = client.post(reverse("record-replay", args=[record.pk]), HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 202
    assert engine.sync_record(record.pk, replay=True).status == "unchanged"
    assert world.creates == 1 and world.updates == 0


def test_replay_button_and_bulk_replay(alice_client, flow, queued, world):
    world.add_order("1017")
    world.add_order("1018")
    world.fail_next = [Permanent("bad")] * 2
    poll_and_sync(flow, queued)
    preview = alice_client.get(reverse("bulk_replay") + "?status=failed")
    assert b"<strong>2</strong> record(s)" in preview.content
    alice_client.post(reverse("bulk_replay"), {"status": "failed"})
    assert len(queued) == 2
    queued.clear()
    record = Record.objects.first()
    assert alice_client.post(reverse("record_replay", args=[record.pk])).status_code == 302
    assert queued == [record.pk]


def test_pending_work_is_coalesced_per_record(monkeypatch, django_capture_on_commit_callbacks):
    from connector import tasks

    sent: list[tuple] = []
    monkeypatch.setattr(tasks.sync_record, "delay", lambda record_id, replay=False: sent.append((record_id, replay)))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.enqueue_sync(7) is True
        assert tasks.enqueue_sync(7) is False  # already waiting in the queue
        assert tasks.enqueue_sync(7, replay=True) is True  # a person's replay is never swallowed
    assert sent == [(7, False), (7, True)]


def test_a_vendor_that_keeps_failing_pauses_its_flows(flow, queued, world):
    from connector.models import Alert

    for i in range(engine.CIRCUIT_THRESHOLD):
        world.add_order(f"C{i}")
    world.fail_next = [Transient("503")] * engine.CIRCUIT_THRESHOLD
    poll_and_sync(flow, queued)
    flow.target.refresh_from_db()
    assert flow.target.paused_until is not None
    assert Alert.objects.filter(key=f"circuit:{flow.target_id}").exists()
    assert engine.run_flow(Flow.objects.get(pk=flow.pk)) == {"paused": ["Books"]}
    assert set(Record.objects.values_list("status", flat=True)) == {"pending"}  # nothing lost


def test_a_deferred_target_completes_the_record_later(flow, queued, world, monkeypatch):
    from connector.adapters import WriteResult
    from tests.connector.fake_systems import FakeTarget

    monkeypatch.setattr(
        FakeTarget, "upsert", lambda self, t, obj, target_id, context: WriteResult("", "queued", data={"job": 1})
    )
    world.add_order("1019")
    (outcome,) = poll_and_sync(flow, queued)
    record = Record.objects.get()
    assert outcome.status == "queued" and record.status == "pending"
    assert record.lease_until is not None and not engine.acquire_lease(record.pk)  # held until it completes
    engine.complete_deferred(record.pk, result=WriteResult("TXN-1", "created"))
    record.refresh_from_db()
    assert record.status == "synced" and record.target_id == "TXN-1" and record.lease_until is None
    assert Link.objects.get().external_id == "TXN-1"


def test_a_deferred_write_refused_later_fails_the_record(flow, queued, world, monkeypatch):
    from connector.adapters import WriteResult
    from tests.connector.fake_systems import FakeTarget

    monkeypatch.setattr(FakeTarget, "upsert", lambda self, t, obj, target_id, context: WriteResult("", "queued"))
    world.add_order("1020")
    poll_and_sync(flow, queued)
    record = Record.objects.get()
    engine.complete_deferred(record.pk, error=NeedsReview("Customer missing", remediation="Create it, then Replay."))
    record.refresh_from_db()
    assert record.status == "needs_review" and record.lease_until is None


def test_a_skip_is_never_mistaken_for_a_write_and_replay_closes_the_alert(flow, queued, world, monkeypatch):
    from connector.adapters import WriteResult
    from tests.connector.fake_systems import FakeTarget

    real_upsert = FakeTarget.upsert
    seen_records = []

    def skip_first(self, t, obj, target_id, context):
        seen_records.append(context.record_id)
        if not world.orders["src-1021"].notes:
            return WriteResult("", "skipped", data={"reason": "Not shipped yet: invoiced when it ships."})
        return real_upsert(self, t, obj, target_id=target_id)

    monkeypatch.setattr(FakeTarget, "upsert", skip_first)
    world.add_order("1021")
    poll_and_sync(flow, queued)
    record = Record.objects.get()
    assert record.status == "skipped" and not record.payload_hash
    assert Event.objects.filter(record=record, message__startswith="Not shipped yet").exists()
    assert seen_records == [record.pk]  # the adapter knows which record it works for
    # The same version again is not "unchanged": it is tried again.
    assert engine.sync_record(record.pk).status == "skipped"
    world.edit("src-1021", notes="shipped")
    poll_and_sync(flow, queued)
    assert Record.objects.get().status == "synced" and world.creates == 1


def test_replay_of_a_needs_review_record_resolves_its_alert(flow, queued, world):
    world.add_order("1022")
    world.fail_next = [NeedsReview("Item SKU-1 missing")]
    poll_and_sync(flow, queued)
    record = Record.objects.get()
    assert Alert.objects.filter(key=f"record:{record.pk}", resolved_at=None).exists()
    engine.replay(record)
    engine.sync_record(record.pk, replay=True)
    assert not Alert.objects.filter(key=f"record:{record.pk}", resolved_at=None).exists()


def test_a_reverse_capability_runs_from_the_flows_target_back_to_its_source(alice, queued, world):
    books = Connection.objects.create(organization=alice.org, system="faketgt", label="Books")
    both = Connection.objects.create(organization=alice.org, system="fakeboth", label="Both")
    flow = Flow.objects.create(organization=alice.org, preset="fake_reverse", source=books, target=both, enabled=True)
    order = world.add_order("1023")
    poll_and_sync(flow, queued)
    record = Record.objects.get()
    assert record.status == "synced" and world.creates == 1
    assert Link.objects.get().connection == books  # written to the flow's source connection
    # A webhook on the flow's target connection feeds the reverse capability too.
    world.edit(order.source_id, notes="edited")
    delivery = Delivery.objects.create(
        organization=alice.org, connection=both, dedupe_key="r", body=order.source_id.encode()
    )
    assert engine.ingest_delivery(delivery) == 1


def _orders_document(capability, options):
    if options.get("document") == "sales_order":
        return dataclasses.replace(capability, target_type="sales_order")
    return capability


def _orders_failed_stage(target_type):
    return "not_submitted" if target_type == "sales_order" else ""


def test_the_written_system_resolves_a_capability_from_the_flow_options(alice):
    """The registry's capability resolver and failed stage: the core names no option, the target
    system reads its own."""
    register_system(
        SystemInfo(
            "fakeorders",
            "Fake Orders Books",
            AuthKind.API_KEY,
            Role.ACCOUNTING,
            target_adapter=fake_systems.FakeTarget,
            resolve_capability=_orders_document,
            failed_stage=_orders_failed_stage,
        )
    )
    register_preset(FlowPreset("fake_orders", "Fake → Orders", "fakesrc", "fakeorders", (("order", "invoice"),)))
    src = Connection.objects.create(organization=alice.org, system="fakesrc", label="Store")
    tgt = Connection.objects.create(organization=alice.org, system="fakeorders", label="Orders")
    flow = Flow.objects.create(organization=alice.org, preset="fake_orders", source=src, target=tgt)
    assert engine.target_type_for(flow, "order") == "invoice"
    flow.options = {"document": "sales_order"}
    assert engine.target_type_for(flow, "order") == "sales_order"
    record = Record.objects.create(organization=alice.org, flow=flow, object_type="order", source_id="1")
    assert engine._failed_stage(record) == "not_submitted"
    flow.options = {}
    assert engine._failed_stage(record) == ""


def test_add_a_flow_suggests_the_presets_poll_interval(alice_client):
    from django.urls import reverse

    page = alice_client.get(reverse("flow_create") + "?preset=woocommerce_zoho").content.decode()
    assert 'name="interval_seconds" value="900"' in page


class NoteWriter(fake_systems.FakeTarget):
    """An adapter a preset brings for "order_note", which the fake store's system does not offer."""

    target_types = ("order_note",)
    written: list = []

    def find(self, object_type, obj, *, context=None):
        return None

    def upsert(self, object_type, obj, *, target_id, context=None):
        self.written.append((self.connection.label, object_type, obj.number, context.record.pk))
        return WriteResult(f"note-{obj.number}", "created")


NOTES_PRESET = FlowPreset(
    "fake_notes",
    "Store → its notes",
    "fakesrc",
    "fakesrc",
    (("order", "order_note"),),
    writers=(("order_note", NoteWriter),),
)


def test_a_preset_brings_the_writer_for_a_target_type_its_target_system_does_not_offer(alice, queued, world):
    """FlowPreset.writers: e.g. instructions back to a store, written through the store's own source
    adapter by an adapter of the preset's app. The engine keeps its Link, events and status."""
    register_preset(NOTES_PRESET)
    NoteWriter.written.clear()
    store = Connection.objects.create(organization=alice.org, system="fakesrc", label="Store")
    flow = Flow.objects.create(organization=alice.org, preset="fake_notes", source=store, target=store, enabled=True)
    world.add_order("1031")
    assert [o.status for o in poll_and_sync(flow, queued)] == ["synced"]
    record = Record.objects.get()
    assert NoteWriter.written == [("Store", "order_note", "1031", record.pk)] and record.target_id == "note-1031"
    assert Link.objects.get().external_id == "note-1031" and world.creates == 0
    assert isinstance(engine.writer(flow, "order"), NoteWriter)


def test_a_record_another_worker_created_first_is_refreshed_not_lost(flow, world, monkeypatch):
    """Two workers see the same new change: the one whose insert loses the race (the unique flow,
    type and source id) runs again and refreshes the row the other created."""
    from django.db import IntegrityError

    order = world.add_order("1009")
    change = next(iter(engine.source_adapter(flow.source).changes_since("order", None, datetime.now(UTC))))
    real = engine._record_change
    calls = []

    def racing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            real(*args, **kwargs)  # the other worker's insert commits first
            raise IntegrityError("duplicate key value violates unique constraint")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "_record_change", racing)
    record = engine.record_change(flow, change)
    assert len(calls) == 2 and record is not None
    assert Record.objects.filter(flow=flow, source_id=order.source_id).count() == 1
