"""The ShipStation V1 API as the sandbox serves it under /sandbox/shipstation/ (DESIGN §9).

Same paths, Basic auth, error bodies, rate-limit headers and 429s, paging and Pacific times as
ShipStation (SHIPSTATION.md Part C). Error bodies follow ShipStation's ASP.NET Web API shape
(`{"Message": ..., "ModelState": {...}}`); the 429 body is the documented `{"message": "Too Many Requests"}`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import time
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from connector.sandbox import kit
from connector.sandbox.access import control_view, is_allowed_callback, signed_in
from integrations.shipstation import timeutil
from integrations.shipstation.sandbox import state
from integrations.shipstation.sandbox.delivery import deliver_pending, serving_base_url
from integrations.shipstation.sandbox.faults import count_request, dice
from integrations.shipstation.sandbox.models import (
    SandboxAccount,
    SandboxCustomer,
    SandboxOrder,
    SandboxProduct,
    SandboxShipment,
    SandboxWebhook,
)
from integrations.shipstation.sandbox.state import SandboxError

UNAUTHORIZED = {"Message": "Authorization has been denied for this request."}
TOO_MANY = {"message": "Too Many Requests"}
SERVER_ERROR = {"Message": "An error has occurred."}
MAX_PAGE_SIZE = 500
SANDBOX_ROOT = "/sandbox/shipstation/"


def account_from_basic(request: HttpRequest) -> SandboxAccount | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        key, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    account = SandboxAccount.objects.filter(api_key=key).first()
    if account is None or not hmac.compare_digest(account.api_secret.encode(), secret.encode()):
        return None
    return account


def _json(data: Any, status: int = 200) -> JsonResponse:
    return JsonResponse(data, status=status, safe=False)


def read_json(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise SandboxError(400, "The request is invalid.", {"": [f"Error parsing JSON body: {exc}"]}) from None


def shipstation_api(*methods: str) -> Callable:
    """Auth, rate limit, fault knobs and error bodies around one sandbox endpoint."""

    def decorate(fn: Callable) -> Callable:
        @csrf_exempt
        @wraps(fn)
        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            account = account_from_basic(request)
            if account is None:
                return _json(UNAUTHORIZED, 401)
            window = count_request(account)
            headers = window.headers(account.rate_window_seconds)
            rng = dice(account)
            if window.exceeded or rng.random() < account.fault_429_rate:
                response = _json(TOO_MANY, 429)
                headers["X-Rate-Limit-Remaining"] = "0"
            else:
                with serving_base_url(request.build_absolute_uri(SANDBOX_ROOT)):
                    response = _serve(fn, request, account, rng, methods, args, kwargs)
            for name, value in headers.items():
                response[name] = value
            return response

        return view

    return decorate


def _serve(fn, request, account, rng, methods, args, kwargs) -> HttpResponse:
    if account.latency_ms:
        time.sleep(account.latency_ms / 1000)
    if rng.random() < account.fault_timeout_rate:
        time.sleep(account.timeout_seconds)  # longer than a client's read timeout
        return _json({"Message": "The operation has timed out."}, 504)
    if rng.random() < account.fault_5xx_rate:
        return _json(SERVER_ERROR, 500)
    if request.method not in methods:
        return _json({"Message": f"The requested resource does not support http method '{request.method}'."}, 405)
    try:
        return fn(request, account, *args, **kwargs)
    except SandboxError as exc:
        return _json(exc.body, exc.status)


# --- Query helpers ------------------------------------------------------------------------------


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise SandboxError(400, "The request is invalid.", {name: [f"The value '{raw}' is not valid."]}) from None


def paged(request: HttpRequest, queryset: QuerySet, key: str, render: Callable[[Any], dict]) -> JsonResponse:
    page = _int_param(request, "page", 1)
    size = _int_param(request, "pageSize", 100)
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise SandboxError(400, "The request is invalid.", {"pageSize": [f"pageSize must be 1 to {MAX_PAGE_SIZE}."]})
    total = queryset.count()
    rows = list(queryset[(page - 1) * size : page * size])
    return _json({key: [render(row) for row in rows], "total": total, "page": page, "pages": math.ceil(total / size)})


def date_filter(request: HttpRequest, queryset: QuerySet, param: str, field: str) -> QuerySet:
    for suffix, lookup in (("Start", "gte"), ("End", "lte")):
        raw = request.GET.get(param + suffix)
        if not raw:
            continue
        try:
            moment = timeutil.parse_pacific(raw)
        except ValueError:
            raise SandboxError(
                400, "The request is invalid.", {param + suffix: [f"The value '{raw}' is not valid."]}
            ) from None
        if field == "ship_date":
            queryset = queryset.filter(**{f"{field}__{lookup}": timeutil.parse_date(raw)})
        else:
            queryset = queryset.filter(**{f"{field}__{lookup}": moment})
    return queryset


def _sort(request: HttpRequest, queryset: QuerySet, fields: dict[str, str]) -> QuerySet:
    sort_by = request.GET.get("sortBy")
    if not sort_by:
        return queryset.order_by("id")
    if sort_by not in fields:
        raise SandboxError(400, "The request is invalid.", {"sortBy": [f"The value '{sort_by}' is not valid."]})
    prefix = "-" if request.GET.get("sortDir", "ASC").upper() == "DESC" else ""
    return queryset.order_by(prefix + fields[sort_by], prefix + "id")


# --- Account ------------------------------------------------------------------------------------


@shipstation_api("GET")
def list_tags(request, account):
    return _json([])


@shipstation_api("GET")
def list_stores(request, account):
    return _json(
        [
            {
                "storeId": account.store_id,
                "storeName": account.name,
                "marketplaceId": 0,
                "marketplaceName": "ShipStation",
                "accountName": None,
                "email": None,
                "integrationUrl": None,
                "active": True,
                "companyName": "",
                "phone": "",
                "publicEmail": "",
                "website": "",
                "refreshDate": state.stamp(account.created_at),
                "lastRefreshAttempt": state.stamp(account.created_at),
                "createDate": state.stamp(account.created_at),
                "modifyDate": state.stamp(account.created_at),
                "autoRefresh": False,
            }
        ]
    )


# --- Orders -------------------------------------------------------------------------------------


@shipstation_api("GET")
def orders(request, account):
    qs = SandboxOrder.objects.filter(account=account).select_related("account")
    if request.GET.get("orderNumber"):
        qs = qs.filter(order_number__startswith=request.GET["orderNumber"])
    if request.GET.get("orderStatus"):
        if request.GET["orderStatus"] not in state.ORDER_STATUSES:
            raise SandboxError(400, "The request is invalid.", {"orderStatus": ["The value is not valid."]})
        qs = qs.filter(status=request.GET["orderStatus"])
    if request.GET.get("importBatch"):
        qs = qs.filter(import_batch=request.GET["importBatch"])
    qs = date_filter(request, qs, "modifyDate", "modify_date")
    qs = date_filter(request, qs, "createDate", "create_date")
    qs = _sort(request, qs, {"ModifyDate": "modify_date", "CreateDate": "create_date", "OrderDate": "create_date"})
    return paged(request, qs, "orders", state.order_json)


@shipstation_api("GET", "DELETE")
def order_detail(request, account, order_id: int):
    order = SandboxOrder.objects.filter(account=account, pk=order_id).select_related("account").first()
    if order is None:
        raise SandboxError(404, f"Order not found: {order_id}")
    if request.method == "DELETE":
        order.delete()
        return _json({"success": True, "message": "The requested order has been deleted."})
    return _json(state.order_json(order))


@shipstation_api("POST")
def create_order(request, account):
    order, _ = state.upsert_order(account, read_json(request))
    return _json(state.order_json(order))


@shipstation_api("POST")
def create_orders(request, account):
    body = read_json(request)
    if not isinstance(body, list):
        raise SandboxError(400, "The request is invalid.", {"apiOrders": ["An array of Order objects is required."]})
    if len(body) > 100:
        raise SandboxError(
            400, "The request is invalid.", {"apiOrders": ["A maximum of 100 orders can be sent at once."]}
        )
    batch = uuid.uuid4().hex
    results, notify = [], False
    with transaction.atomic():
        for data in body:
            try:
                with transaction.atomic():
                    order, _ = state.upsert_order(account, data, import_batch=batch, notify=False)
            except SandboxError as exc:
                number = data.get("orderNumber") if isinstance(data, dict) else None
                key = data.get("orderKey") if isinstance(data, dict) else None
                detail = " ".join(m for msgs in (exc.body.get("ModelState") or {}).values() for m in msgs)
                results.append(
                    {
                        "orderId": 0,
                        "orderNumber": number,
                        "orderKey": key,
                        "success": False,
                        "errorMessage": f"{exc.body['Message']} {detail}".strip(),
                    }
                )
                continue
            notify = notify or order.notifies
            results.append(
                {
                    "orderId": order.pk,
                    "orderNumber": order.order_number,
                    "orderKey": order.order_key,
                    "success": True,
                    "errorMessage": None,
                }
            )
        if notify:
            state.queue_notifications(account, "ORDER_NOTIFY", f"orders?storeID={account.store_id}&importBatch={batch}")
    return _json({"hasErrors": any(not r["success"] for r in results), "results": results})


@shipstation_api("POST")
def mark_as_shipped(request, account):
    body = read_json(request)
    if not isinstance(body, dict):
        raise SandboxError(400, "The request is invalid.", {"apiMarkAsShipped": ["An object is required."]})
    order = state.mark_shipped(account, body)
    return _json({"orderId": order.pk, "orderNumber": order.order_number})


@shipstation_api("POST")
def create_label_for_order(request, account):
    body = read_json(request)
    if not isinstance(body, dict):
        raise SandboxError(400, "The request is invalid.", {"apiCreateLabel": ["An object is required."]})
    shipment = state.create_label(account, body)
    return _json(
        {
            "shipmentId": shipment.pk,
            "shipmentCost": state._number(shipment.shipment_cost),
            "insuranceCost": state._number(shipment.insurance_cost),
            "trackingNumber": shipment.tracking_number,
            "labelData": base64.b64encode(b"%PDF-1.4 sandbox label").decode(),
            "formData": None,
        }
    )


# --- Shipments ----------------------------------------------------------------------------------


@shipstation_api("GET")
def shipments(request, account):
    qs = SandboxShipment.objects.filter(account=account).select_related("order", "order__account")
    for param, field in (
        ("orderId", "order_id"),
        ("orderNumber", "order__order_number"),
        ("trackingNumber", "tracking_number"),
    ):
        if request.GET.get(param):
            qs = qs.filter(**{field: request.GET[param]})
    if request.GET.get("batchId"):
        qs = qs.filter(batch=request.GET["batchId"])
    qs = date_filter(request, qs, "createDate", "create_date")
    qs = date_filter(request, qs, "shipDate", "ship_date")
    qs = date_filter(request, qs, "voidDate", "void_date")
    qs = _sort(request, qs, {"ShipDate": "ship_date", "CreateDate": "create_date"})
    include = request.GET.get("includeShipmentItems", "false").lower() == "true"
    return paged(request, qs, "shipments", lambda s: state.shipment_json(s, include_items=include))


@shipstation_api("POST")
def void_label(request, account):
    body = read_json(request)
    if not isinstance(body, dict) or not body.get("shipmentId"):
        raise SandboxError(
            400, "The request is invalid.", {"apiVoidLabel.shipmentId": ["The shipmentId field is required."]}
        )
    state.void_label(account, body["shipmentId"])
    return _json({"approved": True, "message": "Label voided successfully"})


# --- Customers and products ---------------------------------------------------------------------


@shipstation_api("GET")
def customers(request, account):
    qs = SandboxCustomer.objects.filter(account=account)
    if request.GET.get("countryCode"):
        qs = qs.filter(address__country=request.GET["countryCode"])
    qs = _sort(request, qs, {"Name": "key", "ModifyDate": "modify_date", "CreateDate": "create_date"})
    return paged(request, qs, "customers", state.customer_json)


@shipstation_api("GET")
def customer_detail(request, account, customer_id: int):
    customer = SandboxCustomer.objects.filter(account=account, pk=customer_id).first()
    if customer is None:
        raise SandboxError(404, f"Customer not found: {customer_id}")
    return _json(state.customer_json(customer))


@shipstation_api("GET")
def products(request, account):
    qs = SandboxProduct.objects.filter(account=account)
    if request.GET.get("sku"):
        qs = qs.filter(sku=request.GET["sku"])
    qs = _sort(request, qs, {"SKU": "sku", "ModifyDate": "modify_date", "CreateDate": "create_date"})
    return paged(request, qs, "products", state.product_json)


@shipstation_api("GET")
def product_detail(request, account, product_id: int):
    product = SandboxProduct.objects.filter(account=account, pk=product_id).first()
    if product is None:
        raise SandboxError(404, f"Product not found: {product_id}")
    return _json(state.product_json(product))


# --- Webhooks -----------------------------------------------------------------------------------


@shipstation_api("GET")
def webhooks(request, account):
    hooks = SandboxWebhook.objects.filter(account=account, active=True)
    return _json({"webhooks": [state.webhook_json(h) for h in hooks]})


@shipstation_api("POST")
def subscribe(request, account):
    body = read_json(request)
    if not isinstance(body, dict):
        raise SandboxError(400, "The request is invalid.", {"apiWebhook": ["An object is required."]})
    errors = {}
    if not str(body.get("target_url") or "").startswith(("http://", "https://")):
        errors["apiWebhook.target_url"] = ["The target_url field is required and must be an absolute URL."]
    elif not is_allowed_callback(str(body["target_url"])):
        # The sandbox only ever calls this server or loopback (connector.sandbox.access).
        errors["apiWebhook.target_url"] = ["The sandbox delivers only under PUBLIC_BASE_URL or to a loopback host."]
    if body.get("event") not in state.WEBHOOK_EVENTS:
        errors["apiWebhook.event"] = [f"The value '{body.get('event')}' is not valid for event."]
    if errors:
        raise SandboxError(400, "The request is invalid.", errors)
    hook = SandboxWebhook.objects.create(
        account=account,
        event=body["event"],
        target_url=body["target_url"],
        friendly_name=str(body.get("friendly_name") or ""),
        store_id=body.get("store_id"),
    )
    return _json({"id": hook.pk}, 201)


@shipstation_api("DELETE")
def unsubscribe(request, account, webhook_id: int):
    deleted, _ = SandboxWebhook.objects.filter(account=account, pk=webhook_id).delete()
    if not deleted:
        raise SandboxError(404, f"Webhook not found: {webhook_id}")
    return HttpResponse(status=200)


# --- Control (sandbox only, never part of ShipStation) ------------------------------------------

FAULT_FIELDS = {
    "fault_5xx_rate": kit.RATE,
    "fault_429_rate": kit.RATE,
    "fault_timeout_rate": kit.RATE,
    "timeout_seconds": float,
    "latency_ms": int,
    "duplicate_webhook_rate": kit.RATE,
    "seed": int,
    "rate_limit": int,
    "rate_window_seconds": float,
    "v2_rate_limit": int,
    "auto_deliver_webhooks": bool,
}


@control_view
def control_accounts(request: HttpRequest) -> JsonResponse:
    """POST (signed in): create a sandbox account of your organisation; answers its key and secret."""
    if request.method != "POST":
        return _json({"Message": "POST only"}, 405)
    try:
        body = json.loads(request.body or b"{}")
        settings_ = _fault_settings(body)
    except (ValueError, TypeError) as exc:
        return _json({"Message": f"Invalid control request: {exc}"}, 400)
    account = SandboxAccount.objects.create(
        name=str(body.get("name") or "Sandbox store")[:200], organization=request.organization, **settings_
    )
    return _json(
        {
            "id": account.pk,
            "api_key": account.api_key,
            "api_secret": account.api_secret,
            "v2_api_key": account.v2_api_key,
        },
        201,
    )


def _fault_settings(body: Any) -> dict:
    """The knobs of a control request, checked by the kit's one validator; ValueError names the bad ones."""
    if not isinstance(body, dict):
        raise ValueError("a JSON object is required")
    clean, problems = kit.validate_knobs(body, FAULT_FIELDS, ignore=("name",))
    problems.update({k: "cannot be cleared" for k, v in clean.items() if v is None and k != "seed"})
    if problems:
        raise ValueError("; ".join(f"{name}: {problem}" for name, problem in sorted(problems.items())))
    return clean


