"""Exact webhooks (EXACT.md §7): HashCode over the raw Content text, constant-time; stored, then the
engine reads the named sales order fresh with our own token."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from connector import engine
from connector.models import Delivery, Record
from integrations.exact.oauth import webhook_secret
from integrations.exact.sandbox import state
from integrations.exact.webhooks import hash_code, signed_body

pytestmark = pytest.mark.django_db(transaction=True)


def content(company, key: str, **extra) -> dict:
    return {
        "Topic": "SalesOrders",
        "ClientId": "e4c1a7f0-5a1b-4c2d-9e3f-000000000e4a",
        "Division": company.code,
        "Action": "Update",
        "Key": key,
        "ExactOnlineEndpoint": f"https://attacker.example/api/v1/{company.code}/salesorder/SalesOrders(guid'{key}')",
        "EventCreatedOn": "2026-01-06T16:26:08.587",
        **extra,
    }


def post(client, connection, body: bytes):
    url = reverse("exact_webhook", args=[connection.webhook_token])
    return client.post(url, data=body, content_type="application/json")


def test_signed_update_is_stored_and_becomes_the_fresh_order(client, exact_connection, company, flow):
    so = state.find(company, "SalesOrders", OrderNumber=2)
    assert post(client, exact_connection, b"").status_code == 200  # subscription check: nothing stored
    assert not Delivery.objects.exists()

    body = signed_body(content(company, so["OrderID"]), webhook_secret())
    response = post(client, exact_connection, body)
    assert response.status_code == 200 and response.json() == {"ok": True, "duplicate": False}
    delivery = Delivery.objects.get()
    assert delivery.status == "received" and delivery.signature_valid and bytes(delivery.body) == body
    assert post(client, exact_connection, body).json()["duplicate"] is True  # Exact retries: processed once

    state.put(company, "SalesOrders", {**so, "Remarks": "changed after the webhook was sent"}, guid=so["OrderID"])
    queued: list[int] = []
    assert engine.ingest_delivery(delivery, enqueue=queued.append) == 1
    record = Record.objects.get(pk=queued[0])
    assert record.object_type == "order" and record.source_ref == "2"
    assert record.source_payload["notes"] == "changed after the webhook was sent"  # read fresh, from our host


def test_hash_is_over_the_raw_content_text(client, exact_connection, company):
    so = state.find(company, "SalesOrders", OrderNumber=1)
    text = json.dumps(content(company, so["OrderID"]), indent=2).encode()  # Exact's own spacing, kept as is
    body = b'{"Content":' + text + b',"HashCode":"' + hash_code(text, webhook_secret()).lower().encode() + b'"}'
    assert post(client, exact_connection, body).status_code == 200  # lower-case hex is upper-cased first
    reserialised = json.dumps(json.loads(text), separators=(",", ":")).encode()
    wrong = b'{"Content":' + text + b',"HashCode":"' + hash_code(reserialised, webhook_secret()).encode() + b'"}'
    assert post(client, exact_connection, wrong).status_code == 401


@pytest.mark.parametrize(
    "body,reason",
    [
        (b"not json", "shape"),
        (b'{"Content":{"Topic":"SalesOrders","Key":"x"},"HashCode":"' + b"0" * 64 + b'"}', "HashCode"),
        (b'{"Content":{"Topic":"SalesOrders","Key":"x"}}', "shape"),
    ],
)
def test_forged_or_malformed_bodies_are_refused_and_recorded(client, exact_connection, body, reason):
    response = post(client, exact_connection, body)
    assert response.status_code == 401
    (delivery,) = Delivery.objects.all()
    assert delivery.status == "rejected" and reason in delivery.error


def test_another_division_is_refused(client, exact_connection, company):
    body = signed_body(content(company, "19cee073-095e-46d1-8d2d-f3fc97ba5bc1", Division=999999), webhook_secret())
    assert post(client, exact_connection, body).status_code == 403
    assert Delivery.objects.get().status == "rejected"


def test_unknown_token_and_oversize_bodies(client, exact_connection, settings):
    assert client.post("/hooks/exact/nope/", data=b"{}", content_type="application/json").status_code == 404
    settings.WEBHOOK_MAX_BODY_BYTES = 100
    assert post(client, exact_connection, b"{" + b" " * 200 + b"}").status_code == 413
    assert not Delivery.objects.exists()


def test_deleted_or_other_topics_make_no_records(exact_connection, company, flow):
    for extra in ({"Action": "Delete"}, {"Topic": "Accounts"}):
        body = signed_body(content(company, "19cee073-095e-46d1-8d2d-f3fc97ba5bc1", **extra), webhook_secret())
        delivery = Delivery.objects.create(
            organization=exact_connection.organization, connection=exact_connection, topic="x", body=body
        )
        assert engine.ingest_delivery(delivery, enqueue=lambda pk: None) == 0
