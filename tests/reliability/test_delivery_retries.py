"""Failed webhook deliveries retry from their row: a vendor's 500 or 429 gets a next attempt with
backoff (shown on the pages), a permanent refusal stays failed for Replay, and a delivery that ran
out of tries stays failed and visible."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from connector import tasks
from connector.http import Permanent, RateLimited, Transient
from connector.models import Connection, Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def conn(alice):
    return Connection.objects.create(organization=alice.org, system="woocommerce", label="Shop")


@pytest.fixture
def handler(monkeypatch):
    """The delivery's handler: raises the queued errors in turn, then succeeds."""
    errors: list[Exception] = []
    calls: list[int] = []

    def handle(delivery):
        calls.append(delivery.pk)
        if errors:
            raise errors.pop(0)

    monkeypatch.setattr(tasks, "_delivery_handler", lambda delivery: (handle, ""))
    handle.errors, handle.calls = errors, calls
    return handle


@pytest.fixture
def processed_inline(monkeypatch, inline_inbox):
    """The sweep's doorbell drains here and runs each delivery at once (no worker in this test)."""
    monkeypatch.setattr(tasks.process_delivery, "delay", lambda pk: tasks.process_delivery.run(pk))


def stored(conn, **fields) -> Delivery:
    return Delivery.objects.create(
        organization=conn.organization,
        connection=conn,
        dedupe_key=f"k-{Delivery.objects.count()}",
        body=b"{}",
        **fields,
    )


def test_a_delivery_failed_on_a_vendor_500_gets_a_next_attempt_and_is_retried(conn, handler, processed_inline):
    delivery = stored(conn)
    handler.errors.append(Transient("Zoho Books server error 500", status=500))
    tasks.process_delivery.run(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED and "500" in delivery.error
    assert delivery.attempts == 1 and delivery.next_attempt_at > timezone.now()
    assert delivery.next_attempt_at <= timezone.now() + timedelta(seconds=tasks.delivery_retry_policy().cap)

    assert tasks.requeue_deliveries() == []  # not due yet
    due = delivery.next_attempt_at + timedelta(seconds=1)
    assert tasks.requeue_deliveries(due) == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PROCESSED and delivery.error == ""
    assert delivery.next_attempt_at is None and delivery.attempts == 2
    assert handler.calls == [delivery.pk, delivery.pk]
    assert tasks.requeue_deliveries(due + timedelta(hours=1)) == []  # processed: never again


def test_a_rate_limited_delivery_waits_at_least_what_the_vendor_asked(conn, handler):
    delivery = stored(conn)
    handler.errors.append(RateLimited("429", retry_after=900, status=429))
    tasks.process_delivery.run(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=890)


def test_a_permanent_failure_stays_failed_for_replay(conn, handler):
    delivery = stored(conn)
    handler.errors.append(Permanent("Zoho Books refused it: invalid customer"))
    tasks.process_delivery.run(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED and delivery.next_attempt_at is None
    assert tasks.requeue_deliveries(timezone.now() + timedelta(days=1)) == []
    assert handler.calls == [delivery.pk]


def test_a_delivery_that_runs_out_of_tries_stays_failed(conn, handler):
    last = tasks.delivery_retry_policy().max_attempts - 1
    delivery = stored(conn, attempts=last)
    handler.errors.append(Transient("502", status=502))
    tasks.process_delivery.run(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED and delivery.next_attempt_at is None
    assert delivery.attempts == last + 1


def test_a_failed_delivery_waiting_for_its_retry_is_not_run_early(conn, handler):
    """A stray message (a duplicate, an old countdown) for a delivery that waits is refused."""
    delivery = stored(conn, status=Delivery.Status.FAILED, next_attempt_at=timezone.now() + timedelta(minutes=5))
    tasks.process_delivery.run(delivery.pk)
    assert handler.calls == []


def test_replay_gives_a_full_set_of_tries(conn, handler, django_capture_on_commit_callbacks, processed_inline):
    from connector.inbox import replay_delivery

    delivery = stored(conn, status=Delivery.Status.FAILED, attempts=8, error="gave up")
    with django_capture_on_commit_callbacks(execute=True):
        assert replay_delivery(delivery)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PROCESSED and delivery.attempts == 1


def test_the_pages_show_the_next_attempt(alice_client, conn):
    at = timezone.now() + timedelta(minutes=7)
    delivery = stored(
        conn, status=Delivery.Status.FAILED, error="Zoho Books server error 500", attempts=2, next_attempt_at=at
    )
    final = stored(conn, status=Delivery.Status.FAILED, error="invalid customer", attempts=1)
    listing = alice_client.get(reverse("deliveries")).content.decode()
    assert "Retrying" in listing and "Next attempt" in listing and "try 3 of 8" in listing
    assert listing.count("Next attempt") == 1  # the final one has none
    page = alice_client.get(reverse("delivery_detail", args=[delivery.pk])).content.decode()
    assert "Next attempt" in page and at.isoformat()[:16] in page and "tried again automatically" in page
    final_page = alice_client.get(reverse("delivery_detail", args=[final.pk])).content.decode()
    assert "Next attempt" not in final_page and "then press Replay" in final_page
