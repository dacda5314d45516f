"""The chaos run, small: a few dozen orders through ShipStation → Zoho Books, WooCommerce → Zoho
Books and Exact Online ↔ ShipStation while the vendors answer 10% 5xx and 5% 429 and send half their webhooks twice and some out of
order, one Celery worker is SIGKILLed and Redis is stopped and started again empty. No one presses
Replay. The books are then read from the sandboxes' own tables (tests/chaos.py holds the driver,
shared with bench/chaos.py, which runs hundreds of orders with more faults).

The test owns every process it needs (a redis-server on a free port, gunicorn serving the product
and the sandboxes, two workers, beat) on the test database; nothing here waits by sleeping: the
driver waits for calm with a deadline.
"""

from __future__ import annotations

import pytest
from django.db import connection

from tests.chaos import Cluster, Plan, run
from tests.e2e.conftest import _database_url

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ORDERS = 15  # per flow: 45 in all


@pytest.fixture
def cluster(settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the chaos run needs PostgreSQL: several processes write one database")
    plan = Plan(
        orders=ORDERS,
        seed=7,
        flows=("shipstation-zoho", "woocommerce-zoho", "exact-shipstation"),
        time_scale=0.1,
        workers=2,
        worker_kills=1,
        redis_restarts=1,
        redis_down_seconds=6.0,
        web_restarts=0,
        db_kills=0,  # bench/chaos.py kills them; the suite keeps to one fault of each other kind
        calm_timeout=150.0,
    )
    cluster = Cluster(tmp_path, plan)
    try:
        cluster.start_redis()
        # The test process makes rows and sends the sandboxes' webhooks: it uses the cluster's Redis
        # (the sandboxes' dice) and names the cluster's server in the webhook URLs it stores.
        settings.REDIS_URL = cluster.redis_url
        settings.PUBLIC_BASE_URL = cluster.base_url
        cluster.start(_database_url())
        yield cluster, plan
    finally:
        cluster.stop()


def test_books_right_after_worker_kill_and_redis_restart_without_replay(cluster):
    cluster, plan = cluster
    lines: list[str] = []
    report = run(cluster, plan, log=lines.append)
    lines += report.lines()
    text = "\n".join(lines)
    assert not report.violations, text
    assert sorted(report.faults) == ["Redis stopped 6 s, started empty", "worker SIGKILL"], text
    assert report.counts["shipstation-zoho orders"] == report.counts["woocommerce-zoho orders"] == ORDERS, text
    assert report.counts["exact-shipstation Exact sales orders"] == ORDERS, text
    for flow in plan.flows:
        assert report.counts[f"{flow} webhooks sent by the sandbox"] > 0, text
        assert report.counts.get(f"{flow} deliveries duplicate", 0) > 0, text  # the duplicates did arrive
    assert report.counts["shipstation-zoho live shipments"] > 0, text
    assert report.counts["shipstation-zoho webhooks delivered during the Redis outage"] > 0, text
