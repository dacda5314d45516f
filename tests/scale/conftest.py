"""Scale-out harness: more web and worker processes on one PostgreSQL, Redis and broker.

The processes are started the way production runs them (gunicorn with gunicorn.conf.py, `celery
worker` on a subset of queues with the threads pool) on the test database; the broker is Redis or
RabbitMQ, chosen per test through CELERY_BROKER_URL, while locks, buckets and the cache stay on Redis.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.db import connection

from tests.e2e.conftest import _database_url

# The process helpers live in tests/processes.py (the chaos driver starts the same processes).
from tests.processes import amqp_reachable, launch_web, launch_worker, purge_queues, stop, wait_ready  # noqa: F401

QUEUES = ("webhooks", "polls", "sync", "qbwc")
#: Where the amqp variant finds RabbitMQ; give it a vhost of its own (`rabbitmqctl add_vhost`) so
#: nothing else shares its queues. On the default vhost the queues are purged at the test's start.
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def queued_messages(url: str) -> dict[str, int]:
    """Messages waiting in each queue (ready ones; unacknowledged ones are counted by the caller)."""
    from kombu import Connection

    counts = {}
    with Connection(url, connect_timeout=3) as conn:
        channel = conn.channel()
        for name in QUEUES:
            if url.startswith("amqp"):
                try:
                    counts[name] = channel.queue_declare(name, passive=True).message_count
                except Exception:  # (never declared: empty)
                    channel = conn.channel()
                    counts[name] = 0
            else:
                counts[name] = channel.client.llen(name)
    return counts


@pytest.fixture
def celery_app_on(settings):
    """Point the test process's own Celery app (the live server publishes through it) at a broker."""
    from connector.celery import app

    def switch(url: str) -> None:
        app.conf.broker_url = url
        app.conf.broker_transport_options = {"confirm_publish": True} if url.startswith("amqp") else {}
        _drop_pools(app)

    before = (app.conf.broker_url, app.conf.broker_transport_options)
    yield switch
    app.conf.broker_url, app.conf.broker_transport_options = before
    _drop_pools(app)


def _drop_pools(app) -> None:
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None


def process_env(redis_url: str, broker_url: str, public_base_url: str) -> dict[str, str]:
    assert connection.vendor == "postgresql"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": broker_url,
        "PUBLIC_BASE_URL": public_base_url,
        "SYNC_MAX_ATTEMPTS": "4",
        "SYNC_BACKOFF_SECONDS": "0.2",
    }


_RECEIVED = re.compile(rb"sync_record\[([0-9a-f-]{36})\] received")
_FINISHED = re.compile(rb"sync_record\[([0-9a-f-]{36})\] (?:succeeded|retry|raised)")


def unfinished_sync_tasks(log_path: Path) -> set[str]:
    """Sync tasks a worker's log shows it took and never finished (ran to an outcome or retried)."""
    text = log_path.read_bytes()
    finished = {m.decode() for m in _FINISHED.findall(text)}
    return {m.decode() for m in _RECEIVED.findall(text)} - finished


def received_sync_tasks(log_path: Path) -> set[str]:
    return {m.decode() for m in _RECEIVED.findall(log_path.read_bytes())}
