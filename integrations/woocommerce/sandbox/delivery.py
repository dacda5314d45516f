"""Webhook deliveries from sandbox stores, sent the way WooCommerce sends them (WOO.md §1).

- POST, JSON body `wp_json_encode($payload)` (compact, slashes escaped as `\\/`), no redirects
  followed, headers X-WC-Webhook-Source/-Topic/-Resource/-Event/-Signature/-ID/-Delivery-ID,
  signature base64(HMAC-SHA256(body, secret)).
- X-WC-Webhook-Delivery-ID is built the way core builds it, `wp_hash( $webhook_id . strtotime( 'now' ) )`
  (`WC_Webhook::get_new_delivery_id()`, woocommerce/plugins/woocommerce/includes/class-wc-webhook.php),
  where `wp_hash()` is `hash_hmac( 'md5', $data, wp_salt( 'auth' ) )` (WordPress
  wp-includes/pluggable.php): every delivery of one webhook in the same second has the same id.
- Sent after the change commits (WooCommerce queues at shutdown); never retried: `WC_Webhook::deliver()`
  makes one `wp_safe_remote_request()`, `log_delivery()` counts a failure and nothing schedules the
  delivery again (woocommerce/woocommerce plugins/woocommerce/includes/class-wc-webhook.php).
- Durable: each delivery is an outbox row (`SandboxWebhookOutbox`, `connector.sandbox.outbox`)
  written with the change, as WooCommerce's delivery is an Action Scheduler action stored in the
  database. When the sender dies, Action Scheduler's rules apply (its docs, "Housekeeping": claims
  older than five minutes are released and run again; an action running longer than five minutes is
  marked failed): a row claimed but not yet sending is sent by the outbox sweep; a row cut off during
  its POST fails for good, never resent (`resend_interrupted=False`, lease 5 minutes).
- Success is a response code 200-302; otherwise the failure count rises and, once it is already
  above `max_delivery_failures` (default 5), the webhook is disabled: the 7th consecutive failure
  disables it (WOO.md §1.5, `failed_delivery()` compares with `>`).
- The creation ping is a form-encoded `webhook_id=<id>` POST with no X-WC-* headers; only an exact
  200 clears `pending_delivery` (WOO.md §1.6).
- Deviation: WordPress refuses loopback/private delivery URLs (`wp_safe_remote_request`); the
  sandbox allows them, because our own app runs on 127.0.0.1 in tests and the demo.
Fault knobs: `duplicate_rate` sends a delivery twice with the same delivery id; `out_of_order_rate`
holds a delivery back (decided when it is queued) and sends it after the next one of the same store.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F

from connector.sandbox import outbox

from ..auth import sign
from .faults import roll
from .models import SandboxDeliveryLog, SandboxStore, SandboxWebhook, SandboxWebhookOutbox

logger = logging.getLogger(__name__)

USER_AGENT = "WooCommerce/8.9.0 Hookshot (WordPress/6.5.3)"
TIMEOUT = (5.0, 15.0)
DEFAULT_MAX_FAILURES = 5


def wp_json_encode(payload) -> str:
    """PHP's json_encode defaults: compact, non-ASCII escaped, '/' escaped."""
    return json.dumps(payload, separators=(",", ":")).replace("/", "\\/").strip()


def wp_hash(data: str, salt: str) -> str:
    """WordPress's `wp_hash()` with its defaults: hex HMAC-MD5 of `data` keyed with the salt."""
    return hmac.new(salt.encode(), data.encode(), hashlib.md5).hexdigest()


def store_salt(store: SandboxStore) -> str:
    """The store's `wp_salt('auth')` (AUTH_KEY . AUTH_SALT of its wp-config.php): secret, stable, one
    per store; derived from SECRET_KEY and the slug, so no column holds it."""
    return hmac.new(
        settings.SECRET_KEY.encode(), f"wc-sandbox-auth-salt:{store.slug}".encode(), hashlib.sha256
    ).hexdigest()


def unix_second() -> int:
    """PHP's `strtotime('now')`: whole seconds."""
    return int(time.time())


def new_delivery_id(store: SandboxStore, hook: SandboxWebhook) -> str:
    """Core's delivery id: the webhook id and the current second, concatenated as PHP does, hashed."""
    return wp_hash(f"{hook.pk}{unix_second()}", store_salt(store))


def store_home_url(store: SandboxStore) -> str:
    return f"{settings.PUBLIC_BASE_URL}/sandbox/woocommerce/{store.slug}/"


