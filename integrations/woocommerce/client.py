"""Typed client over WooCommerce REST API v3 (`<site>/wp-json/wc/v3/`).

Sources: WooCommerce's REST API docs (https://woocommerce.github.io/woocommerce-rest-api-docs/; pages in
tests/specs/woocommerce/official-docs-wp-api-v3: _authentication.md, _introduction.md, _orders.md,
_customers.md, _products.md, _webhooks.md) and WOO.md §3.

- Auth: HTTP Basic with consumer key/secret (WooCommerce only tries Basic when WordPress sees
  HTTPS). Stores behind a proxy that drops the Authorization header get the documented
  query-string fallback (`consumer_key`/`consumer_secret`), a per-connection setting; the base
  client's `redact_url` masks both names in every logged or reported URL.
- Paging: `per_page=100` (the WordPress REST cap) and `page=`, stopping at `X-WP-TotalPages`.
- Errors: WordPress/WooCommerce bodies `{"code", "message", "data": {"status"}}` become the typed
  errors of connector.http with the vendor code kept in `vendor_code`.
- Shipment tracking: stores with WooCommerce's Shipment Tracking extension answer under their own
  namespace `<site>/wp-json/wc-shipment-tracking/v3/` (woocommerce.com/document/shipment-tracking/
  shipment-tracking-rest-api-create-tracking-item/ and .../shipment-tracking-rest-api-list-providers/):
  `GET shipment-trackings/providers` (carrier names by region → link format), `GET|POST
  orders/<id>/shipment-trackings` (`tracking_number`, `tracking_provider` or `custom_tracking_provider`
  + `custom_tracking_link`, `date_shipped` YYYY-MM-DD; 201 with `tracking_id`). A store without the
  extension answers WordPress's 404 `rest_no_route`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests

from connector.http import ApiClient, ApiError, AuthExpired, OwnURL, Permanent, RateLimited, Transient
from connector.netguard import guarded_session
from connector.ratelimit import Limit

from .auth import api_base_url, is_sandbox_store, normalize_store_url

PER_PAGE = 100
SKUS_PER_LOOKUP = 50
BATCH_SIZE = 100  # objects per batch request (_products.md: "limited to up to 100 objects")
TRACKING_API_PATH = "wp-json/wc-shipment-tracking/v3/"
WEBHOOK_TOPICS = ("order.created", "order.updated", "customer.created")


class WooNotFound(Permanent):
    """The resource does not exist (404 `woocommerce_rest_*_invalid_id`, `rest_no_route`)."""


class WooPermissionDenied(AuthExpired):
    """The key works but may not do this (read-only key, user without manage_woocommerce)."""


def wc_datetime(value: datetime) -> str:
    """ISO 8601 in UTC without offset, as WooCommerce's `*_gmt` filters expect with dates_are_gmt."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


