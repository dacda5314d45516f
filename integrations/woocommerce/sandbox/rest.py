"""REST v3 of a sandbox store: `/sandbox/woocommerce/<store>/wp-json/wc/v3/<route>`.

Written from WooCommerce's REST API docs (tests/specs/woocommerce/official-docs-wp-api-v3) and WOO.md §3:
- Auth: HTTP Basic (consumer key as user, secret as password) or `consumer_key`/`consumer_secret`
  in the query string. Bad key → 401 `woocommerce_rest_authentication_error` "Consumer key is
  invalid."; bad secret → "Consumer secret is invalid."; no credentials → the request runs as an
  anonymous user and the route's permission check answers 401 `woocommerce_rest_cannot_view` (or
  `_cannot_create`/`_cannot_edit`/`_cannot_delete`); a read-only key writing → 401 "The API key
  provided does not have write permissions." (class-wc-rest-authentication.php, check_permissions).
  The sandbox stands in for an HTTPS store, so Basic is accepted over the test server's plain HTTP.
- Paging: `page`, `per_page` (1-100, else 400 rest_invalid_param), `offset`; headers X-WP-Total,
  X-WP-TotalPages and Link; a page past the end → 400 `rest_post_invalid_page_number`.
- Orders filter by status, customer, search, after/before and modified_after/modified_before
  (ISO 8601; `dates_are_gmt` accepted; the sandbox site's time zone is UTC so both agree).
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt

from connector.sandbox.access import is_allowed_callback

from .delivery import ping
from .faults import roll
from .models import SandboxApiKey, SandboxCustomer, SandboxOrder, SandboxProduct, SandboxStore, SandboxWebhook
from .refunds import create_refund, refund_json
from .store import (
    SandboxError,
    add_note,
    create_customer,
    create_order,
    create_product,
    invalid_param,
    note_json,
    update_order,
    update_product,
    wc_time,
)

TOPIC = re.compile(r"^(coupon|customer|order|product)\.(created|updated|deleted|restored)$|^action\.[a-z0-9_]+$")
TOPIC_HOOKS = {
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "customer.created": ["user_register", "woocommerce_created_customer", "woocommerce_api_create_customer"],
}
NO_ROUTE = SandboxError(404, "rest_no_route", "No route was found matching the URL and request method.")


def error_response(exc: SandboxError) -> JsonResponse:
    return JsonResponse(exc.body(), status=exc.status)


def index(request: HttpRequest, store: str) -> JsonResponse:
    """`GET <site>/wp-json/`: WordPress's public REST index, which our connect check reads.

    Shape from WordPress core, WP_REST_Server::get_index() (wp-includes/rest-api/class-wp-rest-server.php):
    `name`, `description`, `url`, `home`, `gmt_offset`, `timezone_string`, `namespaces` (each
    registered namespace; WooCommerce adds `wc/v1`..`wc/v3`, the Shipment Tracking extension its
    own), `authentication` and `routes` (left empty here: nothing reads them). No keys needed.
    """
    from . import tracking

    shop = SandboxStore.objects.filter(slug=store).first()
    if shop is None:
        return error_response(NO_ROUTE)
    site = request.build_absolute_uri(request.path.split("/wp-json/")[0])
    namespaces = ["oembed/1.0", "wc/v1", "wc/v2", "wc/v3", "wp/v2"]
    if tracking.enabled(shop):
        namespaces.insert(4, "wc-shipment-tracking/v3")
    body = {
        "name": shop.name,
        "description": "",
        "url": site,
        "home": site,
        "gmt_offset": "0",
        "timezone_string": "UTC",
        "namespaces": namespaces,
        "authentication": {},
        "routes": {},
    }
    return JsonResponse(body)


@csrf_exempt
def api(request: HttpRequest, store: str, route: str = "") -> JsonResponse:
    shop = SandboxStore.objects.filter(slug=store).first()
    if shop is None:
        return error_response(NO_ROUTE)
    faults = shop.faults or {}
    if faults.get("latency_ms"):
        time.sleep(int(faults["latency_ms"]) / 1000)
    if roll(shop, "timeout_rate"):
        time.sleep(float(faults.get("timeout_seconds", 35)))
    if roll(shop, "error_rate"):
        body = {
            "code": "internal_server_error",
            "message": "<p>There has been a critical error on this website.</p>",
            "data": {"status": 500},
        }
        return JsonResponse(body, status=500)
    if roll(shop, "rate_429"):
        response = JsonResponse(
            {"code": "woocommerce_rest_too_many_requests", "message": "Too many requests.", "data": {"status": 429}},
            status=429,
        )
        response["Retry-After"] = str(int(faults.get("retry_after", 1)))
        return response
    try:
        key = authenticate(request, shop)
        handler, args, action = route_for(request.method, route.strip("/"))
        if key is None:
            raise SandboxError(401, f"woocommerce_rest_cannot_{action}", _anonymous_message(action))
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and key.permissions == "read":
            raise SandboxError(
                401, "woocommerce_rest_authentication_error", "The API key provided does not have write permissions."
            )
        if request.method in ("GET", "HEAD") and key.permissions == "write":
            raise SandboxError(
                401, "woocommerce_rest_authentication_error", "The API key provided does not have read permissions."
            )
        return handler(request, shop, *args)
    except SandboxError as exc:
        return error_response(exc)


def _anonymous_message(action: str) -> str:
    return {
        "view": "Sorry, you cannot list resources.",
        "create": "Sorry, you are not allowed to create resources.",
        "edit": "Sorry, you are not allowed to edit this resource.",
        "delete": "Sorry, you are not allowed to delete this resource.",
    }[action]


def authenticate(request: HttpRequest, shop: SandboxStore) -> SandboxApiKey | None:
    """The key of this request, None when anonymous; raises 401 for a wrong key or secret."""
    key = secret = ""
    header = "" if (shop.faults or {}).get("strip_authorization") else request.META.get("HTTP_AUTHORIZATION", "")
    if header.lower().startswith("basic "):
        try:
            key, _, secret = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            key = secret = ""
    if not key:
        key = request.GET.get("consumer_key", "")
        secret = request.GET.get("consumer_secret", "")
    if not key:
        return None
    found = SandboxApiKey.objects.filter(store=shop, consumer_key=key).first()
    if found is None:
        raise SandboxError(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
    if not _equal(found.consumer_secret, secret):
        raise SandboxError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
    return found


def _equal(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def route_for(method: str, route: str):
    """(handler, args, permission action) for a route, or the WordPress 404."""
    read = method in ("GET", "HEAD")
    edit = method in ("POST", "PUT", "PATCH")
    table = [
        (r"orders", {"GET": (list_orders, "view"), "POST": (post_order, "create")}),
        (r"orders/(\d+)", {"GET": (get_order, "view"), "EDIT": (put_order, "edit")}),
        (r"orders/(\d+)/notes", {"GET": (list_notes, "view"), "POST": (post_note, "create")}),
        (r"orders/(\d+)/refunds", {"GET": (list_refunds, "view"), "POST": (post_refund, "create")}),
        (r"customers", {"GET": (list_customers, "view"), "POST": (post_customer, "create")}),
        (r"customers/(\d+)", {"GET": (get_customer, "view")}),
        (r"products", {"GET": (list_products, "view"), "POST": (post_product, "create")}),
        (r"products/(\d+)", {"GET": (get_product, "view"), "EDIT": (put_product, "edit")}),
        (r"products/batch", {"EDIT": (batch_products, "edit")}),
        (r"webhooks", {"GET": (list_webhooks, "view"), "POST": (post_webhook, "create")}),
        (
            r"webhooks/(\d+)",
            {"GET": (get_webhook, "view"), "EDIT": (put_webhook, "edit"), "DELETE": (delete_webhook, "delete")},
        ),
        (r"system_status", {"GET": (system_status, "view")}),
    ]
    for pattern, methods in table:
        match = re.fullmatch(pattern, route)
        if not match:
            continue
        if read and "GET" in methods:
            handler, action = methods["GET"]
        elif edit and "EDIT" in methods:
            handler, action = methods["EDIT"]
        elif method in methods:
            handler, action = methods[method]
        else:
            break
        return handler, match.groups(), action
    raise NO_ROUTE


# --- Helpers -------------------------------------------------------------------------------------


def _json_body(request: HttpRequest) -> dict:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except ValueError as exc:
        raise SandboxError(400, "rest_invalid_json", "Invalid JSON body passed.", details={}) from exc
    if not isinstance(body, dict):
        raise SandboxError(400, "rest_invalid_json", "Invalid JSON body passed.")
    return body


def _int_param(request: HttpRequest, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.GET.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise invalid_param(name, f"{name} is not of type integer.") from exc
    if value < low or (high is not None and value > high):
        bound = f"between {low} (inclusive) and {high} (inclusive)" if high else f"greater than or equal to {low}"
        raise invalid_param(name, f"{name} must be {bound}")
    return value


def _date_param(request: HttpRequest, name: str) -> datetime | None:
    raw = request.GET.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid_param(name, "Invalid date.") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _links(request: HttpRequest, collection: str, item_id: int | None = None) -> dict:
    base = request.build_absolute_uri(request.path.split("/wp-json/wc/v3/")[0] + "/wp-json/wc/v3/" + collection)
    links = {"collection": [{"href": base}]}
    if item_id is not None:
        links["self"] = [{"href": f"{base}/{item_id}"}]
    return links


def _with_links(request: HttpRequest, collection: str, data: dict) -> dict:
    return {**data, "_links": _links(request, collection, data.get("id"))}


def _paged(request: HttpRequest, queryset, collection: str, render) -> JsonResponse:
    per_page = _int_param(request, "per_page", 10, 1, 100)
    page = _int_param(request, "page", 1, 1)
    offset = _int_param(request, "offset", (page - 1) * per_page, 0)
    total = queryset.count()
    pages = math.ceil(total / per_page) if total else 0
    if total and page > pages:
        raise SandboxError(
            400,
            "rest_post_invalid_page_number",
            "The page number requested is larger than the number of pages available.",
        )
    items = [_with_links(request, collection, render(obj)) for obj in queryset[offset : offset + per_page]]
    response = JsonResponse(items, safe=False)
    response["X-WP-Total"] = str(total)
    response["X-WP-TotalPages"] = str(pages)
    links = []
    base = request.build_absolute_uri(request.path)
    query = {k: v for k, v in request.GET.items() if k not in ("consumer_key", "consumer_secret")}
    if page > 1:
        links.append(f'<{base}?{urlencode({**query, "page": page - 1})}>; rel="prev"')
    if page < pages:
        links.append(f'<{base}?{urlencode({**query, "page": page + 1})}>; rel="next"')
    if links:
        response["Link"] = ", ".join(links)
    return response


def _order_by(request: HttpRequest, queryset, fields: dict, *, orderby: str = "date", order: str = "desc"):
    order = request.GET.get("order", order)
    if order not in ("asc", "desc"):
        raise invalid_param("order", "order is not one of asc, desc.")
    orderby = request.GET.get("orderby", orderby)
    if orderby not in fields:
        raise invalid_param("orderby", f"orderby is not one of {', '.join(fields)}.")
    prefix = "-" if order == "desc" else ""
    return queryset.order_by(f"{prefix}{fields[orderby]}", f"{prefix}id")


# --- Orders --------------------------------------------------------------------------------------


def list_orders(request: HttpRequest, shop: SandboxStore) -> JsonResponse:
    orders = SandboxOrder.objects.filter(store=shop)
    statuses = [s for s in request.GET.get("status", "any").split(",") if s]
    if statuses and "any" not in statuses:
        orders = orders.filter(status__in=statuses)
    else:
        orders = orders.exclude(status="trash")
    for name, lookup in (
        ("after", "date_created_gmt__gt"),
        ("before", "date_created_gmt__lt"),
        ("modified_after", "date_modified_gmt__gt"),
        ("modified_before", "date_modified_gmt__lt"),
    ):
        value = _date_param(request, name)
        if value is not None:
            orders = orders.filter(**{lookup: value})
    if request.GET.get("customer"):
        customer = _int_param(request, "customer", 0, 0)
        orders = [o.pk for o in orders if o.data.get("customer_id") == customer]
        orders = SandboxOrder.objects.filter(pk__in=orders)
    if request.GET.get("search"):
        term = request.GET["search"].lower()
        orders = SandboxOrder.objects.filter(pk__in=[o.pk for o in orders if term in json.dumps(o.data).lower()])
    fields = {"date": "date_created_gmt", "id": "id", "modified": "date_modified_gmt", "include": "id"}
    return _paged(request, _order_by(request, orders, fields), "orders", lambda o: o.data)


def _order(shop: SandboxStore, order_id: str) -> SandboxOrder:
    order = SandboxOrder.objects.filter(store=shop, pk=int(order_id)).first()
    if order is None:
        raise SandboxError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
    return order


def get_order(request: HttpRequest, shop: SandboxStore, order_id: str) -> JsonResponse:
    return JsonResponse(_with_links(request, "orders", _order(shop, order_id).data))


def post_order(request: HttpRequest, shop: SandboxStore) -> JsonResponse:
    order = create_order(shop, _json_body(request))
    return JsonResponse(_with_links(request, "orders", order.data), status=201)


def put_order(request: HttpRequest, shop: SandboxStore, order_id: str) -> JsonResponse:
    order = update_order(shop, _order(shop, order_id), _json_body(request))
    return JsonResponse(_with_links(request, "orders", order.data))


def list_notes(request: HttpRequest, shop: SandboxStore, order_id: str) -> JsonResponse:
    order = _order(shop, order_id)
    return JsonResponse([note_json(n) for n in order.notes.order_by("-id")], safe=False)


def post_note(request: HttpRequest, shop: SandboxStore, order_id: str) -> JsonResponse:
    note = add_note(_order(shop, order_id), _json_body(request))
    return JsonResponse(note_json(note), status=201)


def list_refunds(request: HttpRequest, shop: SandboxStore, order_id: str) -> JsonResponse:
    order = _order(shop, order_id)
    return JsonResponse([refund_json(r) for r in order.refund_rows.order_by("-id")], safe=False)


def post_refund(request: HttpRequest, shop: SandboxStore, order_id: str) -> JsonResponse:
    refund = create_refund(shop, _order(shop, order_id), _json_body(request))
    return JsonResponse(refund_json(refund), status=201)


# --- Customers and products -----------------------------------------------------------------------


def list_customers(request: HttpRequest, shop: SandboxStore) -> JsonResponse:
    customers = SandboxCustomer.objects.filter(store=shop)
    if request.GET.get("email"):
        customers = customers.filter(email=request.GET["email"].strip().lower())
    fields = {"id": "id", "include": "id", "name": "email", "registered_date": "date_created_gmt"}
    ordered = _order_by(request, customers, fields, orderby="name", order="asc")
    return _paged(request, ordered, "customers", lambda c: c.data)


def get_customer(request: HttpRequest, shop: SandboxStore, customer_id: str) -> JsonResponse:
    customer = SandboxCustomer.objects.filter(store=shop, pk=int(customer_id)).first()
    if customer is None:
        raise SandboxError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
    return JsonResponse(_with_links(request, "customers", customer.data))


def post_customer(request: HttpRequest, shop: SandboxStore) -> JsonResponse:
    customer = create_customer(shop, _json_body(request))
    return JsonResponse(_with_links(request, "customers", customer.data), status=201)


def list_products(request: HttpRequest, shop: SandboxStore) -> JsonResponse:
    products = SandboxProduct.objects.filter(store=shop)
    if request.GET.get("sku"):
        products = products.filter(sku__in=[s.strip() for s in request.GET["sku"].split(",")])
    fields = {"date": "id", "id": "id", "include": "id", "title": "id", "slug": "id"}
    return _paged(request, _order_by(request, products, fields), "products", lambda p: p.data)


def get_product(request: HttpRequest, shop: SandboxStore, product_id: str) -> JsonResponse:
    product = SandboxProduct.objects.filter(store=shop, pk=int(product_id)).first()
    if product is None:
        raise SandboxError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    return JsonResponse(_with_links(request, "products", product.data))


def post_product(request: HttpRequest, shop: SandboxStore) -> JsonResponse:
    product = create_product(shop, _json_body(request))
    return JsonResponse(_with_links(request, "products", product.data), status=201)


def _product_or_404(shop: SandboxStore, product_id) -> SandboxProduct:
    product = SandboxProduct.objects.filter(store=shop, pk=int(product_id)).first()
    if product is None:
        raise SandboxError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    return product


def put_product(request: HttpRequest, shop: SandboxStore, product_id: str) -> JsonResponse:
    product = update_product(shop, _product_or_404(shop, product_id), _json_body(request))
    return JsonResponse(_with_links(request, "products", product.data))


BATCH_LIMIT = 100  # _products.md "Batch update products": up to 100 objects per request by default


def batch_products(request: HttpRequest, shop: SandboxStore) -> JsonResponse:
    """POST products/batch: `update` only (create/delete are not modelled). Each item succeeds or
    carries its own `error`, as WooCommerce's batch controller answers; over 100 items is a 413."""
    body = _json_body(request)
    if set(body) - {"update"}:
        raise SandboxError(400, "rest_invalid_param", "The sandbox store batch-updates products only.")
    updates = body.get("update") or []
    if not isinstance(updates, list):
        raise invalid_param("update", "update is not of type array.")
    if len(updates) > BATCH_LIMIT:
        raise SandboxError(
            413,
            "woocommerce_rest_request_entity_too_large",
            f"Unable to accept more than {BATCH_LIMIT} items for this request.",
        )
    answers = []
    for item in updates:
        item_id = item.get("id") if isinstance(item, dict) else None
        try:
            with transaction.atomic():
                product = update_product(shop, _product_or_404(shop, item_id or 0), item)
            answers.append(_with_links(request, "products", product.data))
        except (SandboxError, TypeError, ValueError) as exc:
            error = exc if isinstance(exc, SandboxError) else SandboxError(400, "rest_invalid_param", "Invalid ID.")
            answers.append({"id": item_id or 0, "error": error.body()})
    return JsonResponse({"update": answers})


