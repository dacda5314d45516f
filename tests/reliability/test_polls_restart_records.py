"""A worker stopped with SIGTERM while it writes a record (a rolling restart): the write finishes and
the record lets go of its lease; a record queued meanwhile is synced by the next worker; each record
is written once."""

from __future__ import annotations

import signal
import time

import pytest
from django.db import transaction

from connector import dispatch
from connector.models import Connection, Flow, Record
from connector.redis import get_redis
from tests.conftest import make_record
from tests.e2e.conftest import start_worker, stop_worker, wait_until
from tests.reliability.polls_worker_app import SLOW_SYNC, writes_key

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WORKER_SETTINGS = "tests.reliability.polls_worker_settings"


def _writes(record: Record) -> list[bytes]:
    return get_redis().lrange(writes_key(record.source_id), 0, -1)


def _enqueue(record: Record) -> None:
    with transaction.atomic():
        assert dispatch.enqueue_sync(record.pk)


def _synced(record: Record) -> bool:
    return Record.objects.filter(pk=record.pk, status=Record.Status.SYNCED, lease_until__isnull=True).exists()


def _flow(org, **options) -> Flow:
    source = Connection.objects.create(organization=org, system="slowsrc", label="Store")
    target = Connection.objects.create(organization=org, system="slowtgt", label="Books")
    return Flow.objects.create(
        organization=org, preset=SLOW_SYNC, source=source, target=target, enabled=True, options=options
    )


def test_a_worker_stopped_mid_write_finishes_it_and_loses_or_doubles_nothing(alice, live_server, settings, tmp_path):
    flow = _flow(alice.org, seconds=2)
    first, second = make_record(flow, "1001"), make_record(flow, "1002")
    old = start_worker(settings.REDIS_URL, live_server.url, tmp_path / "old.log", settings_module=WORKER_SETTINGS)
    try:
        _enqueue(first)
        wait_until(lambda: _writes(first) == [b"started"], timeout=20, message="the first write to start")
        old.send_signal(signal.SIGTERM)
        _enqueue(second)  # queued while the worker drains: this worker or the next one syncs it
        assert old.wait(timeout=15) == 0, old.log_path.read_text()[-3000:]
    finally:
        stop_worker(old)
    assert _writes(first) == [b"started", b"done"]
    assert _synced(first)  # the write's outcome is committed and the lease released

    new = start_worker(settings.REDIS_URL, live_server.url, tmp_path / "new.log", settings_module=WORKER_SETTINGS)
    try:
        wait_until(lambda: _synced(second), timeout=20, message="the second record on a worker")
        time.sleep(1.5)  # a redelivered task would have started writing again by now
    finally:
        stop_worker(new)
    assert _writes(first) == [b"started", b"done"] and _writes(second) == [b"started", b"done"]


def test_a_retry_a_stopped_worker_was_holding_runs_on_the_next_worker(alice, live_server, settings, tmp_path):
    """A record the vendor answered "busy" waits for its retry inside the worker (a task with an ETA,
    unacknowledged): the worker's warm shutdown hands it back, and the next worker writes it once."""
    record = make_record(_flow(alice.org, seconds=0, busy_first=4), "2001")
    old = start_worker(settings.REDIS_URL, live_server.url, tmp_path / "old.log", settings_module=WORKER_SETTINGS)
    try:
        _enqueue(record)
        wait_until(lambda: old.log_path.read_text().count("sync_record[") >= 3, timeout=20, message="the held retry")
        assert _writes(record) == [b"busy"]
        old.send_signal(signal.SIGTERM)
        assert old.wait(timeout=15) == 0, old.log_path.read_text()[-3000:]
    finally:
        stop_worker(old)
    assert not _synced(record)

    new = start_worker(settings.REDIS_URL, live_server.url, tmp_path / "new.log", settings_module=WORKER_SETTINGS)
    try:
        wait_until(lambda: _synced(record), timeout=20, message="the retry on the next worker")
        time.sleep(1)
    finally:
        stop_worker(new)
    assert _writes(record) == [b"busy", b"started", b"done"]
