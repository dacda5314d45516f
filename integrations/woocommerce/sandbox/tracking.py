"""WooCommerce's Shipment Tracking extension in a sandbox store: an optional, per-store feature.

A real store has these routes only when the extension is installed; without it WordPress answers
404 `rest_no_route`, and so does the sandbox until `enable(store)` (the store's `shipment_tracking`
setting, kept beside its knobs in `SandboxStore.faults`: a `reset` of the fault knobs removes it).

Written from WooCommerce's Shipment Tracking REST API documentation:
- woocommerce.com/document/shipment-tracking/shipment-tracking-rest-api-create-tracking-item/
  (`POST /wp-json/wc-shipment-tracking/v3/orders/<order_id>/shipment-trackings`: `tracking_number`
  required; `tracking_provider` "a provider name from the providers endpoint", or
  `custom_tracking_provider` + `custom_tracking_link`; `date_shipped` YYYY-MM-DD, today when
  omitted; 201 Created with the item and a Location header);
- woocommerce.com/document/shipment-tracking/shipment-tracking-rest-api-list-providers/
  (`GET /wp-json/wc-shipment-tracking/v3/shipment-trackings/providers`, public: regions → provider
  name → link format with %1$s tracking number, %2$s postcode, %3$s country);
- the responses page (`tracking_id`, `tracking_provider`, `tracking_link`, `tracking_number`,
  `date_shipped`; list, retrieve and delete by `tracking_id`).

Items live in the order's meta `_wc_shipment_tracking_items`, where the extension keeps them; saving
them does not touch the order's `date_modified` and sends no webhook. The same keys and permission
rules as the store's REST v3 apply (rest.authenticate).
"""

from __future__ import annotations

import re
import secrets
from datetime import date

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .models import SandboxOrder, SandboxStore
from .rest import NO_ROUTE, _anonymous_message, _json_body, authenticate, error_response
from .store import SandboxError, invalid_param

FEATURE = "shipment_tracking"
META_KEY = "_wc_shipment_tracking_items"
# A few of the extension's built-in providers (the real list is longer and filterable).
PROVIDERS: dict[str, dict[str, str]] = {
    "Australia": {"Australia Post": "https://auspost.com.au/mypost/track/#/details/%1$s"},
    "Canada": {"Canada Post": "https://www.canadapost-postescanada.ca/track-reperage/en#/details/%1$s"},
    "Germany": {
        "DHL Intraship (DE)": "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=%1$s"
    },
    "United Kingdom": {"Royal Mail": "https://www.royalmail.com/track-your-item#/tracking-results/%1$s"},
    "United States": {
        "Fedex": "https://www.fedex.com/fedextrack/?tracknumbers=%1$s",
        "UPS": "https://www.ups.com/track?tracknum=%1$s",
        "USPS": "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1=%1$s",
        "DHL US": "https://www.logistics.dhl/us-en/home/tracking/tracking-ecommerce.html?tracking-id=%1$s",
    },
}


def enable(store: SandboxStore, enabled: bool = True) -> None:
    """Install (or remove) the extension in this sandbox store."""
    store.faults = {**(store.faults or {}), FEATURE: enabled}
    store.save(update_fields=["faults"])


def enabled(store: SandboxStore) -> bool:
    return bool((store.faults or {}).get(FEATURE))


def items(order: SandboxOrder) -> list[dict]:
    for meta in order.data.get("meta_data") or []:
        if meta.get("key") == META_KEY and isinstance(meta.get("value"), list):
            return list(meta["value"])
    return []


@csrf_exempt
def api(request: HttpRequest, store: str, route: str = "") -> JsonResponse:
    shop = SandboxStore.objects.filter(slug=store).first()
    try:
        if shop is None or not enabled(shop):
            raise NO_ROUTE
        route = route.strip("/")
        if route == "shipment-trackings/providers" and request.method == "GET":
            return JsonResponse(PROVIDERS)  # public: no key needed
        match = re.fullmatch(r"orders/(\d+)/shipment-trackings(?:/([0-9a-f]+))?", route)
        if match is None:
            raise NO_ROUTE
        order_id, tracking_id = match.groups()
        action = {"GET": "view", "POST": "create", "DELETE": "delete"}.get(request.method)
        if action is None or (action == "create" and tracking_id) or (action == "delete" and not tracking_id):
            raise NO_ROUTE
        key = authenticate(request, shop)
        if key is None:
            raise SandboxError(401, f"woocommerce_rest_cannot_{action}", _anonymous_message(action))
        needed = "read" if action == "view" else "write"
        if key.permissions not in (needed, "read_write"):
            raise SandboxError(
                401,
                "woocommerce_rest_authentication_error",
                f"The API key provided does not have {needed} permissions.",
            )
        order = SandboxOrder.objects.filter(store=shop, pk=int(order_id)).first()
        if order is None:
            raise SandboxError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        if action == "create":
            return _create(request, order)
        if action == "delete":
            return JsonResponse(_item_json(request, order, _delete(order, tracking_id)))
        if tracking_id:
            return JsonResponse(_item_json(request, order, _find(order, tracking_id)))
        return JsonResponse([_item_json(request, order, item) for item in items(order)], safe=False)
    except SandboxError as exc:
        return error_response(exc)


