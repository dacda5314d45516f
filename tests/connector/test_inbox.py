"""Webhook inbox: stored before 2xx, duplicates recorded but processed once, oversize refused."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from connector import tasks
from connector.inbox import BodyTooLarge, accept_delivery, read_body
from connector.models import Connection, Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def conn(alice):
    return Connection.objects.create(organization=alice.org, system="woocommerce", label="Store")


@pytest.fixture
def processed(monkeypatch):
    ids: list[int] = []
    monkeypatch.setattr(tasks.process_delivery, "delay", ids.append)
    return ids


def test_duplicates_are_recorded_but_processed_once(conn, processed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = accept_delivery(conn, topic="order.updated", body=b'{"id":1}', headers={}, delivery_id="d-1")
        again = accept_delivery(conn, topic="order.updated", body=b'{"id":1}', headers={}, delivery_id="d-1")
        by_body = accept_delivery(conn, topic="order.created", body=b'{"id":2}', headers={})
        by_body_again = accept_delivery(conn, topic="order.created", body=b'{"id":2}', headers={})
    assert first.status == by_body.status == Delivery.Status.RECEIVED
    assert again.status == by_body_again.status == Delivery.Status.DUPLICATE
    assert processed == [first.pk, by_body.pk]
    assert Delivery.objects.count() == 4  # nothing accepted is lost, duplicates included


def test_oversized_bodies_are_refused_before_reading(settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 10
    request = RequestFactory().post("/hooks/x/", data=b"x" * 11, content_type="application/json")
    with pytest.raises(BodyTooLarge):
        read_body(request)
    ok = RequestFactory().post("/hooks/x/", data=b"x" * 10, content_type="application/json")
    assert read_body(ok) == b"x" * 10


@pytest.mark.parametrize(("system", "reason"), [("qbdesktop", "handler"), ("retired_system", "Unknown system")])
def test_a_delivery_nothing_can_handle_fails_visibly(alice, system, reason):
    conn = Connection.objects.create(organization=alice.org, system=system, label="x")
    delivery = Delivery.objects.create(organization=conn.organization, connection=conn, dedupe_key="k", body=b"{}")
    tasks.process_delivery.run(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED and reason in delivery.error


def test_same_body_under_a_new_delivery_id_is_a_duplicate(conn, processed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = accept_delivery(conn, topic="order.updated", body=b'{"id":9}', headers={}, delivery_id="a")
        resent = accept_delivery(conn, topic="order.updated", body=b'{"id":9}', headers={}, delivery_id="b")
        other_topic = accept_delivery(conn, topic="order.created", body=b'{"id":9}', headers={}, delivery_id="c")
    assert resent.status == Delivery.Status.DUPLICATE
    assert processed == [first.pk, other_topic.pk]
