"""POST /hooks/exact/<token>/: Exact Online webhooks (EXACT.md §7), stored before we answer 200.

- The body is `{"Content": {...}, "HashCode": "<64 upper-case hex>"}`. HashCode is
  HMAC-SHA256(app webhook secret, the raw text of the Content value as received, braces included),
  so the Content text is cut out of the raw body, never re-serialised (§7.3), and compared in
  constant time after upper-casing the received value.
- An empty body is Exact checking the callback when a subscription is created: 200, nothing stored.
- The Content names a division; one that is not the connection's is refused (a token leaked to
  another company's subscription must not make us read that company).
- The payload carries no data: `ExactSource.changes_from_delivery` turns `Content.Key` into a
  record that the engine fetches fresh with our own token, on the connection's host only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connector.inbox import (
    BodyTooLarge,
    accept_delivery,
    accepted,
    hook_connection,
    kept_headers,
    read_body,
    reject_delivery,
)
from integrations.exact.oauth import webhook_secret

# picqer Webhook/Authenticatable.php cuts the Content text out the same way (EXACT.md §7.3).
ENVELOPE_RE = re.compile(
    rb'^\s*\{\s*"Content"\s*:\s*(?P<content>\{.*\})\s*,\s*"HashCode"\s*:\s*"(?P<hash>[^"]*)"\s*\}\s*$', re.S
)


def hash_code(content: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), content, hashlib.sha256).hexdigest().upper()


def signed_body(content: dict, secret: str) -> bytes:
    """A body as Exact sends it (the sandbox and tests use this)."""
    text = json.dumps(content, separators=(",", ":")).encode()
    return b'{"Content":' + text + b',"HashCode":"' + hash_code(text, secret).encode() + b'"}'


def verify(body: bytes, secret: str) -> dict:
    """The parsed Content when the HashCode matches; ValueError with the reason otherwise."""
    match = ENVELOPE_RE.match(body)
    if match is None:
        raise ValueError("body is not the documented {Content, HashCode} shape")
    if not secret:
        raise ValueError("no Exact webhook secret is configured (EXACT_WEBHOOK_SECRET)")
    expected = hash_code(match.group("content"), secret)
    if not hmac.compare_digest(expected.encode(), match.group("hash").upper()):
        raise ValueError("HashCode does not match")
    try:
        content = json.loads(match.group("content"))
    except ValueError as exc:
        raise ValueError(f"Content is not JSON: {exc}") from None
    if not isinstance(content, dict) or not content.get("Topic") or not content.get("Key"):
        raise ValueError("Content lacks Topic or Key")
    return content


@csrf_exempt
@require_POST
def receive(request: HttpRequest, token: str) -> HttpResponse:
    connection = hook_connection("exact", token)
    if connection is None:
        raise Http404
    headers = kept_headers(request)
    try:
        body = read_body(request)
    except BodyTooLarge as exc:
        return JsonResponse({"error": str(exc)}, status=413)
    if not body.strip():
        return HttpResponse(status=200)  # Exact validating the callback URL of a new subscription
    try:
        content = verify(body, webhook_secret())
    except ValueError as exc:
        reject_delivery(connection, topic="signature", body=body, headers=headers, reason=f"Rejected: {exc}")
        return JsonResponse({"error": f"invalid Exact webhook: {exc}"}, status=401)
    division = (connection.settings or {}).get("division")
    if str(content.get("Division")) != str(division):
        reason = f"Rejected: division {str(content.get('Division'))[:20]} is not this connection's ({division})"
        reject_delivery(connection, topic="division", body=body, headers=headers, reason=reason)
        return JsonResponse({"error": "webhook for another Exact company"}, status=403)
    topic = str(content["Topic"])[:60]
    delivery_id = f"{topic}:{content['Key']}:{content.get('EventCreatedOn', '')}:{content.get('Action', '')}"
    delivery = accept_delivery(
        connection, topic=topic, body=body, headers=headers, delivery_id=delivery_id, signature_valid=True
    )
    return accepted(delivery)
