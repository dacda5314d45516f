"""Sandbox pages: the app-key authorisation page, the control endpoints and the demo order page.

`/wc-auth/v1/authorize` follows WOO.md §2 (class-wc-auth.php): all five parameters required and
non-empty, scope one of read/write/read_write, URLs valid, `callback_url` over https (the sandbox
also allows http to a loopback host, where our tests and demo run), then Approve creates a key
described "<app_name> - API (<UTC datetime>)" and POSTs `{key_id, user_id, consumer_key,
consumer_secret, key_permissions}` as JSON to `callback_url`; anything but an exact 200 deletes
the key and shows WooCommerce's error; success redirects to `return_url?success=1&user_id=…`, Deny
to `?success=0`. The real page needs a WordPress login with manage_woocommerce; the sandbox's
stand-in is the connector login of a member of the organisation that owns the store (another
tenant's store is a 404), and it sends keys only under PUBLIC_BASE_URL or to loopback. Approve
carries a signed nonce like WooCommerce's `wc_auth_nonce`.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode, urlsplit

import requests
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connector.sandbox.access import control_view, is_allowed_callback, page_view, signed_in

from .delivery import flush_held
from .faults import clean_faults, reset_generator
from .models import SandboxApiKey, SandboxDeliveryLog, SandboxOrder, SandboxProduct, SandboxStore, SandboxWebhook
from .store import ORDER_STATUSES, SandboxError, create_order, create_product, update_order

AUTH_PARAMS = ("app_name", "scope", "user_id", "return_url", "callback_url")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
NONCE_SALT = "woocommerce-sandbox-auth"


def _auth_error(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render(request, "woocommerce/sandbox_auth_error.html", {"message": message}, status=status)


def _valid_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _auth_params(request: HttpRequest, source) -> dict | str:
    params = {}
    for name in AUTH_PARAMS:
        value = source.get(name, "")
        if not isinstance(value, str) or not value.strip():
            return f"Missing parameter {name}"
        params[name] = value
    if params["scope"] not in ("read", "write", "read_write"):
        return f"Invalid scope {params['scope']}"
    if not _valid_url(params["return_url"]):
        return "The return_url is not a valid URL"
    if not _valid_url(params["callback_url"]):
        return "The callback_url is not a valid URL"
    callback = urlsplit(params["callback_url"])
    if callback.scheme != "https" and callback.hostname not in LOOPBACK:
        return "The callback_url needs to be over SSL"
    if not is_allowed_callback(params["callback_url"]):
        return "The sandbox sends keys only under PUBLIC_BASE_URL or to a loopback host"
    return params


@page_view
def authorize(request: HttpRequest, store: str) -> HttpResponse:
    shop = get_object_or_404(SandboxStore.objects.for_org(request.organization), slug=store)
    params = _auth_params(request, request.GET)
    if isinstance(params, str):
        return _auth_error(request, f"Error: {params}.")
    nonce = signing.dumps({"store": shop.slug, **params}, salt=NONCE_SALT)
    deny_url = _with_query(params["return_url"], {"success": "0", "user_id": params["user_id"]})
    context = {"store": shop, "params": params, "nonce": nonce, "deny_url": deny_url}
    return render(request, "woocommerce/sandbox_authorize.html", context)


@csrf_exempt  # the signed wc_auth_nonce plays the part of WordPress's nonce
@require_POST
def authorize_approve(request: HttpRequest, store: str) -> HttpResponse:
    refused = signed_in(request)
    if refused is not None:
        return refused
    shop = get_object_or_404(SandboxStore.objects.for_org(request.organization), slug=store)
    try:
        signed = signing.loads(request.POST.get("wc_auth_nonce", ""), salt=NONCE_SALT, max_age=3600)
    except signing.BadSignature:
        return _auth_error(request, "Error: Invalid nonce.", status=403)
    if signed.get("store") != shop.slug:
        return _auth_error(request, "Error: Invalid nonce.", status=403)
    params = _auth_params(request, signed)
    if isinstance(params, str):
        return _auth_error(request, f"Error: {params}.")
    key = SandboxApiKey.objects.create(
        store=shop,
        description=f"{params['app_name']} - API ({datetime.now(UTC):%Y-%m-%d %H:%M:%S})",
        consumer_key="ck_" + secrets.token_hex(20),
        consumer_secret="cs_" + secrets.token_hex(20),
        permissions=params["scope"],
    )
    payload = {
        "key_id": key.pk,
        "user_id": params["user_id"],
        "consumer_key": key.consumer_key,
        "consumer_secret": key.consumer_secret,
        "key_permissions": key.permissions,
    }
    try:
        response = requests.post(
            params["callback_url"],
            data=json.dumps(payload),
            headers={"Content-Type": "application/json;charset=UTF-8"},
            timeout=(5, 60),
            allow_redirects=False,
        )
        delivered = response.status_code == 200
    except requests.RequestException:
        delivered = False
    if not delivered:
        key.delete()
        return _auth_error(
            request,
            "Error: An error occurred in the request and at the time were unable to send the consumer data.",
            status=401,
        )
    return HttpResponseRedirect(_with_query(params["return_url"], {"success": "1", "user_id": params["user_id"]}))


def _with_query(url: str, params: dict) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


# --- Control endpoints (tests, demo, benchmarks) ------------------------------------------------


def _control_body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise ValueError("body must be JSON") from exc
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


@control_view
@require_POST
def control_faults(request: HttpRequest) -> JsonResponse:
    """POST {"store": "<slug>", "<knob>": value, ..., "reset": true?} sets a store's fault knobs."""
    try:
        body = _control_body(request)
        shop = SandboxStore.objects.for_org(request.organization).filter(slug=str(body.get("store", ""))).first()
        if shop is None:
            return JsonResponse({"error": "unknown store"}, status=404)
        knobs = clean_faults(body)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    merged = knobs if body.get("reset") else {**(shop.faults or {}), **knobs}
    shop.faults = {name: value for name, value in merged.items() if value is not None}
    shop.save(update_fields=["faults"])
    reset_generator(shop)
    return JsonResponse({"store": shop.slug, "faults": shop.faults})


