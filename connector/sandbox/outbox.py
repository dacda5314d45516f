"""The sandboxes' durable webhook outbox, written once (DESIGN §9): nothing a sandbox owes is lost
when its sender dies.

A webhook to send is a row (a model subclassing `OutboxMessage`) written in the same transaction as
the change that causes it. After the commit a sender claims it with a compare-and-set, marks it
sending, POSTs it and records the outcome: `attempts`, `last_status`, `last_error`, `delivered_at`.
A sender may die at any point with the process that runs it (a gunicorn worker killed, a thread that
never ran). `Outbox.sweep` then finds the row again:

- never claimed (its sender never ran) for longer than `grace`: sent;
- claimed but not sending after `lease` (the sender died before the POST): released and sent, no
  attempt counted (nothing went out);
- sending after `lease` (the sender died during the POST: the receiver may or may not have it):
  what the vendor does with a job cut off mid-way (`Schedule.resend_interrupted`): tried again,
  which may deliver a duplicate, as vendors that retry do; or failed for good, as a vendor's job
  queue may mark a job running past its timeout;
- failed and due again under the vendor's own retry schedule: sent.

Each vendor states its own `Schedule` (how many tries, the waits between them, what an interrupted
send means), so a sandbox is never friendlier than its vendor: a vendor that never retries gets
`max_attempts=1`, and every schedule is bounded.

Sweeping: `sweep_all()` sweeps every registered outbox now (beat-friendly, safe to run from any
number of processes at once: every row changes hands by compare-and-set); `nudge()` runs it in the background at most once per
`SANDBOX_OUTBOX_SWEEP_SECONDS` (default 10) across all processes, and every request under
/sandbox/ calls it (see `apps.py`), so a running sandbox heals itself without beat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, models, transaction
from django.db.models import Q
from django.utils import timezone

logger = logging.getLogger(__name__)

INTERRUPTED = "sender interrupted during the POST; outcome unknown"
#: Sends cut off mid-way that are sent again beyond the vendor's tries (a vendor's queue redelivers a
#: job whose worker died); bounded, so a row that kills its sender every time still ends.
MAX_INTERRUPTIONS = 3


class OutboxMessage(models.Model):
    """One webhook a sandbox owes a subscriber, with its delivery state."""

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for a sender (now, or at next_attempt_at)
        CLAIMED = "claimed"  # a sender took it and has not started the POST
        SENDING = "sending"  # the POST is under way
        SENT = "sent"  # a 2xx (or what the vendor counts as success) came back
        FAILED = "failed"  # the vendor gave up on it (or never retries)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.IntegerField(null=True, blank=True)  # the HTTP status of the last try
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # a retry's due time
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


@dataclass(frozen=True)
class Attempt:
    """What one try of a row came to, as the vendor judges it."""

    ok: bool
    status: int | None = None
    error: str = ""
    final: bool = False  # no retry whatever the schedule says (the subscription is gone or disabled)
    interrupted: bool = False  # the sender died during the POST (set by the sweep)


@dataclass(frozen=True)
class Schedule:
    """A vendor's delivery behaviour: `max_attempts` tries in all (1 = never retried), `backoff(n)`
    the wait after failed try n, and whether a send cut off mid-way is tried again."""

    max_attempts: int
    backoff: Callable[[int], timedelta] = field(default=lambda attempt: timedelta(0))
    # A send cut off mid-way goes again at once (a possible duplicate), else it fails for good.
    resend_interrupted: bool = True
    lease: timedelta = timedelta(minutes=2)  # a claim older than this belongs to a dead sender
    grace: timedelta = timedelta(seconds=30)  # an unclaimed row this old lost its sender (≤ lease)


@dataclass
class SweepResult:
    released: int = 0  # claimed by a sender that died before sending: put back
    interrupted: int = 0  # cut off mid-send: retried or failed per the vendor's schedule
    sent: int = 0  # rows the sweep tried to send (fresh, released or due retries)


class Outbox:
    """One sandbox's outbox: its row model, its vendor's schedule and how one row is sent.

    Subclasses implement `deliver(row) -> Attempt` (build the request, POST it, keep the vendor's own
    books such as failure counts) and may narrow `sweepable()` (rows a sweep must leave alone)."""

    name: str = ""
    model: type[OutboxMessage]
    schedule: Schedule
    background: bool = True  # send after commit in a thread (else in the committing thread)

    def deliver(self, row) -> Attempt:  # pragma: no cover - every sandbox implements it
        raise NotImplementedError

    def rows(self) -> models.QuerySet:
        """The query `deliver` needs (select_related for the subscription and account)."""
        return self.model.objects.all()

    def sweepable(self) -> models.QuerySet:
        return self.rows()

    # --- Sending ----------------------------------------------------------------------------------

    def send_after_commit(self, ids: list[int]) -> None:
        """Send `ids` once the current transaction commits: in a thread, or inline (`background`)."""
        if not ids:
            return
        if self.background:
            transaction.on_commit(lambda: self.send_in_background(ids))
        else:
            transaction.on_commit(lambda: self.send(ids))

    def send_in_background(self, ids: list[int]) -> threading.Thread:
        thread = threading.Thread(target=_quietly, args=(self.send, ids), name=f"{self.name}-outbox", daemon=True)
        thread.start()
        return thread

    def send(self, ids: Iterable[int] | None = None, *, now: datetime | None = None, ignore_schedule: bool = False):
        """Claim and send the pending rows among `ids` (all pending rows when None) that are due, or
        all of them with `ignore_schedule`; the rows as sent, oldest first. A row another sender
        holds is passed over: each row goes out once per claim."""
        now = now or timezone.now()
        pending = self.rows().filter(status=OutboxMessage.Status.PENDING)
        if ids is not None:
            pending = pending.filter(pk__in=list(ids))
        if not ignore_schedule:
            pending = pending.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        done = []
        for row in pending.order_by("id"):
            if self._claim(row, now):
                done.append(self._send_claimed(row))
        return done

    def _claim(self, row, now: datetime) -> bool:
        claimed = self.model.objects.filter(pk=row.pk, status=OutboxMessage.Status.PENDING).update(
            status=OutboxMessage.Status.CLAIMED, claimed_at=now
        )
        row.status, row.claimed_at = OutboxMessage.Status.CLAIMED, now
        return claimed == 1

    def _send_claimed(self, row):
        started = self.model.objects.filter(
            pk=row.pk, status=OutboxMessage.Status.CLAIMED, claimed_at=row.claimed_at
        ).update(status=OutboxMessage.Status.SENDING)
        if not started:  # a sweep judged this claim dead and took the row back meanwhile
            return row
        row.status = OutboxMessage.Status.SENDING
        try:
            attempt = self.deliver(row)
        except Exception as exc:  # a sandbox bug must not leave the row sending forever
            logger.exception("sandbox outbox %s: sending row %s failed", self.name, row.pk)
            attempt = Attempt(ok=False, error=f"{type(exc).__name__}: {exc}")
        return self._finish(row, attempt)

    def _finish(self, row, attempt: Attempt):
        self._record(row, attempt, timezone.now())
        return row

    def _record(self, row, attempt: Attempt, now: datetime) -> int:
        """Store a try's outcome on the row, if this sender still holds it (the count updated)."""
        attempts = row.attempts + 1
        fields = {
            "attempts": attempts,
            "last_status": attempt.status,
            "last_error": attempt.error[:2000],
            "claimed_at": None,
            "next_attempt_at": None,
        }
        if attempt.ok:
            fields.update(status=OutboxMessage.Status.SENT, delivered_at=now)
        elif attempt.interrupted and not attempt.final and attempts < self.schedule.max_attempts + MAX_INTERRUPTIONS:
            fields.update(status=OutboxMessage.Status.PENDING, next_attempt_at=now)
        elif attempt.final or attempts >= self.schedule.max_attempts:
            fields.update(status=OutboxMessage.Status.FAILED)
        else:
            fields.update(status=OutboxMessage.Status.PENDING, next_attempt_at=now + self.schedule.backoff(attempts))
        # Only the sender holding the row records it: a sweep may have judged it dead meanwhile.
        held = self.model.objects.filter(
            pk=row.pk, status=OutboxMessage.Status.SENDING, claimed_at=row.claimed_at
        ).update(**fields)
        for name, value in fields.items():
            setattr(row, name, value)
        return held

    # --- Sweeping ---------------------------------------------------------------------------------

    def sweep(self, *, now: datetime | None = None) -> SweepResult:
        """Find what dead senders left and send what is owed (see the module docstring)."""
        now = now or timezone.now()
        result = SweepResult()
        stale = now - self.schedule.lease
        rows = self.sweepable()
        for row in rows.filter(status=OutboxMessage.Status.CLAIMED, claimed_at__lt=stale):
            result.released += self.model.objects.filter(
                pk=row.pk, status=OutboxMessage.Status.CLAIMED, claimed_at=row.claimed_at
            ).update(status=OutboxMessage.Status.PENDING, claimed_at=None)
        for row in rows.filter(status=OutboxMessage.Status.SENDING, claimed_at__lt=stale):
            result.interrupted += self._interrupted(row, now)
        # Released rows pass the grace test too: they were created before their claim went stale.
        due = rows.filter(status=OutboxMessage.Status.PENDING).filter(
            Q(next_attempt_at__isnull=True, created_at__lte=now - self.schedule.grace) | Q(next_attempt_at__lte=now)
        )
        ids = list(due.values_list("pk", flat=True))
        result.sent = len(self.send(ids, now=now))
        return result

    def _interrupted(self, row, now: datetime) -> int:
        """A row whose sender died mid-POST: one try used; retried or failed per the schedule."""
        attempt = Attempt(ok=False, error=INTERRUPTED, final=not self.schedule.resend_interrupted, interrupted=True)
        return self._record(row, attempt, now)