# --- Webhooks ------------------------------------------------------------------------------------


def webhook_json(hook: SandboxWebhook) -> dict:
    resource, _, event = hook.topic.partition(".")
    return {
        "id": hook.pk,
        "name": hook.name,
        "status": hook.status,
        "topic": hook.topic,
        "resource": resource,
        "event": event,
        "hooks": TOPIC_HOOKS.get(hook.topic, []),
        "delivery_url": hook.delivery_url,
        "date_created": wc_time(hook.date_created_gmt),
        "date_created_gmt": wc_time(hook.date_created_gmt),
        "date_modified": wc_time(hook.date_modified_gmt),
        "date_modified_gmt": wc_time(hook.date_modified_gmt),
    }


def _webhook(shop: SandboxStore, hook_id: str) -> SandboxWebhook:
    hook = SandboxWebhook.objects.filter(store=shop, pk=int(hook_id)).first()
    if hook is None:
        raise SandboxError(404, "woocommerce_rest_webhook_invalid_id", "Invalid webhook ID.")
    return hook


def _valid_delivery_url(value) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
        raise invalid_param("delivery_url", "Invalid URL.")
    if not is_allowed_callback(value):  # the sandbox only ever calls this server or loopback
        raise invalid_param("delivery_url", "The sandbox delivers only under PUBLIC_BASE_URL or to a loopback host.")
    return value


