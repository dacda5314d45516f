"""The qbXML work queue: the small Python API the sync engine uses (see README.md).

QuickBooks Desktop is a deferred target: nothing reaches it until the Web Connector polls. The
engine queues jobs here; the SOAP service hands them out one per sendRequestXML and completes them
in receiveResponseXML, then calls the handler the engine named when it queued the job:

    from integrations.qbdesktop import jobs, qbxml

    jobs.register_handler("engine.invoice", on_invoice)          # once, e.g. in AppConfig.ready()
    jobs.enqueue(connection, qbxml.invoice_add(spec), record=record, handler="engine.invoice",
                 context={"order_number": "1001"})

    def on_invoice(job, result):                                  # runs inside the SOAP request
        if result.error is None: ...                              # result.summary["txn_id"], ...

A job QuickBooks answers "busy" (a record or the file locked by someone working in it, an internal
error) goes back to the queue with a not-before time from `RESEND` (connector/retry.py, full jitter):
it is not handed out again before then, so it waits for a later Web Connector run instead of hitting the
same lock at once, and a run whose only jobs are waiting ends at 100% as if the queue were empty.

Handlers run inside the receiveResponseXML transaction: keep them to database work and enqueue
anything slow with `transaction.on_commit`. A failing handler is logged and noted on the job; it
never fails the Web Connector call or re-sends a write that QuickBooks already applied.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from connector.http import ApiError, Permanent, Transient, Uncertain
from connector.models import Connection, Event, Record
from connector.retry import RetryPolicy
from integrations.qbdesktop import qbxml
from integrations.qbdesktop.models import QBWCSession, QBXMLJob

logger = logging.getLogger(__name__)

# Sends of one job (busy answers, EditSequence retries, iterator restarts), and the wait before a job
# QuickBooks answered busy goes out again: jittered up to 1, then 2 minutes, never under 30 s, so the
# retry lands in a later Web Connector run (every minute at the most often) and the jobs of a file that
# was locked for everyone do not all come back together.
RESEND = RetryPolicy(max_attempts=3, base=60.0, cap=900.0, floor=30.0)
MAX_ATTEMPTS = RESEND.max_attempts
RESULT_OBJECT_LIMIT = 1000  # objects kept in job.result when no handler streams them
SYSTEM = "qbdesktop"
# The queue runs in (order_key, id) order: this run's orders, then the list sync, then the checks.
ORDER_KEY = "20-orders"
SYNC_KEY = "85-sync"
CHECK_KEY = "90-checks"

JobStatus = QBXMLJob.Status


@dataclass
class JobResult:
    """What a handler is told about a finished job."""

    status: qbxml.Status | None  # the qbXML status of the response (None: QuickBooks never answered)
    error: ApiError | None  # typed error; None on success or an empty query result
    objects: Iterator[qbxml.Parsed] = field(default_factory=lambda: iter(()))  # streamed, read once
    more_pages: bool = False  # an iterator continuation is queued after this page


Handler = Callable[[QBXMLJob, JobResult], None]
_handlers: dict[str, Handler] = {}


def register_handler(name: str, handler: Handler) -> None:
    existing = _handlers.get(name)
    if existing is not None and existing is not handler:
        raise ValueError(f"qbXML job handler {name!r} is registered twice")
    _handlers[name] = handler


def unregister_handler(name: str) -> None:
    _handlers.pop(name, None)


def enqueue(
    connection: Connection,
    request: qbxml.Request,
    *,
    record: Record | None = None,
    handler: str = "",
    context: dict | None = None,
    order_key: str = "",
) -> QBXMLJob:
    """Queue one qbXML request for the connection's next Web Connector run."""
    if connection.system != SYSTEM:
        raise ValueError(f"connection {connection.pk} is not a QuickBooks Desktop connection")
    if record is not None and record.organization_id != connection.organization_id:
        raise ValueError("record and connection belong to different organisations")
    return QBXMLJob.objects.create(
        organization=connection.organization,
        connection=connection,
        record=record,
        kind=request.kind,
        request_xml=request.xml,
        handler=handler,
        context=context or {},
        order_key=order_key,
    )


def cancel(job: QBXMLJob) -> bool:
    """Cancel a job that has not been sent yet."""
    updated = QBXMLJob.objects.filter(pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.WAITING]).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )
    return bool(updated)


def pending(connection: Connection) -> QuerySet[QBXMLJob]:
    """Every job not finished yet, due or not: what callers check before queueing the same work twice."""
    return QBXMLJob.objects.filter(connection=connection, status__in=[JobStatus.QUEUED, JobStatus.WAITING])


def _due_now(now: datetime, prefix: str = "") -> Q:
    return Q(**{f"{prefix}not_before__isnull": True}) | Q(**{f"{prefix}not_before__lte": now})


