"""The webhook deliveries page: visible failures, Replay for failed ones only, tenant-scoped."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connector import tasks
from connector.models import Connection, Delivery

pytestmark = pytest.mark.django_db


def delivery(conn, status, **extra) -> Delivery:
    return Delivery.objects.create(
        organization=conn.organization, connection=conn, dedupe_key=f"k-{status}", body=b"{}", status=status, **extra
    )


@pytest.fixture
def shop(alice):
    return Connection.objects.create(organization=alice.org, system="woocommerce", label="Alice's shop")


def test_failures_are_listed_with_their_error_and_filterable(alice_client, shop):
    delivery(shop, Delivery.Status.FAILED, topic="order.updated", error="Zoho Books server error 500")
    delivery(shop, Delivery.Status.PROCESSED, topic="order.created")
    page = alice_client.get(reverse("deliveries")).content.decode()
    assert "Zoho Books server error 500" in page and "order.created" in page and "1 failed" in page
    only_failed = alice_client.get(reverse("deliveries"), {"status": "failed"}).content.decode()
    assert "order.updated" in only_failed and "order.created" not in only_failed
    dashboard = alice_client.get(reverse("dashboard")).content.decode()
    assert "1 webhook delivery failed" in dashboard and reverse("deliveries") + "?status=failed" in dashboard


def test_replay_queues_a_failed_delivery_again(
    alice_client, shop, monkeypatch, inline_inbox, django_capture_on_commit_callbacks
):
    queued: list[int] = []
    monkeypatch.setattr(tasks.process_delivery, "delay", queued.append)
    failed = delivery(shop, Delivery.Status.FAILED, error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("delivery_replay", args=[failed.pk]))
    assert response.status_code == 302
    failed.refresh_from_db()
    assert failed.status == Delivery.Status.RECEIVED and failed.error == "" and queued == [failed.pk]


@pytest.mark.parametrize("status", [Delivery.Status.REJECTED, Delivery.Status.DUPLICATE, Delivery.Status.PROCESSED])
def test_only_failed_deliveries_are_replayed(alice_client, shop, monkeypatch, status):
    queued: list[int] = []
    monkeypatch.setattr(tasks.drain_inbox, "delay", lambda: queued.append(1))
    kept = delivery(shop, status)
    alice_client.post(reverse("delivery_replay", args=[kept.pk]))
    kept.refresh_from_db()
    assert kept.status == status and not queued


def test_another_tenants_deliveries_are_invisible_and_not_replayable(alice_client, bob):
    bobs = Connection.objects.create(organization=bob.org, system="woocommerce", label="Bob's secret shop")
    theirs = delivery(bobs, Delivery.Status.FAILED, error="bob-only error")
    assert "bob-only error" not in alice_client.get(reverse("deliveries")).content.decode()
    assert alice_client.post(reverse("delivery_replay", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Delivery.Status.FAILED


def test_the_api_lists_and_replays_deliveries_of_its_own_organisation(alice_client, shop, bob, monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr(tasks.drain_inbox, "delay", lambda: queued.append(1))
    failed = delivery(shop, Delivery.Status.FAILED, topic="order.updated", error="boom")
    rejected = delivery(shop, Delivery.Status.REJECTED)
    bobs = Connection.objects.create(organization=bob.org, system="woocommerce", label="Bob")
    theirs = delivery(bobs, Delivery.Status.FAILED)
    listed = alice_client.get("/api/v1/deliveries/", {"status": "failed"}).json()["results"]
    assert [d["id"] for d in listed] == [failed.pk] and "body" not in listed[0]
    assert alice_client.get(f"/api/v1/deliveries/{theirs.pk}/").status_code == 404
    assert alice_client.post(f"/api/v1/deliveries/{theirs.pk}/replay/").status_code == 404
    assert alice_client.post(f"/api/v1/deliveries/{rejected.pk}/replay/").status_code == 409
    answer = alice_client.post(f"/api/v1/deliveries/{failed.pk}/replay/")
    assert answer.status_code == 202 and answer.json()["status"] == "received"


def test_the_list_pages_through_an_organisations_deliveries_by_index(alice_client, shop):
    """Newest first, paged by id, scoped to one organisation: an index on (organisation, id) keeps a
    page one index range however many deliveries other tenants have."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's query plans")
    with CaptureQueriesContext(connection) as captured:
        assert alice_client.get(reverse("deliveries"), {"before": 10**9}).status_code == 200
    listing = [q["sql"] for q in captured.captured_queries if 'ORDER BY "connector_delivery"."id" DESC' in q["sql"]]
    assert len(listing) == 1
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {listing[0]}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "delivery_org_idx" in plan, plan
