"""Connecting a WooCommerce store (WOO.md §2): the app-key flow, the manual form, the connection page.

Connect → `<store>/wc-auth/v1/authorize` with scope=read_write and, since the flow has no `state`,
a one-time unguessable `user_id` bound to the organisation (stored hashed, single use, expiring).
WooCommerce POSTs the keys to our callback server to server; the callback must answer exactly 200
or WooCommerce deletes the key, so we answer 200 only once the keys are verified and stored, and a
non-200 deliberately makes WooCommerce discard keys we refuse (wrong user_id, read-only scope).
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.permissions import require_admin
from connector.http import ApiError
from connector.models import Connection
from connector.tenancy import get_for_org_or_404

from .auth import new_auth_token, token_digest
from .connect import (
    KeyCheckFailed,
    call_logger,
    check_store,
    delete_webhooks,
    register_webhooks,
    repair_webhooks,
    save_connection,
    store_error_text,
    verify_keys,
    webhook_status,
)
from .forms import ConnectForm, ManualKeysForm
from .models import WooAuthRequest

logger = logging.getLogger(__name__)

APP_NAME = "Connector"
CALLBACK_MAX_BYTES = 16_384


@require_admin
def connect(request: HttpRequest) -> HttpResponse:
    form = ConnectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            check_store(form.cleaned_data["store_url"])  # never send the browser to a non-store
        except KeyCheckFailed as exc:
            form.add_error(None, f"{exc.message} {exc.remediation}".strip())
            return render(request, "woocommerce/connect.html", {"form": form, "manual_form": ManualKeysForm()})
        token = new_auth_token()
        WooAuthRequest.objects.create(
            organization=request.organization,
            user=request.user,
            token_hash=token_digest(token),
            store_url=form.cleaned_data["store_url"],
            label=form.cleaned_data["label"],
        )
        params = {
            "app_name": APP_NAME,
            "scope": "read_write",
            "user_id": token,
            "return_url": settings.PUBLIC_BASE_URL + reverse("woocommerce_return"),
            "callback_url": settings.PUBLIC_BASE_URL + reverse("woocommerce_callback"),
        }
        return redirect(form.cleaned_data["store_url"] + "/wc-auth/v1/authorize?" + urlencode(params))
    return render(request, "woocommerce/connect.html", {"form": form, "manual_form": ManualKeysForm()})


@require_admin
def connect_manual(request: HttpRequest) -> HttpResponse:
    form = ManualKeysForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            keys = verify_keys(
                data["store_url"],
                data["consumer_key"].strip(),
                data["consumer_secret"].strip(),
                on_call=call_logger(request.organization),
            )
        except KeyCheckFailed as exc:
            form.add_error(None, f"{exc.message} {exc.remediation}".strip())
        else:
            connection = save_connection(request.organization, keys, label=data["label"])
            _register(request, connection)
            return redirect("woocommerce_connection", pk=connection.pk)
    return render(request, "woocommerce/connect.html", {"form": ConnectForm(), "manual_form": form, "manual": True})


def _register(request: HttpRequest | None, connection: Connection) -> bool:
    try:
        register_webhooks(connection)
    except ApiError as exc:
        Connection.objects.filter(pk=connection.pk).update(
            last_error=f"Webhooks not registered: {store_error_text(exc)}"
        )
        if request is not None:
            messages.error(request, f"Connected, but the webhooks could not be registered: {store_error_text(exc)}")
        return False
    if request is not None:
        messages.success(request, "WooCommerce store connected; webhooks registered.")
    return True


# CSRF-exempt on purpose: the store's server POSTs the keys here (server to server, no browser, no
# cookie). What protects it is the one-time, hashed, expiring `user_id` checked below.
@csrf_exempt
@require_POST
def callback(request: HttpRequest) -> HttpResponse:
    """WooCommerce POSTs `{key_id, user_id, consumer_key, consumer_secret, key_permissions}` here."""
    body = request.read(CALLBACK_MAX_BYTES + 1)
    if len(body) > CALLBACK_MAX_BYTES:
        return JsonResponse({"error": "body too large"}, status=413)
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        return JsonResponse({"error": "malformed JSON"}, status=400)
    token = str(data.get("user_id") or "")
    with transaction.atomic():
        pending = (
            WooAuthRequest.objects.select_for_update().filter(token_hash=token_digest(token)).first() if token else None
        )
        if pending is None or not pending.is_usable():
            logger.warning("woocommerce callback with an unknown, used or expired user_id")
            return JsonResponse({"error": "unknown or expired authorisation"}, status=403)
        pending.used_at = timezone.now()  # single use, whatever happens next
        pending.save(update_fields=["used_at"])
    if data.get("key_permissions") != "read_write":
        _fail(pending, "The key was issued without read/write access; connect again and approve read/write.")
        return JsonResponse({"error": "read_write access is required"}, status=400)
    key, secret = str(data.get("consumer_key") or ""), str(data.get("consumer_secret") or "")
    try:
        keys = verify_keys(pending.store_url, key, secret, on_call=call_logger(pending.organization))
    except KeyCheckFailed as exc:
        _fail(pending, f"{exc.message} {exc.remediation}".strip())
        return JsonResponse({"error": "the keys did not work"}, status=400)
    connection = save_connection(pending.organization, keys, label=pending.label, key_id=data.get("key_id"))
    WooAuthRequest.objects.filter(pk=pending.pk).update(connection=connection, error="")
    _register(None, connection)
    return JsonResponse({"ok": True}, status=200)


def _fail(pending: WooAuthRequest, message: str) -> None:
    WooAuthRequest.objects.filter(pk=pending.pk).update(error=message[:2000])


@require_admin
def auth_return(request: HttpRequest) -> HttpResponse:
    """WooCommerce sends the browser back here with `success` and our `user_id`."""
    token = request.GET.get("user_id", "")
    pending = (
        WooAuthRequest.objects.for_org(request.organization).filter(token_hash=token_digest(token)).first()
        if token
        else None
    )
    if pending is None:
        messages.error(request, "That WooCommerce authorisation is not one of yours or has expired. Connect again.")
        return redirect("woocommerce_connect")
    if request.GET.get("success") != "1":
        messages.error(request, "Access was not approved in WooCommerce, so nothing was connected.")
        return redirect("woocommerce_connect")
    if pending.connection_id:
        connection = Connection.objects.for_org(request.organization).get(pk=pending.connection_id)
        if connection.last_error:
            messages.error(request, connection.last_error)
        else:
            messages.success(request, "WooCommerce store connected; webhooks registered.")
        return redirect("woocommerce_connection", pk=pending.connection_id)
    messages.error(request, pending.error or "WooCommerce did not send the keys. Connect again, or enter keys by hand.")
    return redirect("woocommerce_connect")


@login_required
def connection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_for_org_or_404(Connection, request.organization, pk=pk, system="woocommerce")
    hooks, error = [], ""
    if connection.status != Connection.Status.DISABLED:
        try:
            hooks = webhook_status(connection)
        except ApiError as exc:
            error = f"Could not read the store's webhooks: {store_error_text(exc)}"
    context = {
        "connection": connection,
        "store_url": (connection.settings or {}).get("store_url", ""),
        "query_string_auth": bool((connection.settings or {}).get("query_string_auth")),
        "hooks": hooks,
        "needs_repair": any(h["status"] != "active" for h in hooks),
        "error": error,
        # The wizard picks a flow type from this store to a connected ledger.
        "new_flow_url": reverse("flow_create") + "?" + urlencode({"source": connection.pk}),
    }
    return render(request, "woocommerce/connection.html", context)


@require_admin
@require_POST
def repair(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_for_org_or_404(Connection, request.organization, pk=pk, system="woocommerce")
    try:
        done = repair_webhooks(connection)
    except ApiError as exc:
        messages.error(request, f"Repair failed: {store_error_text(exc)}")
    else:
        changed = [f"{t} {a}" for t, a in done.items() if a != "ok"]
        messages.success(request, "Webhooks repaired: " + ", ".join(changed) if changed else "All webhooks are active.")
    return redirect("woocommerce_connection", pk=pk)


@require_admin
@require_POST
def disconnect(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_for_org_or_404(Connection, request.organization, pk=pk, system="woocommerce")
    try:
        deleted = delete_webhooks(connection)
    except ApiError as exc:
        messages.error(request, f"Disconnected, but the store's webhooks could not be deleted: {store_error_text(exc)}")
    else:
        messages.success(request, f"Disconnected; {deleted} webhook(s) deleted from the store.")
    connection.status = Connection.Status.DISABLED
    connection.credentials = {}
    connection.save(update_fields=["status", "credentials", "updated_at"])
    return redirect("connections")
