"""Connect page, connection page (.qwc download, password regeneration, last poll and error)."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.permissions import require_admin
from connector.models import Connection
from connector.tenancy import get_for_org_or_404
from integrations.qbdesktop import inventory_push, qwc
from integrations.qbdesktop.auth import create_user, regenerate_password
from integrations.qbdesktop.company import source_names
from integrations.qbdesktop.forms import ConnectForm
from integrations.qbdesktop.jobs import SYSTEM
from integrations.qbdesktop.models import QBDInventoryLevel, QBDSyncCursor, QBWCSession, QBWCUser, QBXMLJob


def _no_store(response: HttpResponse) -> HttpResponse:
    # The page may show the Web Connector password once: never let a cache keep it.
    response["Cache-Control"] = "no-store"
    return response


def _detail_context(request: HttpRequest, connection: Connection, *, password: str = "") -> dict:
    user = QBWCUser.objects.for_org(request.organization).get(connection=connection)
    last_session = QBWCSession.objects.for_org(request.organization).filter(connection=connection).first()
    jobs = QBXMLJob.objects.for_org(request.organization).filter(connection=connection)
    return {
        "connection": connection,
        "qbwc_user": user,
        "password": password,
        "service_url": qwc.service_url(),
        "url_ok": qwc.url_is_acceptable(qwc.service_url()),
        "last_session": last_session,
        "queued": jobs.filter(status__in=[QBXMLJob.Status.QUEUED, QBXMLJob.Status.WAITING]).count(),
        "recent_jobs": jobs.order_by("-id")[:10],
        "inventory_skus": QBDInventoryLevel.objects.for_org(request.organization).filter(connection=connection).count(),
        "sync_cursors": QBDSyncCursor.objects.for_org(request.organization).filter(connection=connection),
    }


@require_admin
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest) -> HttpResponse:
    existing = Connection.objects.for_org(request.organization).filter(system=SYSTEM)
    if request.method == "POST":
        form = ConnectForm(request.POST)
        if form.is_valid() and request.organization is not None:
            with transaction.atomic():
                connection = Connection.objects.create(
                    organization=request.organization,
                    system=SYSTEM,
                    label=form.cleaned_data["label"],
                    settings={
                        "time_zone": form.cleaned_data["time_zone"],
                        "run_every_minutes": form.cleaned_data["run_every_minutes"],
                    },
                )
                _user, password = create_user(connection)
            # Rendered, not redirected: the password exists only in this one response.
            context = _detail_context(request, connection, password=password)
            return _no_store(render(request, "qbdesktop/detail.html", context))
    else:
        form = ConnectForm()
    return render(request, "qbdesktop/connect.html", {"form": form, "existing": existing})


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_for_org_or_404(Connection, request.organization, pk=pk, system=SYSTEM)
    return _no_store(render(request, "qbdesktop/detail.html", _detail_context(request, connection)))


@require_admin
@require_POST
def regenerate(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_for_org_or_404(Connection, request.organization, pk=pk, system=SYSTEM)
    user = QBWCUser.objects.for_org(request.organization).get(connection=connection)
    password = regenerate_password(user)
    messages.success(request, "New password created. Enter it in the Web Connector; the old one no longer works.")
    return _no_store(render(request, "qbdesktop/detail.html", _detail_context(request, connection, password=password)))


@login_required
def download_qwc(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_for_org_or_404(Connection, request.organization, pk=pk, system=SYSTEM)
    user = QBWCUser.objects.for_org(request.organization).select_related("connection").get(connection=connection)
    response = HttpResponse(qwc.build_qwc(user), content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{qwc.filename(user)}"'
    return response


INVENTORY_PAGE_SIZE = 200


def _quantity(value: Decimal | None) -> str:
    """40.00000 → "40", 1.50000 → "1.5" (Decimal.normalize alone would give "4E+1")."""
    if value is None:
        return ""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@login_required
def inventory(request: HttpRequest, pk: int) -> HttpResponse:
    """The last reconciliation per SKU: QuickBooks' QuantityOnHand vs what our invoices took."""
    connection = get_for_org_or_404(Connection, request.organization, pk=pk, system=SYSTEM)
    levels = QBDInventoryLevel.objects.for_org(request.organization).filter(connection=connection)
    only_differences = request.GET.get("differences") == "1"
    if only_differences:
        levels = levels.exclude(difference=0).exclude(difference__isnull=True)
    page = Paginator(levels.order_by("sku"), INVENTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    for level in page.object_list:
        level.shown = {
            name: _quantity(getattr(level, name))
            for name in ("quantity_on_hand", "invoiced_at_check", "expected", "difference", "invoiced_since_check")
        }
    context = {
        "connection": connection,
        "pushing": inventory_push.pushing_flows(connection).exists(),
        "source": source_names(connection),
        "page": page,
        "only_differences": only_differences,
        "differences": levels.exclude(difference=0).exclude(difference__isnull=True).count()
        if not only_differences
        else page.paginator.count,
    }
    return render(request, "qbdesktop/inventory.html", context)
