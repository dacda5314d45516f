"""Stored reconciliation runs: computed by a worker (or in the request for a small period), kept as
lines, scheduled per flow, and turned into an Alert when the books do not balance.

connector.reconcile compares; this module reads both systems through the registry, stores what the
comparison found (ReconciliationRun and its ReconciliationLines) and decides when to run again:

- A ledger that cannot list the period yet raises `LedgerNotReady` (QuickBooks Desktop answers its
  queued queries on the Web Connector's next visit): the run waits and is tried again every
  `wait_seconds()`, at most `MAX_TRIES` times, then fails with the ledger's own words.
- The database is the source of truth: a queued run whose message was lost, a waiting run whose
  retry was lost and a running run whose worker died are queued again by the beat sweep
  (`requeue_lost_runs`), each claimed by a compare-and-set so a duplicate message does nothing.
- Each flow has a schedule (off, daily, weekly on Mondays; at an hour UTC). A scheduled run checks the
  last 31 whole days, so an invoice edited or deleted by hand in the books, a late refund or a void is
  seen within a day of happening, not only at month end (a "previous day" check would never see them,
  month-to-date would forget the end of the last month on the 1st). Its problems (any line not matched
  except those whose record is still pending) raise one Alert per flow, updated by later runs and
  resolved by the first run that balances.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from connector.http import ApiError, CallRecord, observe_calls
from connector.models import Flow, ReconciliationLine, ReconciliationRun, Record, raise_alert, resolve_alerts
from connector.reconcile import (
    ORDER,
    STATUS_LABELS,
    STATUS_ORDER,
    LedgerDocument,
    LedgerNotReady,
    Line,
    Period,
    RecordState,
    Report,
    SourceOrder,
    Status,
    compare,
)
from connector.registry import RECONCILED_ITEMS, RegistryError, get_preset, reconcilable, reconcile_inputs

logger = logging.getLogger(__name__)

RUN_TASK = "connector.tasks.run_reconciliation"
Run = ReconciliationRun

# A period expected to hold at most this many orders is reconciled in the request that asks for it
# (a few list pages); a larger one, or one longer than INLINE_DAYS, runs in the background.
INLINE_ORDERS = 300
INLINE_DAYS = 92
UNKNOWN_INLINE_DAYS = 7
SCHEDULE_DAYS = 31
MAX_TRIES = 36  # with 5-minute waits: three hours for the ledger to answer
LEASE_SECONDS = 3600  # a run's worker that died frees it after this long
QUEUED_GRACE_SECONDS = 300  # a queued run not started by then lost its message
LINE_BATCH = 2000
MAX_COUNTDOWN = 600  # connector.tasks.MAX_BROKER_COUNTDOWN: under the broker's visibility timeout
# Statuses that do not make a line a problem: matched, and an order whose record is still on its way.
NOT_PROBLEMS = {Status.MATCHED, Status.PENDING}
ALERT_PREFIX = "reconciliation:"


def wait_seconds() -> float:
    return float(getattr(settings, "RECONCILIATION_WAIT_SECONDS", 300))


# --- Reading both systems -----------------------------------------------------------------------


def build_report(flow: Flow, period: Period) -> Report:
    """Both systems' lists for the period (orders, and shipments where the flow books their cost),
    compared. Raises ApiError when a system cannot be read and LedgerNotReady when the ledger will
    answer later."""
    items, documents = reconcile_inputs(flow, period)
    records = Record.objects.for_org(flow.organization).filter(flow=flow, object_type__in=RECONCILED_ITEMS)
    states = {
        (kind, source_id): RecordState(pk, status)
        for pk, kind, source_id, status in records.filter(source_id__in=[o.source_id for o in items]).values_list(
            "pk", "object_type", "source_id", "status"
        )
    }
    references = {d.reference for d in documents if d.reference and d.item == ORDER}
    known = list(records.filter(object_type=ORDER, source_ref__in=references).values_list("source_ref", flat=True))
    # A shipment journal carries the flow's own marker: every one the ledger lists was written by a flow.
    known += [(d.item, d.reference) for d in documents if d.item != ORDER and d.reference]
    return compare(period, items, documents, records=states, known_references=known)


# --- Lines as stored ----------------------------------------------------------------------------


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value) -> Decimal | None:
    return None if value is None else Decimal(value)


def line_data(line: Line) -> dict:
    order = line.order
    return {
        "status": str(line.status),
        "reference": line.reference,
        "currency": line.currency,
        "source_amount": _money(line.source_amount),
        "ledger_amount": _money(line.ledger_amount),
        "note": line.note,
        "record_id": line.record_id,
        "kind": line.kind,
        "order": None
        if order is None
        else {
            "source_id": order.source_id,
            "reference": order.reference,
            "amount": str(order.amount),
            "currency": order.currency,
            "date": order.date.isoformat(),
            "refunded": str(order.refunded),
            "cancelled": order.cancelled,
            "kind": order.kind,
            "label": order.label,
        },
        "documents": [{**vars(d), "amount": str(d.amount), "date": d.date.isoformat()} for d in line.documents],
    }


def line_from(data: dict) -> Line:
    """A stored line as connector.reconcile.Line, for the page, the exports, Replay and the API."""
    order = data.get("order")
    return Line(
        status=Status(data["status"]),
        reference=data["reference"],
        currency=data["currency"],
        order=None
        if order is None
        else SourceOrder(
            source_id=order["source_id"],
            reference=order["reference"],
            amount=Decimal(order["amount"]),
            currency=order["currency"],
            date=date.fromisoformat(order["date"]),
            refunded=Decimal(order["refunded"]),
            cancelled=order["cancelled"],
            kind=order.get("kind", ORDER),
            label=order.get("label", ""),
        ),
        documents=[
            LedgerDocument(**{**d, "amount": Decimal(d["amount"]), "date": date.fromisoformat(d["date"])})
            for d in data.get("documents", [])
        ],
        source_amount=_decimal(data.get("source_amount")),
        ledger_amount=_decimal(data.get("ledger_amount")),
        note=data.get("note", ""),
        record_id=data.get("record_id"),
        kind=data.get("kind", ORDER),
    )


def stored_report(run: Run) -> Report:
    """Every line of a finished run, in the page's order."""
    rows = run.lines.order_by("position").values_list("data", flat=True).iterator(chunk_size=LINE_BATCH)
    return Report(Period(run.start, run.end), [line_from(data) for data in rows])


