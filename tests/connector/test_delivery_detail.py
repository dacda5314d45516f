"""Each webhook delivery opens to its own page: headers, formatted body, our answer, the records it
produced, and Replay for failed ones (the way Stripe shows one event)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from connector import engine, tasks
from connector.models import Connection, Delivery, Flow, Record
from tests.connector import fake_systems
from tests.connector.fake_systems import WORLD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fakes():
    fake_systems.register_fakes()
    WORLD.__init__()


@pytest.fixture
def store(alice):
    src = Connection.objects.create(organization=alice.org, system="fakesrc", label="Alice's store")
    tgt = Connection.objects.create(organization=alice.org, system="faketgt", label="Books")
    Flow.objects.create(organization=alice.org, preset="fake_flow", source=src, target=tgt, enabled=True)
    return src


def delivery(conn, body: bytes, **extra) -> Delivery:
    fields = {"topic": "order.updated", "dedupe_key": f"k-{body[:20]!r}", "status": Delivery.Status.PROCESSED}
    return Delivery.objects.create(organization=conn.organization, connection=conn, body=body, **{**fields, **extra})


def test_a_delivery_shows_headers_body_answer_and_the_records_it_produced(alice_client, store):
    order = WORLD.add_order("1001")
    d = delivery(
        store,
        order.source_id.encode(),
        headers={"content-type": "application/json", "x-wc-webhook-topic": "order.updated"},
        delivery_id="abc123",
        signature_valid=True,
    )
    assert engine.ingest_delivery(d, enqueue=lambda pk: None) == 1
    record = Record.objects.get()
    html = alice_client.get(reverse("delivery_detail", args=[d.pk])).content.decode()
    assert "x-wc-webhook-topic" in html and "abc123" in html and "verified" in html
    assert "HTTP 200" in html and "stored before we answered" in html
    assert "Records it produced" in html and reverse("record_detail", args=[record.pk]) in html
    assert "Order 1001" in html
    # The record's timeline links back to the delivery it came from.
    record_html = alice_client.get(reverse("record_detail", args=[record.pk])).content.decode()
    assert reverse("delivery_detail", args=[d.pk]) in record_html
    # The list links each delivery to its page.
    listing = alice_client.get(reverse("deliveries")).content.decode()
    assert reverse("delivery_detail", args=[d.pk]) in listing


def test_the_body_is_formatted_json_with_secrets_masked(alice_client, store):
    body = json.dumps({"id": 5, "billing": {"email": "jo@example.com"}, "consumer_secret": "cs_live_x"}).encode()
    d = delivery(store, body)
    html = alice_client.get(reverse("delivery_detail", args=[d.pk])).content.decode()
    assert "&quot;billing&quot;: {\n" in html and "jo@example.com" in html
    assert "cs_live_x" not in html and "[redacted]" in html


def test_refused_and_malformed_deliveries_say_what_we_answered(alice_client, store):
    refused = delivery(
        store, b"{}", status=Delivery.Status.REJECTED, signature_valid=False, error="Rejected: signature mismatch"
    )
    refused.answered = 401
    refused.save()
    malformed = delivery(
        store, b"not json", status=Delivery.Status.FAILED, dedupe_key="malformed:1", error="bad", answered=400
    )
    refused_html = alice_client.get(reverse("delivery_detail", args=[refused.pk])).content.decode()
    assert "HTTP 401" in refused_html and "Refused: signature mismatch. Nothing was processed." in refused_html
    assert "Replay" not in refused_html.split("Records it produced")[0].split("Our answer")[1]
    malformed_html = alice_client.get(reverse("delivery_detail", args=[malformed.pk])).content.decode()
    assert "HTTP 400" in malformed_html and "not json" in malformed_html


def test_replay_from_the_delivery_page_returns_to_it(alice_client, store, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(tasks.drain_inbox, "delay", lambda: queued.append(1))
    failed = delivery(store, b"src-1", status=Delivery.Status.FAILED, error="Books server error 500")
    html = alice_client.get(reverse("delivery_detail", args=[failed.pk])).content.decode()
    assert "Books server error 500" in html and reverse("delivery_replay", args=[failed.pk]) in html
    answer = alice_client.post(reverse("delivery_replay", args=[failed.pk]), {"next": "detail"})
    assert answer.status_code == 302 and answer.url == reverse("delivery_detail", args=[failed.pk])
    failed.refresh_from_db()
    assert failed.status == Delivery.Status.RECEIVED


def test_another_tenants_delivery_page_is_404(alice_client, bob):
    bobs = Connection.objects.create(organization=bob.org, system="woocommerce", label="Bob's shop")
    theirs = delivery(bobs, b'{"secret": "bob-only"}')
    assert alice_client.get(reverse("delivery_detail", args=[theirs.pk])).status_code == 404


def test_the_answer_shown_is_the_one_the_endpoint_gave(alice_client, store):
    """Refused for another account (403) and keys unavailable (503) are not shown as 401."""
    other = delivery(store, b"{}", status=Delivery.Status.REJECTED, answered=403, error="Rejected: another company")
    later = delivery(
        store, b"{ }", status=Delivery.Status.REJECTED, answered=503, error="Not verified (retry expected): no keys"
    )
    other_html = alice_client.get(reverse("delivery_detail", args=[other.pk])).content.decode()
    assert "HTTP 403" in other_html and "Refused: another company." in other_html
    later_html = alice_client.get(reverse("delivery_detail", args=[later.pk])).content.decode()
    assert "HTTP 503" in later_html and "Not checked yet: no keys. The sender retries." in later_html
