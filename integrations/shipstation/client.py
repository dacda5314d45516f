"""ShipStation V1 client (and the small V2 part we use), on the shared ApiClient (DESIGN §6).

V1: HTTP Basic key:secret against https://ssapi.shipstation.com, 40 requests/min per key pair, with
``X-Rate-Limit-Limit/Remaining/Reset`` on every response (SHIPSTATION.md §A1-A2). V2: ``API-Key`` header
against https://api.shipstation.com, 200/min, ``Retry-After`` on 429 (§B1-B2).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import unquote

import requests
from requests.auth import HTTPBasicAuth

from connector.http import ApiClient, Origin, Permanent, origin_of
from connector.ratelimit import Limit
from integrations.shipstation import timeutil

V1_BASE_URL = "https://ssapi.shipstation.com"
V2_BASE_URL = "https://api.shipstation.com"
V1_ORIGIN = origin_of(V1_BASE_URL)
#: ShipStation's own V1 API hosts, by exact pattern: `ssapi.shipstation.com` and the numbered
#: `ssapi<N>.shipstation.com`. Real V1 webhook bodies point at them, e.g. SHIP_NOTIFY with
#: `https://ssapi6.shipstation.com/shipments?batchId=...&includeShipmentItems=False` (a captured body in
#: public ERPNext integration code), and the hookdeck/webhook-skills ShipStation guide
#: (github.com/hookdeck/webhook-skills) notes that resource_url hosts are numbered (ssapi1, ssapi2, ...).
#: The webhook model (https://www.shipstation.com/docs/api/models/webhook/) says to fetch resource_url
#: with the API's Basic credentials. Only https on port 443, and only for a production connection.
V1_POINTER_HOST = re.compile(r"ssapi(?:[1-9][0-9]?)?\.shipstation\.com")
MAX_PAGE_SIZE = 500  # orders: documented; shipments/customers: assumed the same (SHIPSTATION.md Part D)
MAX_BATCH = 100  # createorders


def key_fingerprint(api_key: str) -> str:
    """Names a key pair in Redis bucket keys without putting the key itself there."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class BatchResult:
    """One entry of ``createorders``'s per-order results."""

    order_number: str
    order_key: str
    order_id: int | None
    success: bool
    error: str = ""


def with_shipment_items(query: str) -> str:
    """`query` with `includeShipmentItems=true` in place of whatever value it gave; the other parameters
    are kept byte for byte."""
    kept = [p for p in query.split("&") if p and unquote(p.partition("=")[0]).lower() != "includeshipmentitems"]
    return "&".join([*kept, "includeShipmentItems=true"])


