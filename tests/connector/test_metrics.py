"""/metrics: Prometheus text read at scrape time from the database and Redis, behind a bearer token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import current_app, shared_task
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from connector import metrics as counters
from connector.http import ApiClient, RateLimited
from connector.inbox import INBOX_QUEUE
from connector.models import Alert, Connection, Delivery, Record
from connector.redis import get_redis
from tests.conftest import make_flow, make_record
from tests.connector.vendor_stub import StubServer

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789"
# Label names a series may carry: product names and statuses only, never a tenant's ids.
ALLOWED_LABELS = {"status", "system", "queue", "task", "quantile"}


class DemoClient(ApiClient):
    system = "metricsdemo"
    max_429_retries = 0


@shared_task(name="tests.metrics.always_fails")
def always_fails() -> None:
    raise ValueError("boom")


def scrape(token: str | None = TOKEN, scheme: str = "Bearer"):
    headers = {"HTTP_AUTHORIZATION": f"{scheme} {token}"} if token is not None else {}
    return Client().get("/metrics", **headers)


def samples(response) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a scrape, read by prometheus_client's own parser."""
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, sample
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels) -> float:
    return found[(name, tuple(sorted(labels.items())))]


# --- Protection ------------------------------------------------------------------------------------


def test_without_a_configured_token_the_page_does_not_exist(settings):
    settings.METRICS_TOKEN = ""
    assert scrape().status_code == 404
    assert scrape(token="").status_code == 404


@pytest.mark.parametrize(
    ("token", "scheme"),
    [(None, "Bearer"), ("wrong-token", "Bearer"), ("", "Bearer"), (TOKEN + "x", "Bearer"), (TOKEN, "Basic")],
)
def test_a_missing_or_wrong_token_is_401(settings, token, scheme):
    settings.METRICS_TOKEN = TOKEN
    response = scrape(token, scheme)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"connector_" not in response.content


def test_the_right_token_gets_prometheus_text(settings):
    settings.METRICS_TOKEN = TOKEN
    response = scrape()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert value(samples(response), "connector_redis_up") == 1
    assert scrape(scheme="bearer").status_code == 200  # the scheme is case-insensitive


# --- Values ----------------------------------------------------------------------------------------


def _deliveries(conn: Connection) -> None:
    now = timezone.now()
    for i, status in enumerate(["processed", "processed", "rejected", "received"]):
        Delivery.objects.create(organization=conn.organization, connection=conn, dedupe_key=f"k{i}", status=status)
    Delivery.objects.create(
        organization=conn.organization,
        connection=conn,
        dedupe_key="old",
        status="rejected",
        received_at=now - timedelta(days=2),
    )


def _records(alice) -> None:
    flow = make_flow(alice.org)
    now = timezone.now()
    make_record(flow, "1001")  # pending, seen just now
    waiting = make_record(flow, "1002")
    # Changed at the source 10 minutes ago, stored an hour ago: it has waited 10 minutes.
    Record.objects.filter(pk=waiting.pk).update(
        created_at=now - timedelta(hours=1), source_modified_at=now - timedelta(minutes=10)
    )
    for number, lag in (("1003", 30), ("1004", 90)):
        synced = make_record(flow, number, status=Record.Status.SYNCED)
        Record.objects.filter(pk=synced.pk).update(
            created_at=now - timedelta(minutes=5, seconds=lag), synced_at=now - timedelta(minutes=5)
        )
    old = make_record(flow, "1005", status=Record.Status.SYNCED)
    Record.objects.filter(pk=old.pk).update(synced_at=now - timedelta(hours=3))  # outside the window
    make_record(flow, "1006", status=Record.Status.FAILED)


def _vendor_calls() -> None:
    stub = StubServer()
    try:
        client = DemoClient(stub.url, sleep=lambda s: None)
        stub.queue(200, {"ok": True})
        client.request_json("GET", "orders")
        stub.queue(429, {"message": "slow down"}, headers={"Retry-After": "1"})
        with pytest.raises(RateLimited):
            client.request_json("GET", "orders")
        stub.queue(500, {"message": "down"})
        with pytest.raises(Exception, match="server error"):
            client.request_json("GET", "orders")
    finally:
        stub.close()


