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

from django.http import HttpRequest

from connector.models import Connection
from connector.webhooks import Parsed, Refused, SignatureRefused, WebhookEndpoint
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


class ExactWebhook(WebhookEndpoint):
    system = "exact"

    def is_handshake(self, request: HttpRequest, body: bytes) -> bool:
        return not body.strip()  # Exact validating the callback URL of a new subscription

    def verify(self, request: HttpRequest, body: bytes, connection: Connection) -> bool:
        # The module's pure `verify`: the HashCode covers the Content text, so checking it parses the
        # body too, kept on this one-request view for `parse` and `check`.
        try:
            self.content = verify(body, webhook_secret())
        except ValueError as exc:
            raise SignatureRefused(str(exc)) from None
        return True

    def parse(self, request: HttpRequest, body: bytes, connection: Connection) -> Parsed:
        content = self.content
        topic = str(content["Topic"])[:60]
        delivery_id = f"{topic}:{content['Key']}:{content.get('EventCreatedOn', '')}:{content.get('Action', '')}"
        return Parsed(topic=topic, delivery_id=delivery_id)

    def check(self, connection: Connection, parsed: Parsed) -> None:
        division = (connection.settings or {}).get("division")
        sent = str(self.content.get("Division"))
        if sent != str(division):
            reason = f"division {sent[:20]} is not this connection's ({division})"
            raise Refused(reason, status=403, topic="division", answer="webhook for another Exact company")