class WooCommerceOutbox(outbox.Outbox):
    name = "woocommerce"
    model = SandboxWebhookOutbox
    # One try (no retries), Action Scheduler's five-minute claim timeout, its one-minute queue runs.
    schedule = outbox.Schedule(
        max_attempts=1, resend_interrupted=False, lease=timedelta(minutes=5), grace=timedelta(minutes=1)
    )
    background = False  # sent in the committing thread once it commits (tests read the log at once)

    def rows(self):
        # Held rows (out-of-order knob) wait for `flush_held`, not for a sender or the sweep.
        return SandboxWebhookOutbox.objects.filter(held=False).select_related("webhook__store")

    def deliver(self, row: SandboxWebhookOutbox) -> outbox.Attempt:
        hook, store = row.webhook, row.webhook.store
        if hook.status != SandboxWebhook.Status.ACTIVE:  # paused or disabled since: WooCommerce sends nothing
            return outbox.Attempt(ok=False, error=f"webhook {hook.status}; not delivered", final=True)
        delivery_id = new_delivery_id(store, hook)
        log = send(store, hook, row.topic, row.body, delivery_id, row.resource_id)
        if roll(store, "duplicate_rate"):
            send(store, hook, row.topic, row.body, delivery_id, row.resource_id)
        return outbox.Attempt(ok=_success(log.response_code), status=log.response_code, error=log.error)


OUTBOX = outbox.register(WooCommerceOutbox())


def queue_event(store: SandboxStore, topic: str, payload: dict) -> None:
    """Store `payload` for the store's active webhooks for `topic`, delivered once the transaction commits."""
    hooks = list(SandboxWebhook.objects.filter(store=store, topic=topic, status=SandboxWebhook.Status.ACTIVE))
    if not hooks:
        return
    body = wp_json_encode(payload)
    resource_id = str(payload.get("id", ""))
    ids = [
        SandboxWebhookOutbox.objects.create(
            webhook=hook, topic=topic, body=body, resource_id=resource_id, held=roll(store, "out_of_order_rate")
        ).pk
        for hook in hooks
    ]
    transaction.on_commit(lambda: dispatch(store.pk, ids))


def dispatch(store_id: int, ids: list[int]) -> None:
    """Send the rows `ids` (held ones wait); once something went out, the held ones follow."""
    if OUTBOX.send(ids):
        flush_held(SandboxStore.objects.get(pk=store_id))


def flush_held(store: SandboxStore) -> int:
    """Send deliveries held back by the out-of-order knob, oldest first."""
    held = list(
        SandboxWebhookOutbox.objects.filter(webhook__store=store, held=True, status=SandboxWebhookOutbox.Status.PENDING)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    SandboxWebhookOutbox.objects.filter(pk__in=held).update(held=False)
    return len(OUTBOX.send(held, ignore_schedule=True))


def _success(code: int | None) -> bool:
    """WooCommerce's success: a 2xx, 300, 301 or 302 (`log_delivery()` tests `>= 200 && < 303`)."""
    return code is not None and 200 <= code <= 302


def delivery_headers(store: SandboxStore, hook: SandboxWebhook, topic: str, body: str, delivery_id: str) -> dict:
    resource, _, event = topic.partition(".")
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-WC-Webhook-Source": store_home_url(store),
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sign(body.encode("utf-8"), hook.secret),
        "X-WC-Webhook-ID": str(hook.pk),
        "X-WC-Webhook-Delivery-ID": delivery_id,
    }


def send(
    store: SandboxStore, hook: SandboxWebhook, topic: str, body: str, delivery_id: str, resource_id: str = ""
) -> SandboxDeliveryLog:
    """One POST, logged, with WooCommerce's failure counting (`log_delivery()` / `failed_delivery()`)."""
    headers = delivery_headers(store, hook, topic, body, delivery_id)
    code, error = _post(hook.delivery_url, body.encode("utf-8"), headers)
    log = SandboxDeliveryLog.objects.create(
        webhook=hook,
        delivery_id=delivery_id,
        topic=topic,
        resource_id=resource_id,
        body=body,
        response_code=code,
        error=error[:500],
    )
    if _success(code):
        SandboxWebhook.objects.filter(pk=hook.pk).update(failure_count=0, pending_delivery=False)
    else:
        limit = int((store.faults or {}).get("max_delivery_failures", DEFAULT_MAX_FAILURES))
        hook.refresh_from_db(fields=["failure_count"])
        if hook.failure_count > limit:
            SandboxWebhook.objects.filter(pk=hook.pk).update(status=SandboxWebhook.Status.DISABLED)
        else:
            SandboxWebhook.objects.filter(pk=hook.pk).update(failure_count=F("failure_count") + 1)
    return log


def ping(hook: SandboxWebhook) -> int | None:
    """The creation ping: `webhook_id=<id>`, form-encoded, unsigned; only an exact 200 counts."""
    body = f"webhook_id={hook.pk}".encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT}
    code, error = _post(hook.delivery_url, body, headers)
    SandboxDeliveryLog.objects.create(
        webhook=hook, delivery_id="", topic="ping", body=body.decode(), ping=True, response_code=code, error=error[:500]
    )
    if code == 200:
        SandboxWebhook.objects.filter(pk=hook.pk).update(pending_delivery=False)
    return code


def _post(url: str, body: bytes, headers: dict) -> tuple[int | None, str]:
    try:
        response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}"
    return response.status_code, "" if response.status_code < 400 else response.text[:200]
