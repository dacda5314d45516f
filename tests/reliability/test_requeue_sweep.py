"""The database owes the pending work: a record or a delivery whose message was lost (Redis
restarted, a worker killed) is queued again by the beat sweep from its row, once, and only when due."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.utils import timezone

from connector import engine, tasks
from connector.http import Transient
from connector.models import Record
from tests.conftest import make_flow, make_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def flow(alice):
    return make_flow(alice.org, enabled=True)


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Record ids handed to the broker (sync_record messages)."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.sync_record, "delay", lambda record_id, replay=False: ids.append(record_id))
    return ids


def pending(flow, number: str, *, age: int = 600, **fields) -> Record:
    """A pending record last touched `age` seconds ago, with no message anywhere."""
    record = make_record(flow, number, status=Record.Status.PENDING)
    Record.objects.filter(pk=record.pk).update(updated_at=timezone.now() - timedelta(seconds=age), **fields)
    return record


def sweep(capture, now=None) -> list[int]:
    with capture(execute=True):
        return tasks.requeue_due_records(now)


def test_a_pending_due_unleased_record_is_queued_again_and_a_leased_one_is_not(
    flow, sent, django_capture_on_commit_callbacks
):
    now = timezone.now()
    lost = pending(flow, "LOST")  # its first message was lost
    retry_lost = pending(flow, "RETRY", next_attempt_at=now - timedelta(minutes=10))  # its retry was lost
    leased = pending(flow, "LEASED", lease_until=now + timedelta(minutes=3))  # a worker is on it
    waiting = pending(flow, "WAIT", next_attempt_at=now + timedelta(minutes=5))  # its retry is not due
    fresh = pending(flow, "FRESH", age=5)  # just recorded: its message is on its way
    make_record(flow, "DONE", status=Record.Status.SYNCED)
    other = make_flow(flow.organization, enabled=False)
    paused = pending(other, "OFF")  # a disabled flow's records wait until it runs again

    assert sweep(django_capture_on_commit_callbacks) == [lost.pk, retry_lost.pk]
    assert sent == [lost.pk, retry_lost.pk]
    untouched = Record.objects.filter(pk__in=[leased.pk, waiting.pk, fresh.pk, paused.pk])
    assert all(r.status == Record.Status.PENDING for r in untouched)


def test_the_sweep_claims_what_it_queues_so_a_second_sweep_queues_nothing(
    flow, sent, django_capture_on_commit_callbacks
):
    record = pending(flow, "ONCE")
    assert sweep(django_capture_on_commit_callbacks) == [record.pk]
    assert sweep(django_capture_on_commit_callbacks) == []  # a second beat, another process
    assert sent == [record.pk]
    record.refresh_from_db()
    assert record.next_attempt_at > timezone.now()
    # Still pending once the claim has run out (that message was lost too): queued again.
    later = timezone.now() + timedelta(seconds=tasks.SWEEP_RECHECK_SECONDS + tasks.RECORD_GRACE_SECONDS + 1)
    from connector.redis import get_redis

    get_redis().delete(f"sync:queued:{record.pk}")  # the message's marker went with it
    assert sweep(django_capture_on_commit_callbacks, now=later) == [record.pk]
    assert sent == [record.pk, record.pk]


def test_a_record_already_waiting_in_the_queue_is_not_sent_twice(flow, sent, django_capture_on_commit_callbacks):
    record = pending(flow, "QUEUED")
    from connector.dispatch import sync_queued_key
    from connector.redis import get_redis

    get_redis().set(sync_queued_key(record.pk), "1", ex=60)
    assert sweep(django_capture_on_commit_callbacks) == [record.pk]
    assert sent == []


def test_a_retry_writes_its_due_time_to_the_row(flow, monkeypatch):
    record = pending(flow, "R-1")
    monkeypatch.setattr(engine, "sync_record", lambda record_id, replay=False: engine.Outcome("retry", retry_in=40))
    with pytest.raises(Retry):
        tasks.sync_record.run(record.pk)
    record.refresh_from_db()
    due_in = (record.next_attempt_at - timezone.now()).total_seconds()
    assert 35 < due_in <= 40


def test_a_wait_longer_than_the_broker_may_hold_is_left_to_the_sweep(flow, monkeypatch, sent):
    record = pending(flow, "R-2")
    wait = tasks.MAX_BROKER_COUNTDOWN + 3600  # a vendor's Retry-After of an hour
    monkeypatch.setattr(engine, "sync_record", lambda record_id, replay=False: engine.Outcome("retry", retry_in=wait))
    assert tasks.sync_record.run(record.pk) == "scheduled"  # no countdown message in Redis
    record.refresh_from_db()
    assert record.next_attempt_at > timezone.now() + timedelta(seconds=wait - 10)
    assert tasks.requeue_due_records() == []
    later = record.next_attempt_at + timedelta(seconds=tasks.RECORD_GRACE_SECONDS + 1)
    assert tasks.requeue_due_records(later) == [record.pk]


def test_a_record_whose_retry_message_was_lost_is_synced_once_by_the_sweep(
    alice, sent, monkeypatch, django_capture_on_commit_callbacks
):
    """The incident: a vendor 502, the retry's countdown message held by a killed worker and wiped
    by a Redis restart. The row still says the record is owed; the sweep runs it, one invoice."""
    from connector.models import Connection, Flow
    from connector.redis import get_redis
    from tests.connector import fake_systems
    from tests.connector.fake_systems import WORLD

    fake_systems.register_fakes()
    WORLD.__init__()
    monkeypatch.setattr(engine, "_enqueue", lambda record_id, replay=False: None)  # the poll's message: lost
    src = Connection.objects.create(organization=alice.org, system="fakesrc", label="Store")
    tgt = Connection.objects.create(organization=alice.org, system="faketgt", label="Books")
    flow = Flow.objects.create(organization=alice.org, preset="fake_flow", source=src, target=tgt, enabled=True)
    WORLD.add_order("1001")
    engine.run_flow(flow)
    record = Record.objects.get()
    WORLD.fail_next = [Transient("502 from vendor")]
    with pytest.raises(Retry):
        tasks.sync_record.run(record.pk)  # the retry message this publishes is lost
    get_redis().flushdb()  # Redis restarted
    record.refresh_from_db()
    assert record.status == Record.Status.PENDING and record.next_attempt_at is not None

    assert sweep(django_capture_on_commit_callbacks) == []  # its retry is not due yet
    later = record.next_attempt_at + timedelta(seconds=tasks.RECORD_GRACE_SECONDS + 1)
    assert sweep(django_capture_on_commit_callbacks, now=later) == [record.pk]
    assert tasks.sync_record.run(*sent) == "synced"
    assert WORLD.creates == 1


def test_a_delivery_still_waiting_in_the_queue_is_not_queued_again_by_every_sweep(alice, monkeypatch):
    """A webhooks backlog longer than the sweep's recheck: the sweep queues a stale delivery once;
    later sweeps leave it while that message waits, and queue it again only once its task started
    (and the delivery is due again), so the backlog does not grow by the sweep's own messages."""
    from connector import inbox
    from connector.models import Connection, Delivery

    conn = Connection.objects.create(organization=alice.org, system="woocommerce", label="Shop")
    delivery = Delivery.objects.create(
        organization=alice.org, connection=conn, topic="order.updated", dedupe_key="k", body=b"{}"
    )
    Delivery.objects.filter(pk=delivery.pk).update(received_at=timezone.now() - timedelta(hours=1))
    rung: list[tuple[int, ...]] = []
    monkeypatch.setattr(inbox, "ring_doorbell_safely", lambda *ids: rung.append(ids) or True)

    assert tasks.requeue_deliveries() == [delivery.pk]
    assert rung == [(delivery.pk,)]
    recheck = Delivery.objects.get(pk=delivery.pk).next_attempt_at
    # The message still waits in a long queue: the next sweeps claim the row but send nothing more.
    for n in (1, 2, 3):
        later = recheck + timedelta(seconds=n * tasks.STALE_DELIVERY_SECONDS + 1)
        assert tasks.requeue_deliveries(later) == [delivery.pk]
    assert rung == [(delivery.pk,)]
    # Its task starts (and, say, the handler fails transiently): the next due sweep queues it again.
    monkeypatch.setattr(tasks, "_process_delivery", lambda pk: None)
    tasks.process_delivery.run(delivery.pk)
    later = Delivery.objects.get(pk=delivery.pk).next_attempt_at + timedelta(seconds=1)
    assert tasks.requeue_deliveries(later) == [delivery.pk]
    assert rung == [(delivery.pk,), (delivery.pk,)]
