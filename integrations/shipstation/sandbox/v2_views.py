"""The ShipStation V2 API as the sandbox serves it under /sandbox/shipstation/v2/ (DESIGN §9).

What the client uses: `GET /v2/inventory` (getInventoryLevels), `POST /v2/inventory`
(updateSKUStockLevels), `GET /v2/inventory_locations` (listInventoryLocations) and `/v2/environment/webhooks`
(list, create, get, update, delete), plus the JWKS that signs V2 webhook deliveries. Sources:
shipstation-v2-openapi.yaml and SHIPSTATION.md Part B. Auth is the `API-Key` header (§B1); errors are
the V2-OAS `error_response_body` (`{request_id, errors: [{error_source, error_type, error_code,
message}]}`); the limit is 200/min per key with `Retry-After` on 429 (§B2: V2 declares no
`X-Rate-Limit-*` headers, so none are sent); a 500 has an empty body (V2-OAS `ServerError`).
Unsourced (chosen here, flagged in README): the exact 401/429 message texts, the 429's
error_type "system", the inventory `limit` range 1..500, and the JWKS path `/v2/jwks`
(production serves it at https://api.shipengine.com/jwks).
"""

from __future__ import annotations

import hmac
import json
import math
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from connector.sandbox.access import control_view, is_allowed_callback
from integrations.shipstation.sandbox import keys, state
from integrations.shipstation.sandbox.delivery import serving_base_url
from integrations.shipstation.sandbox.faults import count_request, dice
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxProduct, SandboxWebhook

SANDBOX_ROOT = "/sandbox/shipstation/"
MAX_LIMIT = 500
DEFAULT_LIMIT = 25  # §B3: page_size defaults to 25


class V2Error(Exception):
    def __init__(self, status: int, error_type: str, error_code: str, message: str):
        super().__init__(message)
        self.status, self.error_type, self.error_code, self.message = status, error_type, error_code, message


def error_body(error_type: str, error_code: str, message: str) -> dict:
    return {
        "request_id": str(uuid.uuid4()),
        "errors": [
            {"error_source": "ShipStation", "error_type": error_type, "error_code": error_code, "message": message}
        ],
    }


def _json(data: Any, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, safe=False)


def account_from_api_key(request: HttpRequest) -> SandboxAccount | None:
    key = request.headers.get("API-Key", "")  # header names are case-insensitive (§B1)
    if not key:
        return None
    account = SandboxAccount.objects.filter(v2_api_key=key).exclude(v2_api_key="").first()
    if account is None or not hmac.compare_digest(account.v2_api_key.encode(), key.encode()):
        return None
    return account


def v2_api(*methods: str) -> Callable:
    """API-Key auth, the V2 rate limit, fault knobs and V2 error bodies around one endpoint."""

    def decorate(fn: Callable) -> Callable:
        @csrf_exempt
        @wraps(fn)
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            account = account_from_api_key(request)
            if account is None:
                return _json(error_body("security", "unauthorized", "The API key is invalid."), 401)
            window = count_request(account, api="v2")
            rng = dice(account)
            if window.exceeded or rng.random() < account.fault_429_rate:
                response = _json(error_body("system", "rate_limit_exceeded", "You have exceeded the rate limit."), 429)
                reset = window.reset
                response["Retry-After"] = (
                    str(max(1, math.ceil(reset))) if account.rate_window_seconds >= 60 else f"{reset:.3f}"
                )
                return response
            if account.latency_ms:
                time.sleep(account.latency_ms / 1000)
            if rng.random() < account.fault_timeout_rate:
                time.sleep(account.timeout_seconds)
                return HttpResponse(status=504)
            if rng.random() < account.fault_5xx_rate:
                return HttpResponse(b"", status=500, content_type="application/json")  # V2-OAS ServerError
            if request.method not in methods:
                return _json(error_body("validation", "unspecified", f"Method {request.method} not allowed."), 405)
            try:
                with serving_base_url(request.build_absolute_uri(SANDBOX_ROOT)):
                    return fn(request, account, *args, **kwargs)
            except V2Error as exc:
                return _json(error_body(exc.error_type, exc.error_code, exc.message), exc.status)

        return view

    return decorate


