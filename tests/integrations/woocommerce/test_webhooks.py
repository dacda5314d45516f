"""POST /hooks/woocommerce/<token>/: ping, signatures, size, malformed JSON, duplicates, unknown tokens."""

import json
from unittest import mock

import pytest
from django.test import override_settings

from connector.models import Connection, Delivery
from integrations.woocommerce import auth
from integrations.woocommerce.auth import sign

from .conftest import load_fixture

SECRET = "s3cretABC123"


@pytest.fixture
def connection(alice, inline_inbox):
    return Connection.objects.create(
        organization=alice.org,
        system="woocommerce",
        label="Shop",
        credentials={"consumer_key": "ck_x", "consumer_secret": "cs_x"},
        settings={"store_url": "https://shop.example.com"},
        webhook_secret=SECRET,
    )


def url(connection):
    return f"/hooks/woocommerce/{connection.webhook_token}/"


def post(client, connection, body: bytes, *, topic="order.updated", signature=None, delivery_id="d-1", **extra):
    headers = {"HTTP_X_WC_WEBHOOK_TOPIC": topic, "HTTP_X_WC_WEBHOOK_DELIVERY_ID": delivery_id, **extra}
    if signature is not False:
        headers["HTTP_X_WC_WEBHOOK_SIGNATURE"] = signature if signature is not None else sign(body, SECRET)
    return client.post(url(connection), data=body, content_type="application/json", **headers)


def order_body() -> bytes:
    return json.dumps(load_fixture("order_727_docs.json")).encode()


def test_signature_is_base64_hmac_sha256_of_the_raw_body():
    # Known answer computed independently: printf '{"id":1}' | openssl dgst -sha256 -hmac key -binary | base64
    assert sign(b'{"id":1}', "key") == "yVxqfCx8dh6YTGjPZLS8qT8HJCkAqv27Mo07t1qw3LA="


def test_good_signature_is_stored_and_enqueued(client, connection, django_capture_on_commit_callbacks):
    body = order_body()
    with (
        mock.patch("connector.tasks.process_delivery.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = post(client, connection, body)
    assert response.status_code == 200
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.RECEIVED and delivery.signature_valid is True
    assert bytes(delivery.body) == body
    assert delivery.topic == "order.updated" and delivery.delivery_id == "d-1"
    delay.assert_called_once_with(delivery.pk)


def test_signature_check_is_constant_time(client, connection):
    with mock.patch.object(auth.hmac, "compare_digest", wraps=auth.hmac.compare_digest) as compare:
        post(client, connection, order_body())
    assert compare.called


@pytest.mark.parametrize("signature", ["AAAA", "", False, sign(b"other body", SECRET), sign(b"x", "wrong")])
def test_bad_or_missing_signature_is_refused_and_recorded(client, connection, signature):
    body = order_body()
    with mock.patch("connector.tasks.process_delivery.delay") as delay:
        response = post(client, connection, body, signature=signature)
    assert response.status_code == 401
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.REJECTED and delivery.signature_valid is False
    assert not delay.called


def test_signature_with_another_connections_secret_is_refused(client, connection, bob):
    other = Connection.objects.create(organization=bob.org, system="woocommerce", label="B", webhook_secret="bobsecret")
    body = order_body()
    response = post(client, connection, body, signature=sign(body, other.webhook_secret))
    assert response.status_code == 401


def test_creation_ping_is_answered_200_and_not_stored(client, connection):
    response = client.post(url(connection), data="webhook_id=42", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert not Delivery.objects.exists()


def test_unknown_token_is_404(client, db):
    response = client.post("/hooks/woocommerce/not-a-token/", data="{}", content_type="application/json")
    assert response.status_code == 404


@override_settings(WEBHOOK_MAX_BODY_BYTES=1000)
def test_oversize_body_is_413(client, connection):
    body = json.dumps({"id": 1, "pad": "x" * 2000}).encode()
    response = post(client, connection, body)
    assert response.status_code == 413
    assert not Delivery.objects.exists()


def test_malformed_json_is_400_and_recorded(client, connection):
    body = b'{"id": 1, "broken": '
    response = post(client, connection, body)
    assert response.status_code == 400
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED and bytes(delivery.body) == body
    assert "JSON" in delivery.error


def test_duplicate_delivery_is_recorded_but_processed_once(client, connection, django_capture_on_commit_callbacks):
    body = order_body()
    with (
        mock.patch("connector.tasks.process_delivery.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        first = post(client, connection, body, delivery_id="abc")
        second = post(client, connection, body, delivery_id="abc")
    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    statuses = sorted(Delivery.objects.values_list("status", flat=True))
    assert statuses == [Delivery.Status.DUPLICATE, Delivery.Status.RECEIVED]
    assert delay.call_count == 1


def test_unknown_topic_is_stored_and_answered_200(client, connection):
    response = post(client, connection, b'{"id": 5}', topic="coupon.created")
    assert response.status_code == 200
    assert Delivery.objects.get().topic == "coupon.created"


def test_get_is_not_allowed(client, connection):
    assert client.get(url(connection)).status_code == 405


def test_a_secret_changed_moments_ago_is_accepted_despite_the_connection_cache(client, connection):
    """The receive path caches the connection for a few seconds; a mismatch re-reads it once."""
    assert post(client, connection, order_body(), delivery_id="before").status_code == 200  # now cached
    connection.webhook_secret = "rotated-secret"
    connection.save()
    body = order_body().replace(b"}", b', "x": 1}', 1)
    fresh = post(client, connection, body, signature=sign(body, "rotated-secret"), delivery_id="after")
    assert fresh.status_code == 200
    stale = post(client, connection, body + b" ", signature=sign(body + b" ", SECRET), delivery_id="old")
    assert stale.status_code == 401  # the old secret no longer verifies
