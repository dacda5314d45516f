"""The sync engine (DESIGN §5): runs one record through its flow, and polls flows for changes.

    record_change   a source change becomes (or refreshes) a pending Record; older versions lose
    sync_record     load → map → (link | natural-key search) → upsert/cancel → link + status + events
    run_flow        poll each capability since the cursor (with overlap); advance the cursor after
    ingest_delivery a webhook Delivery becomes Records through the source adapter

The engine never names a vendor: it asks the registry for adapters and the preset for the
capability pairs. Exactly-once effect: the Link is written in the same transaction as the record's
success, and a create is always preceded by a search on the natural key, so a crash between the
vendor's 2xx and our commit heals on retry instead of duplicating.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db import connection as db
from django.db.models import F, Q
from django.utils import timezone

from connector.adapters import Change, SourceAdapter, TargetAdapter, WriteContext, WriteResult
from connector.canonical import (
    CANONICAL_TYPES,
    from_payload,
    is_cancellation,
    natural_key,
    payload_digest,
    to_payload,
)
from connector.diff import payload_changes
from connector.dispatch import enqueue_sync
from connector.http import (
    ApiError,
    AuthExpired,
    CallRecord,
    NeedsReview,
    Permanent,
    RateLimited,
    Transient,
)
from connector.models import Connection, Event, Flow, Link, Record, raise_alert, resolve_alerts
from connector.registry import Capability, capabilities_of, get_preset, get_system, resolve_capability, writer_of
from connector.retry import RetryPolicy, recovery_seconds
from connector.web.redaction import redact_body

logger = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)
LEASE = timedelta(seconds=recovery_seconds(300))  # a killed worker holds its record this long
DEFERRED_LEASE = timedelta(hours=6)  # how long a queued write holds its record
MAX_ATTEMPTS = 8  # default; settings.SYNC_MAX_ATTEMPTS overrides (the e2e tests use fewer)
# A 429 does not use up a record's tries (the vendor is pacing us); past this long it fails visibly.
RATE_LIMIT_PATIENCE = timedelta(hours=24)
CIRCUIT_THRESHOLD = 20  # consecutive transient failures of one connection
CIRCUIT_PAUSE = timedelta(seconds=recovery_seconds(600))


class EngineError(Exception):
    """The flow cannot run at all (misconfigured preset, system without an adapter)."""


@dataclass(frozen=True)
class Outcome:
    status: str  # synced, unchanged, failed, needs_review, skipped, retry, leased, gone
    retry_in: float = 0.0


# --- Adapters and presets -------------------------------------------------------------------------


def source_adapter(connection: Connection, *, options: dict | None = None, on_call=None) -> SourceAdapter:
    cls = get_system(connection.system).source_adapter
    if cls is None:
        raise EngineError(f"{connection.system} cannot be a source")
    return cls(connection, options=options, on_call=on_call)


def target_adapter(connection: Connection, *, options: dict | None = None, on_call=None) -> TargetAdapter:
    cls = get_system(connection.system).target_adapter
    if cls is None:
        raise EngineError(f"{connection.system} cannot be a target")
    return cls(connection, options=options, on_call=on_call)


def writer(flow: Flow, object_type: str, *, on_call=None) -> TargetAdapter:
    """The adapter writing the flow's `object_type` records: the one the preset brings for the
    capability's target type, else the target connection's own."""
    connection = sides(flow, object_type)[1]
    capability = capability_for(flow, object_type)
    cls = writer_of(get_preset(flow.preset), capability.target_type) if capability else None
    if cls is None:
        return target_adapter(connection, options=flow.options, on_call=on_call)
    return cls(connection, options=flow.options, on_call=on_call)


def capability_for(flow: Flow, source_type: str) -> Capability | None:
    preset = get_preset(flow.preset)
    for capability in capabilities_of(preset):
        if capability.source_type == source_type:
            # The system written to may turn the preset's default under the flow's options.
            return resolve_capability(preset, capability, flow.options)
    return None


def target_type_for(flow: Flow, source_type: str) -> str | None:
    capability = capability_for(flow, source_type)
    return capability.target_type if capability else None


def sides(flow: Flow, object_type: str) -> tuple[Connection, Connection]:
    """(source, target) connections for one object type: reversed pairs run target → source."""
    capability = capability_for(flow, object_type)
    if capability is not None and capability.reverse:
        return flow.target, flow.source
    return flow.source, flow.target


# --- Recording changes --------------------------------------------------------------------------


def record_change(flow: Flow, change: Change, *, how: str = "poll", delivery=None) -> Record | None:
    """Create or refresh the pending Record for a change. None when this version is older than one
    already seen (out-of-order delivery never makes a record older) or the flow does not move it."""
    if target_type_for(flow, change.object_type) is None:
        return None
    payload = to_payload(change.obj) if change.obj is not None else None
    try:
        return _record_change(flow, change, payload, how, delivery)
    except IntegrityError:
        # Another worker created the record between our read and our insert (the unique flow,
        # type and source id): it exists now, so the second pass refreshes it. Cheaper than a
        # savepoint around every insert, which costs two round trips per new record.
        return _record_change(flow, change, payload, how, delivery)


def _record_change(flow: Flow, change: Change, payload, how: str, delivery) -> Record | None:
    same = {"flow": flow, "object_type": change.object_type, "source_id": change.source_id}
    # A plain read first: the change most often seen is one already synced (the poll's overlap
    # window, a webhook and a poll of the same edit), and it needs no transaction or lock at all.
    seen = Record.objects.filter(**same).order_by().values_list("status", "source_modified_at", "source_payload")[:1]
    seen = next(iter(seen), None)
    if seen is not None and _already_synced(change, payload, *seen):
        return None
    with transaction.atomic():
        if seen is None:
            # A worker that creates it first makes this insert fail: the caller's second pass
            # then finds the record and refreshes it.
            record = Record.objects.create(
                **same,
                organization_id=flow.organization_id,
                source_ref=change.ref[:200],
                search_text=change.search_text.lower()[:500],
                source_modified_at=change.modified_at,
                source_payload=payload,
            )
        else:
            record = Record.objects.select_for_update().get(**same)
            if not _refresh(record, change, payload, how):
                return None
        _event(
            record,
            Event.Kind.RECEIVED,
            f"Change seen by {how}.",
            {"modified_at": _iso(change.modified_at)},
            delivery=delivery,  # the delivery's page lists the records it produced
        )
    return record


def _already_synced(change: Change, payload, status: str, modified_at: datetime | None, stored) -> bool:
    """The record already holds exactly this change, synced: `_refresh` would do nothing (and an
    older version, which it records as skipped, is not this case)."""
    older = change.modified_at and modified_at and change.modified_at < modified_at
    return not older and payload is not None and payload == stored and status == Record.Status.SYNCED


def _refresh(record: Record, change: Change, payload, how: str) -> bool:
    """Bring an existing record up to the change; False when there is nothing new to do."""
    if change.modified_at and record.source_modified_at and change.modified_at < record.source_modified_at:
        _event(record, Event.Kind.SKIPPED, f"An older version ({how}) arrived after a newer one; ignored.")
        return False
    if payload is not None and payload == record.source_payload and record.status == Record.Status.SYNCED:
        return False  # the overlap window or a duplicate delivery: nothing new
    record.source_ref = change.ref[:200] or record.source_ref
    record.search_text = change.search_text.lower()[:500] or record.search_text
    record.source_modified_at = change.modified_at or record.source_modified_at
    if payload is not None:
        record.source_payload = payload
    if record.status != Record.Status.PENDING:
        record.status = Record.Status.PENDING
        record.attempts = 0
    record.save()
    return True


# --- Running one record -------------------------------------------------------------------------


def acquire_lease(record_id: int) -> bool:
    now = timezone.now()
    return (
        Record.objects.filter(pk=record_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE)
        == 1
    )


def sync_record(record_id: int, *, replay: bool = False) -> Outcome:
    """Run one record through its flow. Safe to call any number of times (idempotent)."""
    record = _lease_and_load(record_id)
    if record is None:
        if Record.objects.filter(pk=record_id).exists():
            return Outcome("leased", retry_in=recovery_seconds(30))
        return Outcome("gone")
    timeline = Timeline(record)
    try:
        outcome, changes = _run(record, timeline, replay=replay)
    except BaseException:
        Record.objects.filter(pk=record_id).update(lease_until=None)
        timeline.flush()
        raise
    return _commit(record, timeline, outcome, changes)


def _lease_and_load(record_id: int) -> Record | None:
    """Take the record's lease and load it with its flow and both connections: None when another
    worker holds the lease (or the record is gone). On PostgreSQL one statement does both (UPDATE ...
    FROM ... RETURNING), the hottest pair of the engine; elsewhere the lease, then the read."""
    if db.vendor == "postgresql":
        return _lease_and_load_returning(record_id)
    if not acquire_lease(record_id):
        return None
    try:
        # .get(), not .first(): no ORDER BY to compile. `payload` (the last success) is not needed
        # to run; only its hash is.
        return Record.objects.select_related("flow__source", "flow__target").defer("payload").get(pk=record_id)
    except Record.DoesNotExist:
        return None


_LOADED = (  # (model, table alias, fields) in RETURNING order; the record's `payload` stays deferred
    (Record, "r", tuple(f for f in Record._meta.concrete_fields if f.attname != "payload")),
    (Flow, "f", tuple(Flow._meta.concrete_fields)),
    (Connection, "s", tuple(Connection._meta.concrete_fields)),
    (Connection, "t", tuple(Connection._meta.concrete_fields)),
)


@functools.cache
def _lease_plan(vendor: str) -> tuple[str, tuple]:
    """The lease-and-load statement and, per model, its column converters (the ones a queryset
    applies: JSON, encrypted fields), built once per process."""
    qn = db.ops.quote_name
    returning = ", ".join(f"{alias}.{qn(f.column)}" for _, alias, fields in _LOADED for f in fields)
    lease = qn(Record._meta.get_field("lease_until").column)
    sql = (
        f"UPDATE {qn(Record._meta.db_table)} AS r SET {lease} = %s "  # noqa: S608 - quoted model metadata only; values are parameters
        f"FROM {qn(Flow._meta.db_table)} AS f, {qn(Connection._meta.db_table)} AS s, "
        f"{qn(Connection._meta.db_table)} AS t "
        f"WHERE r.{qn('id')} = %s AND (r.{lease} IS NULL OR r.{lease} < %s) "
        f"AND f.{qn('id')} = r.{qn('flow_id')} AND s.{qn('id')} = f.{qn('source_id')} "
        f"AND t.{qn('id')} = f.{qn('target_id')} RETURNING {returning}"
    )
    models = []
    for model, alias, fields in _LOADED:
        columns = []
        for field in fields:
            col = field.get_col(alias)
            columns.append((col, tuple(db.ops.get_db_converters(col) + col.get_db_converters(db))))
        models.append((model, tuple(f.attname for f in fields), tuple(columns)))
    return sql, tuple(models)


def _lease_and_load_returning(record_id: int) -> Record | None:
    sql, models = _lease_plan(db.vendor)
    now = timezone.now()
    with db.cursor() as cursor:
        cursor.execute(sql, [now + LEASE, record_id, now])
        row = cursor.fetchone()
    if row is None:
        return None
    loaded, start = [], 0
    for model, attnames, columns in models:
        values = []
        for (col, converters), value in zip(columns, row[start : start + len(columns)], strict=True):
            for convert in converters:
                value = convert(value, col, db)
            values.append(value)
        start += len(columns)
        loaded.append(model.from_db(db.alias, attnames, values))
    record, flow, source, target = loaded
    flow.source, flow.target = source, target
    record.flow = flow
    return record


def _commit(record: Record, timeline: Timeline, outcome: Outcome, changes: dict) -> Outcome:
    link = changes.pop("_link", None)
    lease_until = changes.pop("_lease_until", None)
    with transaction.atomic():
        # The Link, the record's new status and its events commit together, or not at all.
        if link:
            _store_link(record.flow, *link)
        Record.objects.filter(pk=record.pk).update(lease_until=lease_until, **changes)
        timeline.flush()
    return outcome


def complete_deferred(
    record_id: int, *, result: WriteResult | None = None, error: ApiError | None = None, written: Any = None
) -> Outcome:
    """Finish a record whose target applied (or refused) a queued write later, e.g. when the
    QuickBooks Web Connector polled. Same rules as a direct write: Link, status and events together.

    `written` is the canonical object the target was sent, when the caller has it. Without it the
    record's stored payload stands for it, but a newer version may have arrived while the write was
    out (a cancellation seen by a poll): finished with that one, the record would count the newer
    version as written, and its own sync would then find it "unchanged" and never send it (the
    chaos run lost two cancellations that way)."""
    record = Record.objects.select_related("flow__source", "flow__target").get(pk=record_id)
    timeline = Timeline(record)
    _, target_connection = sides(record.flow, record.object_type)
    if error is not None:
        outcome, changes = _fail(record, timeline, error, target_connection)
        return _commit(record, timeline, outcome, changes)
    obj = written if written is not None else from_payload(CANONICAL_TYPES[record.object_type], record.source_payload)
    target_type = target_type_for(record.flow, record.object_type) or ""
    key = natural_key(obj)
    linked = Link.objects.filter(connection_id=target_connection.pk, object_type=target_type, canonical_key=key)
    new_key = None if linked.exists() else key
    outcome, changes = _finish(record, timeline, obj, to_payload(obj), new_key, result, target_type, {})
    return _commit(record, timeline, outcome, changes)


class Timeline:
    """Events of one run, written together at the end (one INSERT) in the order they happened."""

    def __init__(self, record: Record):
        self.record = record
        self.events: list[Event] = []

    def add(self, kind: str, message: str, data: dict | None = None) -> None:
        self.events.append(
            Event(
                organization_id=self.record.organization_id,
                record_id=self.record.pk,
                kind=kind,
                message=message,
                data=data or {},
                created_at=timezone.now(),
            )
        )

    def call(self, c: CallRecord) -> None:
        data = {"method": c.method, "url": c.url, "status": c.status, "ms": c.ms, "error": c.error}
        # Bodies (already cut to 8 KB by the client) are stored redacted: the timeline shows them.
        if c.request_body:
            data["request_body"] = redact_body(c.request_body)
        if c.response_body:
            data["response_body"] = redact_body(c.response_body)
        self.add(Event.Kind.API_CALL, f"{c.method} {c.url} → {c.status or c.error} in {c.ms} ms", data)

    def caller(self, connection: Connection):
        """`on_call` for one side's client: its api_call events name the connection, so the dashboard
        can count each vendor's calls against that vendor's rate limit."""

        def record(c: CallRecord) -> None:
            self.call(c)
            self.events[-1].connection_id = connection.pk

        return record

    def flush(self) -> None:
        if self.events:
            Event.objects.bulk_create(self.events)
            self.events = []


def _run(record: Record, timeline: Timeline, *, replay: bool) -> tuple[Outcome, dict]:
    """Returns the outcome and the Record fields to save with the lease release."""
    flow = record.flow
    source_connection, target_connection = sides(flow, record.object_type)
    phase = source_connection
    try:
        target_type = target_type_for(flow, record.object_type)
        if target_type is None:
            raise Permanent(f"The flow {flow.preset!r} does not move {record.object_type} records.")
        obj, fetched = _load(record, timeline, replay=replay)
        payload = to_payload(obj)  # encoded once: hashed, and stored as the last success
        extra = {"source_payload": payload} if fetched else {}
        digest = payload_digest(payload)
        if record.payload_hash and digest == record.payload_hash:
            # The target already holds exactly this version (payload_hash is only set on success).
            timeline.add(Event.Kind.UNCHANGED, "Nothing changed since the last sync; nothing written.")
            return Outcome("unchanged"), {"status": Record.Status.SYNCED, "last_error": "", "remediation": "", **extra}
        timeline.add(Event.Kind.MAPPED, f"Mapped to canonical {record.object_type}.", {"hash": digest[:12]})
        phase = target_connection
        context = WriteContext(record=record, options=flow.options, timeline=timeline)
        target = writer(flow, record.object_type, on_call=timeline.caller(target_connection))
        key = natural_key(obj)
        target_id, linked = _known_target_id(target, target_connection, target_type, obj, key, context)
        result = _write(target, target_type, obj, target_id, context)
        if result.action == "queued":
            # A deferred target (QuickBooks Desktop) applies it when it next connects; the record
            # stays pending, held by a long lease, until `complete_deferred` is called.
            timeline.add(Event.Kind.MAPPED, "Queued: the target applies it when it next connects.", result.data)
            return Outcome("queued"), {
                "status": Record.Status.PENDING,
                "_lease_until": timezone.now() + DEFERRED_LEASE,
                **extra,
            }
        new_key = key if not linked else None
        return _finish(
            record, timeline, obj, payload, new_key, result, target_type, extra, target=target, digest=digest
        )
    except ApiError as exc:
        return _fail(record, timeline, exc, phase)
    except Exception as exc:  # a bug or unmappable data: visible and replayable, never lost
        logger.exception("record failed", extra={"record_id": record.pk, "organization_id": record.organization_id})
        return _fail(record, timeline, Permanent(f"Internal error while syncing: {type(exc).__name__}: {exc}"), phase)


def _known_target_id(
    target: TargetAdapter, connection: Connection, target_type: str, obj: Any, key: str, context: WriteContext
) -> tuple[str | None, bool]:
    """(the target's id of this object, whether a Link named it). Without a Link the target is asked:
    that heals a crash between the vendor's 2xx and our commit."""
    linked = next(
        iter(
            Link.objects.filter(connection_id=connection.pk, object_type=target_type, canonical_key=key)
            .order_by()
            .values_list("external_id", flat=True)[:1]
        ),
        None,
    )
    if linked is not None:
        return linked, True
    return target.find(target_type, obj, context=context), False


def _write(
    target: TargetAdapter, target_type: str, obj: Any, target_id: str | None, context: WriteContext
) -> WriteResult:
    """Upsert, or void what was written for a cancellation (nothing to void: skipped). A cancelled
    order whose money went back (refunds) was a sale all the same: never written yet, it is written
    now, so a ledger that credits refunds books the sale and its credits (as reconciliation expects)."""
    if not is_cancellation(obj):
        return target.upsert(target_type, obj, target_id=target_id, context=context)
    if not target_id:
        if getattr(obj, "refunds", ()):
            return target.upsert(target_type, obj, target_id=None, context=context)
        return WriteResult("", "skipped")
    return target.cancel(target_type, obj, target_id=target_id, context=context)


def _load(record: Record, timeline: Timeline, *, replay: bool) -> tuple[Any, bool]:
    """Fresh from the source on replay or when no payload was delivered; else the delivered one."""
    cls = CANONICAL_TYPES[record.object_type]
    if record.source_payload is not None and not replay:
        return from_payload(cls, record.source_payload), False
    source_connection = sides(record.flow, record.object_type)[0]
    source = source_adapter(source_connection, options=record.flow.options, on_call=timeline.caller(source_connection))
    try:
        obj = source.fetch(record.object_type, record.source_id)
    except Permanent:
        if record.source_payload is None:
            raise
        timeline.add(Event.Kind.FETCHED, "The source no longer has it; replaying the stored payload.")
        return from_payload(cls, record.source_payload), False
    timeline.add(Event.Kind.FETCHED, f"Fetched {record.object_type} {record.source_ref or record.source_id}.")
    return obj, True


RESULT_EVENTS = {
    "created": Event.Kind.CREATED,
    "updated": Event.Kind.UPDATED,
    "unchanged": Event.Kind.UNCHANGED,
    "skipped": Event.Kind.SKIPPED,
}


def _finish(
    record: Record,
    timeline: Timeline,
    obj: Any,
    payload: dict,
    new_key: str | None,
    result: WriteResult,
    target_type: str,
    extra: dict,
    *,
    target: TargetAdapter | None = None,
    digest: str = "",
) -> tuple[Outcome, dict]:
    """`payload` is `to_payload(obj)`, `digest` its hash and `target` the adapter that wrote it, when
    the caller already has them."""
    status = Record.Status.SKIPPED if result.action == "skipped" else Record.Status.SYNCED
    summary, url = _describe(record, target_type, obj, result, target)
    _add_result_event(record, timeline, payload, result, target_type, summary, url)
    _close_trouble(record)
    changes = {
        "status": status,
        "target_id": result.target_id or record.target_id,
        "target_url": url or record.target_url,
        "payload": payload,
        # Only a version the target really holds may later count as "unchanged": a skip (nothing
        # written, e.g. an order not shipped yet) keeps the hash of the last real write.
        "payload_hash": record.payload_hash if status == Record.Status.SKIPPED else digest or payload_digest(payload),
        "synced_at": timezone.now(),
        "attempts": F("attempts") + 1,
        "last_error": "",
        "remediation": "",
        **extra,
    }
    if summary and result.target_id and status != Record.Status.SKIPPED:  # a skip keeps the last document
        changes["result"] = summary
        changes["target_ref"] = str(summary.get("number", ""))[:200]
    if result.data.get("stage"):
        changes["stage"] = result.data["stage"][:20]
    if new_key and result.target_id and result.action in ("created", "updated", "unchanged"):
        changes["_link"] = (sides(record.flow, record.object_type)[1].pk, target_type, new_key, result.target_id)
    return Outcome(status), changes


def _add_result_event(
    record: Record, timeline: Timeline, payload: dict, result: WriteResult, target_type: str, summary: dict, url: str
) -> None:
    """The event that says what the target did, in business terms (invoice number, amount)."""
    if result.action == "skipped":
        message = result.data.get("reason") or "Cancelled before it was ever written to the target: nothing to void."
    else:
        message = _result_message(target_type, result, summary)
    data = {"target_id": result.target_id, "url": url, **result.data}
    if summary:
        data["result"] = summary
    if result.action == "updated":
        # The version the target held before, so the page can say what this update changed.
        previous = Record.objects.filter(pk=record.pk).values_list("payload", flat=True).first()
        if previous:
            data["changes"] = payload_changes(previous, payload)
    timeline.add(RESULT_EVENTS.get(result.action, Event.Kind.UPDATED), message, data)


def _close_trouble(record: Record) -> None:
    """A success closes the record's needs-review alert and the circuit of a vendor that answers again."""
    if record.status == Record.Status.NEEDS_REVIEW or record.last_error:
        # It was in trouble before (a replay resets the status, not the error): close its alert.
        resolve_alerts(record.organization, f"record:{record.pk}")
    for connection in (record.flow.source, record.flow.target):
        if connection.consecutive_failures:
            Connection.objects.filter(pk=connection.pk).update(consecutive_failures=0)
            resolve_alerts(record.organization, f"circuit:{connection.pk}")


def _describe(
    record: Record, target_type: str, obj: Any, result: WriteResult, target: TargetAdapter | None = None
) -> tuple[dict, str]:
    """The written document in business terms and where to open it, from the target adapter's
    hooks (stored data only, no vendor call). A hook that fails costs the summary, never the sync."""
    if not result.target_id:
        return {}, result.url
    try:
        target = target or writer(record.flow, record.object_type)
        summary = target.describe_result(target_type, obj, result)
        return summary.as_dict(), target.document_url(summary.kind, result.target_id) or result.url
    except Exception:
        logger.exception("describe_result failed", extra={"record_id": record.pk})
        return {}, result.url


def _result_message(target_type: str, result: WriteResult, summary: dict) -> str:
    """ "Invoice INV-1001 created (12.50 EUR)." rather than an internal id."""
    label = summary.get("label") or target_type.replace("_", " ").capitalize()
    number = summary.get("number") or result.target_id
    amount = f" ({summary['total']} {summary.get('currency', '')}".rstrip() + ")" if summary.get("total") else ""
    return f"{label} {number} {result.action}{amount}."


def _store_link(flow: Flow, connection_id: int, target_type: str, key: str, target_id: str) -> None:
    """Called inside the transaction that marks the record synced (exactly-once effect). A conflict
    means the target object is already linked (e.g. under an old order number): that link stays,
    and the natural-key search before the next create still finds the object."""
    Link.objects.bulk_create(
        [
            Link(
                organization_id=flow.organization_id,
                connection_id=connection_id,
                object_type=target_type,
                canonical_key=key,
                external_id=target_id,
            )
        ],
        ignore_conflicts=True,
    )


def sync_retry_policy() -> RetryPolicy:
    """A record's tries: SYNC_MAX_ATTEMPTS in all, jittered waits doubling from SYNC_BACKOFF_SECONDS."""
    return RetryPolicy(
        max_attempts=getattr(settings, "SYNC_MAX_ATTEMPTS", MAX_ATTEMPTS),
        base=getattr(settings, "SYNC_BACKOFF_SECONDS", 5.0),
    )


def rate_limit_patience() -> timedelta:
    """How long a record may keep being rate limited before it fails visibly (SYNC_RATE_LIMIT_PATIENCE, seconds)."""
    return timedelta(seconds=getattr(settings, "SYNC_RATE_LIMIT_PATIENCE", RATE_LIMIT_PATIENCE.total_seconds()))


def _rate_limit_streak(record: Record) -> tuple[datetime | None, int]:
    """(since when, how many times) this record has been rate limited in a row, from its last failure event.

    A 429 is the vendor pacing us, not the record failing: it does not use up one of the record's
    tries. The streak is kept in the failure events themselves, so nothing else needs storing; a
    success, a replay or any other failure after it ends it."""
    last = (
        Event.objects.filter(record=record, kind=Event.Kind.FAILED).order_by("-id").only("data", "created_at").first()
    )
    if last is None or not last.data.get("rate_limited"):
        return None, 0
    ended = (Event.Kind.CREATED, Event.Kind.UPDATED, Event.Kind.UNCHANGED, Event.Kind.SKIPPED, Event.Kind.REPLAYED)
    if Event.objects.filter(record=record, id__gt=last.id, kind__in=ended).exists():
        return None, 0  # a success (or a person's replay) since: a new streak
    try:
        since = datetime.fromisoformat(last.data["limited_since"])
    except (KeyError, TypeError, ValueError):
        since = last.created_at
    return since, int(last.data.get("rate_limited") or 0)


def _rate_limited(
    record: Record, timeline: Timeline, exc: RateLimited, connection: Connection, policy: RetryPolicy
) -> tuple[Outcome, dict] | None:
    """Come back when the vendor allows, without counting a try; None once the patience is spent."""
    now = timezone.now()
    since, streak = _rate_limit_streak(record)
    since = since or now
    if now - since >= rate_limit_patience():
        return None
    streak += 1
    retry_in = policy.delay(streak, at_least=exc.retry_after)
    again = now + timedelta(seconds=retry_in)
    timeline.add(
        Event.Kind.FAILED,
        f"Rate limited by {_vendor_name(connection)}; trying again at {again:%Y-%m-%d %H:%M:%S} UTC "
        f"(not counted as a try; rate limited {streak} time{'s' if streak > 1 else ''} since {since:%H:%M:%S} UTC).",
        {
            "error": type(exc).__name__,
            "status": exc.status,
            "retry_in": round(retry_in, 1),
            "attempt": record.attempts,
            "rate_limited": streak,
            "limited_since": since.isoformat(),
            "retry_at": again.isoformat(),
        },
    )
    changes = {
        "status": Record.Status.PENDING,
        "last_error": str(exc)[:2000],
        "remediation": (exc.remediation or _outage_words(connection, exc))[:1000],
    }
    return Outcome("retry", retry_in=retry_in), changes


def _fail(record: Record, timeline: Timeline, exc: ApiError, connection: Connection) -> tuple[Outcome, dict]:
    policy = sync_retry_policy()
    if isinstance(exc, RateLimited) and (paced := _rate_limited(record, timeline, exc, connection, policy)):
        return paced
    attempts = record.attempts + 1
    remediation = exc.remediation
    retry_in = 0.0
    if isinstance(exc, AuthExpired):
        status = Record.Status.FAILED
        mark_needs_reauth(connection, str(exc))
        remediation = remediation or f"Reconnect {connection.label} on the Connections page, then press Replay."
    elif isinstance(exc, NeedsReview):
        status = Record.Status.NEEDS_REVIEW
        raise_alert(
            record.organization,
            f"record:{record.pk}",
            f"{record.object_type.capitalize()} {record.source_ref or record.source_id} needs review: {exc}",
            remediation=remediation,
            record=record,
            flow=record.flow,
        )
    elif isinstance(exc, RateLimited):  # still rate limited, for longer than the patience allows
        status = Record.Status.FAILED
        hours = round(rate_limit_patience().total_seconds() / 3600, 1)
        remediation = remediation or (
            f"{_vendor_name(connection)} kept refusing with 'too many requests' for over {hours:g} hours; nothing "
            f"is lost. Check your {_vendor_name(connection)} plan's API limits (other apps may share them), "
            "then press Replay."
        )
    elif isinstance(exc, Transient) and policy.retries_left(attempts):
        status = Record.Status.PENDING
        retry_in = policy.delay(attempts, at_least=getattr(exc, "retry_after", 0.0))
        trip_circuit_if_needed(connection)
        remediation = remediation or _outage_words(connection, exc)
    else:
        status = Record.Status.FAILED
        remediation = remediation or (
            f"{_vendor_name(connection)} kept failing after {attempts} tries; nothing is lost. Check "
            f"{_vendor_name(connection)}'s status page, then press Replay."
            if isinstance(exc, Transient)
            else f"Correct the data in {connection.label} (or the flow's settings), then press Replay."
        )
    timeline.add(
        Event.Kind.FAILED,
        str(exc)[:1000],
        {"error": type(exc).__name__, "status": exc.status, "retry_in": round(retry_in, 1), "attempt": attempts},
    )
    changes = {"status": status, "attempts": attempts, "last_error": str(exc)[:2000], "remediation": remediation[:1000]}
    if status != Record.Status.PENDING and (stage := _failed_stage(record)):
        changes["stage"] = stage  # the reason is the error beside it
    return Outcome("retry" if status == Record.Status.PENDING else status, retry_in=retry_in), changes


def _failed_stage(record: Record) -> str:
    """The stage the written-to system gives a record that failed for good ("" keeps the stage)."""
    target_type = target_type_for(record.flow, record.object_type)
    if target_type is None:
        return ""
    try:
        stage_of = get_system(sides(record.flow, record.object_type)[1].system).failed_stage
    except LookupError:
        return ""
    return stage_of(target_type)[:20] if stage_of is not None else ""


def _vendor_name(connection: Connection) -> str:
    try:
        return get_system(connection.system).name
    except LookupError:
        return connection.label


def _outage_words(connection: Connection, exc: ApiError) -> str:
    """A vendor's temporary trouble in plain words (DESIGN §5.7): what happened and that we retry."""
    name = _vendor_name(connection)
    if isinstance(exc, RateLimited):
        return f"{name} asked us to slow down; we retry automatically."
    if exc.status and exc.status >= 500:
        return f"{name} had an outage; we retry automatically."
    return f"{name} did not answer in time; we retry automatically."


def mark_needs_reauth(connection: Connection, reason: str) -> None:
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.NEEDS_REAUTH, last_error=reason[:2000])
    raise_alert(
        connection.organization,
        f"reauth:{connection.pk}",
        f"{connection.label} rejected our credentials.",
        remediation=f"Reconnect {connection.label} on the Connections page; failed records can then be replayed.",
        level="error",
        connection=connection,
    )


