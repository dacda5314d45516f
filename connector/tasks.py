"""Celery tasks. They carry ids only and re-read state; they are acknowledged late and idempotent."""

from __future__ import annotations

import logging
import threading
from contextlib import suppress
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from redis.exceptions import LockError, RedisError

from connector import dispatch
from connector.dispatch import enqueue_sync  # noqa: F401 (queued through dispatch; tasks.enqueue_sync stays)
from connector.models import Flow, Record
from connector.registry import RegistryError, get_preset
from connector.retry import RetryPolicy, recovery_seconds

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
POLL_LOCK_SECONDS = recovery_seconds(60)
# A poll waiting in its queue longer than this most likely lost its message (a Redis restart): one
# more may be queued. Polls have a queue of their own, so a live one does not wait this long.
POLL_QUEUED_SECONDS = recovery_seconds(120)
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
STALE_DELIVERY_SECONDS = recovery_seconds(120)
DELIVERY_CLAIM_SECONDS = recovery_seconds(600)
# A delivery the sweep queued is not queued again while that message may still be waiting in the
# webhooks queue (its task clears the key when it starts). Without it, every sweep queued every
# delivery still waiting in a backlog once more: the backlog grew by the sweep's own messages, and
# the sweep, which runs on the same queue, fell behind them (found by the chaos run, bench/chaos.py).
# As long as the broker may hold a message before handing it back (the visibility timeout).
DELIVERY_QUEUED_SECONDS = recovery_seconds(1800)


def delivery_queued_key(delivery_id: int) -> str:
    return f"delivery:queued:{delivery_id}"


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
    """Safety net under the Redis inbox (kept for callers of the old name): see `requeue_deliveries`."""
    return len(requeue_deliveries(now))


@shared_task(name=dispatch.PROCESS_DELIVERY, ignore_result=True, acks_late=True)
def process_delivery(delivery_id: int) -> None:
    """Hand a stored webhook Delivery to its system's handler; failures stay visible and retry.

    Retries are kept in the row (`attempts`, `next_attempt_at`), not in a broker countdown: the
    sweep queues a failed delivery again when it is due, so a Redis restart loses no retry.
    """
    from connector.redis import get_redis

    get_redis().delete(delivery_queued_key(delivery_id))  # no longer waiting: the sweep may queue it again
    # The sweep may queue a delivery that is still queued or running: one runs, the other leaves.
    claim = f"delivery:claim:{delivery_id}"
    if not get_redis().set(claim, "1", nx=True, ex=DELIVERY_CLAIM_SECONDS):
        return
    try:
        _process_delivery(delivery_id)
    finally:
        get_redis().delete(claim)


def delivery_retry_policy() -> RetryPolicy:
    """A delivery's tries: waits from 30 s doubling up to 30 min, at least one sweep apart."""
    return RetryPolicy(
        max_attempts=getattr(settings, "DELIVERY_MAX_ATTEMPTS", 8),
        base=float(recovery_seconds(30)),
        cap=float(recovery_seconds(1800)),
        floor=SWEEP_SECONDS,
    )


def _delivery_handler(delivery) -> tuple[object | None, str]:
    """(the callable that processes this delivery, or None and why nothing can)."""
    from connector.registry import get_system

    try:
        system = get_system(delivery.connection.system)
    except RegistryError:
        return None, f"Unknown system {delivery.connection.system!r}."
    handler = system.delivery_handler
    if handler is None and system.source_adapter is not None:
        from connector.engine import ingest_delivery

        handler = ingest_delivery
    if handler is None:
        return None, "No webhook handler is installed for this system."
    return handler, ""


