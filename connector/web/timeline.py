"""How a record reads on its page: its business result, its retry state, its timeline and payloads.

Learned from Stripe's event pages and Zapier's task history: the outcome first (the invoice, its
number and total, a link to open it), ids after; formatted JSON, never Python reprs; repeated
attempts folded into one line with a count; every API call opens to its request and response,
secrets redacted. Everything here reads stored rows only (no vendor call): pages poll it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from connector import engine
from connector.adapters import WriteResult
from connector.canonical import CANONICAL_TYPES, from_payload
from connector.diff import payload_changes
from connector.models import Event, Record
from connector.registry import RegistryError, get_system
from connector.web.redaction import redact, redact_body

logger = logging.getLogger(__name__)

MAX_SHOWN_BODY = 64 * 1024  # a delivery body larger than this is cut on the page (the row keeps it whole)


def pretty_json(value: Any) -> str:
    """Indented JSON for a page; secrets redacted at any depth."""
    return json.dumps(redact(value), indent=2, sort_keys=False, ensure_ascii=False, default=str)


def pretty_body(text: str) -> str:
    """A stored HTTP body (request, response, webhook) as a person reads it: JSON indented, form
    bodies and anything else as they are; secrets masked either way."""
    text = redact_body(text or "")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    return json.dumps(parsed, indent=2, ensure_ascii=False) if isinstance(parsed, (dict, list)) else text


def system_name(key: str) -> str:
    try:
        return get_system(key).name
    except LookupError:
        return key


# --- The business result -----------------------------------------------------------------------


@dataclass
class Outcome:
    """What the record did, in a merchant's words, with the link to the document when there is one."""

    headline: str  # "Invoice INV-1001" / "Needs review" / "Retrying"
    detail: str = ""  # "12.50 EUR · sent" / the error
    remediation: str = ""
    url: str = ""
    system: str = ""  # where the document lives: "Zoho Books"
    tone: str = "neutral"  # ok, warn, bad, busy: picks the card's colour class
    retry: dict | None = None  # {"attempt": 5, "next_at": datetime, "due": False}
    extra: list[str] = field(default_factory=list)


def document_summary(record: Record) -> dict:
    """The stored summary of the record's document; for records written before summaries were
    stored, one rebuilt from the last synced payload through the same adapter hook."""
    if record.result:
        return record.result
    if not record.target_id or not record.payload:
        return {}
    try:
        target_type = engine.target_type_for(record.flow, record.object_type) or record.object_type
        obj = from_payload(CANONICAL_TYPES[record.object_type], record.payload)
        adapter = _target(record)
        return adapter.describe_result(target_type, obj, WriteResult(record.target_id, "")).as_dict()
    except Exception:  # an old payload the canonical model no longer reads: show ids instead
        logger.info("no summary for record", extra={"record_id": record.pk})
        return {}


def document_url(record: Record, summary: dict) -> str:
    """Asked of the target adapter at view time, so a link never points where the adapter no
    longer sends people (e.g. Zoho's web app for a sandbox document)."""
    if not record.target_id:
        return ""
    if summary.get("kind"):
        try:
            return _target(record).document_url(summary["kind"], record.target_id)
        except Exception:
            logger.info("no document url for record", extra={"record_id": record.pk})
            return ""
    return ""


def record_sides(record: Record):
    """(source, target) connections of the record's object type; the flow's own pair when its
    preset is gone (a record outlives a preset that was removed)."""
    try:
        return engine.sides(record.flow, record.object_type)
    except RegistryError:
        return record.flow.source, record.flow.target


def _target(record: Record):
    """The adapter that wrote the record (a preset may bring its own writer for a target type)."""
    try:
        return engine.writer(record.flow, record.object_type)
    except RegistryError:
        return engine.target_adapter(record_sides(record)[1], options=record.flow.options)


def _head(summary: dict) -> str:
    return " ".join(p for p in (summary.get("label", ""), str(summary.get("number", ""))) if p)