def test_scrape_reports_deliveries_records_lag_calls_queues_failures_and_token_trouble(settings, alice):
    settings.METRICS_TOKEN = TOKEN
    conn = Connection.objects.create(organization=alice.org, system="shipstation", label="Store")
    _deliveries(conn)
    _records(alice)
    _vendor_calls()
    assert always_fails.apply().failed()
    get_redis().rpush(INBOX_QUEUE, 1, 2)
    current_app.send_task("connector.tasks.sync_record", args=(1,))  # waits in the broker: no worker here
    failing = Connection.objects.create(
        organization=alice.org, system="zoho", label="Books", settings={"oauth_failures": 2}
    )
    Connection.objects.create(organization=alice.org, system="exact", label="Ledger", settings={"oauth_failures": 0})
    Alert.objects.create(organization=alice.org, key=f"reauth:{failing.pk}", message="reconnect", connection=failing)
    Alert.objects.create(organization=alice.org, key="reauth:0", message="done", resolved_at=timezone.now())

    found = samples(scrape())

    assert value(found, "connector_webhook_deliveries", status="processed") == 2
    assert value(found, "connector_webhook_deliveries", status="rejected") == 2
    assert value(found, "connector_webhook_deliveries_last_24h", status="rejected") == 1
    assert value(found, "connector_webhook_deliveries_last_24h", status="received") == 1
    assert value(found, "connector_webhook_deliveries_last_24h", status="duplicate") == 0  # a known status is 0
    assert value(found, "connector_records", status="pending") == 2
    assert value(found, "connector_records", status="synced") == 3
    assert value(found, "connector_records", status="failed") == 1
    assert 590 <= value(found, "connector_sync_oldest_pending_seconds") <= 660
    assert value(found, "connector_records_synced_last_hour") == 2
    assert value(found, "connector_sync_lag_seconds", quantile="0.5") == pytest.approx(30, abs=1)
    assert value(found, "connector_sync_lag_seconds", quantile="0.95") == pytest.approx(90, abs=1)
    assert value(found, "connector_vendor_calls_total", system="metricsdemo", status="2xx") == 1
    assert value(found, "connector_vendor_calls_total", system="metricsdemo", status="4xx") == 1
    assert value(found, "connector_vendor_calls_total", system="metricsdemo", status="5xx") == 1
    assert value(found, "connector_vendor_rate_limited_total", system="metricsdemo") == 1
    assert value(found, "connector_celery_task_failures_total", task="tests.metrics.always_fails") == 1
    assert value(found, "connector_queue_depth", queue="inbox") == 2
    assert value(found, "connector_queue_depth", queue="sync") == 1
    assert value(found, "connector_queue_depth", queue="webhooks") == 0
    assert value(found, "connector_connections", system="zoho", status="active") == 2  # the flow's and "Books"
    assert value(found, "connector_token_refresh_failing_connections", system="zoho") == 1
    assert ("connector_token_refresh_failing_connections", (("system", "exact"),)) not in found
    assert value(found, "connector_reauth_alerts_open", system="zoho") == 1


def test_counters_add_up_in_redis_and_labels_stay_plain():
    counters.count_vendor_call("Some System!", None)
    counters.count_vendor_call("Some System!", 429)
    counters.count_task_failure("")
    assert counters.read_counts(counters.VENDOR_CALLS) == {("some_system_", "error"): 1, ("some_system_", "4xx"): 1}
    assert counters.read_counts(counters.VENDOR_RATE_LIMITED) == {("some_system_",): 1}
    assert counters.read_counts(counters.TASK_FAILURES) == {("unknown",): 1}


def test_without_redis_the_scrape_still_answers_from_the_database(settings, alice, monkeypatch):
    import redis

    settings.METRICS_TOKEN = TOKEN
    make_record(make_flow(alice.org), "1")

    def down(*args, **kwargs):
        raise redis.ConnectionError("refused")

    monkeypatch.setattr(counters, "read_counts", down)
    found = samples(scrape())
    assert value(found, "connector_redis_up") == 0
    assert value(found, "connector_records", status="pending") == 1
    assert not any(name.startswith("connector_queue_depth") for name, _ in found)


def test_no_tenant_data_in_any_label(settings, alice):
    settings.METRICS_TOKEN = TOKEN
    flow = make_flow(alice.org)
    make_record(flow, "SECRET-ORDER-77")
    text = scrape().content.decode()
    for tenant_value in (alice.org.name, str(flow.source.label), "SECRET-ORDER-77", f'"{alice.org.pk}"'):
        assert tenant_value not in text
