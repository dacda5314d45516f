"""Growing past one machine: two web processes and four workers on separate queues share one
PostgreSQL, Redis and broker, and lose and duplicate nothing.

ShipStation sandbox orders fire their webhooks at the live server, and every one is delivered again
to a gunicorn process (a duplicate, as real senders do, on the other web node). Workers each take a
subset of the queues: webhooks+qbwc, polls, and two on sync. On RabbitMQ one sync worker is killed
with SIGKILL mid-run: its unacknowledged tasks go to the other sync worker at once. The end state is
read from the Zoho sandbox: one invoice per order with the right total, nothing left queued.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.db import connection
from django.utils import timezone

from connector.models import Connection, Delivery, Record
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxWebhookCall
from integrations.zoho.sandbox.models import SandboxZohoDocument
from tests.e2e.conftest import wait_until
from tests.e2e.test_shipstation_zoho import connect_and_start
from tests.integrations.shipstation.conftest import order_body
from tests.scale.conftest import (
    AMQP_URL,
    amqp_reachable,
    launch_web,
    launch_worker,
    process_env,
    purge_queues,
    queued_messages,
    received_sync_tasks,
    stop,
    unfinished_sync_tasks,
    wait_ready,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ORDERS = 40
WORKERS = {"hooks": "webhooks,qbwc", "polls": "polls", "sync1": "sync", "sync2": "sync"}


@pytest.fixture(params=["redis", "amqp"])
def broker_url(request, settings, celery_app_on):
    if connection.vendor != "postgresql":
        pytest.skip("the scale-out test needs PostgreSQL: several processes write one database")
    if request.param == "amqp":
        if not amqp_reachable(AMQP_URL):
            pytest.skip(f"RabbitMQ not reachable at {AMQP_URL.rsplit('@', 1)[-1]} (set TEST_AMQP_URL)")
        url = AMQP_URL
    else:
        url = settings.REDIS_URL
    purge_queues(url)
    celery_app_on(url)
    return url


@pytest.fixture
def cluster(broker_url, settings, live_server, tmp_path):
    """The second web process and the four workers; stopped (warm) after the test."""
    settings.PUBLIC_BASE_URL = live_server.url
    env = process_env(settings.REDIS_URL, broker_url, live_server.url)
    processes = {}
    try:
        processes["web2"], web2_url = launch_web(env, tmp_path / "web2.log")
        for name, queues in WORKERS.items():
            processes[name] = launch_worker(name, queues, env, tmp_path / f"{name}.log")
        wait_ready(list(processes.values()))
        yield web2_url, processes
    finally:
        for process in processes.values():
            stop(process)


@pytest.fixture
def merchant(client, alice, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    client.force_login(alice)
    return client


def test_two_web_nodes_four_workers_lose_and_duplicate_nothing(merchant, alice, live_server, broker_url, cluster):
    web2_url, processes = cluster
    setup = connect_and_start(merchant, alice, live_server)
    scale_vendor_clocks(setup)
    numbers = [f"S-{i}" for i in range(1, ORDERS + 1)]
    kill_after = ORDERS // 3 if broker_url.startswith("amqp") else None
    killed: set[str] = set()
    answered_by_web2 = 0
    for i, number in enumerate(numbers):
        setup.ss.create_order(order_body(number, email=f"{number}@example.com"))
        answered_by_web2 += deliver_again_to(web2_url, live_server.url)
        if i == kill_after:
            killed = kill_busy_sync_worker(processes["sync1"])

    if killed:
        # RabbitMQ gives the dead worker's unacknowledged tasks to the other sync worker at once
        # (Redis would hold them for its hour-long visibility timeout).
        wait_until(
            lambda: killed <= received_sync_tasks(processes["sync2"].log_path),
            timeout=15,
            message=f"the killed worker's tasks {sorted(killed)} redelivered to sync2",
        )
        lapse_dead_workers_leases()

    def all_synced():
        return Record.objects.filter(object_type="order", status="synced").count() == ORDERS and not (
            Record.objects.filter(status="pending").exists()
        )

    wait_until(all_synced, timeout=120, interval=0.5, message=f"{ORDERS} orders synced")
    zoho = setup.zoho_org
    for number in numbers:
        invoices = list(SandboxZohoDocument.objects.filter(org=zoho, kind="invoice", reference_number=number))
        assert len(invoices) == 1, f"exactly one invoice for {number}"
        assert Decimal(invoices[0].data["total"]) == Decimal("27.05")
    assert SandboxZohoDocument.objects.filter(org=zoho, kind="invoice").count() == ORDERS
    assert Record.objects.filter(object_type="order").count() == ORDERS  # nothing lost, nothing extra
    assert not Record.objects.exclude(status="synced").exists()
    # Both web nodes took deliveries (web2 answered each copy sent to it: accepted deliveries are not
    # in the access log, their Delivery rows are); every one was processed or recognised as a duplicate.
    assert answered_by_web2 == ORDERS
    assert Delivery.objects.count() >= 2 * ORDERS
    assert not Delivery.objects.exclude(status__in=["processed", "duplicate"]).exists()
    wait_until(lambda: not any(queued_messages(broker_url).values()), timeout=10, message="empty queues")


def scale_vendor_clocks(setup) -> None:
    """Vendor rate limits are per connection: one tenant's 40 orders take minutes at ShipStation's 40
    calls a minute and Zoho's 100, however many workers run. Scaled clocks fit the run in a test."""
    SandboxAccount.objects.filter(pk=setup.account.pk).update(rate_window_seconds=3)
    setup.zoho_org.rate_limit_per_minute = 6000
    setup.zoho_org.save(update_fields=["rate_limit_per_minute"])
    zoho = Connection.objects.get(organization=setup.flow.organization, system="zoho")
    zoho.settings = {**zoho.settings, "rate_limit_per_minute": 6000}
    zoho.save(update_fields=["settings"])


