"""Connect, connection page (webhooks with Repair), Disconnect. All login-required and tenant-scoped."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import require_admin
from connector.http import ApiError
from connector.models import Connection
from connector.tenancy import get_for_org_or_404
from integrations.shipstation import connection as conn
from integrations.shipstation.forms import ConnectForm


@require_admin
def connect(request):
    form = ConnectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        settings_ = {"base_url": form.api_base_url()} if "base_url" in form.fields else {}
        settings_["api_version"] = form.api_version()
        if form.stores:
            settings_["store_ids"] = [s.get("storeId") for s in form.stores if isinstance(s, dict)]
        connection = Connection.objects.create(
            organization=request.organization,
            system="shipstation",
            label=data["label"],
            credentials={name: data[name] for name in ("api_key", "api_secret", "v2_api_key") if data.get(name)},
            settings=settings_,
        )
        try:
            conn.ensure_for(connection)
            messages.success(request, "ShipStation is connected and its webhooks are subscribed.")
        except ApiError as exc:
            messages.error(request, f"Connected, but subscribing webhooks failed: {exc.message}. Press Repair.")
        return redirect("shipstation_connection", pk=connection.pk)
    return render(request, "shipstation/connect.html", {"form": form})


def _connection(request, pk: int) -> Connection:
    return get_for_org_or_404(Connection, request.organization, pk=pk, system="shipstation")


@login_required
def connection_detail(request, pk: int):
    connection = _connection(request, pk)
    states, error = [], ""
    if connection.status != Connection.Status.DISABLED:
        try:
            states = conn.states_for(connection)
        except ApiError as exc:
            error = exc.message
    return render(
        request,
        "shipstation/connection.html",
        {
            "connection": connection,
            "webhooks": states,
            "error": error,
            "webhook_url": conn.webhook_url(connection),
            "api_version": conn.api_version(connection),
        },
    )


@require_admin
@require_POST
def repair(request, pk: int):
    connection = _connection(request, pk)
    try:
        conn.ensure_for(connection)
        messages.success(request, "Webhooks are subscribed.")
    except ApiError as exc:
        messages.error(request, f"Could not repair the webhooks: {exc.message}")
    return redirect("shipstation_connection", pk=connection.pk)


@require_admin
@require_POST
def disconnect(request, pk: int):
    connection = _connection(request, pk)
    try:
        removed = conn.remove_for(connection)
        messages.success(request, f"Disconnected; {removed} webhook(s) removed from ShipStation.")
    except ApiError as exc:
        messages.error(request, f"Disconnected here, but ShipStation's webhooks could not be removed: {exc.message}")
    # A disconnected store keeps no keys: the API key and secret (and V2 key) are erased, not just unused.
    connection.status = Connection.Status.DISABLED
    connection.credentials = {}
    connection.save(update_fields=["status", "credentials", "updated_at"])
    return redirect("connections")
