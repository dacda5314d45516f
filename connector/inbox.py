"""Webhook inbox (DESIGN §7): the shared half of every integration's webhook view.

An integration's `webhooks.py` finds the connection by its URL token, verifies the vendor's
signature, then calls `accept_delivery`, which stores the Delivery *before* we answer 2xx, marks
duplicates (same delivery id, or same topic + body hash) so they are recorded but processed
once, and enqueues `process_delivery` after commit.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, JsonResponse

from connector.models import Connection, Delivery

KEPT_HEADERS = ("content-type", "user-agent", "x-wc-webhook-topic", "x-wc-webhook-id", "x-wc-webhook-delivery-id")


class BodyTooLarge(Exception):
    pass


def read_body(request: HttpRequest, limit: int | None = None) -> bytes:
    """The raw body, refused before reading when larger than WEBHOOK_MAX_BODY_BYTES."""
    limit = limit or settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyTooLarge(f"body of {declared} bytes exceeds {limit}")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge(f"body exceeds {limit} bytes")
    return body


def body_hash(topic: str, body: bytes) -> str:
    return hashlib.sha256(topic.encode() + b"\0" + body).hexdigest()


def dedupe_key(topic: str, delivery_id: str, body: bytes) -> str:
    if delivery_id:
        return f"id:{delivery_id}"[:200]
    return "sha256:" + body_hash(topic, body)


def kept_headers(request: HttpRequest, extra: tuple[str, ...] = ()) -> dict:
    """Only the headers that matter for processing and audit; never Authorization or cookies."""
    names = {*KEPT_HEADERS, *(h.lower() for h in extra)}
    return {k.lower(): v for k, v in request.headers.items() if k.lower() in names}


def accept_delivery(
    connection: Connection,
    *,
    topic: str,
    body: bytes,
    headers: dict,
    delivery_id: str = "",
    signature_valid: bool | None = None,
) -> Delivery:
    key = dedupe_key(topic, delivery_id, body)
    digest = body_hash(topic, body)
    with transaction.atomic():
        # A duplicate has the same delivery id, or the same topic and body (a vendor re-sending
        # under a new id): recorded, never processed twice.
        seen = (
            Delivery.objects.filter(organization_id=connection.organization_id, connection=connection)
            .filter(Q(dedupe_key=key) | Q(body_hash=digest))
            .exclude(status=Delivery.Status.REJECTED)
            .exists()
        )
        delivery = Delivery.objects.create(
            organization_id=connection.organization_id,
            connection=connection,
            topic=topic[:100],
            delivery_id=delivery_id[:200],
            dedupe_key=key,
            body_hash=digest,
            headers=headers,
            body=body,
            signature_valid=signature_valid,
            status=Delivery.Status.DUPLICATE if seen else Delivery.Status.RECEIVED,
        )
        if not seen:
            from connector.tasks import process_delivery

            transaction.on_commit(lambda: process_delivery.delay(delivery.pk))
    return delivery


def reject_delivery(connection: Connection, *, topic: str, body: bytes, headers: dict, reason: str) -> Delivery:
    """Record a delivery we refused (bad signature): visible in the audit, never processed."""
    return Delivery.objects.create(
        organization_id=connection.organization_id,
        connection=connection,
        topic=topic[:100],
        dedupe_key=dedupe_key(topic, "", body),
        headers=headers,
        body=body[:65536],
        signature_valid=False,
        status=Delivery.Status.REJECTED,
        error=reason,
    )


def accepted(delivery: Delivery) -> JsonResponse:
    return JsonResponse({"ok": True, "duplicate": delivery.status == Delivery.Status.DUPLICATE})