def _find(order: SandboxOrder, tracking_id: str) -> dict:
    for item in items(order):
        if item.get("tracking_id") == tracking_id:
            return item
    raise SandboxError(404, "woocommerce_rest_order_invalid_id", "Invalid tracking ID.")


def _link_format(provider: str) -> str:
    for group in PROVIDERS.values():
        if provider in group:
            return group[provider]
    return ""


def _item_json(request: HttpRequest, order: SandboxOrder, item: dict) -> dict:
    shipping = order.data.get("shipping") or {}
    link = (item.get("custom_tracking_link") or _link_format(item.get("tracking_provider", ""))).replace(
        "%1$s", item["tracking_number"]
    )
    link = link.replace("%2$s", str(shipping.get("postcode", "")).replace(" ", "")).replace(
        "%3$s", str(shipping.get("country", ""))
    )
    base = request.build_absolute_uri(
        request.path.split("/wp-json/")[0] + f"/wp-json/wc-shipment-tracking/v3/orders/{order.pk}/shipment-trackings"
    )
    return {
        "tracking_id": item["tracking_id"],
        "tracking_provider": item.get("custom_tracking_provider") or item.get("tracking_provider", ""),
        "tracking_link": link,
        "tracking_number": item["tracking_number"],
        "date_shipped": item.get("date_shipped", ""),
        "_links": {
            "self": [{"href": f"{base}/{item['tracking_id']}"}],
            "collection": [{"href": base}],
            "up": [{"href": base.replace("/wc-shipment-tracking/v3/", "/wc/v3/").rsplit("/", 1)[0]}],
        },
    }


def _clean(body: dict) -> dict:
    number = str(body.get("tracking_number") or "").strip()
    if not number:
        raise SandboxError(
            400, "rest_missing_callback_param", "Missing parameter(s): tracking_number", params=["tracking_number"]
        )
    item = {
        "tracking_number": number,
        "tracking_provider": "",
        "custom_tracking_provider": "",
        "custom_tracking_link": "",
    }
    provider = str(body.get("tracking_provider") or "").strip()
    custom = str(body.get("custom_tracking_provider") or "").strip()
    if provider:
        if not _link_format(provider):
            raise invalid_param("tracking_provider", "tracking_provider is not a provider of the providers endpoint.")
        item["tracking_provider"] = provider
    elif custom:
        link = str(body.get("custom_tracking_link") or "").strip()
        if not link.startswith(("https://", "http://")):
            raise invalid_param("custom_tracking_link", "custom_tracking_link must be a full URL.")
        item["custom_tracking_provider"], item["custom_tracking_link"] = custom, link
    else:
        raise invalid_param("tracking_provider", "Give tracking_provider, or custom_tracking_provider with its link.")
    shipped = str(body.get("date_shipped") or "").strip()
    try:
        item["date_shipped"] = date.fromisoformat(shipped).isoformat() if shipped else timezone.now().date().isoformat()
    except ValueError:
        raise invalid_param("date_shipped", "date_shipped must be YYYY-MM-DD.") from None
    return item


def _save(order: SandboxOrder, tracking: list[dict]) -> None:
    meta = [m for m in order.data.get("meta_data") or [] if m.get("key") != META_KEY]
    if tracking:
        meta.append({"id": order.pk * 1000 + 999, "key": META_KEY, "value": tracking})
    order.data = {**order.data, "meta_data": meta}
    order.save(update_fields=["data"])


def _create(request: HttpRequest, order: SandboxOrder) -> JsonResponse:
    item = {**_clean(_json_body(request)), "tracking_id": secrets.token_hex(16)}
    with transaction.atomic():
        order = SandboxOrder.objects.select_for_update().get(pk=order.pk)
        _save(order, [*items(order), item])
    data = _item_json(request, order, item)
    response = JsonResponse(data, status=201)
    response["Location"] = data["_links"]["self"][0]["href"]
    return response


def _delete(order: SandboxOrder, tracking_id: str) -> dict:
    with transaction.atomic():
        order = SandboxOrder.objects.select_for_update().get(pk=order.pk)
        found = _find(order, tracking_id)
        _save(order, [i for i in items(order) if i.get("tracking_id") != tracking_id])
    return found
