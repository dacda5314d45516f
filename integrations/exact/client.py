"""Exact Online REST client (EXACT.md §3-6) on the shared ApiClient.

- Bearer token from the connection, refreshed first under the row lock (oauth.py).
- Base `<host>/api/v1/<division>/`; `current/Me` has no division. JSON always (`Accept`), OData v2
  envelopes `{"d": {"results": [...], "__next": url}}`; `__next` is followed through the pointer
  guard: only on the connection's host, rebuilt from our base URL (ApiClient.pointer_url).
- Two shared Redis buckets per company (division): 60 calls a minute and 5,000 a day (§3.1),
  corrected from `X-RateLimit-*` headers whose resets are epoch MILLISECONDS (§3.2). A 429 blocks
  the bucket until the reset (+1 s and jitter). A 4xx is never retried: Exact blocks an endpoint
  after 10 errors an hour (§3.1); that block (a 429 naming no limit) becomes `EndpointBlocked`.
- Mandatory filtering (§5.3): plain and bulk reads of an entity with a sync API carry a `$filter`;
  full lists are read from the sync API (`sync_all`). Every collection read names its `$select`.
- Error bodies `{"error": {"code", "message": {"lang", "value"}}}` (§6.12) become typed errors.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from connector.http import ApiClient, AuthExpired, NeedsReview, Permanent, RateLimited, Transient
from connector.models import Connection
from connector.ratelimit import Limit
from integrations.exact.oauth import host, provider

MINUTELY = Limit(60, 60.0)
DAILY = Limit(5000, 86400.0, starts_full=True)  # Exact reports the day's count on every answer
DATE_RE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d+)?\)/$")


def parse_date(value: Any) -> datetime | None:
    """OData v2 `/Date(ms)/` (treated as UTC; EXACT.md §9 open point 1) → aware datetime."""
    if not value:
        return None
    match = DATE_RE.match(str(value))
    if not match:
        return None
    return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)


def odata_datetime(value: datetime) -> str:
    return "datetime'" + value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "'"


def guid_literal(value: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F-]{36}", value or ""):
        raise Permanent(f"not an Exact id: {value[:40]!r}")
    return f"guid'{value}'"


def _int_header(response: requests.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


#: Exact lifts an endpoint's error block after an hour (longer if the errors go on), EXACT.md §3.1.
ERROR_BLOCK_SECONDS = 3600.0


class EndpointBlocked(Transient):
    """Exact blocked one endpoint for this app, user and company after more than 10 errors
    (400/401/403/404) in an hour. Not a rate limit: the company's other endpoints still answer, so
    the shared minutely bucket is left alone and only the record waits the hour out."""

    def __init__(self, message: str, *, retry_after: float, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


def reset_in_seconds(reset_ms: int | None, now: float | None = None) -> float:
    """Exact's reset headers are Unix epoch milliseconds (§3.2)."""
    if reset_ms is None:
        return 0.0
    return max(0.0, reset_ms / 1000.0 - (now if now is not None else time.time()))


