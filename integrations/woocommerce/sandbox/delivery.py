"""Webhook deliveries from sandbox stores, sent the way WooCommerce sends them (WOO.md §1).

- POST, JSON body `wp_json_encode($payload)` (compact, slashes escaped as `\\/`), no redirects
  followed, headers X-WC-Webhook-Source/-Topic/-Resource/-Event/-Signature/-ID/-Delivery-ID,
  signature base64(HMAC-SHA256(body, secret)).
- X-WC-Webhook-Delivery-ID is built the way core builds it, `wp_hash( $webhook_id . strtotime( 'now' ) )`
  (`WC_Webhook::get_new_delivery_id()`, woocommerce/plugins/woocommerce/includes/class-wc-webhook.php),
  where `wp_hash()` is `hash_hmac( 'md5', $data, wp_salt( 'auth' ) )` (WordPress
  wp-includes/pluggable.php): every delivery of one webhook in the same second has the same id.
- Sent after the change commits (WooCommerce queues at shutdown); never retried.
- Success is a response code 200-302; otherwise the failure count rises and, once it is already
  above `max_delivery_failures` (default 5), the webhook is disabled: the 7th consecutive failure
  disables it (WOO.md §1.5, `failed_delivery()` compares with `>`).
- The creation ping is a form-encoded `webhook_id=<id>` POST with no X-WC-* headers; only an exact
  200 clears `pending_delivery` (WOO.md §1.6).
- Deviation: WordPress refuses loopback/private delivery URLs (`wp_safe_remote_request`); the
  sandbox allows them, because our own app runs on 127.0.0.1 in tests and the demo.
Fault knobs: `duplicate_rate` sends a delivery twice with the same delivery id; `out_of_order_rate`
holds a delivery back and sends it after the next one of the same store.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F

from ..auth import sign
from .faults import roll
from .models import SandboxDeliveryLog, SandboxStore, SandboxWebhook

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


def queue_event(store: SandboxStore, topic: str, payload: dict) -> None:
    """Deliver `payload` to the store's active webhooks for `topic` once the transaction commits."""
    hook_ids = list(
        SandboxWebhook.objects.filter(store=store, topic=topic, status=SandboxWebhook.Status.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    if not hook_ids:
        return
    body = wp_json_encode(payload)
    resource_id = str(payload.get("id", ""))
    transaction.on_commit(lambda: dispatch(store.pk, hook_ids, topic, body, resource_id))


def dispatch(store_id: int, hook_ids: list[int], topic: str, body: str, resource_id: str) -> None:
    store = SandboxStore.objects.get(pk=store_id)
    sent_any = False
    for hook in SandboxWebhook.objects.filter(pk__in=hook_ids, status=SandboxWebhook.Status.ACTIVE):
        delivery_id = new_delivery_id(store, hook)
        if roll(store, "out_of_order_rate"):
            SandboxDeliveryLog.objects.create(
                webhook=hook, delivery_id=delivery_id, topic=topic, resource_id=resource_id, body=body, held=True
            )
            continue
        send(store, hook, topic, body, delivery_id, resource_id)
        sent_any = True
        if roll(store, "duplicate_rate"):
            send(store, hook, topic, body, delivery_id, resource_id)
    if sent_any:
        flush_held(store)


def flush_held(store: SandboxStore) -> int:
    """Send deliveries held back by the out-of-order knob, oldest first."""
    held = list(SandboxDeliveryLog.objects.filter(webhook__store=store, held=True).select_related("webhook"))
    for log in held:
        SandboxDeliveryLog.objects.filter(pk=log.pk).update(held=False)
        send(store, log.webhook, log.topic, log.body, log.delivery_id, log.resource_id, log=log)
    return len(held)


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
    store: SandboxStore,
    hook: SandboxWebhook,
    topic: str,
    body: str,
    delivery_id: str,
    resource_id: str = "",
    *,
    log: SandboxDeliveryLog | None = None,
) -> int | None:
    headers = delivery_headers(store, hook, topic, body, delivery_id)
    code, error = _post(hook.delivery_url, body.encode("utf-8"), headers)
    if log is None:
        log = SandboxDeliveryLog(webhook=hook, delivery_id=delivery_id, topic=topic, resource_id=resource_id, body=body)
    log.response_code, log.error, log.held = code, error[:500], False
    log.save()
    if code is not None and 200 <= code <= 302:
        SandboxWebhook.objects.filter(pk=hook.pk).update(failure_count=0, pending_delivery=False)
    else:
        limit = int((store.faults or {}).get("max_delivery_failures", DEFAULT_MAX_FAILURES))
        hook.refresh_from_db(fields=["failure_count"])
        if hook.failure_count > limit:
            SandboxWebhook.objects.filter(pk=hook.pk).update(status=SandboxWebhook.Status.DISABLED)
        else:
            SandboxWebhook.objects.filter(pk=hook.pk).update(failure_count=F("failure_count") + 1)
    return code


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