def ordered_counts(run: Run) -> list[tuple[Status, str, int]]:
    return [(s, STATUS_LABELS[s], run.counts[s.value]) for s in STATUS_ORDER if run.counts.get(s.value)]


def stored_totals(run: Run) -> list[dict]:
    return [{k: (v if k == "currency" else Decimal(v)) for k, v in total.items()} for total in run.totals]


def problem_count(counts: dict[str, int]) -> int:
    return sum(n for status, n in counts.items() if status not in NOT_PROBLEMS)


# --- Starting and running -----------------------------------------------------------------------


def runs_of(flow: Flow):
    return Run.objects.for_org(flow.organization).filter(flow=flow)


def latest_run(flow: Flow, period: Period) -> Run | None:
    return runs_of(flow).filter(start=period.start, end=period.end).order_by("-id").first()


def usable(run: Run | None) -> bool:
    """A run whose lines stand for the books now: finished, and nothing replayed from it since."""
    return run is not None and run.status == Run.Status.DONE and not run.outdated


def small_enough(flow: Flow, period: Period) -> bool:
    """Whether the period can be read in the request: few orders expected, from our own records of
    the period and from the flow's last finished run (its orders per day). A flow with neither (it
    never synced, nobody checked it) may sit on a big store: only a short period is read at once."""
    days = (period.end - period.start).days + 1
    if days > INLINE_DAYS:
        return False
    records = Record.objects.for_org(flow.organization).filter(flow=flow, object_type="order")
    last = runs_of(flow).filter(status=Run.Status.DONE).order_by("-id").first()
    if last is None and not records.exists():
        return days <= UNKNOWN_INLINE_DAYS
    in_period = records.filter(created_at__gte=period.since, created_at__lt=period.until).count()
    per_day = last.line_count / ((last.end - last.start).days + 1) if last else 0
    return max(in_period, per_day * days) <= INLINE_ORDERS


