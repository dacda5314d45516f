"""Webhook deliveries pages: every delivery a connection received, why any failed, and Replay.

A delivery whose processing failed is visible here with its error and can be queued again; one that
failed on a vendor's temporary trouble (a 500, a 429) shows when it is tried again automatically; refused ones (bad signature) and duplicates
are shown for the audit but never processed. Each delivery opens to its own page (the way Stripe
shows an event): the headers we kept, the body, what we answered, the records it produced.
Tenant-scoped like every page (get_for_org_or_404).

Both pages update while a delivery is waiting to be processed: the list's first page and the
delivery's live part are polled by htmx every 2 s and served without the polling attributes once
nothing is waiting, so the browser stops asking.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from connector.inbox import REPLAYABLE, replay_delivery
from connector.models import Connection, Delivery, Event, Record
from connector.tenancy import get_for_org_or_404
from connector.web.params import choice_param, id_param
from connector.web.redaction import redact
from connector.web.timeline import MAX_SHOWN_BODY, pretty_body, row_result

PAGE_SIZE = 100


@login_required
def delivery_list(request: HttpRequest) -> HttpResponse:
    org = request.organization
    deliveries = Delivery.objects.for_org(org).select_related("connection").defer("body").order_by("-id")
    # Malformed values are a 400 that names them (connector.web.params), never a 500.
    status = choice_param(request.GET, "status", Delivery.Status.values)
    if status:
        deliveries = deliveries.filter(status=status)
    if (connection := id_param(request.GET, "connection")) is not None:
        deliveries = deliveries.filter(connection_id=connection)
    if (before := id_param(request.GET, "before")) is not None:
        deliveries = deliveries.filter(id__lt=before)
    rows = list(deliveries[: PAGE_SIZE + 1])
    query = request.GET.copy()
    query.pop("before", None)
    query.pop("live", None)
    context = {
        "deliveries": rows[:PAGE_SIZE],
        "max_attempts": max_attempts(),
        "older": rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None,
        "statuses": Delivery.Status.choices,
        "connections": Connection.objects.for_org(org),
        "params": request.GET,
        "query": query.urlencode(),
        "replayable": REPLAYABLE,
        "failed_count": Delivery.objects.for_org(org).filter(status=Delivery.Status.FAILED).count(),
        "live": not before and deliveries.filter(status=Delivery.Status.RECEIVED).exists(),
    }
    if request.htmx and request.GET.get("live"):
        return render(request, "connector/_deliveries_live.html", context)
    return render(request, "connector/deliveries.html", context)


def max_attempts() -> int:
    """How many tries a delivery gets before it stays failed (the pages say "try 2 of 8")."""
    from connector.tasks import delivery_retry_policy

    return delivery_retry_policy().max_attempts


def answer_of(delivery: Delivery) -> tuple[int, str]:
    """What our webhook endpoint answered the sender (stored with the delivery, connector.webhooks),
    in plain words: refused ones were never processed; everything stored got 200 first."""
    code = delivery.answered
    if delivery.dedupe_key.startswith("malformed:"):
        return (
            code,
            f"Refused: we could not read the body ({_reason(delivery, 'not valid JSON')}). Nothing was processed.",
        )
    if delivery.status == Delivery.Status.REJECTED:
        if code == 503:
            return (
                code,
                f"Not checked yet: {_reason(delivery, 'the signing keys were unavailable')}. The sender retries.",
            )
        return code, f"Refused: {_reason(delivery, 'the signature did not match')}. Nothing was processed."
    if delivery.status == Delivery.Status.DUPLICATE:
        return code, "Accepted as a duplicate of an earlier delivery: recorded, processed once."
    return code, "Accepted: stored before we answered, then processed in the background."


def _reason(delivery: Delivery, default: str) -> str:
    """The stored reason without its "Rejected:"-style prefix."""
    text = delivery.error.split(": ", 1)[-1] if delivery.error else ""
    return text or default


def produced_records(delivery: Delivery) -> list[Record]:
    """The records this delivery created or refreshed (the "received" events that name it)."""
    ids = (
        Event.objects.for_org(delivery.organization)
        .filter(delivery=delivery, kind=Event.Kind.RECEIVED)
        .values_list("record_id", flat=True)
    )
    records = list(Record.objects.for_org(delivery.organization).filter(pk__in=ids).select_related("flow"))
    for record in records:
        record.result_tone, record.result_text = row_result(record)
    return records


def _detail_context(request: HttpRequest, pk: int) -> dict:
    delivery = get_for_org_or_404(Delivery, request.organization, pk=pk)
    status_code, answer = answer_of(delivery)
    raw = bytes(delivery.body or b"")
    shown = raw[:MAX_SHOWN_BODY].decode("utf-8", "replace")
    records = produced_records(delivery)
    return {
        "delivery": delivery,
        "answer_status": status_code,
        "answer": answer,
        "headers": sorted(redact(delivery.headers or {}).items()),
        "body": pretty_body(shown),
        "body_cut": len(raw) > MAX_SHOWN_BODY,
        "body_size": len(raw),
        "records": records,
        "replayable": delivery.status in REPLAYABLE,
        "max_attempts": max_attempts(),
        "live": delivery.status == Delivery.Status.RECEIVED or any(r.status == Record.Status.PENDING for r in records),
    }


@login_required
def delivery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "connector/delivery_detail.html", _detail_context(request, pk))


@login_required
def delivery_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The polled part of a delivery's page: its status and the records it produced."""
    return render(request, "connector/_delivery_live.html", _detail_context(request, pk))


@login_required
@require_POST
def delivery_replay(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_for_org_or_404(Delivery, request.organization, pk=pk)
    if not replay_delivery(delivery):
        messages.error(
            request,
            f"Delivery {delivery.pk} is {delivery.get_status_display().lower()}: only failed ones are replayed.",
        )
        return redirect(_back(request, delivery))
    messages.success(request, f"Delivery {delivery.pk} ({delivery.topic or 'no topic'}) is queued again.")
    return redirect(_back(request, delivery))


def _back(request: HttpRequest, delivery: Delivery) -> str:
    """Replay returns to the page it was pressed on: the delivery's own page or the list."""
    detail = reverse("delivery_detail", args=[delivery.pk])
    return detail if request.POST.get("next") == "detail" else reverse("deliveries")