def due(connection: Connection, *, now: datetime | None = None) -> QuerySet[QBXMLJob]:
    """The pending jobs this Web Connector run can hand out: not held back by a not-before time.

    A Mod waiting for its EditSequence re-query is due when the re-query is."""
    now = now or timezone.now()
    queued = Q(status=JobStatus.QUEUED) & _due_now(now)
    waiting = Q(status=JobStatus.WAITING) & _due_now(now, "blocked_by__")
    return QBXMLJob.objects.filter(connection=connection).filter(queued | waiting)


def has_work(connection: Connection) -> bool:
    return due(connection).exists()


def request_of(job: QBXMLJob) -> qbxml.Request:
    return qbxml.Request(kind=job.kind, xml=job.request_xml)


# --- Handing out -------------------------------------------------------------------------------


def next_job(session: QBWCSession) -> QBXMLJob | None:
    """The next queued job of the session's connection: first this session's iterator continuations."""
    queued = QBXMLJob.objects.select_for_update(skip_locked=True).filter(
        _due_now(timezone.now()), connection_id=session.connection_id, status=JobStatus.QUEUED
    )
    job = queued.filter(session=session, iterator_id__gt="").order_by("id").first()
    if job is None:
        job = queued.filter(iterator_id="").order_by("order_key", "id").first()
    return job


def mark_sent(job: QBXMLJob, session: QBWCSession) -> None:
    job.status = JobStatus.SENT
    job.session = session
    job.attempts += 1
    job.sent_at = timezone.now()
    job.not_before = None
    job.save(update_fields=["status", "session", "attempts", "sent_at", "not_before", "updated_at"])


def remaining_estimate(session: QBWCSession) -> int:
    """Jobs this run still has to hand out, counting the unread pages of open iterators (not those
    waiting for a later run: a run whose only jobs wait is done)."""
    total = 0
    for job in due(session.connection).only("iterator_id", "iterator_remaining", "request_xml", "session_id"):
        if job.iterator_id and job.session_id != session.pk:
            continue  # a dead session's page: it restarts next run
        total += 1
        if job.iterator_id and job.iterator_remaining:
            match = re.search(r"<MaxReturned>(\d+)</MaxReturned>", job.request_xml)
            size = int(match.group(1)) if match else qbxml.DEFAULT_PAGE_SIZE
            total += max(0, math.ceil(job.iterator_remaining / max(size, 1)) - 1)
    return total


# --- Completing --------------------------------------------------------------------------------


class FatalResponse(Exception):
    """The response cannot be trusted (hostile, malformed, not ours): end the Web Connector run."""


def _jsonable(obj) -> dict:
    data = asdict(obj)
    for key, value in list(data.items()):
        if isinstance(value, Decimal):
            data[key] = str(value)
        elif isinstance(value, (list, tuple)):
            data[key] = [
                {k: str(v) if isinstance(v, Decimal) else v for k, v in item.items()}
                if isinstance(item, dict)
                else item
                for item in value
            ]
    return data


def _record_event(job: QBXMLJob, message: str, *, failed: bool) -> None:
    if job.record_id is None:
        return
    Event.objects.create(
        organization_id=job.organization_id,
        record_id=job.record_id,
        connection_id=job.connection_id,
        kind=Event.Kind.FAILED if failed else Event.Kind.API_CALL,
        message=message,
        data={"system": SYSTEM, "job": job.pk, "kind": job.kind, "status_code": job.status_code},
    )


def _notify(job: QBXMLJob, result: JobResult) -> None:
    handler = _handlers.get(job.handler) if job.handler else None
    if handler is None:
        if job.handler:
            logger.warning("qbXML job %s names unknown handler %r", job.pk, job.handler)
        return
    try:
        with transaction.atomic():
            handler(job, result)
    except Exception as exc:  # a handler bug must not fail the SOAP call or re-send an applied write
        logger.exception("qbXML job handler %r failed for job %s", job.handler, job.pk)
        job.result = {**job.result, "handler_error": f"{type(exc).__name__}: {exc}"[:500]}
        job.save(update_fields=["result", "updated_at"])


def _finish(job: QBXMLJob, status: str, *, error: ApiError | None, result: JobResult) -> None:
    job.status = status
    job.finished_at = timezone.now()
    job.save()
    code = f" status {job.status_code}" if job.status_code is not None else ""
    text = f"QuickBooks {job.kind}:{code} {job.status_message}".strip()
    _record_event(job, text, failed=error is not None and not isinstance(error, Uncertain))
    _notify(job, result)


def fail_without_response(job: QBXMLJob, hresult: str, message: str) -> None:
    """QuickBooks threw instead of answering (receiveResponseXML with an HRESULT)."""
    job.status_message = f"QuickBooks could not process the request ({hresult}): {message}".strip()
    job.status_code = None
    error = Permanent(job.status_message, vendor_code=hresult)
    _finish(job, JobStatus.ERROR, error=error, result=JobResult(status=None, error=error))


