"""Connect pages: choose the data centre → Zoho consent → callback → choose the Books organisation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.permissions import require_admin
from connector.http import ApiError
from connector.models import Connection
from integrations.zoho.oauth import REGIONS, connect_redirect, provider, sandbox_mode


@require_admin
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest) -> HttpResponse:
    reconnect = provider.connection_to_reconnect(request)
    if request.method == "POST":
        return connect_redirect(request, request.POST.get("region", ""), reconnect)
    current = (reconnect.settings or {}).get("region") if reconnect else "us"
    return render(
        request, "zoho/connect.html", {"regions": REGIONS.values(), "current": current, "reconnect": reconnect}
    )


@require_admin
def callback(request: HttpRequest) -> HttpResponse:
    return provider.callback(request)


def on_connected(sender, *, request: HttpRequest, connection: Connection, **kwargs) -> HttpResponse:
    """`connector.oauth.connected` receiver (connected in the app's ready)."""
    return after_connect(request, connection)


def after_connect(request: HttpRequest, connection: Connection) -> HttpResponse:
    """Tokens are stored: find the Books organisations this login can see and settle on one."""
    try:
        orgs = _organizations(connection)
    except ApiError as exc:
        messages.error(request, f"Zoho Books is connected, but its organisations could not be listed: {exc.message}")
        return HttpResponseRedirect(reverse("zoho_connection", args=[connection.pk]))
    ids = [str(o.get("organization_id")) for o in orgs]
    if not orgs:
        messages.error(
            request, "This Zoho login has no Books organisation. Create one in Zoho Books, then connect again."
        )
        return HttpResponseRedirect(reverse("zoho_connection", args=[connection.pk]))
    if len(orgs) == 1 or connection.settings.get("organization_id") in ids:
        chosen = next(
            (o for o in orgs if str(o["organization_id"]) == connection.settings.get("organization_id")), orgs[0]
        )
        _choose(connection, chosen)
        messages.success(request, f"Zoho Books is connected to “{chosen.get('name', '')}”.")
        return HttpResponseRedirect(reverse("connections"))
    return HttpResponseRedirect(reverse("zoho_pick_organization", args=[connection.pk]))


def _organizations(connection: Connection) -> list[dict]:
    from integrations.zoho.client import ZohoBooksClient

    client = ZohoBooksClient(connection)
    try:
        return client.organizations()
    finally:
        client.session.close()


def _choose(connection: Connection, org: dict) -> None:
    connection.settings = {
        **connection.settings,
        "organization_id": str(org["organization_id"]),
        "organization_name": str(org.get("name", "")),
        "currency_code": str(org.get("currency_code", "")),
    }
    connection.external_account_id = str(org["organization_id"])
    connection.label = f"Zoho Books · {org.get('name', '')}"[:200]
    connection.save(update_fields=["settings", "external_account_id", "label", "updated_at"])


@require_admin
@require_http_methods(["GET", "POST"])
def pick_organization(request: HttpRequest, pk: int) -> HttpResponse:
    connection = provider.own_connection(request, pk)
    try:
        orgs = _organizations(connection)
    except ApiError as exc:
        messages.error(request, f"Zoho Books organisations could not be listed: {exc.message}")
        return HttpResponseRedirect(reverse("zoho_connection", args=[connection.pk]))
    if request.method == "POST":
        chosen = next((o for o in orgs if str(o.get("organization_id")) == request.POST.get("organization_id")), None)
        if chosen is not None:
            _choose(connection, chosen)
            messages.success(request, f"Zoho Books is connected to “{chosen.get('name', '')}”.")
            return HttpResponseRedirect(reverse("connections"))
        messages.error(request, "Choose one of the listed organisations.")
    return render(request, "zoho/pick_organization.html", {"connection": connection, "orgs": orgs}, status=200)


@login_required
def connection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    connection = provider.own_connection(request, pk)
    region = REGIONS.get((connection.settings or {}).get("region", ""))
    context = {"connection": connection, "region": region, "sandbox": sandbox_mode()}
    return render(request, "zoho/connection.html", context)


@require_admin
@require_POST
def disconnect(request: HttpRequest, pk: int) -> HttpResponse:
    connection = provider.own_connection(request, pk)
    provider.disconnect(connection)
    messages.success(request, "Zoho Books is disconnected and its refresh token revoked.")
    return HttpResponseRedirect(reverse("connections"))
