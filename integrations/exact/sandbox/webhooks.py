"""Sandbox Exact webhooks (EXACT.md §7): the subscription endpoints and the notifications they send.

Endpoints, under /sandbox/exact/<country>/api/v1/<division>/ (reached through api.api, so the
bearer token, division access, rate limits and fault knobs apply as to any other call):
- `GET webhooks/WebhookSubscriptions`: this user's subscriptions in the division, `{"d": {"results"}}`.
- `POST webhooks/WebhookSubscriptions` `{"Topic", "CallbackURL"[, "Description"]}`: a second
  subscription to a topic in the division is HTTP 500 "Data already exists" (Exact's error body).
  Otherwise the callback first gets an empty-body POST and must answer 200 or 201, or nothing is
  created (400). Then 201 `{"d": {...}}`.
- `DELETE webhooks/WebhookSubscriptions(guid'…')`: 204; 404 when it is not this user's.

Notifications: `notify` is called when a sales order is created or changed (`Action` "Update", as
Exact sends creates) or deleted ("Delete"). After the change commits, each subscription of the
division gets `{"Content": {Topic, ClientId, Division, Action, Key, ExactOnlineEndpoint,
EventCreatedOn}, "HashCode": UPPER(hex(HMAC-SHA256(app webhook secret, Content text)))}` (§7.2-7.3),
signed here, independently of our receiving side.

Deliveries are durable outbox rows (`connector.sandbox.outbox`) written with the change, sent once
it commits; a delivery whose sender died is found by the outbox sweep. Retries (§7.2, about 10
over ~34 h with a 2^n-minute back-off) are the outbox schedule: a delivery not answered 200/201
records the code or error and its next attempt time; the sweep (or `retry_due`) sends what is due
(the control endpoint can send everything pending at once, nobody waits 34 hours); after 10
retries it gives up. A delivery cut off mid-POST counts as a failed try and is retried, which may
deliver it twice: Exact's retries make duplicates possible anyway.

Deviations: Exact calls HTTPS callbacks only (and, per one integrator, on the redirect URI's domain);
the sandbox also calls http, because our own app runs on plain http in tests and the demo. The
status Exact answers when the creation check fails is not documented; the sandbox uses 400.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from connector.sandbox import outbox
from connector.sandbox.access import is_allowed_callback
from integrations.exact import oauth as exact_oauth
from integrations.exact.sandbox.models import (
    SandboxExactDivision,
    SandboxExactWebhookDelivery,
    SandboxExactWebhookSubscription,
)

logger = logging.getLogger(__name__)

TIMEOUT = (3.0, 10.0)
MAX_RETRIES = 10  # after the first attempt
USER_AGENT = "ExactOnline-Webhooks (sandbox)"
#: Topics of EXACT.md §7.1; the sandbox only ever notifies SalesOrders.
TOPICS = frozenset(
    {
        "Accounts",
        "Contacts",
        "Items",
        "StockPositions",
        "SalesOrders",
        "SalesInvoices",
        "GoodsDeliveries",
        "PurchaseOrders",
        "FinancialTransactions",
        "CostTransactions",
        "TimeTransactions",
        "Documents",
        "Quotations",
        "BankAccounts",
        "GeneralJournalEntries",
        "SalesEntries",
        "PurchaseEntries",
        "Subscriptions",
        "SalesItemPrices",
    }
)
ENDPOINTS = {"SalesOrders": "salesorder/SalesOrders"}


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": "", "message": {"lang": "", "value": message}}}, status=status)


def app_secret() -> str:
    """The webhook secret of the app registered at the sandbox's App Center (the app's own setting)."""
    return exact_oauth.webhook_secret() or exact_oauth.SANDBOX_WEBHOOK_SECRET


def _user_guid(user_id: int) -> str:
    return f"00000000-0000-0000-0000-{user_id:012d}"  # as current/Me answers UserID


def _odate(value: datetime) -> str:
    return f"/Date({int(value.timestamp() * 1000)})/"


def _entity(sub: SandboxExactWebhookSubscription, host: str) -> dict:
    return {
        "__metadata": {
            "uri": f"{host}/api/v1/{sub.division.code}/webhooks/WebhookSubscriptions(guid'{sub.guid}')",
            "type": "Exact.Web.Api.Models.Webhooks.WebhookSubscription",
        },
        "ID": sub.guid,
        "CallbackURL": sub.callback_url,
        "ClientID": sub.client_id,
        "Division": sub.division.code,
        "Topic": sub.topic,
        "UserID": _user_guid(sub.user_id),
        "Created": _odate(sub.created_at),
        "Description": sub.description or None,
    }


def subscriptions(request: HttpRequest, company: SandboxExactDivision, key: str | None, host: str) -> HttpResponse:
    """Dispatch `webhooks/WebhookSubscriptions[(guid'…')]` for the bearer user's division."""
    mine = SandboxExactWebhookSubscription.objects.filter(division=company, user=company.user).select_related(
        "division"
    )
    if request.method == "GET":
        if key:
            sub = mine.filter(guid=key.lower()).first()
            return JsonResponse({"d": _entity(sub, host)}) if sub else _error(404, "Not found")
        return JsonResponse({"d": {"results": [_entity(s, host) for s in mine.order_by("id")]}})
    if request.method == "DELETE" and key:
        deleted, _ = mine.filter(guid=key.lower()).delete()
        return HttpResponse(status=204) if deleted else _error(404, "Not found")
    if request.method == "POST" and not key:
        return _create(request, company, host)
    return _error(405, "Method not allowed")