def _money(summary: dict) -> str:
    return " ".join(p for p in (str(summary.get("total", "")), summary.get("currency", "")) if p)


def result_line(summary: dict) -> str:
    """ "Invoice INV-1001 · 12.50 EUR · sent" """
    return " · ".join(p for p in (_head(summary), _money(summary), summary.get("status", "")) if p)


def row_result(record: Record) -> tuple[str, str]:
    """(tone, text) for the audit log's Result column: from stored fields only, no query per row."""
    if record.status == Record.Status.NEEDS_REVIEW:
        return "warn", f"Needs review: {record.last_error}"
    if record.status == Record.Status.FAILED:
        return "bad", f"Failed: {record.last_error}"
    if record.status == Record.Status.PENDING:
        if record.last_error:
            return "busy", f"Retrying (attempt {record.attempts}): {record.last_error}"
        return "busy", "Waiting to sync"
    if record.status == Record.Status.SKIPPED:
        return "neutral", "Skipped: nothing to write"
    return "ok", result_line(record.result) if record.result else "Synced"


def outcome_of(record: Record, *, last_failure: Event | None = None, last_replay: Event | None = None) -> Outcome:
    """The card at the top of a record page: what happened, in a merchant's words."""
    target_system = system_name(record_sides(record)[1].system)
    status = record.status
    if status == Record.Status.PENDING and last_replay and (last_failure is None or last_replay.pk > last_failure.pk):
        return Outcome("Replaying", "It runs again from fresh source data in a moment.", tone="busy")
    if status == Record.Status.NEEDS_REVIEW:
        return Outcome("Needs review", record.last_error, record.remediation, tone="warn")
    if status == Record.Status.FAILED:
        return Outcome("Failed", record.last_error, record.remediation, tone="bad")
    if status == Record.Status.PENDING:
        if record.last_error:
            return Outcome(
                "Retrying",
                record.last_error,
                record.remediation,
                tone="busy",
                retry=retry_state(record, last_failure),
            )
        return Outcome("Waiting to sync", "It is queued and runs within moments.", tone="busy")
    summary = document_summary(record)
    if status == Record.Status.SKIPPED:
        return Outcome("Skipped", "Nothing was written to the target.", tone="neutral")
    if not summary:
        return Outcome("Synced", f"Written to {target_system}.", tone="ok", system=target_system)
    return Outcome(
        _head(summary) or "Synced",
        " · ".join(p for p in (_money(summary), summary.get("status", "")) if p),
        url=document_url(record, summary),
        system=target_system,
        tone="ok",
        extra=list(summary.get("extra", [])),
    )


def retry_state(record: Record, last_failure: Event | None = None) -> dict | None:
    """{"attempt": n, "next_at": when} for a record waiting to be tried again, from its last failure
    (the engine stores how long it waits in the "failed" event)."""
    if last_failure is None:
        last_failure = (
            Event.objects.for_org(record.organization)
            .filter(record=record, kind=Event.Kind.FAILED)
            .order_by("-id")
            .first()
        )
    if last_failure is None:
        return None
    wait = float((last_failure.data or {}).get("retry_in") or 0)
    next_at = last_failure.created_at + timedelta(seconds=wait) if wait else None
    return {
        "attempt": record.attempts or (last_failure.data or {}).get("attempt"),
        "next_at": next_at,
        "due": next_at is not None and next_at <= timezone.now(),  # queued behind other work, or a pause
    }


# --- The timeline --------------------------------------------------------------------------------


@dataclass
class TimelineEntry:
    """One line of the timeline: one event, or a run of repeats of the same thing folded together."""

    event: Event
    count: int = 1
    first_at: datetime | None = None
    details: list[tuple[str, str]] = field(default_factory=list)  # (title, formatted text)
    changes: list[dict] = field(default_factory=list)
    related: list[str] = field(default_factory=list)  # the other steps of a folded attempt: "POST … → 503"

    @property
    def last_at(self) -> datetime:
        return self.event.created_at

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.event.kind, self.event.kind.replace("_", " ").capitalize())