def _read_json(request: HttpRequest) -> Any:
    if not request.body:
        raise V2Error(400, "validation", "request_body_required", "Body of request cannot be null.")
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise V2Error(400, "validation", "invalid_field_value", "The request body is not valid JSON.") from None


def _positive_int(request: HttpRequest, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise V2Error(400, "validation", "invalid_field_value", f"{name} must be an integer.") from None
    if value < 1 or (maximum is not None and value > maximum):
        bound = f" and at most {maximum}" if maximum else ""
        raise V2Error(400, "validation", "invalid_field_value", f"{name} must be at least 1{bound}.")
    return value


# --- Inventory ----------------------------------------------------------------------------------


def warehouse_id(account: SandboxAccount) -> str:
    return f"se-{account.pk}01"


def location_id(account: SandboxAccount) -> str:
    return f"se-{account.pk}02"


def inventory_json(account: SandboxAccount, product: SandboxProduct) -> dict:
    return {
        "sku": product.sku,
        "on_hand": product.on_hand,
        "allocated": 0,
        "available": product.on_hand,
        "average_cost": {"amount": float(product.price), "currency": "USD"},
        "inventory_warehouse_id": warehouse_id(account),
        "inventory_location_id": location_id(account),
    }


INVENTORY_TRANSACTIONS = ("increment", "decrement", "adjust", "modify")
INVENTORY_CONDITIONS = ("sellable", "damaged", "expired", "qa_hold")
INVENTORY_FIELDS = {
    # V2-OAS updateSKUStockLevels request body (no additionalProperties declared: unknown ones refused here)
    "transaction_type",
    "inventory_location_id",
    "sku",
    "quantity",
    "cost",
    "condition",
    "lot",
    "usable_start_date",
    "usable_end_date",
    "effective_at",
    "reason",
    "notes",
    "new_inventory_location_id",
    "new_cost",
    "new_condition",
}


def _invalid(message: str, code: str = "invalid_field_value") -> V2Error:
    return V2Error(400, "validation", code, message)


def _money(value: Any, name: str) -> None:
    if value is None:
        return
    if (
        not isinstance(value, dict)
        or set(value) - {"amount", "currency"}
        or not isinstance(value.get("amount", 0), (int, float))
        or isinstance(value.get("amount"), bool)
        or not isinstance(value.get("currency", ""), str)
    ):
        raise _invalid(f"{name} must be an object with a numeric amount and a currency.")


def update_stock(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    """POST /v2/inventory (updateSKUStockLevels): 204 on success, a V2 error body otherwise.

    Required: transaction_type, sku, quantity, inventory_location_id (V2-OAS). Semantics from the enum's
    description: increment/decrement move the on-hand quantity, adjust sets it, modify changes attributes
    (here: new_cost; the account has one location). Unsourced, chosen here: quantity must be a whole
    number ≥ 0 (≥ 1 to increment/decrement); an unknown SKU or location, or a decrement below zero, is a
    400 (`invalid_identifier` / business_rules `invalid_field_value`)."""
    body = _read_json(request)
    if not isinstance(body, dict):
        raise _invalid("The request body must be an object.")
    unknown = set(body) - INVENTORY_FIELDS
    if unknown:
        raise _invalid(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    for name in ("transaction_type", "sku", "quantity", "inventory_location_id"):
        if body.get(name) in (None, ""):
            raise _invalid(f"{name} is required.", "field_value_required")
    kind = body["transaction_type"]
    if kind not in INVENTORY_TRANSACTIONS:
        raise _invalid(f"'{kind}' is not a valid transaction_type.")
    quantity = body["quantity"]
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise _invalid("quantity must be an integer.")
    if quantity < 0 or (kind in ("increment", "decrement") and quantity < 1):
        raise _invalid(
            "quantity must be at least 1." if kind in ("increment", "decrement") else "quantity must be 0 or more."
        )
    for name in ("sku", "inventory_location_id", "reason", "notes", "lot", "new_inventory_location_id"):
        if name in body and not isinstance(body[name], str):
            raise _invalid(f"{name} must be a string.")
    for name in ("condition", "new_condition"):
        if body.get(name) is not None and body[name] not in INVENTORY_CONDITIONS:
            raise _invalid(f"{name} must be one of {', '.join(INVENTORY_CONDITIONS)}.")
    _money(body.get("cost"), "cost")
    _money(body.get("new_cost"), "new_cost")
    if body["inventory_location_id"] != location_id(account):
        raise _invalid(f"Inventory location '{body['inventory_location_id']}' was not found.", "invalid_identifier")
    if body.get("new_inventory_location_id") not in (None, location_id(account)):
        raise _invalid(f"Inventory location '{body['new_inventory_location_id']}' was not found.", "invalid_identifier")
    with transaction.atomic():
        product = SandboxProduct.objects.select_for_update().filter(account=account, sku=body["sku"]).first()
        if product is None:
            raise _invalid(f"SKU '{body['sku']}' was not found.", "invalid_identifier")
        if kind == "increment":
            product.on_hand += quantity
        elif kind == "decrement":
            if product.on_hand < quantity:
                raise V2Error(
                    400,
                    "business_rules",
                    "invalid_field_value",
                    f"Cannot decrement {quantity} of SKU '{product.sku}': only {product.on_hand} on hand.",
                )
            product.on_hand -= quantity
        elif kind == "adjust":
            product.on_hand = quantity
        elif body.get("new_cost") and "amount" in body["new_cost"]:
            product.price = round(Decimal(str(body["new_cost"]["amount"])), 2)
        product.modify_date = timezone.now()
        product.save(update_fields=["on_hand", "price", "modify_date"])
    return HttpResponse(status=204)


@v2_api("GET", "POST")
def inventory(request: HttpRequest, account: SandboxAccount) -> HttpResponse:
    if request.method == "POST":
        return update_stock(request, account)
    qs = SandboxProduct.objects.filter(account=account).order_by("sku", "id")
    if request.GET.get("sku"):
        qs = qs.filter(sku__in=[s for s in request.GET["sku"].split(",") if s])
    for name, expected in (("inventory_warehouse_id", warehouse_id), ("inventory_location_id", location_id)):
        if request.GET.get(name) and request.GET[name] != expected(account):
            qs = qs.none()
    if request.GET.get("group_by") not in (None, "", "warehouse", "location"):
        raise V2Error(400, "validation", "invalid_field_value", "group_by must be warehouse or location.")
    limit = _positive_int(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    page = _positive_int(request, "page", 1)
    total = qs.count()
    pages = max(1, math.ceil(total / limit))
    rows = list(qs[(page - 1) * limit : page * limit])
    base = request.build_absolute_uri(request.path)
    keep = {k: v for k, v in request.GET.items() if k not in ("page", "limit")}

    def href(n: int) -> dict:
        return {"href": f"{base}?{urlencode({**keep, 'page': n, 'limit': limit})}"}

    return _json(
        {
            "inventory": [inventory_json(account, p) for p in rows],
            "total": total,
            "page": page,
            "pages": pages,
            "links": {
                "first": href(1),
                "last": href(pages),
                "prev": href(page - 1) if page > 1 else {},
                "next": href(page + 1) if page < pages else {},
            },
        }
    )


def location_json(account: SandboxAccount) -> dict:
    created = account.created_at.isoformat().replace("+00:00", "Z")
    return {
        "inventory_location_id": location_id(account),
        "name": "Default location",
        "inventory_warehouse_id": warehouse_id(account),
        "created_at": created,
        "updated_at": created,
    }


@v2_api("GET")
def inventory_locations(request: HttpRequest, account: SandboxAccount) -> JsonResponse:
    """GET /v2/inventory_locations (listInventoryLocations): the account's one location."""
    limit = _positive_int(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    href = {"href": f"{request.build_absolute_uri(request.path)}?{urlencode({'page': 1, 'limit': limit})}"}
    return _json(
        {
            "inventory_locations": [location_json(account)],
            "total": 1,
            "page": 1,
            "pages": 1,
            "links": {"first": href, "last": href, "prev": {}, "next": {}},
        }
    )


# --- Webhooks -----------------------------------------------------------------------------------


def webhook_json(hook: SandboxWebhook) -> dict:
    return {"webhook_id": f"se-{hook.pk}", "url": hook.target_url, "event": hook.event, "headers": hook.headers}


def _webhook(account: SandboxAccount, webhook_id: str) -> SandboxWebhook:
    pk = webhook_id[3:] if webhook_id.startswith("se-") else ""
    hook = (
        SandboxWebhook.objects.filter(account=account, api_version="v2", pk=int(pk)).first() if pk.isdigit() else None
    )
    if hook is None:
        raise V2Error(404, "validation", "invalid_identifier", f"Webhook '{webhook_id}' was not found.")
    return hook


def _validate_url(url: Any) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise V2Error(400, "validation", "invalid_field_value", "url must be an absolute http(s) URL.")
    if not is_allowed_callback(url):  # the sandbox only ever calls this server or loopback
        raise V2Error(400, "validation", "invalid_field_value", "url must be under PUBLIC_BASE_URL or loopback.")
    return url


def _validate_headers(value: Any) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(h, dict) and isinstance(h.get("key"), str) and isinstance(h.get("value"), str) for h in value
    ):
        raise V2Error(400, "validation", "invalid_field_value", "headers must be a list of {key, value} strings.")
    return [{"key": h["key"], "value": h["value"]} for h in value]


@v2_api("GET", "POST")
def webhooks(request: HttpRequest, account: SandboxAccount) -> JsonResponse:
    if request.method == "GET":
        hooks = SandboxWebhook.objects.filter(account=account, api_version="v2", active=True)
        return _json([webhook_json(h) for h in hooks])  # V2-OAS list_webhooks_response_body: a bare array
    body = _read_json(request)
    if not isinstance(body, dict):
        raise V2Error(400, "validation", "invalid_field_value", "The request body must be an object.")
    # create_webhook_request_body: event, url, headers (additionalProperties false); newer clients also
    # send name and store_id (§B4), which the sandbox accepts and ignores.
    unknown = set(body) - {"event", "url", "headers", "name", "store_id"}
    if unknown:
        raise V2Error(400, "validation", "invalid_field_value", f"Unknown field(s): {', '.join(sorted(unknown))}.")
    if body.get("event") not in state.V2_WEBHOOK_EVENTS:
        raise V2Error(400, "validation", "invalid_field_value", f"'{body.get('event')}' is not a valid webhook event.")
    url = _validate_url(body.get("url"))
    headers = _validate_headers(body.get("headers"))
    with transaction.atomic():
        # "You may only configure one URL per event" (shipengine.com/docs/webhooks): a second is a 409.
        if SandboxWebhook.objects.select_for_update().filter(account=account, api_version="v2", event=body["event"]):
            raise V2Error(
                409,
                "business_rules",
                "webhook_event_type_conflict",
                f"A webhook for the '{body['event']}' event already exists.",
            )
        hook = SandboxWebhook.objects.create(
            account=account, api_version="v2", event=body["event"], target_url=url, headers=headers
        )
    return _json(webhook_json(hook))


@v2_api("GET", "PUT", "DELETE")
def webhook_detail(request: HttpRequest, account: SandboxAccount, webhook_id: str) -> HttpResponse:
    hook = _webhook(account, webhook_id)
    if request.method == "GET":
        return _json(webhook_json(hook))
    if request.method == "DELETE":
        hook.delete()
        return HttpResponse(status=204)
    body = _read_json(request)
    if not isinstance(body, dict):
        raise V2Error(400, "validation", "invalid_field_value", "The request body must be an object.")
    hook.target_url = _validate_url(body.get("url"))
    if "headers" in body:
        hook.headers = _validate_headers(body["headers"])
    hook.save(update_fields=["target_url", "headers"])
    return HttpResponse(status=204)


# --- JWKS and control ---------------------------------------------------------------------------


def jwks(request: HttpRequest) -> JsonResponse:
    """Public keys for V2 webhook signatures (no auth, like https://api.shipengine.com/jwks)."""
    if request.method != "GET":
        return _json({"message": "GET only"}, 405)
    return _json(keys.jwks())


@control_view
def control_rotate_key(request: HttpRequest) -> JsonResponse:
    """POST (signed in): add a new signing key pair; the newest signs from now on, older ones stay in
    the JWKS (the sandbox signs with one key set, as ShipEngine does for everyone)."""
    if request.method != "POST":
        return _json({"message": "POST only"}, 405)
    return _json({"kid": keys.create_key().kid}, 201)
