"""Server-rendered pages: dashboard, connections, audit log, record detail."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.invitations import pending_for as pending_invitations_for
from connector.models import Alert, Connection, Delivery, Event, Flow, Record
from connector.registry import get_system, presets, systems
from connector.tenancy import get_for_org_or_404
from connector.web.audit import filter_records, page_of
from connector.web.redaction import redact


@login_required
def dashboard(request):
    org = request.organization
    flows = (
        Flow.objects.for_org(org)
        .select_related("source", "target")
        .annotate(
            synced=Count("records", filter=Q(records__status=Record.Status.SYNCED)),
            failed=Count("records", filter=Q(records__status=Record.Status.FAILED)),
            needs_review=Count("records", filter=Q(records__status=Record.Status.NEEDS_REVIEW)),
        )
    )
    context = {
        "connections": Connection.objects.for_org(org),
        "flows": flows,
        "alerts": _with_reconnect_urls(
            Alert.objects.for_org(org).filter(resolved_at=None).select_related("connection")[:20]
        ),
        # Only invitations to an address the user has verified (never by the account's email string).
        "invitations": pending_invitations_for(request.user),
        "presets": presets(),
        "failed_deliveries": Delivery.objects.for_org(org).filter(status=Delivery.Status.FAILED).count(),
    }
    return render(request, "connector/dashboard.html", context)


@login_required
def connections(request):
    existing = list(Connection.objects.for_org(request.organization))
    by_system: dict[str, list[Connection]] = {}
    for conn in existing:
        by_system.setdefault(conn.system, []).append(conn)
    cards = []
    for system in systems():
        conns = by_system.get(system.key, [])
        for conn in conns:
            conn.page_url = reverse(system.connection_url_name, args=[conn.pk]) if system.connection_url_name else ""
        cards.append({"system": system, "connections": conns})
    return render(request, "connector/connections.html", {"cards": cards})


@login_required
def audit_log(request):
    org = request.organization
    records = filter_records(Record.objects.for_org(org).select_related("flow"), request.GET)
    page = page_of(records, request.GET.get("after"))
    query = request.GET.copy()
    query.pop("after", None)
    context = {
        "page": page,
        "flows": Flow.objects.for_org(org),
        "statuses": Record.Status.choices,
        "stages": [
            ("submitted", "Submitted"),
            ("shipped", "Shipped"),
            ("canceled", "Canceled"),
            ("not_submitted", "Not submitted"),
        ],
        "params": request.GET,
        "query": query.urlencode(),
    }
    template = "connector/_audit_rows.html" if request.htmx and request.GET.get("after") else "connector/audit_log.html"
    return render(request, template, context)


@login_required
def record_detail(request, pk: int):
    record = get_for_org_or_404(Record, request.organization, pk=pk)
    events = Event.objects.for_org(request.organization).filter(record=record).order_by("id")
    context = {
        "record": record,
        "events": [(e, redact(e.data)) for e in events],
        "payload": redact(record.payload),
        "source_system": _system_name(record.flow.source.system),
        "target_system": _system_name(record.flow.target.system),
    }
    return render(request, "connector/record_detail.html", context)


def _system_name(key: str) -> str:
    try:
        return get_system(key).name
    except LookupError:
        return key


def _with_reconnect_urls(alerts) -> list[Alert]:
    """A reconnect alert links to its system's Connect view (when the integration has one)."""
    alerts = list(alerts)
    for alert in alerts:
        alert.reconnect_url = ""
        if alert.connection is not None and alert.key.startswith("reauth:"):
            try:
                name = get_system(alert.connection.system).connect_url_name
                alert.reconnect_url = reverse(name) if name else ""
            except (LookupError, NoReverseMatch):
                alert.reconnect_url = ""
    return alerts


@login_required
@require_POST
def alert_resolve(request, pk: int):
    alert = get_for_org_or_404(Alert, request.organization, pk=pk, resolved_at=None)
    Alert.objects.filter(pk=alert.pk).update(resolved_at=timezone.now())
    return redirect("dashboard")
