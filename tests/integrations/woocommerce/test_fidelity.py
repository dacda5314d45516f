"""WooCommerce deliveries as core sends them, replayed against our endpoint, and our sandbox's
deliveries compared with core's.

`tests/specs/woocommerce/deliveries/core-order-updated.json` (PROVENANCE.md in that folder) holds one
`order.updated` delivery built exactly as `WC_Webhook::deliver()` builds it
(woocommerce/plugins/woocommerce/includes/class-wc-webhook.php): the seven X-WC-Webhook-* headers, the
Hookshot user agent, a base64 HMAC-SHA256 signature of the raw body, a delivery id
`wp_hash($webhook_id . strtotime('now'))`, and the body of the official docs' order 727; plus the
creation ping `webhook_id=N` of `deliver_ping()` and the header case some receivers see.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from connector.models import Connection, Delivery
from integrations.woocommerce.auth import signature_matches
from integrations.woocommerce.sandbox import delivery as sandbox_delivery
from integrations.woocommerce.sandbox.models import SandboxWebhook
from integrations.woocommerce.sandbox.store import create_order

SPEC = Path(__file__).resolve().parents[2] / "specs" / "woocommerce" / "deliveries" / "core-order-updated.json"
CORE_HEADERS = (
    "X-WC-Webhook-Source",
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Resource",
    "X-WC-Webhook-Event",
    "X-WC-Webhook-Signature",
    "X-WC-Webhook-ID",
    "X-WC-Webhook-Delivery-ID",
)
HOOKSHOT = re.compile(r"^WooCommerce/[\d.]+ Hookshot \(WordPress/[\d.]+\)$")


def recorded() -> dict:
    return json.loads(SPEC.read_text())


def as_meta(headers: dict) -> dict:
    """Django test-client keyword arguments for raw header names."""
    meta = {}
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        meta[key if key in ("CONTENT_TYPE",) else f"HTTP_{key}"] = value
    return meta


@pytest.fixture
def store_connection(alice, inline_inbox, monkeypatch):
    monkeypatch.setattr("connector.tasks.process_delivery.delay", lambda pk: None)
    return Connection.objects.create(
        organization=alice.org,
        system="woocommerce",
        label="Shop",
        settings={"store_url": "https://example.com"},
        webhook_secret=recorded()["secret"],
    )


def post(client, connection, body: str, headers: dict):
    headers = dict(headers)
    content_type = headers.pop("Content-Type")
    return client.post(
        f"/hooks/woocommerce/{connection.webhook_token}/",
        data=body.encode(),
        content_type=content_type,
        **as_meta(headers),
    )


def test_the_recorded_delivery_is_what_core_computes():
    """The fixture's signature and delivery id follow generate_signature() and get_new_delivery_id()."""
    spec = recorded()
    digest = hmac.new(spec["secret"].encode(), spec["body"].encode(), hashlib.sha256).digest()
    assert spec["headers"]["X-WC-Webhook-Signature"] == base64.b64encode(digest).decode()
    expected_id = sandbox_delivery.wp_hash(f"{spec['webhook_id']}{spec['unix_second']}", spec["auth_salt"])
    assert spec["headers"]["X-WC-Webhook-Delivery-ID"] == expected_id
    assert HOOKSHOT.match(spec["headers"]["User-Agent"]) and spec["headers"]["X-WC-Webhook-Source"].endswith("/")


@pytest.mark.django_db
def test_a_core_delivery_is_verified_stored_and_a_resend_is_a_duplicate(client, store_connection):
    spec = recorded()
    first = post(client, store_connection, spec["body"], spec["headers"])
    again = post(client, store_connection, spec["body"], spec["headers"])
    assert first.status_code == again.status_code == 200
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    stored = Delivery.objects.order_by("id").first()
    assert stored.signature_valid is True and stored.topic == "order.updated"
    assert stored.delivery_id == spec["headers"]["X-WC-Webhook-Delivery-ID"]
    kept = {k.lower() for k in stored.headers}
    assert {h.lower() for h in CORE_HEADERS if h != "X-WC-Webhook-Signature"} <= kept


@pytest.mark.django_db
def test_another_order_in_the_same_second_under_the_same_id_is_a_new_delivery(client, store_connection):
    spec = recorded()
    order = json.loads(spec["body"])
    order["id"], order["number"] = 728, "728"
    other = json.dumps(order, separators=(",", ":")).replace("/", "\\/")
    signed = {
        **spec["headers"],
        "X-WC-Webhook-Signature": base64.b64encode(
            hmac.new(spec["secret"].encode(), other.encode(), hashlib.sha256).digest()
        ).decode(),
    }
    post(client, store_connection, spec["body"], spec["headers"])
    second = post(client, store_connection, other, signed)
    assert second.status_code == 200 and second.json()["duplicate"] is False
    assert Delivery.objects.filter(status=Delivery.Status.RECEIVED).count() == 2


@pytest.mark.django_db
def test_camel_cased_header_names_are_the_same_headers(client, store_connection):
    spec = recorded()
    renamed = dict(zip(CORE_HEADERS, recorded()["received_header_case"]["names"], strict=True))
    headers = {renamed.get(k, k): v for k, v in spec["headers"].items()}
    answer = post(client, store_connection, spec["body"], headers)
    assert answer.status_code == 200
    assert Delivery.objects.get().delivery_id == spec["headers"]["X-WC-Webhook-Delivery-ID"]


@pytest.mark.django_db
def test_the_creation_ping_is_answered_200_and_stores_nothing(client, store_connection):
    ping = recorded()["ping"]
    answer = post(client, store_connection, ping["body"], ping["headers"])
    assert answer.status_code == 200 and not Delivery.objects.exists()


# --- The sandbox sends what core sends ------------------------------------------------------------


class Capture(BaseHTTPRequestHandler):
    received: list[tuple[dict, bytes]] = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        Capture.received.append((dict(self.headers.items()), self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def capture():
    """A receiver on 127.0.0.1 that records what the sandbox sends."""
    Capture.received = []
    server = HTTPServer(("127.0.0.1", 0), Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", Capture.received
    server.shutdown()
    server.server_close()


def test_the_sandbox_sends_cores_headers_body_and_ping(shop, capture):
    url, received = capture
    hook = SandboxWebhook.objects.create(store=shop, topic="order.created", delivery_url=url, secret="sandbox-secret")
    sandbox_delivery.ping(hook)
    create_order(shop, {"status": "processing", "billing": {"email": "b@example.com"}, "line_items": []})
    (ping_headers, ping_body), (headers, body) = received
    core = recorded()
    assert ping_body.decode() == f"webhook_id={hook.pk}" and not any(
        h.lower().startswith("x-wc-") for h in ping_headers
    )
    assert HOOKSHOT.match(ping_headers["User-Agent"]) and HOOKSHOT.match(headers["User-Agent"])
    sent = {k for k in headers if k.lower().startswith("x-wc-")}
    assert sent == set(CORE_HEADERS) == {k for k in core["headers"] if k.startswith("X-WC-")}
    assert headers["Content-Type"] == core["headers"]["Content-Type"]
    assert (headers["X-WC-Webhook-Resource"], headers["X-WC-Webhook-Event"]) == ("order", "created")
    assert headers["X-WC-Webhook-ID"] == str(hook.pk) and headers["X-WC-Webhook-Source"].endswith("/")
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-WC-Webhook-Delivery-ID"])  # wp_hash: hex MD5
    assert signature_matches(body, "sandbox-secret", headers["X-WC-Webhook-Signature"])
    assert b"\\/" in body or b"/" not in body  # wp_json_encode escapes slashes