class ExactClient(ApiClient):
    system = "exact"
    rate_limit = MINUTELY
    max_inline_retry_after = 65.0  # a minutely 429 is worth waiting out inline

    def __init__(self, connection: Connection, *, division: int | str | None = None, **kwargs):
        self.connection = connection
        settings = connection.settings or {}
        self.host = (settings.get("base_url") or host(settings.get("country", ""))).rstrip("/")
        self.division = str(division or settings.get("division") or "")
        base = f"{self.host}/api/v1/{self.division}/" if self.division else f"{self.host}/api/v1/"
        kwargs.setdefault("per_minute", settings.get("rate_limit_per_minute"))  # a scaled clock (sandboxes)
        super().__init__(base, account_key=f"{settings.get('country', '')}:{self.division}", **kwargs)
        self.session.trust_env = False
        self.last_limits: dict[str, int | None] = {}

    # --- Hooks -----------------------------------------------------------------------------------

    def authenticate(self, request: requests.PreparedRequest) -> None:
        token = provider.access_token(self.connection)
        request.headers["Authorization"] = f"Bearer {token}"

    def rate_limit_key(self) -> str:
        return f"rl:exact:{self.account_key}:min"

    def daily_key(self) -> str:
        return f"rl:exact:{self.account_key}:day"

    def _take_slot(self) -> None:
        super()._take_slot()
        wait = self.limiter.try_acquire(self.daily_key(), DAILY)
        if wait > 0:
            raise RateLimited("Exact Online daily API limit for this company is used up.", retry_after=wait)

    def observe_limits(self, response: requests.Response) -> None:
        limits = {
            "daily_limit": _int_header(response, "X-RateLimit-Limit"),
            "daily_remaining": _int_header(response, "X-RateLimit-Remaining"),
            "daily_reset": _int_header(response, "X-RateLimit-Reset"),
            "minutely_limit": _int_header(response, "X-RateLimit-Minutely-Limit"),
            "minutely_remaining": _int_header(response, "X-RateLimit-Minutely-Remaining"),
            "minutely_reset": _int_header(response, "X-RateLimit-Minutely-Reset"),
        }
        self.last_limits = limits
        if limits["minutely_remaining"] is not None:
            self.limiter.observe(
                self.rate_limit_key(),
                self.rate_limit,
                remaining=limits["minutely_remaining"],
                reset_in=reset_in_seconds(limits["minutely_reset"]),
            )
        if limits["daily_remaining"] is not None:
            self.limiter.observe(
                self.daily_key(),
                DAILY,
                remaining=limits["daily_remaining"],
                reset_in=reset_in_seconds(limits["daily_reset"]),
            )

    def retry_after(self, response: requests.Response) -> float:
        # On a 429 Exact sends only the headers of the limit that was hit (§3.3).
        minutely = _int_header(response, "X-RateLimit-Minutely-Reset")
        daily = _int_header(response, "X-RateLimit-Reset")
        if minutely is None and daily is not None:
            self.limiter.block(self.daily_key(), reset_in_seconds(daily) + 1)
        reset = minutely if minutely is not None else daily
        if reset is None:
            return 60.0
        return reset_in_seconds(reset) + 1.0 + random.uniform(0, 1.0)

    @staticmethod
    def _names_a_rate_limit(response: requests.Response) -> bool:
        return any(h in response.headers for h in ("X-RateLimit-Minutely-Reset", "X-RateLimit-Reset"))

    def error_message(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return (response.text or response.reason or "")[:500]
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            message = error.get("message")
            if isinstance(message, dict):
                return str(message.get("value") or "")[:500]
            return str(message or error.get("code") or "")[:500]
        return super().error_message(response)

    def classify(self, response: requests.Response):
        if response.status_code == 429 and not self._names_a_rate_limit(response):
            # A rate-limit 429 always carries the headers of the limit that was hit (§3.3); one with
            # neither set is the endpoint's error block.
            return EndpointBlocked(
                "Exact Online blocked this endpoint after repeated errors: " + self.error_message(response),
                retry_after=ERROR_BLOCK_SECONDS + random.uniform(0, 60.0),
                status=429,
                remediation="Exact pauses an endpoint for an hour after 10 refused calls; we retry after that.",
            )
        error = super().classify(response)
        if isinstance(error, AuthExpired):
            error.message = "Exact Online refused the access token: " + self.error_message(response)
        elif isinstance(error, Permanent) and response.status_code == 403:
            error.remediation = "The Exact user lacks the rights for this; an administrator must grant them."
        elif isinstance(error, Permanent):
            error.remediation = "Exact refused this request. Fix the data or the mapping, then replay the record."
        return error

    # --- OData helpers ---------------------------------------------------------------------------

    def _d(self, body: Any) -> Any:
        if not isinstance(body, dict) or "d" not in body:
            raise Transient('Exact Online answered without its {"d": ...} envelope')
        return body["d"]

    def iter_results(self, path: str, params: dict | None = None) -> Iterator[dict]:
        """Every row of a collection, following `__next`. The link is vendor data: it goes through the
        pointer guard (ApiClient.pointer_url), so only its path and query are used, on our own host."""
        url: str | None = path
        query = params
        while url:
            d = self._d(self.request_json("GET", url, params=query))
            rows = d.get("results", []) if isinstance(d, dict) else d
            if not isinstance(rows, list):
                raise Transient("Exact Online answered a collection request without results")
            yield from rows
            next_link = d.get("__next") if isinstance(d, dict) else None
            url = self.pointer_url(str(next_link)) if next_link else None
            query = None  # __next already carries $skiptoken and our options

    def list(self, path: str, *, select: str, filter: str | None = None, top: int | None = None) -> list[dict]:
        params: dict[str, Any] = {"$select": select}
        if filter:
            params["$filter"] = filter
        if top:
            params["$top"] = top
        return list(self.iter_results(path, params))

    def get_one(self, path: str, key: str, *, select: str | None = None, expand: str | None = None) -> dict | None:
        params: dict[str, Any] = {}
        if select:
            params["$select"] = select
        if expand:
            params["$expand"] = expand
        try:
            d = self._d(self.request_json("GET", f"{path}({guid_literal(key)})", params=params or None))
        except Permanent as exc:
            if exc.status == 404:
                return None
            raise
        return d

    # --- Resources -------------------------------------------------------------------------------

    def me(self) -> dict:
        # `current/Me` sits beside the division paths (/api/v1/current/Me): an own URL on the host.
        d = self._d(self.request_json("GET", self.own_url(f"{self.host}/api/v1/current/Me")))
        rows = d.get("results") if isinstance(d, dict) and "results" in d else [d]
        if not rows:
            raise Transient("Exact Online returned no current user")
        return rows[0]

    def divisions(self) -> list[dict]:
        return self.list("system/Divisions", select="Code,Description,HID,Customer,Currency")

    SO_FIELDS = (
        "OrderID,OrderNumber,OrderDate,DeliveryDate,Description,YourRef,Remarks,Currency,AmountFC,"
        "AmountFCExclVat,AmountDiscount,OrderedBy,OrderedByName,DeliverTo,DeliveryAddress,InvoiceTo,"
        "ShippingMethodDescription,Status,DeliveryStatus,Modified,Created"
    )
    LINE_FIELDS = (
        "ID,OrderID,LineNumber,Item,ItemCode,ItemDescription,Description,Quantity,UnitPrice,NetPrice,"
        "Discount,AmountFC,VATAmount,Project,CostCenter"
    )

    def sales_orders_modified_since(self, since: datetime) -> Iterator[dict]:
        """Headers with their lines inline (`$expand=SalesOrderLines`, EXACT.md §5.1): one call a page
        instead of one more per order, which matters at 60 calls a minute."""
        yield from self.iter_results(
            "salesorder/SalesOrders",
            {
                "$select": f"{self.SO_FIELDS},SalesOrderLines",
                "$expand": "SalesOrderLines",
                "$filter": f"Modified ge {odata_datetime(since)}",
            },
        )

    def sales_order(self, order_id: str) -> dict | None:
        return self.get_one("salesorder/SalesOrders", order_id, select=self.SO_FIELDS)

    def update_sales_order(self, order_id: str, fields: dict) -> None:
        """PUT the given header fields (EXACT.md §5.2: 204, no body; an order is editable while open)."""
        self.request(
            "PUT",
            f"salesorder/SalesOrders({guid_literal(order_id)})",
            json=fields,
            headers={"Content-Type": "application/json"},
        )

    def sales_order_lines(self, order_id: str) -> list[dict]:
        return self.list(
            "salesorder/SalesOrderLines", select=self.LINE_FIELDS, filter=f"OrderID eq {guid_literal(order_id)}"
        )

    def account(self, account_id: str) -> dict | None:
        return self.get_one(
            "crm/Accounts",
            account_id,
            select="ID,Code,Name,Email,Phone,AddressLine1,AddressLine2,City,Postcode,State,Country,Modified",
        )

    def address(self, address_id: str) -> dict | None:
        return self.get_one(
            "crm/Addresses",
            address_id,
            select="ID,Account,Type,AddressLine1,AddressLine2,AddressLine3,City,Postcode,State,Country,ContactName,Phone",
        )

    # Full lists come from the sync API: Exact refuses an unfiltered read of a plain or bulk
    # endpoint that has a sync API (400 "A required filter is missing.", mandatory filtering since
    # July 2021, EXACT.md §5.3), and every refusal counts toward the 10-errors-an-hour block.

    def sync_all(self, path: str, *, select: str) -> list[dict]:
        """Every row of a sync endpoint (`sync/<Service>/<Entity>`, EXACT.md §5.4): `$select` is
        mandatory there, `Timestamp gt 1` reads from the start, up to 1000 rows a page."""
        return self.list(path, select=f"Timestamp,{select}", filter="Timestamp gt 1")

    def items(self) -> list[dict]:
        return self.sync_all("sync/Logistics/Items", select="ID,Code,Description")

    def gl_accounts(self) -> list[dict]:
        rows = self.sync_all("sync/Financial/GLAccounts", select="ID,Code,Description,Type,IsBlocked")
        return [row for row in rows if not row.get("IsBlocked")]

    def cost_centers(self) -> list[dict]:
        # hrm/Costcenters has no sync API, so no mandatory filter applies.
        return self.list("hrm/Costcenters", select="ID,Code,Description")

    def projects(self) -> list[dict]:
        return self.sync_all("sync/Project/Projects", select="ID,Code,Description")

    def journals(self) -> list[dict]:
        return self.list("financial/Journals", select="ID,Code,Description,Type", filter="Type eq 90")

    def create_journal_entry(self, payload: dict) -> dict:
        response = self.request_json(
            "POST",
            "generaljournalentry/GeneralJournalEntries",
            json=payload,
            headers={"Content-Type": "application/json", "Prefer": "return=representation"},
        )
        entry = self._d(response)
        if not isinstance(entry, dict) or not entry.get("EntryID"):
            raise NeedsReview("Exact Online accepted the journal entry but returned no EntryID; check it in Exact.")
        return entry

    def sales_order_lines_to_deliver(self, order_id: str) -> list[dict]:
        return self.list(
            "salesorder/SalesOrderLines",
            select="ID,OrderID,LineNumber,ItemCode,Quantity,QuantityDelivered",
            filter=f"OrderID eq {guid_literal(order_id)}",
        )

    def goods_deliveries_with_reference(self, reference: str) -> list[dict]:
        """Goods deliveries whose description carries `reference` (how we find our own)."""
        quoted = reference.replace("'", "''")
        return self.list(
            "salesorder/GoodsDeliveries",
            select="EntryID,DeliveryNumber,Description,TrackingNumber",
            filter=f"substringof('{quoted}',Description) eq true",
        )

    def create_goods_delivery(self, payload: dict) -> dict:
        """POST a goods delivery (EXACT.md §6.10): it moves stock and the order's delivery status."""
        response = self.request_json(
            "POST",
            "salesorder/GoodsDeliveries",
            json=payload,
            headers={"Content-Type": "application/json", "Prefer": "return=representation"},
        )
        delivery = self._d(response)
        if not isinstance(delivery, dict) or not delivery.get("EntryID"):
            raise NeedsReview("Exact Online accepted the goods delivery but returned no EntryID; check it in Exact.")
        return delivery

    def journal_entries_with_reference(self, reference: str) -> list[dict]:
        """Entries whose lines carry `reference` in their description (how we find our own)."""
        quoted = reference.replace("'", "''")
        return self.list(
            "generaljournalentry/GeneralJournalEntryLines",
            select="ID,EntryID,Description,AmountFC",
            filter=f"substringof('{quoted}',Description) eq true",
        )

    # --- Order → invoice flows (crm/Accounts, logistics/Items, salesinvoice/SalesInvoices) ---------

    @staticmethod
    def _quoted(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def accounts_with_email(self, email: str) -> list[dict]:
        return self.list("crm/Accounts", select="ID,Code,Name,Email,Status", filter=f"Email eq {self._quoted(email)}")

    def create_account(self, payload: dict) -> dict:
        return self._created("crm/Accounts", payload, "ID", "customer account")

    def items_with_code(self, code: str) -> list[dict]:
        return self.list("logistics/Items", select="ID,Code,Description", filter=f"Code eq {self._quoted(code)}")

    def sales_journals(self) -> list[dict]:
        return self.list("financial/Journals", select="ID,Code,Description,Type", filter="Type eq 20")

    def vat_codes(self) -> list[dict]:
        return self.list("vat/VATCodes", select="ID,Code,Description,Percentage")

    def vat_percentage(self, code: str) -> Decimal | None:
        """The percentage (a fraction: 0.21) of VAT code `code`, None when Exact has no such code or
        its percentage cannot be read."""
        for row in self.vat_codes():
            if str(row.get("Code") or "").strip() == code:
                try:
                    rate = Decimal(str(row.get("Percentage") or 0))
                except InvalidOperation:
                    return None
                return rate if rate.is_finite() else None
        return None

    INVOICE_FIELDS = "InvoiceID,InvoiceNumber,Type,Status,YourRef,Description,Journal,OrderedBy,Currency,AmountFC"

    def sales_invoices_with_ref(self, your_ref: str) -> list[dict]:
        return self.list(
            "salesinvoice/SalesInvoices", select=self.INVOICE_FIELDS, filter=f"YourRef eq {self._quoted(your_ref)}"
        )

    def sales_invoice_lines(self, invoice_id: str) -> list[dict]:
        return self.list(
            "salesinvoice/SalesInvoiceLines",
            select="ID,InvoiceID,LineNumber,Item,ItemCode,Quantity,AmountFC,VATCode,Description",
            filter=f"InvoiceID eq {guid_literal(invoice_id)}",
        )

    def add_sales_invoice_line(self, invoice_id: str, line: dict) -> dict:
        return self._created("salesinvoice/SalesInvoiceLines", {**line, "InvoiceID": invoice_id}, "ID", "invoice line")

    def delete_sales_invoice_line(self, line_id: str) -> None:
        self.request("DELETE", f"salesinvoice/SalesInvoiceLines({guid_literal(line_id)})")

    def create_sales_invoice(self, payload: dict) -> dict:
        return self._created("salesinvoice/SalesInvoices", payload, "InvoiceID", "sales invoice")

    # --- Order → sales order flows (salesorder/SalesOrders as a target) ---------------------------

    def sales_orders_with_ref(self, your_ref: str) -> list[dict]:
        return self.list("salesorder/SalesOrders", select=self.SO_FIELDS, filter=f"YourRef eq {self._quoted(your_ref)}")

    def written_sales_order_lines(self, order_id: str) -> list[dict]:
        """A sales order's lines with what Exact has delivered and invoiced of each (edits need both)."""
        return self.list(
            "salesorder/SalesOrderLines",
            select="ID,OrderID,LineNumber,Item,ItemCode,Quantity,NetPrice,AmountFC,VATCode,QuantityDelivered,QuantityInvoiced",
            filter=f"OrderID eq {guid_literal(order_id)}",
        )

    def create_sales_order(self, payload: dict) -> dict:
        return self._created("salesorder/SalesOrders", payload, "OrderID", "sales order")

    def add_sales_order_line(self, order_id: str, line: dict) -> dict:
        return self._created("salesorder/SalesOrderLines", {**line, "OrderID": order_id}, "ID", "sales order line")

    def delete_sales_order_line(self, line_id: str) -> None:
        self.request("DELETE", f"salesorder/SalesOrderLines({guid_literal(line_id)})")

    def delete_sales_order(self, order_id: str) -> None:
        self.request("DELETE", f"salesorder/SalesOrders({guid_literal(order_id)})")

    def _created(self, path: str, payload: dict, key: str, what: str) -> dict:
        response = self.request_json(
            "POST", path, json=payload, headers={"Content-Type": "application/json", "Prefer": "return=representation"}
        )
        row = self._d(response)
        if not isinstance(row, dict) or not row.get(key):
            raise NeedsReview(f"Exact Online accepted the {what} but returned no {key}; check it in Exact.")
        return row

    # --- Webhook subscriptions (EXACT.md §7.1) ---------------------------------------------------

    SUBSCRIPTIONS = "webhooks/WebhookSubscriptions"
    SUBSCRIPTION_FIELDS = "ID,CallbackURL,ClientID,Division,Topic,UserID,Created,Description"

    def webhook_subscriptions(self) -> list[dict]:
        """This user's subscriptions in the division (Exact lists them per division and user)."""
        return list(self.iter_results(self.SUBSCRIPTIONS, {"$select": self.SUBSCRIPTION_FIELDS}))

    def create_webhook_subscription(self, topic: str, callback_url: str, description: str = "") -> dict | None:
        """POST a subscription; Exact first POSTs an empty body to `callback_url` and needs 200/201.

        None means Exact answered 500 "Data already exists": the topic is already subscribed in this
        division (by us earlier, or by another user of the company); the caller looks it up."""
        payload = {"Topic": topic, "CallbackURL": callback_url}
        if description:
            payload["Description"] = description[:100]
        try:
            response = self.request_json(
                "POST",
                self.SUBSCRIPTIONS,
                json=payload,
                headers={"Content-Type": "application/json", "Prefer": "return=representation"},
            )
        except Transient as exc:
            if exc.status == 500 and "already exists" in exc.message.lower():
                return None
            raise
        subscription = self._d(response)
        if not isinstance(subscription, dict) or not subscription.get("ID"):
            raise Transient("Exact Online accepted the webhook subscription but returned no ID")
        return subscription

    def delete_webhook_subscription(self, subscription_id: str) -> bool:
        """DELETE one subscription; False when Exact no longer has it (404), which is the goal anyway."""
        try:
            self.request("DELETE", f"{self.SUBSCRIPTIONS}({guid_literal(subscription_id)})")
        except Permanent as exc:
            if exc.status == 404:
                return False
            raise
        return True
