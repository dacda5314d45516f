"""connector.webhooks.WebhookEndpoint on its own: a small signed vendor served from this module's URLconf.

The vendor: `X-Demo-Signature` is the hex HMAC-SHA256 of the body with the connection's webhook
secret, `X-Demo-Keys: down` says its keys cannot be fetched, the body `ping` is its handshake, and a
delivery is a JSON object `{"topic", "id", "account"}` that must name the connection's account.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.test import Client, override_settings
from django.urls import path

from connector import tasks
from connector.inbox import replay_delivery
from connector.models import Connection, Delivery
from connector.web.deliveries import answer_of
from connector.webhooks import Malformed, Parsed, Refused, SignatureRefused, VerifyLater, WebhookEndpoint

SECRET = "demo-secret"


class DemoHook(WebhookEndpoint):
    system = "demo"
    extra_headers = ("x-demo-event",)
    secret_field = "webhook_secret"

    def is_handshake(self, request, body):
        return body == b"ping"

    def verify(self, request, body, connection):
        if request.headers.get("X-Demo-Keys") == "down":
            raise VerifyLater("key server unreachable")
        expected = hmac.new((connection.webhook_secret or "").encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Demo-Signature", "")):
            raise SignatureRefused("signature mismatch")
        return True

    def parse(self, request, body, connection):
        try:
            self.payload = json.loads(body)
        except ValueError as exc:
            raise Malformed(f"body is not JSON: {exc}") from None
        if not isinstance(self.payload, dict) or "topic" not in self.payload:
            raise Malformed("no topic", delivery_id=str(self.payload.get("id", "")))
        return Parsed(topic=self.payload["topic"], delivery_id=str(self.payload.get("id", "")))

    def check(self, connection, parsed):
        if self.payload.get("account") != connection.settings.get("account"):
            raise Refused("another account", topic="account")


class ReplayableDemoHook(DemoHook):
    malformed_status = Delivery.Status.FAILED


urlpatterns = [
    path("hooks/demo/<str:token>/", DemoHook.as_view()),
    path("hooks/demo-replayable/<str:token>/", ReplayableDemoHook.as_view()),
]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


@pytest.fixture
def conn(alice):
    return Connection.objects.create(
        organization=alice.org, system="demo", label="Demo", webhook_secret=SECRET, settings={"account": "A1"}
    )


@pytest.fixture
def processed(monkeypatch, inline_inbox):
    ids: list[int] = []
    monkeypatch.setattr(tasks.process_delivery, "delay", ids.append)
    return ids


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(conn_or_token, body: bytes, *, signature=None, route="demo", **headers):
    token = getattr(conn_or_token, "webhook_token", conn_or_token)
    headers.setdefault("HTTP_X_DEMO_SIGNATURE", sign(body) if signature is None else signature)
    client = Client(enforce_csrf_checks=True)  # vendors never carry a CSRF token
    return client.post(f"/hooks/{route}/{token}/", data=body, content_type="application/json", **headers)


def delivery_body(**fields) -> bytes:
    return json.dumps({"topic": "thing.updated", "id": "d-1", "account": "A1", **fields}).encode()


def test_unknown_or_disabled_connection_is_404(conn):
    assert post("not-a-token", delivery_body()).status_code == 404
    Connection.objects.filter(pk=conn.pk).update(status=Connection.Status.DISABLED)
    assert post(conn, delivery_body()).status_code == 404
    other = Connection.objects.create(organization=conn.organization, system="other", label="Other")
    assert post(other, delivery_body()).status_code == 404  # a token of another system
    assert not Delivery.objects.exists()


@override_settings(WEBHOOK_MAX_BODY_BYTES=100)
def test_body_too_large_is_413_and_stores_nothing(conn):
    response = post(conn, delivery_body(pad="x" * 200))
    assert response.status_code == 413 and "exceeds 100" in response.json()["error"]
    assert not Delivery.objects.exists()


def test_handshake_is_200_and_stores_nothing(conn):
    response = post(conn, b"ping", signature="")
    assert response.status_code == 200 and response.json()["ok"] is True
    assert not Delivery.objects.exists()


def test_only_post_is_allowed(conn):
    assert Client().get(f"/hooks/demo/{conn.webhook_token}/").status_code == 405
    assert Client().put(f"/hooks/demo/{conn.webhook_token}/", data=delivery_body()).status_code == 405


def test_bad_signature_is_401_and_recorded_rejected(conn, processed):
    body = delivery_body()
    response = post(conn, body, signature=sign(body, "wrong"), HTTP_X_DEMO_EVENT="e-1", HTTP_AUTHORIZATION="x")
    assert response.status_code == 401 and "signature mismatch" in response.json()["error"]
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.REJECTED and delivery.signature_valid is False
    assert delivery.topic == "signature" and delivery.error == "Rejected: signature mismatch"
    assert delivery.answered == 401 and answer_of(delivery)[0] == 401
    assert bytes(delivery.body) == body and delivery.headers["x-demo-event"] == "e-1"
    assert "authorization" not in delivery.headers
    assert not replay_delivery(delivery) and processed == []


def test_keys_unavailable_is_503_and_recorded_rejected(conn, processed):
    response = post(conn, delivery_body(), HTTP_X_DEMO_KEYS="down")
    assert response.status_code == 503 and "retry later" in response.json()["error"]
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.REJECTED
    assert delivery.error == "Not verified (retry expected): key server unreachable"
    assert answer_of(delivery)[0] == 503
    assert processed == []


def test_malformed_is_400_and_recorded_rejected_not_replayable(conn, processed):
    response = post(conn, b"{not json")
    assert response.status_code == 400 and "not JSON" in response.json()["error"]
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.REJECTED and delivery.topic == "malformed"
    assert delivery.error.startswith("Malformed: body is not JSON") and bytes(delivery.body) == b"{not json"
    assert delivery.dedupe_key.startswith("malformed:") and delivery.signature_valid is True
    assert not replay_delivery(delivery) and processed == []


def test_malformed_can_be_stored_failed_visible_and_replayable(conn, processed, django_capture_on_commit_callbacks):
    body = json.dumps({"id": "d-9"}).encode()
    assert post(conn, body, route="demo-replayable").status_code == 400
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED and delivery.delivery_id == "d-9"
    assert answer_of(delivery)[0] == 400  # the deliveries page says what we answered
    assert Delivery.objects.filter(organization=conn.organization, status=Delivery.Status.FAILED).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert replay_delivery(delivery)
    assert processed == [delivery.pk]


def test_a_delivery_for_another_account_is_refused_by_check(conn, processed):
    response = post(conn, delivery_body(account="B2"))
    assert response.status_code == 403 and response.json() == {"error": "refused: another account"}
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.REJECTED and delivery.topic == "account"
    assert answer_of(delivery)[0] == 403  # not shown as a signature failure
    assert processed == []


def test_good_delivery_is_stored_once_before_200_and_processed(conn, processed, django_capture_on_commit_callbacks):
    body = delivery_body()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(conn, body, HTTP_X_DEMO_EVENT="e-1")
    assert response.status_code == 200 and response.json() == {"ok": True, "duplicate": False}
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.RECEIVED and delivery.signature_valid is True
    assert (delivery.topic, delivery.delivery_id, bytes(delivery.body)) == ("thing.updated", "d-1", body)
    assert delivery.headers == {
        "content-type": "application/json",
        "x-demo-event": "e-1",
        "x-request-id": response["X-Request-ID"],  # its processing logs under the same id
    }
    assert processed == [delivery.pk]


def test_duplicate_is_recorded_and_processed_once(conn, processed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = post(conn, delivery_body())
        again = post(conn, delivery_body())
    assert first.json()["duplicate"] is False and again.json()["duplicate"] is True
    statuses = sorted(Delivery.objects.values_list("status", flat=True))
    assert statuses == [Delivery.Status.DUPLICATE, Delivery.Status.RECEIVED]
    assert len(processed) == 1


def test_a_secret_rotated_moments_ago_is_read_fresh_before_refusing(conn):
    assert post(conn, delivery_body(id="before")).status_code == 200  # the connection is now cached
    conn.webhook_secret = "rotated"
    conn.save()
    body = delivery_body(id="after")
    assert post(conn, body, signature=sign(body, "rotated")).status_code == 200
    stale = delivery_body(id="stale")
    assert post(conn, stale, signature=sign(stale, SECRET)).status_code == 401


def test_an_endpoint_must_say_how_it_verifies(conn):
    class Unverified(WebhookEndpoint):
        system = "demo"

    with pytest.raises(NotImplementedError):
        Unverified().verify(None, b"", conn)