KIND_LABELS = {
    "received": "Received",
    "fetched": "Fetched",
    "mapped": "Prepared",
    "api_call": "API call",
    "created": "Created",
    "updated": "Updated",
    "unchanged": "No change",
    "failed": "Failed",
    "alert": "Alert",
    "replayed": "Replay",
    "skipped": "Skipped",
}


def _fold_key(event: Event) -> tuple:
    """Events that say the same thing: the same call answered the same way, the same failure."""
    data = event.data or {}
    if event.kind == Event.Kind.API_CALL:
        return (event.kind, data.get("method"), data.get("url"), data.get("status"), data.get("error"))
    if event.kind == Event.Kind.FAILED:
        return (event.kind, data.get("error"), data.get("status"), event.message)
    return (event.kind, event.message)


def _details(event: Event) -> tuple[list[tuple[str, str]], list[dict]]:
    data = dict(event.data or {})
    sections: list[tuple[str, str]] = []
    changes = data.pop("changes", None) or []
    request_body = data.pop("request_body", "")
    response_body = data.pop("response_body", "")
    data.pop("result", None)  # shown as the result card, not as JSON
    if event.kind == Event.Kind.API_CALL:
        if request_body:
            sections.append(("Request body", pretty_body(request_body)))
        if response_body:
            sections.append(("Response body", pretty_body(response_body)))
        return sections, changes
    shown = {k: v for k, v in data.items() if v not in (None, "", [], {})}
    if shown:
        sections.append(("Details", pretty_json(shown)))
    return sections, changes


MAX_PERIOD = 4  # an attempt is a few events (fetched, api calls, failed); longer cycles stay unfolded


def timeline(events: list[Event]) -> list[TimelineEntry]:
    """Events in order, with repeats folded: the same event over and over, or the same attempt
    (API call → 503 → failed) over and over, becomes one entry with a count ("Failed ×5"), keeping
    the newest repetition's details."""
    keys = [_fold_key(e) for e in events]
    entries: list[TimelineEntry] = []
    start = 0
    while start < len(events):
        period, reps = _repeat_at(keys, start)
        last = events[start + (reps - 1) * period : start + reps * period]
        entries.append(_entry(last, count=reps, first_at=events[start].created_at))
        start += reps * period
    return entries


def _repeat_at(keys: list[tuple], start: int) -> tuple[int, int]:
    """(period, repetitions) of the longest run of one repeated block of events starting at `start`."""
    best = (1, 1)
    for period in range(1, MAX_PERIOD + 1):
        block = keys[start : start + period]
        if len(block) < period:
            break
        reps = 1
        while keys[start + reps * period : start + (reps + 1) * period] == block:
            reps += 1
        if reps > 1 and reps * period > best[0] * best[1]:
            best = (period, reps)
    return best


def _entry(block: list[Event], *, count: int, first_at: datetime) -> TimelineEntry:
    """One entry for one event, or for one attempt: its failure (or last event) leads, the other
    steps are listed under it and their bodies open below."""
    lead = next((e for e in reversed(block) if e.kind == Event.Kind.FAILED), block[-1])
    details, changes = _details(lead)
    related = []
    for other in block:
        if other is lead:
            continue
        related.append(f"{KIND_LABELS.get(other.kind, other.kind)}: {other.message}")
        other_details, _ = _details(other)
        call = other.data or {}
        said = f"{call.get('method', '')} → {call.get('status') or call.get('error') or ''}".strip(" →")
        details = [(f"{title} ({said})" if said else title, text) for title, text in other_details] + details
    return TimelineEntry(event=lead, count=count, first_at=first_at, details=details, changes=changes, related=related)


def pending_changes(record: Record) -> list[dict]:
    """What changed at the source since the version the target holds (empty when in step)."""
    if not record.payload or not record.source_payload or record.payload == record.source_payload:
        return []
    return payload_changes(redact(record.payload), redact(record.source_payload))
