"""Two sweeps at once (two beat processes, a beat and a manual run) never queue the same row: rows
another sweep holds are skipped (SKIP LOCKED on PostgreSQL), and each queue is a compare-and-set."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from connector import tasks
from connector.models import Delivery, Record
from tests.conftest import make_flow, make_record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgres_only():
    if not connection.features.has_select_for_update_skip_locked:
        pytest.skip("SKIP LOCKED needs PostgreSQL")


def hold_rows(model, pk: int, locked: threading.Event, release: threading.Event) -> threading.Thread:
    """Another process's sweep in the middle of its transaction: row `pk` locked until `release`."""

    def run():
        try:
            with transaction.atomic():
                list(model.objects.select_for_update().filter(pk=pk))
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_row_another_sweep_holds_is_skipped_then_queued_once(alice, postgres_only, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(tasks.sync_record, "delay", lambda record_id, replay=False: sent.append(record_id))
    flow = make_flow(alice.org, enabled=True)
    held, free = make_record(flow, "HELD"), make_record(flow, "FREE")
    Record.objects.update(updated_at=timezone.now() - timedelta(minutes=10))
    locked, release = threading.Event(), threading.Event()
    thread = hold_rows(Record, held.pk, locked, release)
    assert locked.wait(10)
    try:
        assert tasks.requeue_due_records() == [free.pk]  # did not wait for the held row
    finally:
        release.set()
        thread.join(10)
    assert tasks.requeue_due_records() == [held.pk]
    assert tasks.requeue_due_records() == []
    assert sent == [free.pk, held.pk]


def test_racing_delivery_sweeps_ring_each_delivery_once(alice, postgres_only, monkeypatch):
    from connector.models import Connection

    rung: list[tuple[int, ...]] = []
    monkeypatch.setattr("connector.inbox.ring_doorbell", lambda *ids: rung.append(ids))
    conn = Connection.objects.create(organization=alice.org, system="woocommerce", label="Shop")
    old = timezone.now() - timedelta(minutes=10)
    ids = [
        Delivery.objects.create(
            organization=alice.org, connection=conn, dedupe_key=f"k{i}", body=b"{}", received_at=old
        ).pk
        for i in range(20)
    ]
    results: list[list[int]] = []

    def sweep():
        try:
            results.append(tasks.requeue_deliveries())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    swept = sorted(pk for result in results for pk in result)
    assert swept == ids  # every delivery queued, none twice
    assert sorted(pk for ring in rung for pk in ring) == ids
