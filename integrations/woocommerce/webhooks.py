"""POST /hooks/woocommerce/<token>/: verify, store, enqueue, answer fast (DESIGN §7, WOO.md §1, §4).

Order of checks: unknown token → 404; body over the limit → 413; WooCommerce's creation ping
(form-encoded `webhook_id=N`, no X-WC-Webhook-Topic, unsigned) → 200 with nothing stored; then the
signature (base64 HMAC-SHA256 of the raw bytes, constant-time) → 401 and a rejected Delivery on a
mismatch; malformed JSON → 400 with the Delivery stored as failed; otherwise `accept_delivery`
(enqueue after commit) and 200.

Duplicates: WooCommerce core builds X-WC-Webhook-Delivery-ID as
`wp_hash( $this->get_id() . strtotime( 'now' ) )` (`WC_Webhook::get_new_delivery_id()` in
woocommerce/plugins/woocommerce/includes/class-wc-webhook.php), so every delivery of one webhook
within the same second carries the same id: a bulk edit of twenty orders sends twenty bodies under
one id. A duplicate is therefore the same id *and* the same topic and body (`id_and_body_key`).
The body is built when the delivery runs and carries the order's `date_modified_gmt`, so an identical
re-send is the same state, while two edits in one second (same modified second) differ in body.
"""

from __future__ import annotations

import json
import re

from django.http import HttpRequest

from connector.inbox import id_and_body_key
from connector.models import Connection, Delivery
from connector.webhooks import Malformed, Parsed, SignatureRefused, WebhookEndpoint

from .auth import signature_matches

PING = re.compile(rb"^webhook_id=\d{1,20}$")
#: Core's delivery headers worth keeping for processing and audit (the signature is checked, not kept).
EXTRA_HEADERS = (
    "x-wc-webhook-source",
    "x-wc-webhook-topic",
    "x-wc-webhook-resource",
    "x-wc-webhook-event",
    "x-wc-webhook-id",
    "x-wc-webhook-delivery-id",
)
KNOWN_TOPICS = frozenset({"order.created", "order.updated", "customer.created", "customer.updated"})


class WooCommerceWebhook(WebhookEndpoint):
    system = "woocommerce"
    extra_headers = EXTRA_HEADERS
    secret_field = "webhook_secret"
    # A signed body that is not JSON came from the store: stored failed, so it shows and can be replayed.
    malformed_status = Delivery.Status.FAILED

    def is_handshake(self, request: HttpRequest, body: bytes) -> bool:
        # WooCommerce's ping on webhook creation: only an exact 200 counts as success.
        return not _topic(request) and PING.match(body.strip()) is not None

    def verify(self, request: HttpRequest, body: bytes, connection: Connection) -> bool:
        signature = request.META.get("HTTP_X_WC_WEBHOOK_SIGNATURE", "")
        if not signature_matches(body, connection.webhook_secret or "", signature):
            raise SignatureRefused("signature mismatch" if signature else "missing signature", topic=_topic(request))
        return True

    def parse(self, request: HttpRequest, body: bytes, connection: Connection) -> Parsed:
        topic, delivery_id = _topic(request), request.META.get("HTTP_X_WC_WEBHOOK_DELIVERY_ID", "").strip()
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise Malformed(f"body is not JSON: {exc}", topic=topic, delivery_id=delivery_id) from None
        if not isinstance(payload, dict):
            raise Malformed("body is not a JSON object", topic=topic, delivery_id=delivery_id)
        return Parsed(topic=topic, delivery_id=delivery_id, key=id_and_body_key(delivery_id, topic, body))


def _topic(request: HttpRequest) -> str:
    # The WSGI environ's key for X-WC-Webhook-Topic: `request.headers` would be built for this alone.
    return request.META.get("HTTP_X_WC_WEBHOOK_TOPIC", "").strip()
