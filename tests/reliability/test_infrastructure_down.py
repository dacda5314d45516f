"""With Redis (and so the broker) unreachable, a webhook we stored is still answered 2xx, and the
sweep processes it once the queue is back; the broker options are set deliberately."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from connector import inbox, tasks
from connector.models import Connection, Delivery
from integrations.woocommerce.auth import sign

pytestmark = pytest.mark.django_db

SECRET = "s3cretABC123"
CLOSED_PORT = "redis://127.0.0.1:1/0"  # nothing listens on port 1: every call is refused at once


@pytest.fixture
def shop(alice):
    return Connection.objects.create(
        organization=alice.org,
        system="woocommerce",
        label="Shop",
        credentials={"consumer_key": "ck_x", "consumer_secret": "cs_x"},
        settings={"store_url": "https://shop.example.com"},
        webhook_secret=SECRET,
    )


def post_order(client, shop):
    body = json.dumps({"id": 727, "status": "processing"}).encode()
    return client.post(
        f"/hooks/woocommerce/{shop.webhook_token}/",
        data=body,
        content_type="application/json",
        HTTP_X_WC_WEBHOOK_TOPIC="order.updated",
        HTTP_X_WC_WEBHOOK_DELIVERY_ID="d-1",
        HTTP_X_WC_WEBHOOK_SIGNATURE=sign(body, SECRET),
    )


def test_a_stored_webhook_is_answered_200_with_redis_down_and_processed_by_the_sweep(
    client, shop, monkeypatch, inline_inbox, django_capture_on_commit_callbacks
):
    failures, own_redis = inbox.doorbell_failures, settings.REDIS_URL
    monkeypatch.setattr(settings, "REDIS_URL", CLOSED_PORT)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_order(client, shop)
    assert response.status_code == 200, response.content
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.RECEIVED and delivery.answered == 200
    assert inbox.doorbell_failures == failures + 1  # logged and counted
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at <= timezone.now()  # due at once

    # While Redis is still down the sweep claims it but cannot ring: it stays stored, looked at again.
    assert tasks.requeue_pending_work.run() == {"records": 0, "deliveries": 1, "polls": 0}
    assert inbox.doorbell_failures == failures + 2
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.RECEIVED and delivery.next_attempt_at > timezone.now()

    monkeypatch.setattr(settings, "REDIS_URL", own_redis)  # Redis is back
    monkeypatch.setattr(tasks.process_delivery, "delay", lambda pk: tasks.process_delivery.run(pk))
    later = delivery.next_attempt_at + timedelta(seconds=1)
    assert tasks.requeue_deliveries(later) == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PROCESSED, delivery.error


def test_the_broker_options_are_set_deliberately():
    from connector.celery import app

    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    timeout = app.conf.broker_transport_options["visibility_timeout"]
    # Above every countdown the broker holds and the longest poll, well under the old hour.
    assert timeout > max(tasks.MAX_BROKER_COUNTDOWN, tasks.POLL_LOCK_SECONDS)
    assert timeout < 3600
    sweep = settings.CELERY_BEAT_SCHEDULE["requeue-pending-work"]
    assert sweep["task"] == tasks.requeue_pending_work.name and sweep["schedule"] <= 60
    for task in (tasks.process_delivery, tasks.sync_record, tasks.poll_flow):
        assert task.acks_late is True