def _process_delivery(delivery_id: int) -> None:
    from connector.http import ApiError
    from connector.models import Delivery

    delivery = Delivery.objects.select_related("connection").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != Delivery.Status.RECEIVED:
        return  # processed already, or a failed one waiting for its next attempt (the sweep queues it)
    handler, reason = _delivery_handler(delivery)
    if handler is None:
        _delivery_failed(delivery, reason, retry=False)
        return
    try:
        handler(delivery)
    except ApiError as exc:
        _delivery_failed(delivery, str(exc), retry=exc.retryable, at_least=getattr(exc, "retry_after", 0.0))
        return
    except Exception as exc:
        # A database or Redis hiccup as much as a bug: retried with backoff, then failed and visible.
        logger.exception("delivery failed", extra={"delivery_id": delivery.pk})
        _delivery_failed(delivery, f"Internal error while processing: {type(exc).__name__}: {exc}", retry=True)
        return
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.PROCESSED,
        processed_at=timezone.now(),
        error="",
        attempts=F("attempts") + 1,
        next_attempt_at=None,
    )


def _delivery_failed(delivery, error: str, *, retry: bool, at_least: float = 0.0) -> None:
    """Mark a try failed: with a next attempt while a transient failure has tries left, else final."""
    from connector.models import Delivery

    attempts = delivery.attempts + 1
    policy = delivery_retry_policy()
    next_at = None
    if retry and policy.retries_left(attempts):
        next_at = timezone.now() + timedelta(seconds=policy.delay(attempts, at_least=at_least or 0.0))
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.FAILED, error=error[:2000], attempts=attempts, next_attempt_at=next_at
    )


@shared_task(name=dispatch.SYNC_RECORD, bind=True, ignore_result=True, acks_late=True, max_retries=None)
def sync_record(self, record_id: int, replay: bool = False) -> str:
    """Run one record; transient failures come back later with backoff (the engine counts attempts)."""
    from connector import engine
    from connector.redis import get_redis

    get_redis().delete(dispatch.sync_queued_key(record_id))
    outcome = engine.sync_record(record_id, replay=replay)
    if outcome.status in ("retry", "leased"):
        # The row says when the next try is due, so the sweep brings it back if this retry's
        # message is lost; a wait longer than the broker may hold a message is left to the sweep.
        Record.objects.filter(pk=record_id, status=Record.Status.PENDING).update(
            next_attempt_at=timezone.now() + timedelta(seconds=outcome.retry_in)
        )
        if outcome.retry_in <= MAX_BROKER_COUNTDOWN:
            raise self.retry(countdown=outcome.retry_in, args=(record_id,), kwargs={"replay": False})
        return "scheduled"
    return outcome.status


# --- The database is the source of truth for pending work ------------------------------------------
# Messages in Redis or in a worker are a fast path only: a Redis restart wipes them, a killed worker
# holds them until the broker's visibility timeout. Every SWEEP_SECONDS `requeue_pending_work` reads
# the rows and queues again what is owed: pending records that are due and not leased, deliveries
# not yet processed (received ones left waiting, failed ones whose next attempt has come) and polls
# that stopped happening. Each sweep claims what it queues (a compare-and-set moving its next check
# on, rows locked with SKIP LOCKED on PostgreSQL), so two beat or worker processes never queue the
# same work twice, and a sweep queued twice does no harm.

SWEEP_SECONDS = recovery_seconds(30)
SWEEP_BATCH = 1000
# A record's retry message, or a fresh record's first message, gets this long past its due time
# before the sweep decides it was lost (a busy queue delays messages; a duplicate is only wasted work).
RECORD_GRACE_SECONDS = recovery_seconds(120)
# When the sweep queues a record or a delivery again, it looks at it again this long after if it is
# still waiting (its message lost again): the claim that keeps racing sweeps apart.
SWEEP_RECHECK_SECONDS = recovery_seconds(600)
# Retries waiting longer than this are not handed to the broker, which holds a countdown message
# unacknowledged in one worker (settings: it must stay under the visibility timeout); the sweep
# queues them when due.
MAX_BROKER_COUNTDOWN = 600
# A flow whose last poll ended this long after its interval, with no poll running, is overdue; a
# `poll:queued` marker older than POLL_MARKER_STALE_SECONDS then names a message that was lost (the
# marker also lapses by itself after POLL_QUEUED_SECONDS).
POLL_OVERDUE_SECONDS = recovery_seconds(300)
POLL_MARKER_STALE_SECONDS = recovery_seconds(90)  # under POLL_QUEUED_SECONDS: an old marker of an overdue flow