class WooCommerceClient(ApiClient):
    system = "woocommerce"
    # WooCommerce has no API rate limit of its own; stay polite to the merchant's web server.
    rate_limit: ClassVar[Limit | None] = Limit(requests=240, per_seconds=60)

    def __init__(
        self,
        store_url: str,
        consumer_key: str,
        consumer_secret: str,
        *,
        query_string_auth: bool = False,
        **kwargs,
    ):
        self.store_url = normalize_store_url(store_url)
        if "session" not in kwargs and not is_sandbox_store(self.store_url):
            # A tenant-typed host: resolved, checked public and pinned at each call (connector.netguard).
            kwargs["session"] = guarded_session()
        super().__init__(api_base_url(self.store_url), account_key=self.store_url, **kwargs)
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self.query_string_auth = query_string_auth

    @classmethod
    def for_connection(cls, connection, **kwargs) -> WooCommerceClient:
        creds = connection.credentials or {}
        conf = connection.settings or {}
        return cls(
            conf["store_url"],
            creds.get("consumer_key", ""),
            creds.get("consumer_secret", ""),
            query_string_auth=bool(conf.get("query_string_auth")),
            **kwargs,
        )

    def __repr__(self) -> str:  # never the keys
        return f"<WooCommerceClient {self.store_url}>"

    # Hooks -------------------------------------------------------------------------------------

    def authenticate(self, request: requests.PreparedRequest) -> None:
        if self.query_string_auth:
            request.prepare_url(
                request.url, {"consumer_key": self._consumer_key, "consumer_secret": self._consumer_secret}
            )
        else:
            request.prepare_auth((self._consumer_key, self._consumer_secret))

    def classify(self, response: requests.Response) -> ApiError | None:
        status = response.status_code
        if status < 400:
            return None
        body = _json_or_none(response)
        code = body.get("code") if isinstance(body, dict) else None
        message = self.error_message(response)
        if status == 429:
            return RateLimited(f"WooCommerce rate limited: {message}", retry_after=self.retry_after(response))
        if status >= 500:
            return Transient(f"WooCommerce server error {status}: {message}", status=status, vendor_code=code)
        if status in (401, 403):
            if "write permission" in message.lower():
                return WooPermissionDenied(
                    f"WooCommerce refused the key: {message}",
                    status=status,
                    vendor_code=code,
                    remediation="The key is read-only: connect again and approve read/write access.",
                )
            if status == 403:
                return WooPermissionDenied(
                    f"WooCommerce refused the key: {message}",
                    status=status,
                    vendor_code=code,
                    remediation="The key's WordPress user needs the manage_woocommerce capability.",
                )
            hint = "Reconnect the store on the Connections page."
            if code == "woocommerce_rest_cannot_view" and not self.query_string_auth:
                # Anonymous: the key never arrived. A proxy dropping Authorization does this.
                hint = "The store did not see the key; if it is behind a proxy, turn on query-string keys."
            return AuthExpired(
                f"WooCommerce refused the key: {message}", status=status, vendor_code=code, remediation=hint
            )
        if status == 404:
            return WooNotFound(message or "not found", status=status, vendor_code=code, body=body)
        return Permanent(message or f"HTTP {status}", status=status, vendor_code=code, body=body)

    # Orders ------------------------------------------------------------------------------------

    def list_orders(
        self, *, modified_after: datetime | None = None, modified_before: datetime | None = None, status: str = "any"
    ) -> Iterator[dict]:
        """Every order modified in the window, all pages, least recently modified first.

        Ordered by modification time (`orderby=modified`, in the orders OpenAPI of
        tests/specs/woocommerce/wtx-labs-woocommerce-rest-api-openapi-3.0.yml) so an order edited
        while we page moves to the end of the list instead of shifting an unread page.
        """
        params: dict[str, Any] = {"status": status, "orderby": "modified", "order": "asc"}
        if modified_after is not None or modified_before is not None:
            params["dates_are_gmt"] = "true"
        if modified_after is not None:
            params["modified_after"] = wc_datetime(modified_after)
        if modified_before is not None:
            params["modified_before"] = wc_datetime(modified_before)
        yield from self._paged("orders", params)

    def list_orders_created(self, after: datetime, before: datetime) -> Iterator[dict]:
        """Every order created strictly between `after` and `before` (GMT), oldest first, all pages."""
        params = {"status": "any", "orderby": "date", "order": "asc", "dates_are_gmt": "true"}
        yield from self._paged("orders", {**params, "after": wc_datetime(after), "before": wc_datetime(before)})

    def get_order(self, order_id: int | str) -> dict:
        return self.request_json("GET", f"orders/{int(order_id)}")

    def update_order_status(self, order_id: int | str, status: str) -> dict:
        return self.request_json("PUT", f"orders/{int(order_id)}", json={"status": status})

    def add_order_note(self, order_id: int | str, note: str, *, customer_note: bool = False) -> dict:
        return self.request_json(
            "POST", f"orders/{int(order_id)}/notes", json={"note": note, "customer_note": customer_note}
        )

    def list_order_notes(self, order_id: int | str) -> list[dict]:
        return self.request_json("GET", f"orders/{int(order_id)}/notes") or []

    # Shipment Tracking extension ---------------------------------------------------------------

    def _tracking_url(self, path: str) -> OwnURL:
        # Beside the base path (wp-json/wc/v3/), so an own URL on the store's origin, not a pointer.
        return self.own_url(f"{self.store_url}/{TRACKING_API_PATH}{path}")

    def shipment_tracking_providers(self) -> dict[str, dict[str, str]] | None:
        """{region: {carrier name: link format}}, or None when the store has no Shipment Tracking."""
        try:
            found = self.request_json("GET", self._tracking_url("shipment-trackings/providers"))
        except WooNotFound as exc:
            if exc.vendor_code == "rest_no_route":
                return None
            raise
        return found if isinstance(found, dict) else {}

    def list_shipment_trackings(self, order_id: int | str) -> list[dict]:
        return self.request_json("GET", self._tracking_url(f"orders/{int(order_id)}/shipment-trackings")) or []

    def create_shipment_tracking(self, order_id: int | str, body: dict) -> dict:
        return self.request_json("POST", self._tracking_url(f"orders/{int(order_id)}/shipment-trackings"), json=body)

    # Customers and products --------------------------------------------------------------------

    def get_customer(self, customer_id: int | str) -> dict:
        return self.request_json("GET", f"customers/{int(customer_id)}")

    def list_customers(self, *, email: str = "") -> Iterator[dict]:
        params: dict[str, Any] = {"role": "all"}
        if email:
            params["email"] = email
        yield from self._paged("customers", params)

    def get_product_by_sku(self, sku: str) -> dict | None:
        found = self.request_json("GET", "products", params={"sku": sku, "per_page": PER_PAGE})
        return found[0] if found else None

    def list_products_by_sku(self, skus: list[str]) -> Iterator[dict]:
        """The products with these SKUs, all pages: `sku` takes a comma-separated list (the v3 products
        controller splits it on commas)."""
        plain = [sku for sku in skus if "," not in sku]
        for start in range(0, len(plain), SKUS_PER_LOOKUP):  # keeps the address short
            yield from self._paged("products", {"sku": ",".join(plain[start : start + SKUS_PER_LOOKUP])})
        for sku in skus:
            if "," in sku:  # cannot go in the list: alone
                found = self.get_product_by_sku(sku)
                if found is not None:
                    yield found

    def batch_update_products(self, updates: list[dict]) -> list[dict]:
        """POST products/batch `{"update": [...]}` (_products.md "Batch update products", at most
        BATCH_SIZE a call): one answer per item, the product or `{"id", "error": {code, message}}`."""
        if len(updates) > BATCH_SIZE:
            raise ValueError(f"WooCommerce batch-updates at most {BATCH_SIZE} products per call")
        body = self.request_json("POST", "products/batch", json={"update": updates})
        answers = (body or {}).get("update") if isinstance(body, dict) else None
        if not isinstance(answers, list):
            raise Permanent("WooCommerce answered products/batch without its `update` list.")
        return answers

    # Webhooks ----------------------------------------------------------------------------------

    def list_webhooks(self, *, status: str = "all") -> list[dict]:
        return list(self._paged("webhooks", {"status": status}))

    def create_webhook(self, *, name: str, topic: str, delivery_url: str, secret: str) -> dict:
        return self.request_json(
            "POST",
            "webhooks",
            json={"name": name, "topic": topic, "delivery_url": delivery_url, "secret": secret, "status": "active"},
        )

    def update_webhook(self, webhook_id: int | str, **fields) -> dict:
        return self.request_json("PUT", f"webhooks/{int(webhook_id)}", json=fields)

    def delete_webhook(self, webhook_id: int | str) -> dict | None:
        return self.request_json("DELETE", f"webhooks/{int(webhook_id)}", params={"force": "true"})

    def check_access(self) -> None:
        """A cheap authenticated read that proves the key works (raises a typed error otherwise)."""
        body = self.request_json("GET", "orders", params={"per_page": 1})
        if not isinstance(body, list):
            raise Permanent(
                "The address answered, but not like a WooCommerce store.",
                remediation="Check the store address and that pretty permalinks are on in WordPress.",
            )

    # Mechanics ---------------------------------------------------------------------------------

    def _paged(self, path: str, params: dict) -> Iterator[dict]:
        page = 1
        while True:
            response = self.request("GET", path, params={**params, "per_page": PER_PAGE, "page": page})
            try:
                items = response.json()
            except ValueError as exc:
                raise Transient(f"WooCommerce answered {path} with a body that is not JSON") from exc
            if not isinstance(items, list):
                raise Permanent(f"WooCommerce answered {path} with {type(items).__name__}, not a list")
            yield from items
            total_pages = _int_header(response, "X-WP-TotalPages")
            if not items or total_pages is None or page >= total_pages:
                return
            page += 1


def _int_header(response: requests.Response, name: str) -> int | None:
    try:
        return int(response.headers.get(name, ""))
    except ValueError:
        return None


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
