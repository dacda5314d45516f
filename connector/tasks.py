"""Celery tasks. They carry ids only and re-read state; they are acknowledged late and idempotent."""

from __future__ import annotations

import logging
import threading
from contextlib import suppress

from celery import shared_task
from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone
from redis.exceptions import LockError, RedisError

from connector import dispatch
from connector.dispatch import enqueue_sync  # noqa: F401 (queued through dispatch; tasks.enqueue_sync stays)
from connector.models import Flow
from connector.registry import RegistryError, get_preset

logger = logging.getLogger(__name__)

DISPATCH_BATCH = 200


def claim_due_flows(now=None, *, limit: int = DISPATCH_BATCH) -> list[int]:
    """Claim flows whose `next_run_at` has come and move them to their next slot.

    On PostgreSQL the rows are locked with SKIP LOCKED, so racing dispatchers take disjoint sets.
    Everywhere, the move is a compare-and-set on `next_run_at`: a flow is claimed only by the
    dispatcher whose update changed the row, so it is never enqueued twice for the same slot.
    """
    now = now or timezone.now()
    claimed: list[int] = []
    with transaction.atomic():
        due = Flow.objects.filter(enabled=True, next_run_at__lte=now).order_by("next_run_at", "id")
        if db_connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        for flow_id, slot, interval in due.values_list("id", "next_run_at", "interval_seconds")[:limit]:
            moved = Flow.objects.filter(pk=flow_id, next_run_at=slot, enabled=True).update(
                next_run_at=now + timezone.timedelta(seconds=interval)
            )
            if moved == 1:
                claimed.append(flow_id)
        for flow_id in claimed:
            transaction.on_commit(lambda fid=flow_id: enqueue_poll(fid))
    return claimed


@shared_task(name="connector.tasks.dispatch_due_flows", ignore_result=True)
def dispatch_due_flows() -> int:
    return len(claim_due_flows())


# A poll holds its flow's lock this long at a time and a heartbeat renews it while the poll runs: a
# poll killed mid-run (SIGKILL after a shutdown grace period, out of memory, a lost machine) stops
# renewing it, so it blocks the flow's next polls for at most this long, not for a whole long TTL.
POLL_LOCK_SECONDS = 60
# A poll waiting in its queue longer than this most likely lost its message (a Redis restart): one
# more may be queued. Polls have a queue of their own, so a live one does not wait this long.
POLL_QUEUED_SECONDS = 120
# How long a "poll again" ask waits for the running poll to end and honour it.
POLL_AGAIN_SECONDS = 900


def enqueue_poll(flow_id: int) -> bool:
    """Queue a poll of the flow unless one is already waiting: a slow vendor must not pile up polls
    (beat every 30 s, "Run now" clicks) in front of the records they found."""
    from connector.redis import get_redis

    if not get_redis().set(f"poll:queued:{flow_id}", "1", nx=True, ex=POLL_QUEUED_SECONDS):
        return False
    poll_flow.delay(flow_id)
    return True


def poll_in_progress(flow_id: int) -> bool:
    """A poll of the flow is waiting in the queue or running now (pages show live progress)."""
    from connector.redis import get_redis

    return bool(get_redis().exists(f"poll:queued:{flow_id}", f"poll:running:{flow_id}"))


@shared_task(name=dispatch.POLL_FLOW, bind=True, ignore_result=True, acks_late=True)
def poll_flow(self, flow_id: int) -> dict | None:
    """Run one poll of a flow through its preset's runner and record how it went. Two polls of one
    flow never run at once (a Redis lock, kept alive by a heartbeat while the poll runs). A poll
    asked for while another runs is not dropped: the running one started before the change it was
    asked for ("Run now" after a void), so it queues one more poll when it ends; any number of such
    asks make that one poll. A worker's warm shutdown (SIGTERM) lets the poll finish, so the
    `finally` below releases the lock and honours the asks before the worker exits."""
    from connector.redis import get_redis

    redis = get_redis()
    redis.delete(f"poll:queued:{flow_id}")
    # Not thread-local: the heartbeat thread renews the token this thread acquired.
    running = redis.lock(f"poll:running:{flow_id}", timeout=POLL_LOCK_SECONDS, blocking=False, thread_local=False)
    if not running.acquire():
        redis.set(f"poll:again:{flow_id}", "1", ex=POLL_AGAIN_SECONDS)
        return None
    try:
        with LockHeartbeat(running, every=POLL_LOCK_SECONDS / 3):
            return _poll(flow_id)
    finally:
        with suppress(LockError):  # it was lost (Redis down past its TTL); another poll may hold a new one
            running.release()
        if redis.delete(f"poll:again:{flow_id}"):
            enqueue_poll(flow_id)


class LockHeartbeat:
    """Renews a held redis-py lock every `every` seconds from a daemon thread while the block runs.

    The lock's TTL then only bounds how long a *dead* holder blocks others. A renewal that fails
    because Redis is briefly unreachable is tried again at the next beat; a lock found lost (its TTL
    ran out, another holder may have it) is logged and no longer renewed.
    """

    def __init__(self, lock, *, every: float):
        self.lock = lock
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat:{lock.name}", daemon=True)

    def __enter__(self) -> LockHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.lock.reacquire()
            except LockError:
                logger.warning("lock lost while its holder still runs", extra={"lock": self.lock.name})
                return
            except RedisError:
                logger.warning("lock renewal failed; trying again", extra={"lock": self.lock.name}, exc_info=True)