class ShipStationClient(ApiClient):
    system = "shipstation"
    rate_limit: ClassVar[Limit | None] = Limit(40, 60)
    #: Slots kept back from the vendor's `Remaining`: another worker may have one call in flight
    #: that the vendor has not counted yet. Costs at most 1 call per window, saves a 429 per window.
    limit_margin: ClassVar[int] = 1

    def __init__(
        self,
        base_url: str = V1_BASE_URL,
        *,
        api_key: str,
        api_secret: str,
        rate_limit: Limit | None = None,
        **kwargs: Any,
    ):
        super().__init__(base_url, account_key=key_fingerprint(api_key), **kwargs)
        self._auth = HTTPBasicAuth(api_key, api_secret)
        if rate_limit is not None:
            self.rate_limit = rate_limit  # a scaled clock for benchmarks and tests

    # Hooks -----------------------------------------------------------------------------------

    def authenticate(self, request: requests.PreparedRequest) -> None:
        self._auth(request)

    def observe_limits(self, response: requests.Response) -> None:
        if self.rate_limit is None:
            return
        remaining = _number(response.headers.get("X-Rate-Limit-Remaining"))
        reset = _number(response.headers.get("X-Rate-Limit-Reset"))
        if remaining is None:
            return
        remaining = max(0, int(remaining) - self.limit_margin) if response.status_code != 429 else 0
        # The shared bucket only ever moves down to the vendor's count (after crediting its refill).
        self.limiter.observe(self.rate_limit_key(), self.rate_limit, remaining=remaining, reset_in=reset or 0)

    def retry_after(self, response: requests.Response) -> float:
        for header in ("Retry-After", "X-Rate-Limit-Reset"):
            value = _number(response.headers.get(header))
            if value is not None:
                return max(0.0, value)
        return 60.0

    def error_message(self, response: requests.Response) -> str:
        message = super().error_message(response)
        try:
            body = response.json()
        except ValueError:
            return message
        if isinstance(body, dict) and isinstance(body.get("ModelState"), dict):
            details = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in body["ModelState"].items())
            return f"{message} {details}".strip()[:500]
        return message

    # Pointers --------------------------------------------------------------------------------

    def accepts_pointer_origin(self, origin: Origin) -> bool:
        """Production V1 pointers may name any of ShipStation's own API hosts (https, port 443); a
        sandbox connection accepts only its base host and the alias it was given. Either way the URL
        followed is rebuilt on our base host (ApiClient.pointer_url)."""
        if super().accepts_pointer_origin(origin):
            return True
        return (
            self.origin == V1_ORIGIN
            and origin.scheme == "https"
            and origin.port == 443
            and V1_POINTER_HOST.fullmatch(origin.host) is not None
        )

    def check_pointer(self, url: str) -> str:
        """The URL a webhook `resource_url` is followed at (rebuilt on our base host), or RefusedURL.

        A shipments pointer always asks for the shipment items: SHIP_NOTIFY says
        `includeShipmentItems=False`, and a shipment without its lines reads as one that shipped
        everything (a poll and a fetch ask for them too)."""
        followed = self.pointer_url(url)
        path, _, query = followed[len(self.origin.url) :].partition("?")
        if unquote(path).rstrip("/").lower() != f"{self.base_path.rstrip('/')}/shipments".lower():
            return followed
        return f"{self.origin.url}{path}?{with_shipment_items(query)}"

    def follow(self, resource_url: str) -> Iterator[dict]:
        """Every object behind a webhook pointer (an orders or shipments list), following its pages."""
        url = self.check_pointer(resource_url)
        page = 1
        while True:
            body = self.request_json("GET", url, params={"page": page} if page > 1 else None)
            items = _list_items(body)
            yield from items
            if page >= int(body.get("pages") or 1):
                return
            page += 1

    # Paging ----------------------------------------------------------------------------------

    def _pages(self, path: str, key: str, params: dict) -> Iterator[dict]:
        page = 1
        while True:
            body = self.request_json("GET", path, params={**params, "page": page, "pageSize": MAX_PAGE_SIZE})
            if not isinstance(body, dict) or not isinstance(body.get(key), list):
                raise Permanent(f"ShipStation answered {path} without a {key!r} list")
            yield from body[key]
            if page >= int(body.get("pages") or 0):
                return
            page += 1

    # Account ---------------------------------------------------------------------------------

    def list_tags(self) -> list[dict]:
        return self.request_json("GET", "accounts/listtags") or []

    def list_stores(self) -> list[dict]:
        return self.request_json("GET", "stores") or []

    # Orders ----------------------------------------------------------------------------------

    def list_orders(
        self, *, modified_since: datetime | None = None, modified_until: datetime | None = None, **filters: Any
    ) -> Iterator[dict]:
        params = {"sortBy": "ModifyDate", "sortDir": "ASC", **filters}
        if modified_since is not None:
            params["modifyDateStart"] = timeutil.to_filter(modified_since)
        if modified_until is not None:
            params["modifyDateEnd"] = timeutil.to_filter_end(modified_until)
        return self._pages("orders", "orders", params)

    def get_order(self, order_id: int | str) -> dict:
        return self.request_json("GET", f"orders/{int(order_id)}")

    def create_order(self, order: dict) -> dict:
        """Create, or update when `orderKey` names an existing open order (the upsert key)."""
        return self.request_json("POST", "orders/createorder", json=order)

    def create_orders(self, orders: list[dict]) -> list[BatchResult]:
        """Create/update many, in batches of at most 100; one result per order (errors are per order)."""
        results: list[BatchResult] = []
        for start in range(0, len(orders), MAX_BATCH):
            body = self.request_json("POST", "orders/createorders", json=orders[start : start + MAX_BATCH])
            for item in (body or {}).get("results") or []:
                results.append(
                    BatchResult(
                        order_number=str(item.get("orderNumber") or ""),
                        order_key=str(item.get("orderKey") or ""),
                        order_id=item.get("orderId") or None,
                        success=bool(item.get("success")),
                        error=str(item.get("errorMessage") or ""),
                    )
                )
        return results

    def mark_as_shipped(
        self, order_id: int, *, carrier_code: str, ship_date: str, tracking_number: str = "", notify: bool = False
    ) -> dict:
        return self.request_json(
            "POST",
            "orders/markasshipped",
            json={
                "orderId": int(order_id),
                "carrierCode": carrier_code,
                "shipDate": ship_date,
                "trackingNumber": tracking_number,
                "notifyCustomer": notify,
                "notifySalesChannel": notify,
            },
        )

    # Shipments -------------------------------------------------------------------------------

    def list_shipments(
        self,
        *,
        date_field: str = "createDate",
        since: datetime | None = None,
        until: datetime | None = None,
        include_items: bool = True,
        **filters: Any,
    ) -> Iterator[dict]:
        """Shipments by `createDate`, `shipDate` or `voidDate` (voids fire no webhook: poll them)."""
        if date_field not in ("createDate", "shipDate", "voidDate"):
            raise ValueError(f"unknown shipment date filter {date_field!r}")
        params: dict[str, Any] = {"includeShipmentItems": "true" if include_items else "false", **filters}
        if date_field != "voidDate":
            params["sortBy"] = "CreateDate" if date_field == "createDate" else "ShipDate"
            params["sortDir"] = "ASC"
        if since is not None:
            params[f"{date_field}Start"] = timeutil.to_filter(since)
        if until is not None:
            params[f"{date_field}End"] = timeutil.to_filter_end(until)
        return self._pages("shipments", "shipments", params)

    # Customers and products ------------------------------------------------------------------

    def list_customers(self, **filters: Any) -> Iterator[dict]:
        return self._pages("customers", "customers", {"sortBy": "ModifyDate", "sortDir": "ASC", **filters})

    def get_customer(self, customer_id: int | str) -> dict:
        return self.request_json("GET", f"customers/{int(customer_id)}")

    def list_products(self, **filters: Any) -> Iterator[dict]:
        return self._pages("products", "products", filters)

    def get_product(self, product_id: int | str) -> dict:
        return self.request_json("GET", f"products/{int(product_id)}")

    def get_product_by_sku(self, sku: str) -> dict | None:
        for product in self.list_products(sku=sku):
            if product.get("sku") == sku:
                return product
        return None

    # Webhooks --------------------------------------------------------------------------------

    def subscribe_webhook(
        self, target_url: str, event: str, *, friendly_name: str = "", store_id: int | None = None
    ) -> int:
        body: dict[str, Any] = {"target_url": target_url, "event": event, "friendly_name": friendly_name}
        if store_id is not None:
            body["store_id"] = store_id
        return int(self.request_json("POST", "webhooks/subscribe", json=body)["id"])

    def list_webhooks(self) -> list[dict]:
        return (self.request_json("GET", "webhooks") or {}).get("webhooks") or []

    def unsubscribe_webhook(self, webhook_id: int | str) -> None:
        self.request("DELETE", f"webhooks/{int(webhook_id)}")


