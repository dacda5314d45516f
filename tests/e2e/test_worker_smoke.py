"""A real worker process runs a flow's records: the Celery wiring (queues, routing, acks) works."""

from __future__ import annotations

import pytest

from connector.models import Connection, Flow, Record
from connector.tasks import poll_flow
from tests.connector import fake_systems
from tests.e2e.conftest import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_worker_process_runs_poll_and_sync_tasks(alice, celery_worker):
    """The worker runs in its own process, so it cannot see in-memory fakes: a flow whose systems
    have no adapters there must fail visibly (recorded on the flow), never vanish."""
    fake_systems.register_fakes()
    src = Connection.objects.create(organization=alice.org, system="fakesrc", label="Store")
    tgt = Connection.objects.create(organization=alice.org, system="faketgt", label="Books")
    flow = Flow.objects.create(organization=alice.org, preset="fake_flow", source=src, target=tgt, enabled=True)
    poll_flow.delay(flow.pk)
    flow = wait_until(
        lambda: Flow.objects.filter(pk=flow.pk, last_run_status="error").first(), message="the worker's poll"
    )
    assert "fake_flow" in flow.last_run_error
    assert not Record.objects.exists()