def list_webhooks(request: HttpRequest, shop: SandboxStore) -> JsonResponse:
    hooks = SandboxWebhook.objects.filter(store=shop)
    status = request.GET.get("status", "all")
    if status not in ("all", "active", "paused", "disabled"):
        raise invalid_param("status", "status is not one of all, active, paused, disabled.")
    if status != "all":
        hooks = hooks.filter(status=status)
    fields = {"date": "date_created_gmt", "id": "id", "include": "id", "title": "name", "slug": "name"}
    return _paged(request, _order_by(request, hooks, fields), "webhooks", webhook_json)


def get_webhook(request: HttpRequest, shop: SandboxStore, hook_id: str) -> JsonResponse:
    return JsonResponse(_with_links(request, "webhooks", webhook_json(_webhook(shop, hook_id))))


def post_webhook(request: HttpRequest, shop: SandboxStore) -> JsonResponse:
    body = _json_body(request)
    missing = [k for k in ("topic", "delivery_url") if not body.get(k)]
    if missing:
        raise SandboxError(
            400, "rest_missing_callback_param", f"Missing parameter(s): {', '.join(missing)}", params=missing
        )
    if not isinstance(body["topic"], str) or not TOPIC.match(body["topic"]):
        raise SandboxError(400, "woocommerce_rest_webhook_invalid_topic", "Webhook topic is invalid.")
    status = body.get("status", "active")
    if status not in ("active", "paused", "disabled"):
        raise invalid_param("status", "status is not one of active, paused, disabled.")
    with transaction.atomic():
        hook = SandboxWebhook.objects.create(
            store=shop,
            name=str(body.get("name") or body["topic"]),
            topic=body["topic"],
            status=status,
            delivery_url=_valid_delivery_url(body["delivery_url"]),
            secret=str(body.get("secret") or ""),
        )
    # The REST controller pings right after creating; the answer stays 201 even if the ping fails.
    ping(hook)
    return JsonResponse(_with_links(request, "webhooks", webhook_json(hook)), status=201)