def _poll(flow_id: int) -> dict | None:
    flow = Flow.objects.select_related("source", "target").filter(pk=flow_id, enabled=True).first()
    if flow is None:
        return None
    try:
        preset = get_preset(flow.preset)
    except RegistryError as exc:
        Flow.objects.filter(pk=flow.pk).update(
            last_run_at=timezone.now(), last_run_status="error", last_run_error=str(exc)
        )
        return None
    from connector.engine import run_flow

    runner = preset.runner or run_flow
    try:
        summary = runner(flow)
    except Exception as exc:
        logger.exception("flow run failed", extra={"flow_id": flow.pk, "organization_id": flow.organization_id})
        Flow.objects.filter(pk=flow.pk).update(
            last_run_at=timezone.now(), last_run_status="error", last_run_error=str(exc)[:2000]
        )
        raise
    Flow.objects.filter(pk=flow.pk).update(last_run_at=timezone.now(), last_run_status="ok", last_run_error="")
    return summary


DRAIN_BATCH = 200
# A delivery still "received" this long after arriving lost its queue entry (Redis restarted, a
# worker died between taking it and queueing it): the sweep queues it again.
STALE_DELIVERY_SECONDS = 120
DELIVERY_CLAIM_SECONDS = 600


@shared_task(name=dispatch.DRAIN_INBOX, ignore_result=True)
def drain_inbox() -> int:
    """Fan the waiting delivery ids out to `process_delivery` until the inbox is empty.

    The doorbell is released only when the list is empty, and the list is checked once more after
    releasing it: a delivery pushed in between either is seen here or sets the doorbell itself.
    """
    from connector.inbox import INBOX_DOORBELL, INBOX_QUEUE
    from connector.redis import get_redis

    redis = get_redis()
    queued = 0
    while True:
        pipe = redis.pipeline(transaction=True)
        pipe.lrange(INBOX_QUEUE, 0, DRAIN_BATCH - 1)
        pipe.ltrim(INBOX_QUEUE, DRAIN_BATCH, -1)
        ids, _ = pipe.execute()
        if not ids:
            redis.delete(INBOX_DOORBELL)
            if not redis.llen(INBOX_QUEUE):
                return queued
            continue
        for delivery_id in dict.fromkeys(ids):
            process_delivery.delay(int(delivery_id))
            queued += 1


@shared_task(name="connector.tasks.requeue_stale_deliveries", ignore_result=True)
def requeue_stale_deliveries(now=None) -> int:
    """Safety net under the Redis inbox: a stored delivery is never left unprocessed."""
    from datetime import timedelta

    from connector.inbox import ring_doorbell
    from connector.models import Delivery

    cutoff = (now or timezone.now()) - timedelta(seconds=STALE_DELIVERY_SECONDS)
    stale = list(
        Delivery.objects.filter(status=Delivery.Status.RECEIVED, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:5000]
    )
    if stale:
        ring_doorbell(*stale)  # one Redis round trip for the lot
        logger.warning("requeued %d stale webhook deliveries", len(stale))
    return len(stale)


@shared_task(name=dispatch.PROCESS_DELIVERY, bind=True, ignore_result=True, acks_late=True, max_retries=8)
def process_delivery(self, delivery_id: int) -> None:
    """Hand a stored webhook Delivery to its system's handler; failures stay visible and retry."""
    from connector.redis import get_redis

    # The sweep may queue a delivery that is still queued or running: one runs, the other leaves.
    claim = f"delivery:claim:{delivery_id}"
    if not get_redis().set(claim, "1", nx=True, ex=DELIVERY_CLAIM_SECONDS):
        return
    try:
        _process_delivery(self, delivery_id)
    finally:
        get_redis().delete(claim)


def _process_delivery(task, delivery_id: int) -> None:
    from connector.http import ApiError, backoff_seconds
    from connector.models import Delivery
    from connector.registry import get_system

    delivery = Delivery.objects.select_related("connection").filter(pk=delivery_id).first()
    if delivery is None or delivery.status not in (Delivery.Status.RECEIVED, Delivery.Status.FAILED):
        return
    try:
        system = get_system(delivery.connection.system)
    except RegistryError:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.FAILED, error=f"Unknown system {delivery.connection.system!r}."
        )
        return
    handler = system.delivery_handler
    if handler is None and system.source_adapter is not None:
        from connector.engine import ingest_delivery

        handler = ingest_delivery
    if handler is None:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.FAILED, error="No webhook handler is installed for this system."
        )
        return
    try:
        handler(delivery)
    except ApiError as exc:
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED, error=str(exc)[:2000])
        if exc.retryable and task.request.retries < task.max_retries:
            raise task.retry(countdown=backoff_seconds(task.request.retries + 1)) from exc
        return
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.PROCESSED, processed_at=timezone.now(), error=""
    )


@shared_task(name=dispatch.SYNC_RECORD, bind=True, ignore_result=True, acks_late=True, max_retries=None)
def sync_record(self, record_id: int, replay: bool = False) -> str:
    """Run one record; transient failures come back later with backoff (the engine counts attempts)."""
    from connector import engine
    from connector.redis import get_redis

    get_redis().delete(dispatch.sync_queued_key(record_id))
    outcome = engine.sync_record(record_id, replay=replay)
    if outcome.status in ("retry", "leased"):
        raise self.retry(countdown=outcome.retry_in, args=(record_id,), kwargs={"replay": False})
    return outcome.status
