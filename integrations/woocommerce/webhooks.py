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
import logging
import re

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connector.inbox import (
    BodyTooLarge,
    accept_delivery,
    accepted,
    hook_connection,
    id_and_body_key,
    kept_headers,
    read_body,
    reject_delivery,
)
from connector.models import Delivery

from .auth import signature_matches

logger = logging.getLogger(__name__)

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


@csrf_exempt
@require_POST
def receive(request: HttpRequest, token: str) -> JsonResponse:
    connection = hook_connection("woocommerce", token, "webhook_secret")
    if connection is None:
        return JsonResponse({"error": "unknown webhook"}, status=404)
    try:
        body = read_body(request)
    except BodyTooLarge:
        return JsonResponse({"error": "body too large"}, status=413)
    topic = request.headers.get("X-WC-Webhook-Topic", "").strip()
    if not topic and PING.match(body.strip()):
        # WooCommerce's ping on webhook creation: only an exact 200 counts as success.
        return JsonResponse({"ok": True, "ping": True}, status=200)
    headers = kept_headers(request, EXTRA_HEADERS)
    signature = request.headers.get("X-WC-Webhook-Signature", "")
    if not signature_matches(body, connection.webhook_secret or "", signature):
        # The cached secret may be a few seconds old (webhooks re-registered): check a fresh read.
        connection = hook_connection("woocommerce", token, "webhook_secret", fresh=True) or connection
    if not signature_matches(body, connection.webhook_secret or "", signature):
        reason = "missing signature" if not request.headers.get("X-WC-Webhook-Signature") else "signature mismatch"
        reject_delivery(connection, topic=topic, body=body, headers=headers, reason=reason)
        logger.warning("woocommerce webhook refused: %s", reason, extra={"connection_id": connection.pk})
        return JsonResponse({"error": "invalid signature"}, status=401)
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        Delivery.objects.create(
            organization_id=connection.organization_id,
            connection=connection,
            topic=topic[:100],
            delivery_id=request.headers.get("X-WC-Webhook-Delivery-ID", "")[:200],
            dedupe_key=f"malformed:{timezone.now().timestamp()}",
            headers=headers,
            body=body,
            signature_valid=True,
            status=Delivery.Status.FAILED,
            error=f"The body is not a JSON object: {exc}"[:500],
        )
        return JsonResponse({"error": "malformed JSON"}, status=400)
    delivery_id = request.headers.get("X-WC-Webhook-Delivery-ID", "").strip()
    delivery = accept_delivery(
        connection,
        topic=topic,
        body=body,
        headers=headers,
        delivery_id=delivery_id,
        key=id_and_body_key(delivery_id, topic, body),
        signature_valid=True,
    )
    return accepted(delivery)