def abandon_in_flight(job: QBXMLJob) -> None:
    """A sent job whose answer never came (session ended, exchange lost).

    Queries are simply queued again. A write may or may not have been applied: it becomes
    `uncertain`, and the engine must look the object up by its natural key before trying again.
    """
    if job.status != JobStatus.SENT:
        return
    if not job.is_write:
        job.status = JobStatus.QUEUED
        if job.iterator_id:
            _make_restart(job)
        _shrink_page(job)
        job.save()
        return
    job.status_message = "The Web Connector run ended before QuickBooks' answer arrived; outcome unknown."
    error = Uncertain(job.status_message)
    _finish(job, JobStatus.UNCERTAIN, error=error, result=JobResult(status=None, error=error))


def _shrink_page(job: QBXMLJob) -> None:
    """A lost answer to a paged query is most likely QuickBooks taking too long (QBWC.md §6: the client
    gives up after ~100 s): ask for half as many rows next time, so a slow company file still syncs."""
    request = request_of(job)
    size = qbxml.max_returned(request)
    if size is not None and size > qbxml.MIN_PAGE_SIZE:
        job.request_xml = qbxml.with_max_returned(request, max(qbxml.MIN_PAGE_SIZE, size // 2)).xml


def _make_restart(job: QBXMLJob) -> None:
    restarted = qbxml.restart_iterator(request_of(job))
    job.request_xml = restarted.xml
    job.iterator_id = ""
    job.iterator_remaining = None
    job.session = None
    job.page = 1


def restart_orphaned_iterators(connection: Connection, *, keep_session: QBWCSession | None = None) -> int:
    """Continuations bound to a finished session restart their query from the first page."""
    jobs = QBXMLJob.objects.filter(connection=connection, status=JobStatus.QUEUED).exclude(iterator_id="")
    if keep_session is not None:
        jobs = jobs.exclude(session=keep_session)
    count = 0
    for job in jobs:
        _make_restart(job)
        job.save()
        count += 1
    return count


def complete(job: QBXMLJob, session: QBWCSession, response: str) -> None:
    """Apply QuickBooks' qbXML response to the job. Raises FatalResponse when it cannot be trusted."""
    stream = qbxml.iter_response(response)
    status = _answer_status(job, stream)
    error = qbxml.status_error(status)
    if job.context.get("_requery_for"):
        _complete_requery(job, status, error, stream)
        return
    if _send_again(job, error):
        return
    more = _queue_more(job, session, status, error)
    _deliver(job, status, error, stream, more=more)


def _answer_status(job: QBXMLJob, stream: Iterator[qbxml.Parsed]) -> qbxml.Status:
    """The response's status, kept on the job; FatalResponse when the response is not this job's."""
    try:
        first = next(stream, None)
    except qbxml.HostileXML as exc:
        _fail_fatal(job, f"QuickBooks' response was refused: {exc}")
        raise FatalResponse(job.status_message) from None
    if not isinstance(first, qbxml.Status) or first.request_id != str(job.pk):
        _fail_fatal(job, "QuickBooks' response does not answer the request we sent.")
        raise FatalResponse(job.status_message)
    job.status_code = first.code
    job.status_severity = first.severity
    job.status_message = first.message
    return first


def _send_again(job: QBXMLJob, error: ApiError | None) -> bool:
    """Whether the job goes back to the queue (or waits for a re-query) instead of finishing now."""
    if not RESEND.retries_left(job.attempts):
        return False
    edit_conflict = isinstance(error, qbxml.EditSequenceOutOfDate)
    if edit_conflict and job.kind in qbxml.MOD_REQUERY:
        _queue_requery(job)
        return True
    if job.iterator_id and error is not None:
        # A Continue page failing is most likely an expired iterator: start the query again.
        _make_restart(job)
        _queue_again(job, error)
        return True
    if _busy(error):
        _queue_again(job, error)  # QuickBooks was busy (locks, internal error): send again later
        return True
    return False


def _busy(error: ApiError | None) -> bool:
    """QuickBooks could not do it now (locks, internal error); an EditSequence conflict is not that."""
    return isinstance(error, Transient) and not isinstance(error, qbxml.EditSequenceOutOfDate)


def _queue_again(job: QBXMLJob, error: ApiError | None) -> None:
    """Back to the queue; after a busy answer not before RESEND's jittered wait, so a later run sends it."""
    job.status = JobStatus.QUEUED
    if _busy(error):
        job.not_before = timezone.now() + timedelta(seconds=RESEND.delay(job.attempts))
    job.save()


def _queue_more(job: QBXMLJob, session: QBWCSession, status: qbxml.Status, error: ApiError | None) -> bool:
    """Queue the iterator's next page when QuickBooks has more; True if it did."""
    job.iterator_remaining = status.iterator_remaining
    if error is None and request_of(job).is_iterator and status.iterator_id and (status.iterator_remaining or 0) > 0:
        _queue_next_page(job, session, status)
        return True
    return False


def _deliver(job: QBXMLJob, status: qbxml.Status, error: ApiError | None, stream, *, more: bool) -> None:
    """Finish the job and hand its objects to its handler: streamed for queries, kept for writes."""
    streamed = bool(job.handler and job.handler in _handlers and not job.is_write)
    if streamed:
        # Query pages go to the handler object by object, never held in memory as a whole.
        objects = _counting(stream, job)
    else:
        kept: list = []
        count = 0
        for obj in stream:
            count += 1
            if len(kept) < RESULT_OBJECT_LIMIT:
                kept.append(obj)
        job.result = {"count": count, "objects": [{"type": type(o).__name__, **_jsonable(o)} for o in kept]}
        objects = iter(kept)
        _summarise(job)
    result = JobResult(status=status, error=error, objects=objects, more_pages=more)
    _finish(job, JobStatus.DONE if error is None else JobStatus.ERROR, error=error, result=result)
    if streamed:
        for _rest in objects:  # drain what the handler left, so the count is right
            pass
        job.save(update_fields=["result", "updated_at"])


def _counting(stream: Iterator[qbxml.Parsed], job: QBXMLJob) -> Iterator[qbxml.Parsed]:
    job.result = {"count": 0}
    for obj in stream:
        job.result["count"] += 1
        if job.result["count"] == 1:
            job.result["first"] = _jsonable(obj)
        yield obj


def _summarise(job: QBXMLJob) -> None:
    """Lift the identity of the written object (TxnID/ListID/EditSequence) to the top of job.result."""
    objects = job.result.get("objects") or []
    if job.is_write and objects:
        first = objects[0]
        for key in ("txn_id", "list_id", "edit_sequence", "ref_number", "full_name"):
            if first.get(key):
                job.result[key] = first[key]


def _fail_fatal(job: QBXMLJob, message: str) -> None:
    job.status_message = message
    error = Permanent(message)
    _finish(job, JobStatus.ERROR, error=error, result=JobResult(status=None, error=error))


def _queue_requery(job: QBXMLJob) -> None:
    requery = qbxml.requery_for(request_of(job))
    query_job = QBXMLJob.objects.create(
        organization_id=job.organization_id,
        connection_id=job.connection_id,
        record_id=job.record_id,
        kind=requery.kind,
        request_xml=requery.xml,
        order_key=job.order_key,
        parent=job,
        context={"_requery_for": job.pk},
    )
    job.status = JobStatus.WAITING
    job.blocked_by = query_job
    job.save()


def _complete_requery(job: QBXMLJob, status: qbxml.Status, error: ApiError | None, stream) -> None:
    if _busy(error) and RESEND.retries_left(job.attempts):
        _queue_again(job, error)  # QuickBooks was busy: ask again in a later run
        return
    target = QBXMLJob.objects.select_for_update().get(pk=job.context["_requery_for"])
    found = next((obj for obj in stream if getattr(obj, "edit_sequence", "")), None)
    job.status = JobStatus.DONE if error is None else JobStatus.ERROR
    job.finished_at = timezone.now()
    job.result = {"edit_sequence": found.edit_sequence} if found else {"count": 0}
    job.save()
    if target.status != JobStatus.WAITING:
        return
    if found is None:
        target.status_message = (
            f"The object changed by {target.kind} was not found in QuickBooks any more "
            f"({status.message or 'no match'}); it may have been deleted."
        )
        target.status_code = status.code
        err = Permanent(target.status_message, vendor_code=status.code)
        _finish(target, JobStatus.ERROR, error=err, result=JobResult(status=status, error=err))
        return
    target.request_xml = qbxml.with_edit_sequence(request_of(target), found.edit_sequence).xml
    target.status = JobStatus.QUEUED
    target.blocked_by = None
    target.save()


def _queue_next_page(job: QBXMLJob, session: QBWCSession, status: qbxml.Status) -> None:
    nxt = qbxml.continue_iterator(request_of(job), status.iterator_id)
    QBXMLJob.objects.create(
        organization_id=job.organization_id,
        connection_id=job.connection_id,
        record_id=job.record_id,
        kind=job.kind,
        request_xml=nxt.xml,
        handler=job.handler,
        context=job.context,
        order_key=job.order_key,
        parent=job,
        session=session,
        iterator_id=status.iterator_id,
        iterator_remaining=status.iterator_remaining,
        page=job.page + 1,
    )
