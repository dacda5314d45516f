"""POST /hooks/shipstation/<token>/: unknown token, malformed, oversize, accepted, duplicate."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from connector.models import Connection, Delivery

POINTER = {
    "resource_url": "https://ssapi.shipstation.com/orders?storeID=1&importBatch=abc",
    "resource_type": "ORDER_NOTIFY",
}


@pytest.fixture
def connection(alice):
    return Connection.objects.create(organization=alice.org, system="shipstation", label="SS")


def _post(client, token, body, **extra):
    return client.post(
        reverse("shipstation_webhook", args=[token]), data=body, content_type="application/json", **extra
    )


def test_unknown_token_is_404(client, connection):
    assert _post(client, "nope", json.dumps(POINTER)).status_code == 404
    assert not Delivery.objects.exists()


def test_accepted_pointer_is_stored_before_200(client, connection, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(client, connection.webhook_token, json.dumps(POINTER))
    assert response.status_code == 200 and response.json() == {"ok": True, "duplicate": False}
    delivery = Delivery.objects.get(connection=connection)
    assert delivery.topic == "ORDER_NOTIFY" and json.loads(bytes(delivery.body)) == POINTER
    assert len(callbacks) == 1  # processing is enqueued after commit
    again = _post(client, connection.webhook_token, json.dumps(POINTER))
    assert again.json()["duplicate"] is True and Delivery.objects.filter(status="duplicate").count() == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (json.dumps({"resource_type": "ORDER_NOTIFY"}).encode(), "resource_url"),
    ],
)
def test_malformed_bodies_are_400_and_recorded_as_rejected(client, connection, body, reason):
    response = _post(client, connection.webhook_token, body)
    assert response.status_code == 400 and reason in response.json()["error"]
    delivery = Delivery.objects.get(connection=connection)
    assert delivery.status == Delivery.Status.REJECTED and reason in delivery.error and bytes(delivery.body) == body


def test_oversize_body_is_413(client, connection, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 100
    assert _post(client, connection.webhook_token, json.dumps({**POINTER, "pad": "x" * 200})).status_code == 413


def test_disabled_connection_is_404(client, connection):
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.DISABLED)
    assert _post(client, connection.webhook_token, json.dumps(POINTER)).status_code == 404


def test_unknown_resource_types_fail_visibly_before_any_call(connection):
    """The engine turns deliveries into changes through the source adapter; an unknown type is a
    Permanent error (the Delivery is marked failed), and nothing is fetched."""
    from connector.http import Permanent
    from integrations.shipstation.adapter import ShipStationSource

    calls = []
    source = ShipStationSource(connection, on_call=calls.append)
    delivery = Delivery(connection=connection, body=json.dumps({**POINTER, "resource_type": "BOGUS"}).encode())
    with pytest.raises(Permanent, match="BOGUS"):
        source.changes_from_delivery(delivery)
    assert calls == []