class ShipStationV2Client(ApiClient):
    """V2 (`API-Key` header): inventory levels, webhooks; a V2-only connection's live key check."""

    system = "shipstation_v2"
    rate_limit: ClassVar[Limit | None] = Limit(200, 60)

    def __init__(self, base_url: str = V2_BASE_URL, *, api_key: str, **kwargs: Any):
        super().__init__(base_url, account_key=key_fingerprint(api_key), **kwargs)
        self._api_key = api_key

    def authenticate(self, request: requests.PreparedRequest) -> None:
        request.headers["API-Key"] = self._api_key

    def observe_limits(self, response: requests.Response) -> None:
        """V2 documents only `Retry-After` (§B2); `X-Rate-Limit-*` is used only when present."""
        remaining = _number(response.headers.get("X-Rate-Limit-Remaining"))
        if remaining is None or self.rate_limit is None:
            return
        reset = _number(response.headers.get("X-Rate-Limit-Reset")) or 0
        self.limiter.observe(self.rate_limit_key(), self.rate_limit, remaining=int(remaining), reset_in=reset)

    def error_message(self, response: requests.Response) -> str:
        """V2 errors: `{request_id, errors: [{error_source, error_type, error_code, message}]}` (V2-OAS)."""
        try:
            body = response.json()
        except ValueError:
            return super().error_message(response)
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            parts = [
                f"{e.get('message', '')} ({e.get('error_code', '')}, source {e.get('error_source', '')})"
                for e in body["errors"]
                if isinstance(e, dict)
            ]
            return "; ".join(parts)[:500] or f"HTTP {response.status_code}"
        return super().error_message(response)

    # Webhooks (`/v2/environment/webhooks`, §B4) ----------------------------------------------

    def list_webhooks(self) -> list[dict]:
        body = self.request_json("GET", "v2/environment/webhooks")
        return body if isinstance(body, list) else []

    def create_webhook(self, url: str, event: str, *, headers: list[dict] | None = None) -> dict:
        payload: dict[str, Any] = {"event": event, "url": url}
        if headers:
            payload["headers"] = headers
        return self.request_json("POST", "v2/environment/webhooks", json=payload)

    def delete_webhook(self, webhook_id: str) -> None:
        if not webhook_id.startswith("se-"):
            raise ValueError(f"not a V2 webhook id: {webhook_id!r}")
        self.request("DELETE", f"v2/environment/webhooks/{webhook_id}")

    def update_webhook_url(self, webhook_id: str, url: str) -> None:
        """`PUT /v2/environment/webhooks/{webhook_id}` "Update the webhook url property" (V2-OAS, 204).
        V2 allows one URL per event, so moving a webhook is an update, not a second create."""
        if not webhook_id.startswith("se-"):
            raise ValueError(f"not a V2 webhook id: {webhook_id!r}")
        self.request("PUT", f"v2/environment/webhooks/{webhook_id}", json={"url": url})

    def list_inventory(self, *, sku: str | None = None, limit: int | None = None) -> Iterator[dict]:
        """`GET /v2/inventory` (V2-OAS getInventoryLevels); pages via `links.next.href` on our host.

        `sku` may be a comma-separated list of SKUs; `limit` is the page size."""
        params: dict[str, Any] | None = {k: v for k, v in (("sku", sku), ("limit", limit)) if v} or None
        url = "v2/inventory"
        while url:
            body = self.request_json("GET", url, params=params) or {}
            yield from body.get("inventory") or []
            url = _next_link(self, body)
            params = None  # the next link carries its own query

    def adjust_inventory(
        self,
        sku: str,
        inventory_location_id: str,
        quantity: int,
        *,
        transaction_type: str = "adjust",
        reason: str = "",
        notes: str = "",
    ) -> None:
        """`POST /v2/inventory` (V2-OAS updateSKUStockLevels, 204): "adjust" sets the on-hand quantity at
        the location to `quantity`; "increment"/"decrement" move it by `quantity`."""
        if transaction_type not in ("increment", "decrement", "adjust"):
            raise ValueError(f"unsupported inventory transaction_type {transaction_type!r}")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise ValueError(f"inventory quantity must be a whole number >= 0, not {quantity!r}")
        body: dict[str, Any] = {
            "transaction_type": transaction_type,
            "inventory_location_id": inventory_location_id,
            "sku": sku,
            "quantity": quantity,
        }
        if reason:
            body["reason"] = reason
        if notes:
            body["notes"] = notes
        self.request("POST", "v2/inventory", json=body)

    def list_inventory_locations(self) -> Iterator[dict]:
        """`GET /v2/inventory_locations` (V2-OAS listInventoryLocations); pages via `links.next.href`."""
        url = "v2/inventory_locations"
        while url:
            body = self.request_json("GET", url) or {}
            yield from body.get("inventory_locations") or []
            url = _next_link(self, body)

    def list_inventory_location_ids(self) -> list[str]:
        return [
            str(loc["inventory_location_id"])
            for loc in self.list_inventory_locations()
            if loc.get("inventory_location_id")
        ]


def _number(value: str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _next_link(client: ApiClient, body: dict) -> str:
    """V2's `links.next.href`, as the URL to call: vendor data, so it goes through the pointer guard."""
    href = ((body.get("links") or {}).get("next") or {}).get("href") or ""
    return client.pointer_url(str(href)) if href else ""


def _list_items(body: Any) -> list[dict]:
    if isinstance(body, dict):
        for key in ("orders", "shipments", "fulfillments", "customers"):
            if isinstance(body.get(key), list):
                return body[key]
    raise Permanent("the webhook's resource_url did not return an orders/shipments list")