def enqueue(run_id: int, *, countdown: float = 0) -> None:
    """Queue the run's task after commit (by name: the web process may not have loaded the tasks)."""
    options = {"countdown": countdown} if countdown else {}

    def send() -> None:
        task = current_app.tasks.get(RUN_TASK)
        if task is not None:
            task.apply_async((run_id,), **options)
        else:
            current_app.send_task(RUN_TASK, args=(run_id,), **options)

    transaction.on_commit(send)


def wake_waiting_runs(connection) -> int:
    """A ledger that answers later has answered (or failed to): its runs waiting for it try again
    now rather than at their next scheduled try. Returns how many were queued."""
    waiting = Run.objects.filter(status=Run.Status.WAITING).filter(
        Q(flow__source=connection) | Q(flow__target=connection)
    )
    ids = list(waiting.values_list("pk", flat=True))
    if ids:
        Run.objects.filter(pk__in=ids, status=Run.Status.WAITING).update(next_attempt_at=timezone.now())
        for run_id in ids:
            enqueue(run_id)
    return len(ids)


def start_run(flow: Flow, period: Period, trigger: str, *, user=None, queue: bool = True) -> tuple[Run, bool]:
    """A run of the flow's period, queued for a worker; the one already under way when there is one
    (two clicks, a click while the schedule's run goes, make one run). (run, created)."""
    with transaction.atomic():
        Flow.objects.select_for_update().filter(pk=flow.pk).first()  # serialises two starts of one flow
        under_way = (
            runs_of(flow).filter(start=period.start, end=period.end, status__in=Run.IN_PROGRESS).order_by("-id").first()
        )
        if under_way is not None:
            return under_way, False
        run = Run.objects.create(
            organization=flow.organization,
            flow=flow,
            start=period.start,
            end=period.end,
            trigger=trigger,
            requested_by=user if getattr(user, "is_authenticated", False) else None,
            next_attempt_at=timezone.now() + timedelta(seconds=QUEUED_GRACE_SECONDS),
        )
        if queue:
            enqueue(run.pk)
    return run, True


def compute_now(flow: Flow, period: Period, trigger: str, *, user=None) -> Run:
    """Run the period in this request (a small one); a run that must wait is handed to a worker."""
    run, created = start_run(flow, period, trigger, user=user, queue=False)
    if created:
        execute(run.pk)
    run.refresh_from_db()
    return run


@dataclass(frozen=True)
class Outcome:
    status: str
    retry_in: float = 0.0


def claim(run_id: int, now: datetime | None = None) -> Run | None:
    """Take a queued run, or a waiting one whose next try has come; None when another worker has it
    or it is finished (a duplicate message)."""
    now = now or timezone.now()
    due = Q(status=Run.Status.QUEUED) | Q(status=Run.Status.WAITING, next_attempt_at__lte=now)
    taken = Run.objects.filter(due, pk=run_id).update(
        status=Run.Status.RUNNING,
        started_at=now,
        lease_until=now + timedelta(seconds=LEASE_SECONDS),
        attempts=F("attempts") + 1,
        next_attempt_at=None,
    )
    if not taken:
        return None
    return Run.objects.select_related("flow__source", "flow__target", "organization").get(pk=run_id)


def execute(run_id: int) -> Outcome:
    """Compute one run and store it. Never raises for a vendor's refusal: the run says why."""
    run = claim(run_id)
    if run is None:
        return Outcome("skipped")
    flow, period = run.flow, Period(run.start, run.end)
    calls: list[CallRecord] = []
    try:
        with observe_calls(calls.append):
            report = build_report(flow, period)
    except LedgerNotReady as exc:
        return _wait(run, str(exc), len(calls))
    except ApiError as exc:
        _finish_failed(run, str(exc), exc.remediation, len(calls))
        return Outcome("failed")
    except Exception as exc:
        logger.exception("reconciliation failed", extra={"flow_id": flow.pk, "organization_id": flow.organization_id})
        _finish_failed(run, f"Internal error while reconciling: {type(exc).__name__}.", "Run it again later.", None)
        return Outcome("failed")
    store(run, report, len(calls))
    return Outcome("done")


