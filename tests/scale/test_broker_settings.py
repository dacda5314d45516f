"""The broker block of the settings: CELERY_BROKER_URL wins over REDIS_URL, and each broker gets the
options that make a dead worker's tasks come back (read in a fresh process, as a worker reads them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.e2e.conftest import ROOT

READ = """
import json
from connector.celery import app
from django.conf import settings
conf = app.conf
print(json.dumps({
    "broker_url": conf.broker_url, "redis_url": settings.REDIS_URL, "heartbeat": conf.broker_heartbeat,
    "options": conf.broker_transport_options, "acks_late": conf.task_acks_late,
    "reject_on_worker_lost": conf.task_reject_on_worker_lost, "prefetch": conf.worker_prefetch_multiplier,
}))
"""


def celery_conf(**env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    environ.update(DJANGO_SETTINGS_MODULE="tests.settings", REDIS_URL="redis://127.0.0.1:6379/9", **env)
    result = subprocess.run(
        [sys.executable, "-c", READ], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_broker_defaults_to_redis_with_its_visibility_timeout():
    conf = celery_conf()
    assert conf["broker_url"] == conf["redis_url"] == "redis://127.0.0.1:6379/9"
    assert conf["options"] == {"visibility_timeout": 1800}
    assert conf["acks_late"] and conf["reject_on_worker_lost"] and conf["prefetch"] == 1


def test_an_empty_broker_url_means_the_default():
    assert celery_conf(CELERY_BROKER_URL="")["broker_url"] == "redis://127.0.0.1:6379/9"


def test_rabbitmq_from_celery_broker_url_with_heartbeat_and_publisher_confirms():
    conf = celery_conf(CELERY_BROKER_URL="amqp://app:secret@rabbit.internal:5672/connector")
    assert conf["broker_url"] == "amqp://app:secret@rabbit.internal:5672/connector"
    assert conf["redis_url"] == "redis://127.0.0.1:6379/9"  # locks, buckets, the inbox stay on Redis
    assert conf["heartbeat"] == 30
    assert conf["options"] == {"confirm_publish": True}  # no Redis visibility timeout on RabbitMQ
    assert conf["acks_late"] and conf["reject_on_worker_lost"] and conf["prefetch"] == 1
