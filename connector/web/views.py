"""Server-rendered pages: dashboard, connections, audit log, record detail."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.invitations import pending_for as pending_invitations_for
from connector.models import Alert, Connection, Delivery, Flow, Record, resolve_settled_alerts
from connector.registry import get_system, presets, systems
from connector.tenancy import get_for_org_or_404
from connector.web.audit import filter_records, page_of
from connector.web.dashboard import dashboard_extras, has_work_in_progress
from connector.web.timeline import row_result


@login_required
def dashboard(request):
    org = request.organization
    resolve_settled_alerts(org)  # alerts close themselves once their cause is gone
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
        # While records wait, the flows table refreshes itself (htmx); once none wait it stops asking.
        "live": has_work_in_progress(org),
    }
    if request.htmx and request.GET.get("live"):
        return render(request, "connector/_dashboard_flows.html", context)
    context.update(dashboard_extras(org))
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
    """The audit log. While any record in the filter is pending, its first page is polled (htmx,
    `?live=1` answers just the rows); once none is, the rows come back without the polling
    attributes and the browser stops asking."""
    org = request.organization
    records = filter_records(Record.objects.for_org(org).select_related("flow"), request.GET)
    after, before = request.GET.get("after"), request.GET.get("before")
    page = page_of(records, after, before=before)
    for record in page.records:
        record.result_tone, record.result_text = row_result(record)
    query = request.GET.copy()
    for name in ("after", "before", "live"):
        query.pop(name, None)
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
        "live": not page.previous_cursor and records.filter(status=Record.Status.PENDING).exists(),
    }
    if request.htmx and request.GET.get("live"):
        template = "connector/_audit_live.html"
    elif request.htmx and after:
        template = "connector/_audit_rows.html"
    else:
        template = "connector/audit_log.html"
    return render(request, template, context)


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