def _wait(run: Run, message: str, calls: int | None) -> Outcome:
    if run.attempts >= MAX_TRIES:
        hours = round(MAX_TRIES * wait_seconds() / 3600, 1)
        _finish_failed(
            run,
            f"{message} We stopped waiting after {run.attempts} tries ({hours} hours).",
            "Press Run now once the ledger is reachable again.",
            calls,
        )
        return Outcome("failed")
    retry_in = wait_seconds()
    Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
        status=Run.Status.WAITING,
        message=message,
        next_attempt_at=timezone.now() + timedelta(seconds=retry_in),
        lease_until=None,
        vendor_calls=calls,
    )
    # The retry's message, whether a worker or a web request met the wait; if it is lost, the row's
    # next_attempt_at lets the sweep bring the run back. Longer waits than a broker may hold a
    # message unacknowledged are left to the sweep.
    enqueue(run.pk, countdown=min(retry_in, MAX_COUNTDOWN))
    return Outcome("waiting", retry_in)


def _finish_failed(run: Run, message: str, remediation: str, calls: int | None) -> None:
    Run.objects.filter(pk=run.pk).update(
        status=Run.Status.FAILED,
        message=message[:4000],
        remediation=remediation,
        finished_at=timezone.now(),
        lease_until=None,
        next_attempt_at=None,
        vendor_calls=calls,
    )


def store(run: Run, report: Report, calls: int | None) -> None:
    """Keep the report's lines and summary on the run, then settle the flow's alert."""
    counts = {str(status): n for status, n in report.counts().items()}
    totals = [{k: str(v) for k, v in total.items()} for total in report.totals()]
    with transaction.atomic():
        ReconciliationLine.objects.filter(run=run).delete()  # a run stored again (a worker redelivered)
        batch: list[ReconciliationLine] = []
        for position, line in enumerate(report.lines):
            batch.append(
                ReconciliationLine(
                    organization_id=run.organization_id,
                    run=run,
                    position=position,
                    status=str(line.status),
                    reference=line.reference[:200],
                    source_id=(line.order.source_id if line.order else "")[:200],
                    record_id=line.record_id,
                    data=line_data(line),
                )
            )
            if len(batch) >= LINE_BATCH:
                ReconciliationLine.objects.bulk_create(batch)
                batch = []
        ReconciliationLine.objects.bulk_create(batch)
        Run.objects.filter(pk=run.pk).update(
            status=Run.Status.DONE,
            counts=counts,
            totals=totals,
            line_count=len(report.lines),
            problem_count=problem_count(counts),
            vendor_calls=calls,
            message="",
            remediation="",
            finished_at=timezone.now(),
            lease_until=None,
            next_attempt_at=None,
        )
    run.refresh_from_db()
    settle_alert(run)


# --- Schedule and alert -------------------------------------------------------------------------


def scheduled_period(today: date) -> Period:
    """The last SCHEDULE_DAYS whole days, ending yesterday: today's orders are still on their way."""
    end = today - timedelta(days=1)
    return Period(end - timedelta(days=SCHEDULE_DAYS - 1), end)