def _locked(query):
    """Rows other sweeps hold are skipped, not waited for (PostgreSQL); elsewhere the claim's
    compare-and-set alone keeps two sweeps from queueing the same row. Only the swept table's rows
    are locked, never the flows a filter joins (the dispatcher skips locked flows)."""
    features = db_connection.features
    if not features.has_select_for_update_skip_locked:
        return query
    if features.has_select_for_update_of:
        return query.select_for_update(skip_locked=True, of=("self",))
    return query.select_for_update(skip_locked=True)


def requeue_due_records(now=None, *, limit: int = SWEEP_BATCH) -> list[int]:
    """Queue again every pending record of an enabled flow that is due and not leased."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=RECORD_GRACE_SECONDS)
    claimed: list[int] = []
    with transaction.atomic():
        owed = (
            Q(status=Record.Status.PENDING, updated_at__lte=cutoff)
            & (Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=cutoff))
        )
        due = _locked(Record.objects.filter(owed, flow__enabled=True).order_by("id"))
        recheck = now + timedelta(seconds=SWEEP_RECHECK_SECONDS)
        for record_id in list(due.values_list("id", flat=True)[:limit]):
            if Record.objects.filter(owed, pk=record_id).update(next_attempt_at=recheck) == 1:
                claimed.append(record_id)
                dispatch.enqueue_sync(record_id)  # after commit; a record still waiting in the queue is left there
    if claimed:
        logger.warning("requeued %d pending records from the database", len(claimed))
    return claimed


def requeue_deliveries(now=None, *, limit: int = SWEEP_BATCH) -> list[int]:
    """Queue again every delivery not yet processed: received ones whose queue entry was lost and
    failed ones whose next attempt has come (back to received, so they run once more)."""
    from connector.inbox import ring_doorbell_safely
    from connector.models import Delivery

    now = now or timezone.now()
    stale = now - timedelta(seconds=STALE_DELIVERY_SECONDS)
    owed = Q(status=Delivery.Status.RECEIVED, next_attempt_at__isnull=True, received_at__lt=stale) | Q(
        status__in=(Delivery.Status.RECEIVED, Delivery.Status.FAILED), next_attempt_at__lte=now
    )
    claimed: list[int] = []
    with transaction.atomic():
        ids = list(_locked(Delivery.objects.filter(owed).order_by("id")).values_list("id", flat=True)[:limit])
        recheck = now + timedelta(seconds=STALE_DELIVERY_SECONDS)
        for delivery_id in ids:
            if Delivery.objects.filter(owed, pk=delivery_id).update(
                status=Delivery.Status.RECEIVED, next_attempt_at=recheck
            ):
                claimed.append(delivery_id)
    if claimed:
        unqueued = _not_already_queued(claimed)
        if unqueued:
            ring_doorbell_safely(*unqueued)  # claimed and committed; one Redis round trip for the lot
        logger.warning(
            "requeued %d webhook deliveries from the database (%d still waiting in the queue)",
            len(unqueued),
            len(claimed) - len(unqueued),
        )
    return claimed


def _not_already_queued(delivery_ids: list[int]) -> list[int]:
    """The deliveries with no message of the sweep's still waiting, each marked as queued now. With
    Redis down all of them: the doorbell then fails, visibly, and the rows stay due."""
    from connector.redis import get_redis

    try:
        pipe = get_redis().pipeline(transaction=False)
        for delivery_id in delivery_ids:
            pipe.set(delivery_queued_key(delivery_id), "1", nx=True, ex=DELIVERY_QUEUED_SECONDS)
        return [pk for pk, fresh in zip(delivery_ids, pipe.execute(), strict=True) if fresh]
    except RedisError:
        return list(delivery_ids)


def requeue_overdue_polls(now=None) -> list[int]:
    """Queue a poll of every enabled flow whose polls stopped: none ended for its interval plus
    POLL_OVERDUE_SECONDS, none is running, and its `poll:queued` marker (if any) is old enough
    that the message it stands for was lost. The dispatcher alone would wait out the marker's TTL."""
    from connector.redis import get_redis

    now = now or timezone.now()
    redis = get_redis()
    overdue = (
        Flow.objects.filter(enabled=True, next_run_at__isnull=False)
        .filter(Q(last_run_at__lt=now - timedelta(seconds=POLL_OVERDUE_SECONDS)) | Q(last_run_at__isnull=True))
        .values_list("id", "interval_seconds", "last_run_at", "updated_at")
    )
    queued: list[int] = []
    for flow_id, interval, last_run_at, updated_at in overdue:
        if (last_run_at or updated_at) > now - timedelta(seconds=interval + POLL_OVERDUE_SECONDS):
            continue
        if redis.exists(f"poll:running:{flow_id}") or not _poll_marker_stale(redis, flow_id):
            continue
        redis.delete(f"poll:queued:{flow_id}")
        if enqueue_poll(flow_id):
            queued.append(flow_id)
    if queued:
        logger.warning("requeued polls of %d overdue flows", len(queued))
    return queued