def trip_circuit_if_needed(connection: Connection) -> None:
    Connection.objects.filter(pk=connection.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    connection.refresh_from_db(fields=["consecutive_failures"])
    if connection.consecutive_failures >= CIRCUIT_THRESHOLD:
        Connection.objects.filter(pk=connection.pk).update(paused_until=timezone.now() + CIRCUIT_PAUSE)
        raise_alert(
            connection.organization,
            f"circuit:{connection.pk}",
            f"{connection.label} keeps failing; its flows are paused for {max(1, CIRCUIT_PAUSE.seconds // 60)} minutes.",
            remediation="Nothing is lost: pending records resume automatically when the vendor recovers.",
            connection=connection,
        )


# --- Polling and webhooks -----------------------------------------------------------------------


def run_flow(flow: Flow, *, now: datetime | None = None, enqueue=None) -> dict:
    """Poll every capability of the flow since its cursor; records are committed before the cursor
    moves, so a crash mid-poll re-reads the same window next time instead of skipping it."""
    now = now or timezone.now()
    enqueue = enqueue or _enqueue
    paused = [c for c in (flow.source, flow.target) if c.paused_until and c.paused_until > now]
    if paused:
        return {"paused": [c.label for c in paused]}
    adapters: dict[int, SourceAdapter] = {}
    summary: dict[str, int] = {}
    for capability in capabilities_of(get_preset(flow.preset)):
        source_type = capability.source_type
        connection = flow.target if capability.reverse else flow.source
        if connection.pk not in adapters:
            adapters[connection.pk] = source_adapter(connection, options=flow.options)
        source = adapters[connection.pk]
        if source_type not in source.source_types:
            continue
        since = _since(flow, source_type)
        seen = 0
        for change in source.changes_since(source_type, since, now):
            record = record_change(flow, change)
            if record is not None:
                enqueue(record.pk)
                seen += 1
        flow.cursor = {**flow.cursor, source_type: now.isoformat()}
        Flow.objects.filter(pk=flow.pk).update(cursor=flow.cursor)
        summary[source_type] = seen
    return summary


def _since(flow: Flow, source_type: str) -> datetime:
    cursor = flow.cursor.get(source_type)
    if cursor:
        return datetime.fromisoformat(cursor) - OVERLAP
    start = flow.options.get("backfill_from")
    if start:
        since = datetime.fromisoformat(start)
        return since if since.tzinfo else since.replace(tzinfo=UTC)
    return flow.created_at - timedelta(days=1)


def ingest_delivery(delivery, *, enqueue=None) -> int:
    """Turn a stored webhook Delivery into pending Records for every enabled flow of its connection."""
    enqueue = enqueue or _enqueue
    conn = delivery.connection
    flows = list(Flow.objects.filter(Q(source=conn) | Q(target=conn), enabled=True).select_related("source", "target"))
    if not flows:
        return 0
    source = source_adapter(conn, options=flows[0].options)
    changes = source.changes_from_delivery(delivery)
    count = 0
    for flow in flows:
        for change in changes:
            if sides(flow, change.object_type)[0].pk != conn.pk:
                continue  # this flow takes that object type from its other connection
            record = record_change(flow, change, how=f"webhook {delivery.topic}".strip(), delivery=delivery)
            if record is not None:
                enqueue(record.pk)
                count += 1
    return count


def replay(record: Record, *, user=None) -> None:
    """Re-run a record from fresh source data through the same idempotent path."""
    who = f" by {user.email}" if user is not None and getattr(user, "email", "") else ""
    Record.objects.filter(pk=record.pk).update(status=Record.Status.PENDING)
    _event(record, Event.Kind.REPLAYED, f"Replay requested{who}.")
    _enqueue(record.pk, replay=True)


def _enqueue(record_id: int, *, replay: bool = False) -> None:
    enqueue_sync(record_id, replay=replay)


# --- Events -------------------------------------------------------------------------------------


def _event(record: Record, kind: str, message: str, data: dict | None = None, *, delivery=None) -> Event:
    return Event.objects.create(
        organization_id=record.organization_id,
        record=record,
        kind=kind,
        message=message,
        data=data or {},
        delivery=delivery,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