_outboxes: dict[str, Outbox] = {}


def register(outbox: Outbox) -> Outbox:
    """Make `outbox` part of `sweep_all` (each sandbox app registers its own when it is ready)."""
    _outboxes[outbox.name] = outbox
    return outbox


def registered() -> list[Outbox]:
    return list(_outboxes.values())


def sweep_all(*, now: datetime | None = None) -> dict[str, SweepResult]:
    """Sweep every registered sandbox outbox now; what each one did, by name."""
    return {name: outbox.sweep(now=now) for name, outbox in list(_outboxes.items())}


# --- The request path's nudge -------------------------------------------------------------------

_last_nudge = 0.0
_nudge_lock = threading.Lock()
NUDGE_KEY = "sandbox:outbox:sweep"


def sweep_seconds() -> float:
    return float(getattr(settings, "SANDBOX_OUTBOX_SWEEP_SECONDS", 10.0))


def nudge() -> threading.Thread | None:
    """Sweep in the background unless some process did so in the last `sweep_seconds()`.

    Cheap on the request path: a clock comparison in this process, and once per period one Redis
    SET NX shared by all processes. Without Redis, this process's own clock decides."""
    global _last_nudge
    period = sweep_seconds()
    if period <= 0 or not _outboxes:
        return None
    with _nudge_lock:
        if time.monotonic() - _last_nudge < period:
            return None
        _last_nudge = time.monotonic()
    try:
        from connector.redis import get_redis

        if not get_redis().set(NUDGE_KEY, "1", nx=True, ex=max(1, int(period))):
            return None
    except Exception:  # Redis down: sweep anyway, the rows' claims keep it single
        logger.warning("sandbox outbox: Redis unavailable, sweeping on this process's clock")
    thread = threading.Thread(target=_quietly, args=(sweep_all,), name="sandbox-outbox-sweep", daemon=True)
    thread.start()
    return thread


def _quietly(function: Callable, *args) -> None:
    try:
        function(*args)
    except Exception:
        logger.exception("sandbox outbox: %s failed", getattr(function, "__name__", function))
    finally:
        connections.close_all()  # this thread's own connections: it ends here
