"""Connect pages: choose the country → Exact consent → callback → choose the division; the
connection page (webhook subscription with Subscribe again) and Disconnect."""

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
from connector.oauth import OAuthRefused
from integrations.exact import subscriptions
from integrations.exact.oauth import COUNTRIES, host, provider, sandbox_mode


@require_admin
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest) -> HttpResponse:
    reconnect = provider.connection_to_reconnect(request)
    if request.method == "POST":
        country = request.POST.get("country", "")
        try:
            host(country)
        except OAuthRefused as refused:
            return provider.error_page(request, refused)
        return provider.begin(request, {"country": country}, connection=reconnect)
    current = (reconnect.settings or {}).get("country") if reconnect else "nl"
    return render(
        request, "exact/connect.html", {"countries": COUNTRIES.values(), "current": current, "reconnect": reconnect}
    )


@require_admin
def callback(request: HttpRequest) -> HttpResponse:
    return provider.callback(request)


def _divisions(connection: Connection) -> tuple[int | None, list[dict]]:
    from integrations.exact.client import ExactClient

    with ExactClient(connection, division=None) as me_client:
        current = me_client.me().get("CurrentDivision")
    if not current:
        return None, []
    with ExactClient(connection, division=current) as client:
        return int(current), client.divisions()


def _choose(connection: Connection, division: dict) -> None:
    connection.settings = {
        **connection.settings,
        "division": int(division["Code"]),
        "division_name": str(division.get("Description") or ""),
        "currency": str(division.get("Currency") or ""),
    }
    connection.external_account_id = str(division["Code"])
    connection.label = f"Exact Online · {division.get('Description', '')}"[:200]
    connection.save(update_fields=["settings", "external_account_id", "label", "updated_at"])
    # Saved (and committed: no transaction here) first, so our webhook view finds the connection
    # when Exact checks the callback during the subscription. Replaces an earlier division's.
    subscriptions.subscribe(connection)


def _subscription_message(request: HttpRequest, connection: Connection) -> None:
    outcome = subscriptions.status(connection)
    if outcome.get("state") in (subscriptions.FAILED, subscriptions.NOT_HTTPS, subscriptions.ELSEWHERE):
        level = messages.error if outcome["state"] == subscriptions.FAILED else messages.info
        level(request, outcome.get("message", ""))


def on_connected(sender, *, request: HttpRequest, connection: Connection, **kwargs) -> HttpResponse:
    """`connector.oauth.connected` receiver (connected in the app's ready)."""
    return after_connect(request, connection)


def after_connect(request: HttpRequest, connection: Connection) -> HttpResponse:
    """Tokens are stored: read the current division (`current/Me`) and offer the list to pick from."""
    try:
        current, divisions = _divisions(connection)
    except ApiError as exc:
        messages.error(request, f"Exact Online is connected, but its divisions could not be read: {exc.message}")
        return HttpResponseRedirect(reverse("connections"))
    chosen = next((d for d in divisions if int(d["Code"]) == current), divisions[0] if divisions else None)
    if chosen is None:
        messages.error(request, "This Exact login has no company (division). Create one in Exact, then connect again.")
        return HttpResponseRedirect(reverse("connections"))
    _choose(connection, chosen)  # the current division until the merchant picks another
    if len(divisions) == 1:
        messages.success(request, f"Exact Online is connected to “{chosen.get('Description', '')}”.")
        _subscription_message(request, connection)
        return HttpResponseRedirect(reverse("connections"))
    return HttpResponseRedirect(reverse("exact_pick_division", args=[connection.pk]))


@require_admin
@require_http_methods(["GET", "POST"])
def pick_division(request: HttpRequest, pk: int) -> HttpResponse:
    connection = provider.own_connection(request, pk)
    try:
        current, divisions = _divisions(connection)
    except ApiError as exc:
        messages.error(request, f"Exact Online divisions could not be listed: {exc.message}")
        return HttpResponseRedirect(reverse("connections"))
    if request.method == "POST":
        chosen = next((d for d in divisions if str(d.get("Code")) == request.POST.get("division")), None)
        if chosen is not None:
            _choose(connection, chosen)
            messages.success(request, f"Exact Online is connected to “{chosen.get('Description', '')}”.")
            _subscription_message(request, connection)
            return HttpResponseRedirect(reverse("connections"))
        messages.error(request, "Choose one of the listed divisions.")
    selected = connection.settings.get("division") or current
    return render(
        request, "exact/pick_division.html", {"connection": connection, "divisions": divisions, "selected": selected}
    )


@login_required
def connection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    connection = provider.own_connection(request, pk)
    country = COUNTRIES.get((connection.settings or {}).get("country", ""))
    context = {
        "connection": connection,
        "country": country,
        "webhooks": subscriptions.status(connection),
        "callback_url": subscriptions.callback_url(connection),
        "sandbox": sandbox_mode(),
    }
    return render(request, "exact/connection.html", context)


@require_admin
@require_POST
def resubscribe(request: HttpRequest, pk: int) -> HttpResponse:
    connection = provider.own_connection(request, pk)
    if connection.status == Connection.Status.DISABLED:
        messages.error(request, "This connection is disconnected: connect it again first.")
    else:
        outcome = subscriptions.subscribe(connection)
        if outcome["state"] == subscriptions.SUBSCRIBED:
            messages.success(request, outcome["message"])
        else:
            _subscription_message(request, connection)
    return HttpResponseRedirect(reverse("exact_connection", args=[connection.pk]))


@require_admin
@require_POST
def disconnect(request: HttpRequest, pk: int) -> HttpResponse:
    connection = provider.own_connection(request, pk)
    provider.disconnect(connection)  # deletes our webhook subscriptions first (best effort)
    messages.success(request, "Exact Online is disconnected.")
    return HttpResponseRedirect(reverse("connections"))