@control_view
@require_POST
def control_stores(request: HttpRequest) -> JsonResponse:
    """POST {"slug", "name"?, "currency"?, "tax_rate"?} creates a store with one read/write key."""
    try:
        body = _control_body(request)
        shop = create_store(
            str(body.get("slug", "")),
            name=str(body.get("name") or ""),
            currency=str(body.get("currency") or "USD"),
            tax_rate=body.get("tax_rate", "0"),
            organization=request.organization,
        )
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    key = shop.keys.first()
    return JsonResponse(
        {
            "store": shop.slug,
            "store_url": request.build_absolute_uri(f"/sandbox/woocommerce/{shop.slug}"),
            "consumer_key": key.consumer_key,
            "consumer_secret": key.consumer_secret,
        },
        status=201,
    )


@control_view
@require_POST
def control_flush(request: HttpRequest) -> JsonResponse:
    """POST {"store": "<slug>"}: send deliveries held back by the out-of-order knob now."""
    try:
        body = _control_body(request)
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    shop = SandboxStore.objects.for_org(request.organization).filter(slug=str(body.get("store", ""))).first()
    if shop is None:
        return JsonResponse({"error": "unknown store"}, status=404)
    return JsonResponse({"sent": flush_held(shop)})


def create_store(slug: str, *, organization, name: str = "", currency: str = "USD", tax_rate="0") -> SandboxStore:
    """A store of `organization` with one read/write key and three products (SKUs WOO-HAT, WOO-MUG, WOO-TEE)."""
    from django.utils.text import slugify

    if not slug or slugify(slug) != slug or slug.startswith("_"):
        raise ValueError("slug must be a non-empty slug (letters, digits, hyphens)")
    if SandboxStore.objects.filter(slug=slug).exists():
        raise ValueError(f"store {slug!r} exists")
    try:
        rate = Decimal(str(tax_rate))
    except InvalidOperation as exc:
        raise ValueError("tax_rate must be a number like 0.2") from exc
    shop = SandboxStore.objects.create(
        slug=slug, name=name or slug, currency=currency.upper()[:3], tax_rate=rate, organization=organization
    )
    SandboxApiKey.objects.create(
        store=shop,
        description="Sandbox - API (initial key)",
        consumer_key="ck_" + secrets.token_hex(20),
        consumer_secret="cs_" + secrets.token_hex(20),
    )
    for sku, title, price in (
        ("WOO-HAT", "Woo Hat", "12.00"),
        ("WOO-MUG", "Woo Mug", "8.50"),
        ("WOO-TEE", "Woo Tee", "19.99"),
    ):
        create_product(shop, {"name": title, "sku": sku, "regular_price": price})
    return shop


# --- Demo page: place and edit orders -----------------------------------------------------------


@page_view
def orders_page(request: HttpRequest, store: str) -> HttpResponse:
    from .refunds import create_refund

    shop = get_object_or_404(SandboxStore.objects.for_org(request.organization), slug=store)
    error = ""
    if request.method == "POST":
        try:
            if request.POST.get("refund_order_id"):
                order = get_object_or_404(SandboxOrder, store=shop, pk=request.POST["refund_order_id"])
                create_refund(
                    shop, order, {"amount": request.POST.get("amount", ""), "reason": request.POST.get("reason", "")}
                )
            elif request.POST.get("order_id"):
                order = get_object_or_404(SandboxOrder, store=shop, pk=request.POST["order_id"])
                body = {"status": request.POST.get("status", order.status)}
                if request.POST.get("add_sku"):
                    body["line_items"] = [
                        {"sku": request.POST["add_sku"], "quantity": request.POST.get("quantity") or 1}
                    ]
                update_order(shop, order, body)
            else:
                email = request.POST.get("email", "").strip()
                first, _, last = request.POST.get("name", "").strip().partition(" ")
                create_order(
                    shop,
                    {
                        "status": request.POST.get("status", "processing"),
                        "currency": request.POST.get("currency") or shop.currency,
                        "billing": {"first_name": first, "last_name": last, "email": email},
                        "line_items": [
                            {"sku": request.POST.get("sku", ""), "quantity": request.POST.get("quantity") or 1}
                        ],
                        "shipping_lines": [{"method_title": "Flat rate", "total": request.POST.get("shipping") or "0"}],
                        "coupon_lines": [{"code": c} for c in [request.POST.get("coupon", "").strip()] if c],
                    },
                )
            return redirect(request.path)
        except SandboxError as exc:
            error = exc.message
    context = {
        "store": shop,
        "orders": SandboxOrder.objects.filter(store=shop).order_by("-id")[:50],
        "products": SandboxProduct.objects.filter(store=shop),
        "webhooks": SandboxWebhook.objects.filter(store=shop),
        "deliveries": SandboxDeliveryLog.objects.filter(webhook__store=shop).order_by("-id")[:20],
        "statuses": ORDER_STATUSES,
        "error": error,
    }
    return render(request, "woocommerce/sandbox_orders.html", context, status=400 if error else 200)