def _create(request: HttpRequest, company: SandboxExactDivision, host: str) -> HttpResponse:
    try:
        body = json.loads(request.body or b"")
    except ValueError:
        return _error(400, "Invalid JSON in request body")
    if not isinstance(body, dict):
        return _error(400, "Request body must be an object")
    topic, callback = str(body.get("Topic") or ""), str(body.get("CallbackURL") or "")
    if topic not in TOPICS:
        return _error(400, f"Topic: unknown webhook topic {topic[:40]!r}")
    parts = urlsplit(callback)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return _error(400, "CallbackURL: a valid https URL is required")
    if not is_allowed_callback(callback):  # the sandbox only ever calls this server or loopback
        return _error(400, "CallbackURL: the sandbox calls back only under PUBLIC_BASE_URL or loopback")
    if SandboxExactWebhookSubscription.objects.filter(division=company, topic=topic).exists():
        return _error(500, "Data already exists")
    code, error = _post(callback, b"")  # Exact checks the callback before it stores anything
    if code not in (200, 201):
        return _error(400, f"CallbackURL: the callback answered {code or error}, not 200 or 201")
    try:
        with transaction.atomic():
            sub = SandboxExactWebhookSubscription.objects.create(
                guid=_new_guid(),
                division=company,
                user=company.user,
                client_id=exact_oauth.client_id(),
                topic=topic,
                callback_url=callback,
                description=str(body.get("Description") or "")[:200],
            )
    except IntegrityError:  # the same topic subscribed concurrently
        return _error(500, "Data already exists")
    return JsonResponse({"d": _entity(sub, host)}, status=201)


def _new_guid() -> str:
    return str(uuid.uuid4())


# --- Notifications --------------------------------------------------------------------------------


def content(sub: SandboxExactWebhookSubscription, host: str, action: str, key: str) -> dict:
    """The Content object of EXACT.md §7.2, in Exact's field order."""
    now = timezone.now()
    return {
        "Topic": sub.topic,
        "ClientId": sub.client_id,
        "Division": sub.division.code,
        "Action": action,
        "Key": key,
        "ExactOnlineEndpoint": f"{host}/api/v1/{sub.division.code}/{ENDPOINTS[sub.topic]}(guid'{key}')",
        "EventCreatedOn": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}",
    }


def signed(content_obj: dict, secret: str) -> str:
    """`{"Content":…,"HashCode":…}` with HashCode = UPPER(hex(HMAC-SHA256(secret, Content text))) (§7.3)."""
    text = json.dumps(content_obj, separators=(",", ":"))
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest().upper()
    return '{"Content":' + text + ',"HashCode":"' + digest + '"}'


def notify(division: SandboxExactDivision, topic: str, key: str, action: str) -> None:
    """Queue a notification to every subscription of `topic` in the division, sent after commit."""
    subs = list(
        SandboxExactWebhookSubscription.objects.filter(division=division, topic=topic).select_related("division__user")
    )
    if not subs:
        return
    from integrations.exact.sandbox.state import host

    ids = []
    for sub in subs:
        body = signed(content(sub, host(sub.division.user.country), action, key), app_secret())
        ids.append(SandboxExactWebhookDelivery.objects.create(subscription=sub, body=body).pk)
    OUTBOX.send_after_commit(ids)


class ExactOutbox(outbox.Outbox):
    name = "exact"
    model = SandboxExactWebhookDelivery
    schedule = outbox.Schedule(
        max_attempts=1 + MAX_RETRIES, backoff=lambda attempt: timedelta(minutes=2**attempt), resend_interrupted=True
    )
    background = False  # sent in the committing thread once it commits, as before

    def rows(self):
        return SandboxExactWebhookDelivery.objects.select_related("subscription")

    def deliver(self, delivery: SandboxExactWebhookDelivery) -> outbox.Attempt:
        code, error = _post(delivery.subscription.callback_url, delivery.body.encode())
        return outbox.Attempt(ok=code in (200, 201), status=code, error=error[:500])


OUTBOX = outbox.register(ExactOutbox())


def retry_due(*, everything: bool = False, now: datetime | None = None, divisions=None) -> int:
    """Retry failed deliveries whose time has come (all pending ones with `everything`), of `divisions`
    only when given; the count sent."""
    pending = SandboxExactWebhookDelivery.objects.filter(
        status=SandboxExactWebhookDelivery.Status.PENDING, attempts__gt=0
    )
    if divisions is not None:
        pending = pending.filter(subscription__division__in=divisions)
    ids = list(pending.values_list("pk", flat=True))
    return len(OUTBOX.send(ids, now=now, ignore_schedule=everything))


def _post(url: str, body: bytes) -> tuple[int | None, str]:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    try:
        response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return None, type(exc).__name__
    return response.status_code, "" if response.status_code < 400 else response.text[:200]
