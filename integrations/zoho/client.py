"""Typed client over the Zoho Books API v3 (ZOHO.md §2-5) on the shared ApiClient.

- Base URL: the connection's validated `api_domain` + `/books/v3/`; `organization_id` on every call
  (except GET /organizations); header `Authorization: Zoho-oauthtoken <token>`, refreshed first
  through the OAuth provider (row-locked, 55 of 60 minutes) and once more after a 401.
- Bodies are JSON with exact Decimal numbers (never floats).
- Errors: Zoho's `{code, message}` → typed errors: 401 / code 57 → AuthExpired; 429 → RateLimited
  (no Retry-After from Zoho: the shared bucket paces
  and probes, see connector.http); the daily plan limit (`X-Rate-Limit-Remaining: 0`) → an Alert,
  the shared bucket blocked until Zoho's reset, RateLimited until then; 5xx → Transient; "already
  exists" → Duplicate (Permanent, with Zoho's message); other 4xx → Permanent.
- 100 requests/minute/organisation, shared through the Redis bucket keyed by the organisation id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from connector.http import ApiClient, ApiError, AuthExpired, CallRecord, Permanent, RateLimited, Transient
from connector.models import Connection, Link, raise_alert, resolve_alerts
from connector.ratelimit import Limit, RateLimiter
from integrations.zoho import jsonutil
from integrations.zoho.oauth import provider as zoho_oauth
from integrations.zoho.oauth import validated_api_domain

PER_MINUTE = 100  # per organisation, all apps and users together (ZOHO.md §3)


class Duplicate(Permanent):
    """Zoho refused a create because the number/name/reference already exists."""


class NotFound(Permanent):
    """The id does not exist in this Zoho organisation."""


def minute_limit(per_minute: int) -> Limit:
    """A bucket that never lets more than `per_minute` calls through in any 60 seconds: tiny burst, full rate."""
    burst = 4
    return Limit(burst, 60.0 * burst / per_minute)


def daily_alert_key(connection: Connection) -> str:
    return f"zoho-daily-limit:{connection.pk}"


class ZohoBooksClient(ApiClient):
    system = "zoho"
    rate_limit = minute_limit(PER_MINUTE)
    # Waiting for the next token is normal (under a second at 100/min); a longer block (a 429's minute, the
    # daily limit) is handed back as RateLimited so the worker is freed and the task retried later.
    max_rate_wait = 10.0
    idempotent_methods = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})  # a PUT that timed out may have applied

    def __init__(
        self,
        connection: Connection,
        *,
        on_call: Callable[[CallRecord], None] | None = None,
        session: requests.Session | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        conn_settings = connection.settings or {}
        try:
            api_domain = validated_api_domain(str(conn_settings.get("api_domain", "")))
        except Exception as exc:
            raise AuthExpired(
                "This Zoho connection has no valid API domain.", remediation="Reconnect Zoho Books."
            ) from exc
        self.connection = connection
        self.organization_id = str(conn_settings.get("organization_id") or "")
        super().__init__(
            api_domain + "/books/v3/",
            account_key=self.organization_id,
            session=session,
            limiter=limiter,
            on_call=on_call,
            sleep=sleep,
            per_minute=conn_settings.get("rate_limit_per_minute"),  # scaled limits for sandboxes and benchmarks
        )
        self.session.trust_env = False
        self._token = ""
        self._daily_checked = False

    # --- ApiClient hooks ---------------------------------------------------------------------------

    def rate_limit_key(self) -> str:
        return f"rl:zoho:org:{self.organization_id or 'none'}"

    def authenticate(self, request: requests.PreparedRequest) -> None:
        request.headers["Authorization"] = f"Zoho-oauthtoken {self._token}"

    def observe_limits(self, response: requests.Response) -> None:
        """X-Rate-Limit-* report the *daily* plan quota (ZOHO.md §3): at 0, stop until Zoho's reset."""
        remaining = response.headers.get("X-Rate-Limit-Remaining")
        if remaining is None or not remaining.strip().isdigit():
            return
        if int(remaining) > 0:
            if not self._daily_checked:
                self._daily_checked = True
                resolve_alerts(self.connection.organization, daily_alert_key(self.connection))
            return
        reset = self._daily_reset(response)
        self.limiter.block(self.rate_limit_key(), reset)
        raise_alert(
            self.connection.organization,
            daily_alert_key(self.connection),
            "Zoho Books' daily API limit for this organisation is used up; syncing pauses until it resets.",
            remediation="Nothing to do: syncing resumes by itself when Zoho resets the daily limit. "
            "A higher Zoho plan (or a request to Zoho support) raises the limit.",
            connection=self.connection,
        )

    @staticmethod
    def _daily_reset(response: requests.Response) -> float:
        value = response.headers.get("X-Rate-Limit-Reset", "")
        try:
            return max(60.0, float(value))
        except ValueError:
            now = datetime.now(UTC)
            return 86400.0 - (now.hour * 3600 + now.minute * 60 + now.second)

    def classify(self, response: requests.Response) -> ApiError | None:
        """Zoho's answer as a typed error (None for a success): the first of `ZOHO_ERRORS` that
        recognises it, else a Permanent error naming Zoho's message."""
        body = _json_or_none(response)
        failure = ZohoFailure(
            response=response,
            status=response.status_code,
            code=body.get("code") if isinstance(body, dict) else None,
            message=self.error_message(response),
            body=body,
        )
        if failure.status < 400 and failure.code in (0, None):
            return None
        for recognise in ZOHO_ERRORS:
            error = recognise(self, failure)
            if error is not None:
                return error
        return _data_error(failure)

    # --- Mechanics ---------------------------------------------------------------------------------

    def request(self, method: str, path_or_url: str, *, params=None, json=None, data=None, headers=None, timeout=None):
        params = dict(params or {})
        if path_or_url.strip("/") != "organizations":
            if not self.organization_id:
                raise Permanent(
                    "No Zoho organisation is chosen for this connection.",
                    remediation="Open the Zoho Books connection and choose an organisation.",
                )
            params["organization_id"] = self.organization_id
        headers = dict(headers or {})
        if json is not None:
            data = jsonutil.dumps(json).encode()
            headers["Content-Type"] = "application/json;charset=UTF-8"
        self._token = zoho_oauth.access_token(self.connection)
        try:
            return super().request(method, path_or_url, params=params, data=data, headers=headers, timeout=timeout)
        except AuthExpired:
            # A token revoked or expired early: refresh once (under the row lock) and try again.
            rejected = self._token
            zoho_oauth.refresh_if_needed(self.connection, force=True, rejected_token=rejected)
            self._token = self.connection.credentials["access_token"]
            if self._token == rejected:
                raise
            return super().request(method, path_or_url, params=params, data=data, headers=headers, timeout=timeout)

    def call(self, method: str, path: str, **kwargs) -> dict:
        response = self.request(method, path, **kwargs)
        try:
            body = jsonutil.loads(response.content)
        except ValueError as exc:
            raise Transient(f"Zoho Books answered {response.status_code} with a body that is not JSON") from exc
        if not isinstance(body, dict):
            raise Transient("Zoho Books answered with an unexpected body")
        return body

    def pages(self, path: str, key: str, params: dict | None = None, *, per_page: int = 200) -> Iterator[dict]:
        page = 1
        while True:
            body = self.call("GET", path, params={**(params or {}), "page": page, "per_page": per_page})
            yield from body.get(key) or []
            context = body.get("page_context") or {}
            if isinstance(context, list):  # the invoices OAS types it as an array (ZOHO.md §8)
                context = context[0] if context else {}
            if not context.get("has_more_page"):
                return
            page += 1

    # --- Organisations -----------------------------------------------------------------------------

    def organizations(self) -> list[dict]:
        return self.call("GET", "organizations").get("organizations") or []

    # --- Contacts ----------------------------------------------------------------------------------

    def find_contact_by_email(self, email: str) -> dict | None:
        """The contact whose *primary* contact person has this email (ZOHO.md §5)."""
        contacts = self.find_contacts_by_email(email)
        return contacts[0] if contacts else None

    def find_contacts_by_email(self, email: str) -> list[dict]:
        """Every contact with this primary email: one buyer may have a contact per currency."""
        if not email:
            return []
        return self.call("GET", "contacts", params={"email": email}).get("contacts") or []

    def currencies(self) -> list[dict]:
        """The organisation's currencies (`GET /settings/currencies`): base plus those an admin added."""
        return self.call("GET", "settings/currencies").get("currencies") or []

    def find_contact_by_name(self, name: str) -> dict | None:
        contacts = self.call("GET", "contacts", params={"contact_name": name}).get("contacts") or []
        return contacts[0] if contacts else None

    def get_contact(self, contact_id: str) -> dict:
        return self.call("GET", f"contacts/{contact_id}")["contact"]

    def create_contact(self, payload: dict) -> dict:
        return self.call("POST", "contacts", json=payload)["contact"]

    def update_contact(self, contact_id: str, payload: dict) -> dict:
        return self.call("PUT", f"contacts/{contact_id}", json=payload)["contact"]

    # --- Items -------------------------------------------------------------------------------------

    def items(self) -> Iterator[dict]:
        return self.pages("items", "items")

    def find_item_by_name(self, name: str) -> dict | None:
        items = self.call("GET", "items", params={"name": name}).get("items") or []
        return next((i for i in items if str(i.get("name", "")).lower() == name.lower()), None)

    def create_item(self, payload: dict) -> dict:
        return self.call("POST", "items", json=payload)["item"]

    def item_ids_by_sku(self, *, refresh: bool = False) -> dict[str, str]:
        """SKU → item id, kept as Links (object_type "item"): Books' item list has no SKU filter."""
        links = Link.objects.for_org(self.connection.organization).filter(
            connection=self.connection, object_type="item"
        )
        if refresh:
            for item in self.items():
                if item.get("sku"):
                    remember_item(self.connection, str(item["sku"]), str(item["item_id"]))
        return dict(links.values_list("canonical_key", "external_id"))

    # --- Invoices ----------------------------------------------------------------------------------

    def create_invoice(self, payload: dict, *, invoice_number: str | None = None) -> dict:
        params = {}
        if invoice_number:
            params["ignore_auto_number_generation"] = "true"
            payload = {**payload, "invoice_number": invoice_number}
        return self.call("POST", "invoices", params=params, json=payload)["invoice"]

    def create_credit_note(self, payload: dict, *, creditnote_number: str) -> dict:
        """POST /creditnotes with our own number: Zoho refuses a second one with it (code 12018)."""
        params = {"ignore_auto_number_generation": "true"}
        payload = {**payload, "creditnote_number": creditnote_number}
        return self.call("POST", "creditnotes", params=params, json=payload)["creditnote"]

    def find_credit_notes(self, **filters: str) -> list[dict]:
        return self.call("GET", "creditnotes", params=filters).get("creditnotes") or []

    def update_invoice(self, invoice_id: str, payload: dict) -> dict:
        return self.call("PUT", f"invoices/{invoice_id}", json=payload)["invoice"]

    def get_invoice(self, invoice_id: str) -> dict:
        return self.call("GET", f"invoices/{invoice_id}")["invoice"]

    def find_invoices(self, **filters: str) -> list[dict]:
        return self.call("GET", "invoices", params=filters).get("invoices") or []

    def find_invoice_by_reference(self, reference_number: str) -> dict | None:
        """The invoice for an order: prefer one that is not void."""
        found = self.find_invoices(reference_number=reference_number)
        live = [i for i in found if i.get("status") != "void"]
        return (live or found or [None])[0]

    def void_invoice(self, invoice_id: str) -> None:
        self.call("POST", f"invoices/{invoice_id}/status/void")

    def add_invoice_comment(self, invoice_id: str, description: str) -> None:
        self.call("POST", f"invoices/{invoice_id}/comments", json={"description": description})

    def invoice_comments(self, invoice_id: str) -> list[dict]:
        return self.call("GET", f"invoices/{invoice_id}/comments").get("comments") or []

    # --- Journals, accounts, taxes -----------------------------------------------------------------

    def create_journal(self, payload: dict) -> dict:
        return self.call("POST", "journals", json=payload)["journal"]

    def find_journals_by_reference(self, reference_number: str) -> list[dict]:
        return list(self.pages("journals", "journals", {"reference_number": reference_number}))

    def get_journal(self, journal_id: str) -> dict:
        return self.call("GET", f"journals/{journal_id}")["journal"]

    def chart_of_accounts(self, filter_by: str = "AccountType.All") -> list[dict]:
        return list(self.pages("chartofaccounts", "chartofaccounts", {"filter_by": filter_by}))

    def taxes(self) -> list[dict]:
        return list(self.pages("settings/taxes", "taxes"))

    # --- Sales orders ------------------------------------------------------------------------------

    def create_sales_order(self, payload: dict) -> dict:
        return self.call("POST", "salesorders", json=payload)["salesorder"]

    def update_sales_order(self, salesorder_id: str, payload: dict) -> dict:
        return self.call("PUT", f"salesorders/{salesorder_id}", json=payload)["salesorder"]

    def get_sales_order(self, salesorder_id: str) -> dict:
        return self.call("GET", f"salesorders/{salesorder_id}")["salesorder"]

    def sales_orders_modified_since(self, since: datetime) -> Iterator[dict]:
        """`last_modified_time` is "modified after", format 2013-11-18T02:02:51-0800 (ZOHO.md §4)."""
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S%z")
        return self.pages("salesorders", "salesorders", {"last_modified_time": stamp})

    @staticmethod
    def custom_field(document: dict, label_or_api_name: str) -> Any:
        """A custom field's value by label or api name (sales orders carry tracking_number, carrier, ...)."""
        for field in document.get("custom_fields") or []:
            names = {str(field.get(k, "")).lower() for k in ("label", "api_name", "placeholder")}
            if label_or_api_name.lower() in names or f"cf_{label_or_api_name.lower()}" in names:
                return field.get("value")
        return None


