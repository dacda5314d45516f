"""POST /hooks/shipstation/<token>/: store the pointer, answer 200 fast (DESIGN §7).

V1 webhooks are unsigned: the unguessable token in the URL names the connection, and the body is only
a pointer (`{resource_url, resource_type}`) that the adapter later follows with our own credentials,
and only on the connection's own API host. Malformed bodies are recorded as rejected deliveries.

V2 connections (same URL) branch on the connection's api version, never on whether the request
carries signature headers (a forger would simply leave them out): every V2 delivery must carry a
valid RSA-SHA256 signature (`signing.verify`). Bad, missing or stale signatures answer 401 and are
recorded as rejected deliveries. (The vendor docs advise 404 for missing headers and 400 for a stale
timestamp, SHIPSTATION.md §B4; we answer 401 for all, as our own API contract asks, since only the
token-holding sender sees the answer.) When the JWKS cannot be read we answer 503 so the sender
retries, and record the delivery as rejected with that reason.
"""

from __future__ import annotations

import json

from django.http import HttpRequest

from connector.models import Connection
from connector.webhooks import Malformed, Parsed, SignatureRefused, VerifyLater, WebhookEndpoint
from integrations.shipstation import signing
from integrations.shipstation.connection import api_version, jwks_for

RESOURCE_TYPES = (
    "ORDER_NOTIFY",
    "ITEM_ORDER_NOTIFY",
    "SHIP_NOTIFY",
    "ITEM_SHIP_NOTIFY",
    "FULFILLMENT_SHIPPED",
    "FULFILLMENT_REJECTED",
)
V2_RESOURCE_TYPES = (
    "BATCH_PROCESSED_V2",
    "TRACK_EVENT_V2",
    "SHIPMENT_CREATED_V2",
    "LABEL_CREATED_V2",
    "FULFILLMENT_SHIPPED_V2",
    "FULFILLMENT_REJECTED_V2",
)


def parse_pointer(body: bytes) -> tuple[str, str]:
    """(resource_type, resource_url) from a V1 webhook body; ValueError with a clear message otherwise."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("body is not a JSON object")
    resource_type, resource_url = data.get("resource_type"), data.get("resource_url")
    if not isinstance(resource_type, str) or not resource_type:
        raise ValueError("resource_type is missing")
    if not isinstance(resource_url, str) or not resource_url.startswith(("http://", "https://")):
        raise ValueError("resource_url is missing or not an absolute URL")
    return resource_type, resource_url


class ShipStationWebhook(WebhookEndpoint):
    system = "shipstation"
    extra_headers = signing.HEADERS

    def verify(self, request: HttpRequest, body: bytes, connection: Connection) -> bool | None:
        if api_version(connection) != "v2":
            return None  # V1: unsigned; the token and the follow-up fetch on our own host are the proof
        try:
            signing.verify(request.headers, body, jwks_for(connection))
        except signing.SignatureError as exc:
            raise SignatureRefused(str(exc)) from None
        except signing.KeysUnavailable as exc:
            raise VerifyLater(str(exc)) from None
        return True

    def parse(self, request: HttpRequest, body: bytes, connection: Connection) -> Parsed:
        try:
            resource_type, _ = parse_pointer(body)
        except ValueError as exc:
            raise Malformed(str(exc)) from None
        return Parsed(topic=resource_type)
