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
def processed(monkeypatch, inline_inbox):
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


# --- The doorbell: a burst of deliveries costs one Celery message, and nothing is left waiting ---


@pytest.fixture
def drains(monkeypatch):
    published: list[int] = []
    monkeypatch.setattr(tasks.drain_inbox, "delay", lambda: published.append(1))
    return published


def waiting() -> list[int]:
    from connector.inbox import INBOX_QUEUE
    from connector.redis import get_redis

    return [int(x) for x in get_redis().lrange(INBOX_QUEUE, 0, -1)]


def test_a_burst_rings_the_doorbell_once_and_the_drain_fans_out(
    conn, drains, monkeypatch, django_capture_on_commit_callbacks
):
    from connector.inbox import INBOX_DOORBELL
    from connector.redis import get_redis

    with django_capture_on_commit_callbacks(execute=True):
        burst = [
            accept_delivery(conn, topic="order.updated", body=b"[%d]" % i, headers={}, delivery_id=f"b-{i}")
            for i in range(5)
        ]
    assert len(drains) == 1, "one drain task for the whole burst"
    assert waiting() == [d.pk for d in burst]

    fanned: list[int] = []
    monkeypatch.setattr(tasks.process_delivery, "delay", fanned.append)
    assert tasks.drain_inbox.run() == 5
    assert fanned == [d.pk for d in burst] and waiting() == []
    assert not get_redis().exists(INBOX_DOORBELL), "an empty inbox releases the doorbell"

    with django_capture_on_commit_callbacks(execute=True):
        accept_delivery(conn, topic="order.updated", body=b"{}", headers={}, delivery_id="later")
    assert len(drains) == 2, "the next delivery after a drain rings again"


def test_a_delivery_arriving_while_the_drain_runs_is_not_left_behind(conn, drains, monkeypatch):
    from connector.inbox import ring_doorbell

    ring_doorbell(101)
    fanned: list[int] = []

    def arrive_during_fan_out(delivery_id: int) -> None:
        fanned.append(delivery_id)
        if delivery_id == 101:
            ring_doorbell(102)  # the doorbell is still held: this request publishes nothing

    monkeypatch.setattr(tasks.process_delivery, "delay", arrive_during_fan_out)
    tasks.drain_inbox.run()
    assert fanned == [101, 102] and waiting() == []
    assert len(drains) == 1


def test_stale_received_deliveries_are_queued_again(conn, drains):
    from datetime import timedelta

    from django.utils import timezone

    old = timezone.now() - timedelta(minutes=10)
    stale = Delivery.objects.create(
        organization=conn.organization, connection=conn, dedupe_key="s", body=b"{}", received_at=old
    )
    Delivery.objects.create(
        organization=conn.organization, connection=conn, dedupe_key="f", body=b"{}"
    )  # fresh: still queued
    Delivery.objects.create(
        organization=conn.organization,
        connection=conn,
        dedupe_key="p",
        body=b"{}",
        received_at=old,
        status=Delivery.Status.PROCESSED,
    )
    assert tasks.requeue_stale_deliveries.run() == 1
    assert waiting() == [stale.pk] and len(drains) == 1