def _poll_marker_stale(redis, flow_id: int) -> bool:
    """No `poll:queued` marker, or one set more than POLL_MARKER_STALE_SECONDS ago (from its TTL)."""
    ttl = redis.ttl(f"poll:queued:{flow_id}")
    return ttl < 0 or POLL_QUEUED_SECONDS - ttl >= POLL_MARKER_STALE_SECONDS


@shared_task(name="connector.tasks.requeue_pending_work", ignore_result=True)
def requeue_pending_work() -> dict:
    """Beat's sweep: each kind of work separately, so one that cannot run (Redis down) spares the rest."""
    done: dict[str, int] = {}
    for name, sweep in (
        ("records", requeue_due_records),
        ("deliveries", requeue_deliveries),
        ("polls", requeue_overdue_polls),
    ):
        try:
            done[name] = len(sweep())
        except Exception:
            logger.exception("requeue sweep failed", extra={"sweep": name})
            done[name] = -1
    return done


# --- Reconciliation runs (connector.reconcile_runs) ------------------------------------------------
# A run reads every list page of both systems for its period: minutes for a big month at a vendor's
# rate limit. It goes to the sync queue (vendor-bound bulk work), so polls never wait behind it.


@shared_task(name="connector.tasks.run_reconciliation", ignore_result=True, acks_late=True, queue="sync")
def run_reconciliation(run_id: int) -> str:
    """Compute and store one reconciliation run. A ledger that cannot answer yet leaves the run
    waiting, and it is queued again after `wait_seconds()` (the row says when, so the sweep brings it
    back if that message is lost)."""
    from connector import reconcile_runs

    return reconcile_runs.execute(run_id).status


@shared_task(name="connector.tasks.dispatch_due_reconciliations", ignore_result=True)
def dispatch_due_reconciliations() -> dict:
    """Beat: start the scheduled reconciliations that are due, and queue again runs whose message
    was lost or whose worker died. Each part separately, so one failing spares the other."""
    from connector import reconcile_runs

    done: dict[str, int] = {}
    for name, step in (
        ("scheduled", reconcile_runs.claim_due_schedules),
        ("requeued", reconcile_runs.requeue_lost_runs),
    ):
        try:
            done[name] = len(step())
        except Exception:
            logger.exception("reconciliation dispatch failed", extra={"step": name})
            done[name] = -1
    return done