def remember_item(connection: Connection, sku: str, item_id: str) -> None:
    """Keep SKU ↔ item id in Links; an item re-created in Zoho replaces the stale id."""
    org = connection.organization
    links = Link.objects.for_org(org).filter(connection=connection, object_type="item")
    links.filter(external_id=item_id).exclude(canonical_key=sku).delete()
    links.update_or_create(
        organization=org,
        connection=connection,
        object_type="item",
        canonical_key=sku,
        defaults={"external_id": item_id},
    )


@dataclass(frozen=True)
class ZohoFailure:
    """A failed Zoho call as `classify` reads it: HTTP status, Zoho's `code` and message, the body."""

    response: requests.Response
    status: int
    code: Any  # Zoho's numeric code, None when the body has none
    message: str
    body: Any


def _auth_rejected(client: ZohoBooksClient, f: ZohoFailure) -> ApiError | None:
    if f.status != 401 and f.code != 57:
        return None
    return AuthExpired(
        f"Zoho Books rejected the credentials: {f.message}",
        status=f.status,
        vendor_code=f.code,
        remediation="Reconnect Zoho Books on the Connections page.",
    )


def _rate_limited(client: ZohoBooksClient, f: ZohoFailure) -> ApiError | None:
    if f.status != 429:
        return None
    if f.response.headers.get("X-Rate-Limit-Remaining", "").strip() == "0":
        return RateLimited(
            f"Zoho Books daily limit reached: {f.message}",
            retry_after=client._daily_reset(f.response),
            status=f.status,
            vendor_code=f.code,
        )
    # Zoho sends no Retry-After (ZOHO.md §3): 0.0 lets the shared client pace and probe at Zoho's rate
    # instead of stopping for a minute; a Retry-After, should Zoho ever send one, is honoured.
    return RateLimited(
        f"Zoho Books rate limit: {f.message}",
        retry_after=client.retry_after(f.response),
        status=f.status,
        vendor_code=f.code,
    )


