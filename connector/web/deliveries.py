"""Webhook deliveries page: every delivery a connection received, why any failed, and Replay.

A delivery whose processing failed (a vendor error after the retries, an unknown topic handler) is
visible here with its error and can be queued again; refused ones (bad signature) and duplicates
are shown for the audit but never processed. Tenant-scoped like every page (get_for_org_or_404).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from connector.inbox import REPLAYABLE, replay_delivery
from connector.models import Connection, Delivery
from connector.tenancy import get_for_org_or_404

PAGE_SIZE = 100


@login_required
def delivery_list(request: HttpRequest) -> HttpResponse:
    org = request.organization
    deliveries = Delivery.objects.for_org(org).select_related("connection").defer("body").order_by("-id")
    status = request.GET.get("status", "")
    if status in Delivery.Status.values:
        deliveries = deliveries.filter(status=status)
    connection = request.GET.get("connection", "")
    if connection.isdigit():
        deliveries = deliveries.filter(connection_id=int(connection))
    before = request.GET.get("before", "")
    if before.isdigit():
        deliveries = deliveries.filter(id__lt=int(before))
    rows = list(deliveries[: PAGE_SIZE + 1])
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "deliveries": rows[:PAGE_SIZE],
        "older": rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None,
        "statuses": Delivery.Status.choices,
        "connections": Connection.objects.for_org(org),
        "params": request.GET,
        "query": query.urlencode(),
        "replayable": REPLAYABLE,
        "failed_count": Delivery.objects.for_org(org).filter(status=Delivery.Status.FAILED).count(),
    }
    return render(request, "connector/deliveries.html", context)


@login_required
@require_POST
def delivery_replay(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_for_org_or_404(Delivery, request.organization, pk=pk)
    if not replay_delivery(delivery):
        messages.error(
            request,
            f"Delivery {delivery.pk} is {delivery.get_status_display().lower()}: only failed ones are replayed.",
        )
        return redirect("deliveries")
    messages.success(request, f"Delivery {delivery.pk} ({delivery.topic or 'no topic'}) is queued again.")
    return redirect("deliveries")