def next_slot(schedule: str, hour: int, now: datetime) -> datetime | None:
    """The next time after `now` a flow with this schedule reconciles (UTC), None when off."""
    if schedule not in ("daily", "weekly"):
        return None
    slot = now.astimezone(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    if schedule == "weekly":
        slot -= timedelta(days=slot.weekday())  # Monday of this week
        while slot <= now:
            slot += timedelta(days=7)
        return slot
    while slot <= now:
        slot += timedelta(days=1)
    return slot


def is_reconcilable(flow: Flow) -> bool:
    try:
        return reconcilable(get_preset(flow.preset), flow.options)
    except RegistryError:
        return False


def claim_due_schedules(now: datetime | None = None, *, limit: int = 200) -> list[int]:
    """Start the scheduled run of every enabled flow whose slot has come, and move the flow to its
    next slot (a compare-and-set, so two sweeps never start one slot twice). A flow without a slot
    yet (new, or its schedule just changed) only gets one."""
    now = now or timezone.now()
    due = (
        Flow.objects.filter(enabled=True)
        .exclude(reconcile_schedule="off")
        .filter(Q(reconcile_next_at__isnull=True) | Q(reconcile_next_at__lte=now))
        .select_related("organization", "source", "target")
        .order_by("id")
    )
    started: list[int] = []
    for flow in due[:limit]:
        slot = next_slot(flow.reconcile_schedule, flow.reconcile_hour, now)
        same = (
            Q(reconcile_next_at__isnull=True)
            if flow.reconcile_next_at is None
            else Q(reconcile_next_at=flow.reconcile_next_at)
        )
        if not Flow.objects.filter(same, pk=flow.pk).update(reconcile_next_at=slot):
            continue
        if flow.reconcile_next_at is None or not is_reconcilable(flow):
            continue
        run, _ = start_run(flow, scheduled_period(now.date()), Run.Trigger.SCHEDULE)
        started.append(run.pk)
    return started


def speaks_for_schedule(run: Run) -> bool:
    """A run the flow's alert follows: the schedule's own, or one a person ran over the same period."""
    if run.trigger == Run.Trigger.SCHEDULE:
        return True
    scheduled = scheduled_period(run.created_at.date())
    return run.flow.reconcile_schedule != "off" and (run.start, run.end) == (scheduled.start, scheduled.end)


def run_url(run: Run) -> str:
    return f"{reverse('flow_reconciliation', args=[run.flow_id])}?run={run.pk}"


def alert_key(flow: Flow) -> str:
    return f"{ALERT_PREFIX}{flow.pk}"


def settle_alert(run: Run) -> None:
    """Raise (or update) the flow's reconciliation alert when the run found problems; resolve it
    when the run balances (pending lines aside)."""
    if not speaks_for_schedule(run):
        return
    flow = run.flow
    if not run.problem_count:
        resolve_alerts(flow.organization, alert_key(flow))
        return
    parts = ", ".join(f"{n} {label.lower()}" for status, label, n in ordered_counts(run) if status not in NOT_PROBLEMS)
    period = f"{run.start:%-d %b} – {run.end:%-d %b %Y}"
    raise_alert(
        flow.organization,
        alert_key(flow),
        f"{flow}: {run.problem_count} of {run.line_count} orders from {period} do not match "
        f"{flow.target.label} ({parts}).",
        remediation="Open the reconciliation to replay or fix them.",
        flow=flow,
        link=run_url(run),  # the dashboard's button; mails make it absolute
    )


# --- The sweep: lost messages, dead workers -----------------------------------------------------


def requeue_lost_runs(now: datetime | None = None, *, limit: int = 500) -> list[int]:
    """Queue again the runs whose message was lost: queued ones not started within their grace,
    waiting ones whose retry is overdue, running ones whose worker died (their lease lapsed). Each is claimed by moving its next check on first."""
    now = now or timezone.now()
    recheck = now + timedelta(seconds=QUEUED_GRACE_SECONDS)
    overdue = now - timedelta(seconds=QUEUED_GRACE_SECONDS)
    lost = (
        Q(status=Run.Status.QUEUED, next_attempt_at__lte=now)
        | Q(status=Run.Status.WAITING, next_attempt_at__lte=overdue)
        | Q(status=Run.Status.RUNNING, lease_until__lte=now)
    )
    requeued: list[int] = []
    with transaction.atomic():
        for run_id in list(Run.objects.filter(lost).order_by("id").values_list("id", flat=True)[:limit]):
            if Run.objects.filter(lost, pk=run_id).update(
                status=Run.Status.QUEUED, next_attempt_at=recheck, lease_until=None
            ):
                requeued.append(run_id)
                enqueue(run_id)
    if requeued:
        logger.warning("requeued %d reconciliation runs from the database", len(requeued))
    return requeued