def _server_error(client: ZohoBooksClient, f: ZohoFailure) -> ApiError | None:
    if f.status < 500:
        return None
    return Transient(f"Zoho Books server error {f.status}: {f.message}", status=f.status, vendor_code=f.code)


def _organisation_unavailable(client: ZohoBooksClient, f: ZohoFailure) -> ApiError | None:
    if f.code != 6041:
        return None
    return Permanent(
        f.message,
        status=f.status,
        vendor_code=f.code,
        remediation="The chosen Zoho organisation is not available to this login: reconnect Zoho Books.",
    )


def _duplicate(client: ZohoBooksClient, f: ZohoFailure) -> ApiError | None:
    if "already exists" not in f.message.lower():
        return None
    return Duplicate(f.message, status=f.status, vendor_code=f.code, body=f.body)


def _not_found(client: ZohoBooksClient, f: ZohoFailure) -> ApiError | None:
    if f.status != 404 and "does not exist" not in f.message.lower():
        return None
    return NotFound(f.message, status=f.status, vendor_code=f.code, body=f.body)


def _data_error(f: ZohoFailure) -> ApiError:
    """Anything else Zoho refused is about the data we sent: the merchant corrects it and replays."""
    return Permanent(
        f.message or f"HTTP {f.status}",
        status=f.status,
        vendor_code=f.code,
        body=f.body,
        remediation="Correct the data named in Zoho's message, then press Replay.",
    )


# In order: the first that recognises a failure names it (credentials before limits before the
# server, then Zoho's own codes and words).
ZOHO_ERRORS: tuple[Callable[[ZohoBooksClient, ZohoFailure], ApiError | None], ...] = (
    _auth_rejected,
    _rate_limited,
    _server_error,
    _organisation_unavailable,
    _duplicate,
    _not_found,
)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return jsonutil.loads(response.content)
    except ValueError:
        return None