def put_webhook(request: HttpRequest, shop: SandboxStore, hook_id: str) -> JsonResponse:
    hook = _webhook(shop, hook_id)
    body = _json_body(request)
    if "status" in body:
        if body["status"] not in ("active", "paused", "disabled"):
            raise invalid_param("status", "status is not one of active, paused, disabled.")
        if body["status"] == "active" and hook.status != "active":
            hook.failure_count = 0  # a re-activated webhook starts counting afresh
        hook.status = body["status"]
    if "delivery_url" in body:
        hook.delivery_url = _valid_delivery_url(body["delivery_url"])
    if "secret" in body:
        hook.secret = str(body["secret"] or "")
    if "name" in body:
        hook.name = str(body["name"] or "")
    if "topic" in body:
        if not isinstance(body["topic"], str) or not TOPIC.match(body["topic"]):
            raise SandboxError(400, "woocommerce_rest_webhook_invalid_topic", "Webhook topic is invalid.")
        hook.topic = body["topic"]
    hook.date_modified_gmt = datetime.now(UTC).replace(microsecond=0)
    hook.save()
    return JsonResponse(_with_links(request, "webhooks", webhook_json(hook)))


def delete_webhook(request: HttpRequest, shop: SandboxStore, hook_id: str) -> JsonResponse:
    hook = _webhook(shop, hook_id)
    if request.GET.get("force") not in ("true", "1"):
        raise SandboxError(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
    data = webhook_json(hook)
    hook.delete()
    return JsonResponse(_with_links(request, "webhooks", data))


def system_status(request: HttpRequest, shop: SandboxStore) -> JsonResponse:
    home = request.build_absolute_uri(f"/sandbox/woocommerce/{shop.slug}/")
    return JsonResponse(
        {
            "environment": {"home_url": home, "site_url": home, "version": "8.9.0", "wp_version": "6.5.3"},
            "settings": {"currency": shop.currency, "api_enabled": True},
        }
    )


def get_store_or_404(slug: str) -> SandboxStore:
    return get_object_or_404(SandboxStore, slug=slug)
