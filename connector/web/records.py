"""Record pages: what one record did (its business result first), its timeline and payloads, Replay.

The live part of the page (`record_live`) is polled by htmx every 2 s while the record is pending
(queued, running or waiting to retry) and answered without the polling attributes once it has
settled, so the browser stops asking by itself. Replay from the page swaps that part in place:
the result shows up without a reload.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from connector import engine
from connector.models import Event, Record
from connector.tenancy import get_for_org_or_404
from connector.web.timeline import outcome_of, pending_changes, pretty_json, record_sides, system_name, timeline

POLL_EVERY = "every 2s"
MAX_EVENTS = 300  # the newest ones; a record retried for days keeps its page light


def _record(request: HttpRequest, pk: int) -> Record:
    return get_for_org_or_404(Record, request.organization, pk=pk)


def live_context(record: Record) -> dict:
    newest = list(Event.objects.for_org(record.organization).filter(record=record).order_by("-id")[: MAX_EVENTS + 1])
    events = list(reversed(newest[:MAX_EVENTS]))
    last_failure = next((e for e in newest if e.kind == Event.Kind.FAILED), None)
    last_replay = next((e for e in newest if e.kind == Event.Kind.REPLAYED), None)
    source, target = record_sides(record)
    now = timezone.now()
    differs = bool(record.source_payload) and record.source_payload != record.payload
    return {
        "record": record,
        "outcome": outcome_of(record, last_failure=last_failure, last_replay=last_replay),
        "live": record.status == Record.Status.PENDING,
        "poll_every": POLL_EVERY,
        "entries": timeline(events),
        "older_events": len(newest) > MAX_EVENTS,
        "payload": pretty_json(record.payload) if record.payload else "",
        "source_payload": pretty_json(record.source_payload) if differs else "",
        "changes": pending_changes(record),
        "source_system": system_name(source.system),
        "target_system": system_name(target.system),
        "paused": [c for c in (source, target) if c.paused_until and c.paused_until > now],
        "replayable": record.status != Record.Status.SYNCED or bool(record.last_error),
    }


@login_required
def record_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "connector/record_detail.html", live_context(_record(request, pk)))


@login_required
def record_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The polled part of the record page."""
    return render(request, "connector/_record_live.html", live_context(_record(request, pk)))


@login_required
@require_POST
def record_replay(request: HttpRequest, pk: int) -> HttpResponse:
    record = _record(request, pk)
    engine.replay(record, user=request.user)
    if request.htmx:
        record.refresh_from_db()
        return render(request, "connector/_record_live.html", live_context(record))
    messages.success(request, "Replay queued. This page updates by itself when it is done.")
    return redirect("record_detail", pk=record.pk)