def deliver_again_to(web2_url: str, web1_url: str) -> int:
    """The newest ORDER_NOTIFY call, POSTed once more, to the other web node (a duplicate delivery);
    1 once that node has answered it 2xx."""
    call = wait_until(
        lambda: SandboxWebhookCall.objects.filter(webhook__event="ORDER_NOTIFY").order_by("-id").first(),
        message="the sandbox's webhook call",
    )
    target = call.webhook.target_url.replace(web1_url, web2_url)
    assert target.startswith(web2_url)
    response = requests.post(target, json=call.body, timeout=10)
    assert response.status_code < 300, response.text[:500]
    return 1


def kill_busy_sync_worker(worker) -> set[str]:
    """SIGKILL a sync worker while it holds unfinished tasks; the ids of those tasks."""
    wait_until(lambda: unfinished_sync_tasks(worker.log_path), timeout=30, interval=0.05, message="sync1 busy")
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    killed = unfinished_sync_tasks(worker.log_path)
    assert killed, "sync1 finished its tasks before it was killed: nothing to redeliver"
    return killed


def lapse_dead_workers_leases(quiet: float = 6.0) -> None:
    """Let the dead worker's record leases lapse now rather than after engine.LEASE (five minutes).

    Its leases are the ones nobody renews or releases: still pending and unchanged after `quiet`
    seconds (a live worker holds one for well under a second). The redelivered tasks found those
    records leased and retry in 30 s, as they would after a real crash."""
    before = dict(
        Record.objects.filter(status="pending", lease_until__gt=timezone.now()).values_list("id", "lease_until")
    )
    time.sleep(quiet)
    after = dict(
        Record.objects.filter(status="pending", lease_until__gt=timezone.now()).values_list("id", "lease_until")
    )
    stale = [pk for pk, until in after.items() if before.get(pk) == until]
    Record.objects.filter(pk__in=stale).update(lease_until=timezone.now() - timedelta(seconds=1))