def test_a_delivery_claimed_by_another_run_is_left_to_it(alice):
    from connector.redis import get_redis

    conn = Connection.objects.create(organization=alice.org, system="qbdesktop", label="x")
    delivery = Delivery.objects.create(organization=conn.organization, connection=conn, dedupe_key="k", body=b"{}")
    get_redis().set(f"delivery:claim:{delivery.pk}", "1")
    tasks.process_delivery.run(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.RECEIVED, "the claim holder processes it, not a second run"
    get_redis().delete(f"delivery:claim:{delivery.pk}")
    tasks.process_delivery.run(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED  # processed (no handler for this system: visibly)
    assert not get_redis().exists(f"delivery:claim:{delivery.pk}")


@pytest.mark.django_db(transaction=True)
def test_concurrent_copies_of_one_delivery_give_exactly_one_first(alice, drains):
    """The database decides: eight threads racing with the same delivery id store eight rows, one received."""
    import threading

    from django.db import connection as db_connection

    conn = Connection.objects.create(organization=alice.org, system="woocommerce", label="Store")
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def send(i: int) -> None:
        try:
            barrier.wait()
            accept_delivery(
                conn, topic="order.updated", body=f'{{"copy":{i}}}'.encode(), headers={}, delivery_id="same"
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = Delivery.objects.filter(connection=conn)
    assert rows.count() == 8
    assert rows.filter(status=Delivery.Status.RECEIVED, is_first=True).count() == 1
    assert rows.filter(status=Delivery.Status.DUPLICATE, is_first=False).count() == 7


def test_webhook_paths_skip_the_middleware_stack(conn):
    """connector.wsgi sends /hooks/ to a handler without middleware; other paths keep the stack."""
    import io

    from connector.wsgi import application

    def call(path: str) -> dict:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "HTTP_HOST": "testserver",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.url_scheme": "http",
        }
        seen: dict = {}

        def start_response(status, headers, exc_info=None):
            seen["status"] = status
            seen["headers"] = dict(headers)

        b"".join(application(environ, start_response))
        return seen

    hook = call(f"/hooks/woocommerce/{conn.webhook_token}/")
    assert hook["status"].startswith("405")  # the view itself answered (POST only)
    assert "X-Frame-Options" not in hook["headers"] and "Set-Cookie" not in hook["headers"]
    page = call("/accounts/login/")
    assert page["status"].startswith("200") and page["headers"].get("X-Frame-Options") == "DENY"


def test_the_hook_connection_cache_is_short_and_a_fresh_read_sees_changes(conn, monkeypatch):
    from connector import inbox

    conn.webhook_secret = "old"
    conn.save()
    assert inbox.hook_connection("woocommerce", conn.webhook_token, "webhook_secret").webhook_secret == "old"
    Connection.objects.filter(pk=conn.pk).update(status=Connection.Status.DISABLED)
    # Within the cache window the cached row answers; a fresh read (or the window passing) sees the change.
    assert inbox.hook_connection("woocommerce", conn.webhook_token, "webhook_secret") is not None
    assert inbox.hook_connection("woocommerce", conn.webhook_token, "webhook_secret", fresh=True) is None
    monkeypatch.setattr(inbox, "HOOK_CACHE_SECONDS", 0.0)
    inbox._hook_cache.clear()
    assert inbox.hook_connection("woocommerce", conn.webhook_token, "webhook_secret") is None
    assert inbox.hook_connection("woocommerce", conn.webhook_token) is None  # full reads are never cached


@pytest.mark.django_db(transaction=True)
def test_a_dead_kept_connection_is_replaced_and_the_delivery_stored(alice, drains):
    """Without a per-request health check, the INSERT finds a dead kept connection itself (the database
    restarted, an idle connection cut): it reconnects once and the delivery is stored, not a 500."""
    from django.db import connection as db_connection

    if db_connection.vendor != "postgresql":
        pytest.skip("terminates a PostgreSQL backend")
    import psycopg

    conn = Connection.objects.create(organization=alice.org, system="woocommerce", label="Store")
    db_connection.ensure_connection()
    dead = db_connection.connection.info.backend_pid
    params = db_connection.get_connection_params()
    dsn = {k: params[k] for k in ("dbname", "user", "password", "host", "port") if params.get(k)}
    with psycopg.connect(**dsn, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [dead])
    first = accept_delivery(conn, topic="order.updated", body=b'{"id":1}', headers={}, delivery_id="d-1")
    again = accept_delivery(conn, topic="order.updated", body=b'{"id":1}', headers={}, delivery_id="d-1")
    assert db_connection.connection.info.backend_pid != dead
    assert first.is_first and first.status == Delivery.Status.RECEIVED
    assert not again.is_first and again.status == Delivery.Status.DUPLICATE
    rows = Delivery.objects.filter(connection=conn).order_by("pk")
    assert [(r.pk, r.is_first, r.status) for r in rows] == [
        (first.pk, True, Delivery.Status.RECEIVED),
        (again.pk, False, Delivery.Status.DUPLICATE),
    ]
    assert bytes(rows[1].body) == b'{"id":1}' and rows[1].dedupe_key == rows[0].dedupe_key


def test_the_webhook_insert_is_prepared_once_per_database_connection(conn):
    """Django opens psycopg connections with prepared statements off, which makes psycopg ignore
    `execute(prepare=True)`: the INSERT was parsed and planned for every delivery. It is prepared on
    its first use and reused; no other query on the connection is prepared."""
    from django.db import connection as db_connection

    if db_connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's server-side prepared statements")
    for n in range(3):
        accept_delivery(conn, topic="order.updated", body=b'{"id":%d}' % n, headers={}, delivery_id=f"p-{n}")
    list(Connection.objects.filter(pk=conn.pk))  # an ordinary ORM query, several times
    list(Connection.objects.filter(pk=conn.pk))
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE from_sql = FALSE")
        prepared = [row[0] for row in cursor.fetchall()]
    assert len(prepared) == 1, prepared
    assert prepared[0].startswith('WITH first AS (INSERT INTO "connector_delivery"')


def test_a_duplicate_row_keeps_everything_the_first_copy_has(conn, processed, django_capture_on_commit_callbacks):
    """The duplicate is written by the same statement as the first-copy attempt: all the same columns,
    only not first and DUPLICATE."""
    headers = {"content-type": "application/json", "x-wc-webhook-topic": "order.updated"}
    with django_capture_on_commit_callbacks(execute=True):
        first = accept_delivery(conn, topic="order.updated", body=b'{"id":5}', headers=headers, delivery_id="d-5")
        again = accept_delivery(
            conn, topic="order.updated", body=b'{"id":5}', headers=headers, delivery_id="d-5", signature_valid=True
        )
    a, b = Delivery.objects.get(pk=first.pk), Delivery.objects.get(pk=again.pk)
    assert (a.is_first, a.status, b.is_first, b.status) == (True, "received", False, "duplicate")
    for field in ("organization_id", "connection_id", "topic", "delivery_id", "dedupe_key", "body_hash", "headers"):
        assert getattr(a, field) == getattr(b, field), field
    assert bytes(b.body) == b'{"id":5}' and b.signature_valid is True and a.signature_valid is None
    assert processed == [first.pk]


def test_webhook_requests_resolve_among_the_integration_urls_only(conn):
    """connector.wsgi resolves /hooks/ against connector.hook_urls: the same views, by the same names."""
    from django.urls import resolve, reverse

    from connector.wsgi import HOOKS_URLCONF

    path = f"/hooks/woocommerce/{conn.webhook_token}/"
    assert reverse("woocommerce_webhook", args=[conn.webhook_token], urlconf=HOOKS_URLCONF) == path
    assert resolve(path, urlconf=HOOKS_URLCONF).func.view_class is resolve(path).func.view_class


def test_webhook_urlconf_lists_every_integration_webhook_and_nothing_else():
    """Every `hooks/` route of the root URLconf is in connector.hook_urls, one level deep (no walk
    through includes per delivery), and nothing that is not a webhook is."""
    from django.urls import URLPattern, get_resolver

    from connector import hook_urls

    def routes(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern), entry.callback
            else:
                yield from routes(entry.url_patterns, prefix + str(entry.pattern))

    root = {route: view for route, view in routes(get_resolver().url_patterns) if route.startswith("hooks/")}
    assert {"hooks/woocommerce/<str:token>/", "hooks/shipstation/<str:token>/", "hooks/exact/<str:token>/"} <= set(root)
    assert all(isinstance(p, URLPattern) for p in hook_urls.urlpatterns)
    assert {str(p.pattern): p.callback for p in hook_urls.urlpatterns} == root


def test_doorbell_queues_a_large_sweep_in_chunks(settings):
    """The sweep rings for up to a thousand deliveries at once, beyond what one Lua call unpacks."""
    from connector import inbox
    from connector.redis import get_redis

    redis = get_redis()
    redis.delete(inbox.INBOX_QUEUE, inbox.INBOX_DOORBELL)
    sent = []
    settings_chunk, inbox.RING_CHUNK = inbox.RING_CHUNK, 7
    try:
        from unittest import mock

        with mock.patch.object(inbox, "send", side_effect=lambda name: sent.append(name)):
            assert inbox.ring_doorbell_safely(*range(1, 20)) is True
            inbox.ring_doorbell_safely(20)
    finally:
        inbox.RING_CHUNK = settings_chunk
    assert [int(x) for x in redis.lrange(inbox.INBOX_QUEUE, 0, -1)] == list(range(1, 21))
    assert sent == [inbox.DRAIN_INBOX], "one drain for the lot; the doorbell is still up for the next ring"
    redis.delete(inbox.INBOX_QUEUE, inbox.INBOX_DOORBELL)


@pytest.mark.django_db
def test_deleting_a_connection_or_organisation_still_deletes_its_deliveries(conn):
    """The inbox table has no database foreign-key checks (a locking read per delivery); Django's
    own cascade still removes a deleted connection's or organisation's deliveries."""
    other = Connection.objects.create(organization=conn.organization, system="shipstation", label="Other")
    for connection, n in ((conn, 1), (other, 2)):
        accept_delivery(connection, topic="order.updated", body=b'{"id":%d}' % n, headers={})
    conn.delete()
    assert list(Delivery.objects.values_list("connection_id", flat=True)) == [other.pk]
    other.organization.delete()
    assert not Delivery.objects.exists()
