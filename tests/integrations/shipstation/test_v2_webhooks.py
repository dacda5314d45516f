"""V2 deliveries at /hooks/shipstation/<token>/: signed by the sandbox, keys from the sandbox JWKS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.urls import reverse

from connector.models import Connection, Delivery
from integrations.shipstation import signing
from integrations.shipstation.sandbox import keys, state
from integrations.shipstation.sandbox.delivery import deliver_pending
from integrations.shipstation.sandbox.models import SandboxSigningKey, SandboxWebhook, SandboxWebhookCall
from tests.sandbox_session import signed_in

from .conftest import order_body

BODY = json.dumps({"resource_url": "https://api.shipstation.com/v2/labels/se-1", "resource_type": "LABEL_CREATED_V2"})


@pytest.fixture
def v2_connection(alice, account, sandbox_root):
    return Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="SS V2",
        credentials={"v2_api_key": account.v2_api_key},
        settings={"base_url": sandbox_root, "api_version": "v2"},
    )


def signed(body: str, *, at: datetime | None = None, key: SandboxSigningKey | None = None) -> dict:
    key = key or keys.current_key()
    stamp = signing.utc_stamp(at)
    return {
        "HTTP_X_SHIPENGINE_RSA_SHA256_KEY_ID": key.kid,
        "HTTP_X_SHIPENGINE_TIMESTAMP": stamp,
        "HTTP_X_SHIPENGINE_RSA_SHA256_SIGNATURE": signing.sign(keys.private_key(key), stamp, body.encode()),
    }


def _post(client, connection, body: str, **headers):
    url = reverse("shipstation_webhook", args=[connection.webhook_token])
    return client.post(url, data=body, content_type="application/json", **headers)


def test_signed_delivery_is_accepted_with_keys_from_the_sandbox_jwks(client, v2_connection):
    response = _post(client, v2_connection, BODY, **signed(BODY))
    assert response.status_code == 200, response.content
    delivery = Delivery.objects.get(connection=v2_connection)
    assert delivery.signature_valid is True and delivery.topic == "LABEL_CREATED_V2"
    assert delivery.headers[signing.KEY_ID_HEADER] == keys.current_key().kid


@pytest.mark.parametrize(
    "case", ["tampered", "stale", "missing_headers", "unknown_kid", "wrong_key", "unsigned_v1_style"]
)
def test_bad_deliveries_are_401_and_recorded_as_rejected(client, v2_connection, case):
    headers = signed(BODY)
    body = BODY
    if case == "tampered":
        body = BODY.replace("se-1", "se-999")
    elif case == "stale":
        headers = signed(BODY, at=datetime.now(UTC) - timedelta(minutes=6))
    elif case == "missing_headers":
        del headers["HTTP_X_SHIPENGINE_RSA_SHA256_SIGNATURE"]
    elif case == "unknown_kid":
        headers["HTTP_X_SHIPENGINE_RSA_SHA256_KEY_ID"] = "forged-kid"
    elif case == "wrong_key":
        first = keys.current_key()
        other = keys.create_key()  # published too: only the kid/key pairing is wrong
        headers = {**signed(BODY, key=other), "HTTP_X_SHIPENGINE_RSA_SHA256_KEY_ID": first.kid}
    elif case == "unsigned_v1_style":
        headers = {}  # a V2 connection never takes the unsigned V1 path
    response = _post(client, v2_connection, body, **headers)
    assert response.status_code == 401
    delivery = Delivery.objects.get(connection=v2_connection)
    assert delivery.status == Delivery.Status.REJECTED and delivery.signature_valid is False
    assert delivery.error.startswith("Rejected:") and bytes(delivery.body) == body.encode()
    assert not Delivery.objects.exclude(status=Delivery.Status.REJECTED).exists()


def test_key_rotation_is_followed(client, v2_connection, sandbox_root, alice):
    assert _post(client, v2_connection, BODY, **signed(BODY)).status_code == 200
    assert requests.post(sandbox_root + "/_control/v2/rotate_key", timeout=10).status_code == 401  # login first
    kid = signed_in(alice).post(sandbox_root + "/_control/v2/rotate_key", timeout=10).json()["kid"]
    body2 = BODY.replace("se-1", "se-2")
    assert keys.current_key().kid == kid
    assert _post(client, v2_connection, body2, **signed(body2)).status_code == 200
    assert Delivery.objects.filter(connection=v2_connection, signature_valid=True).count() == 2


def test_unreachable_jwks_is_503_and_recorded(client, v2_connection):
    Connection.objects.filter(pk=v2_connection.pk).update(
        settings={"base_url": "http://127.0.0.1:9/sandbox/shipstation", "api_version": "v2"}
    )
    v2_connection.refresh_from_db()
    response = _post(client, v2_connection, BODY, **signed(BODY))
    assert response.status_code == 503
    delivery = Delivery.objects.get(connection=v2_connection)
    assert delivery.status == Delivery.Status.REJECTED and "retry" in delivery.error


def test_v1_connections_ignore_signature_headers(client, alice):
    connection = Connection.objects.create(organization=alice.org, system="shipstation", label="SS")
    body = json.dumps({"resource_url": "https://ssapi.shipstation.com/orders?x=1", "resource_type": "ORDER_NOTIFY"})
    assert _post(client, connection, body).status_code == 200


def test_sandbox_really_sends_signed_v2_deliveries(v2_connection, account, sandbox_root):
    """End to end: a V2 subscription, a new order in the sandbox, a signed POST that our view verifies."""
    from integrations.shipstation import connection as conn

    conn.ensure_v2_webhooks(v2_connection, conn.v2_client_for(v2_connection))
    SandboxWebhook.objects.filter(account=account).update(headers=[{"key": "x-custom", "value": "1"}])
    account.auto_deliver_webhooks = False
    account.save()
    state.upsert_order(account, order_body("V2-1"), notify=True)
    calls = deliver_pending()
    assert [(c.webhook.event, c.status, c.response_status) for c in calls] == [("shipment_created_v2", "sent", 200)]
    delivery = Delivery.objects.get(connection=v2_connection)
    assert delivery.topic == "SHIPMENT_CREATED_V2" and delivery.signature_valid is True
    assert json.loads(bytes(delivery.body))["resource_url"].startswith(sandbox_root + "/v2/")
    assert SandboxWebhookCall.objects.get().status == "sent"