def control_account(request: HttpRequest) -> SandboxAccount | HttpResponse:
    """The account a control request acts on: the one whose own key and secret (or V2 API-Key) it
    presents, as ShipStation's API authenticates; else, for a signed-in member, one of their
    organisation's accounts (`?account=<id>`, default the first). Anything else is refused."""
    from integrations.shipstation.sandbox.v2_views import account_from_api_key

    account = account_from_basic(request) or account_from_api_key(request)
    if account is not None:
        return account
    if not request.user.is_authenticated:
        return _json(UNAUTHORIZED, 401)
    refused = signed_in(request)
    if refused is not None:
        return refused
    mine = SandboxAccount.objects.for_org(request.organization).order_by("id")
    wanted = request.GET.get("account", "")
    account = mine.filter(pk=int(wanted)).first() if wanted.isdigit() else mine.first()
    return account if account is not None else _json({"Message": "No such sandbox account."}, 404)


@csrf_exempt
def control_faults(request: HttpRequest) -> JsonResponse:
    """POST JSON: set an account's fault knobs and clock (see `control_account` for who may)."""
    account = control_account(request)
    if not isinstance(account, SandboxAccount):
        return account
    if request.method != "POST":
        return _json({"Message": "POST only"}, 405)
    try:
        body = json.loads(request.body or b"{}")
        updates = _fault_settings({k: v for k, v in body.items() if k != "account"} if isinstance(body, dict) else body)
    except (ValueError, TypeError) as exc:
        return _json({"Message": f"Invalid control request: {exc}"}, 400)
    SandboxAccount.objects.filter(pk=account.pk).update(**updates)
    account.refresh_from_db()
    return _json({name: getattr(account, name) for name in FAULT_FIELDS})


@csrf_exempt
def control_deliver(request: HttpRequest) -> JsonResponse:
    """POST: send an account's pending webhook calls now (see `control_account`); answers what was sent."""
    account = control_account(request)
    if not isinstance(account, SandboxAccount):
        return account
    if request.method != "POST":
        return _json({"Message": "POST only"}, 405)
    from integrations.shipstation.sandbox.models import SandboxWebhookCall

    ids = list(
        SandboxWebhookCall.objects.filter(webhook__account=account, status="pending").values_list("id", flat=True)
    )
    calls = deliver_pending(ids)
    return _json(
        [{"id": c.pk, "body": c.body, "status": c.status, "response_status": c.response_status} for c in calls]
    )
