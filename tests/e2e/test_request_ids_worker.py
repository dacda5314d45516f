"""A real worker process logs a task under the request id its message carries (a message header, which
only a real worker reads back as an attribute of the task's request)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from connector import metrics as counters
from connector.logs import bind_request_id, unbind_request_id
from connector.models import Connection, Delivery
from connector.tasks import requeue_stale_deliveries
from tests.e2e.conftest import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def worker_lines(worker) -> list[dict]:
    lines = []
    for raw in worker.log_path.read_text().splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def test_a_task_queued_under_a_request_logs_under_its_id_in_the_worker(alice, celery_worker):
    conn = Connection.objects.create(organization=alice.org, system="retired_system", label="Old")
    stale = Delivery.objects.create(
        organization=alice.org,
        connection=conn,
        dedupe_key="k",
        body=b"{}",
        received_at=timezone.now() - timedelta(minutes=10),
    )
    token = bind_request_id("req-e2e-sweep")
    try:
        requeue_stale_deliveries.delay()
    finally:
        unbind_request_id(token)
    # The sweep queues the delivery again; the drain and process tasks it leads to run in the worker.
    wait_until(lambda: Delivery.objects.filter(pk=stale.pk, status="failed").exists(), message="the delivery")
    swept = wait_until(
        lambda: [
            line for line in worker_lines(celery_worker) if line["message"].startswith("requeued 1 webhook deliveries")
        ],
        message="the sweep's log line",
    )
    assert swept[0]["request_id"] == "req-e2e-sweep" and swept[0]["task_id"]
    assert counters.read_counts(counters.TASK_FAILURES) == {}  # nothing failed
