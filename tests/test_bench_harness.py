"""The benchmarks' shared harness hands every process a Redis URL it can use (no benchmark runs here)."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import kombu
import pytest

from connector.embedded_redis import _alive

HARNESS = Path(__file__).resolve().parents[1] / "bench" / "_harness.py"


@pytest.fixture
def harness(monkeypatch, tmp_path):
    """bench/_harness.py, with this test's own environment and temp dir (prepare() writes both)."""
    monkeypatch.setattr(os, "environ", dict(os.environ))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spec = importlib.util.spec_from_file_location("bench_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_harness", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_without_redis_url_the_broker_is_the_products_embedded_redis_and_celery_reads_it(harness):
    os.environ.pop("REDIS_URL", None)
    bench = harness.prepare("harness-test")
    url = bench.env["REDIS_URL"]
    socket_path = Path(url.removeprefix("redis+socket://"))
    try:
        assert url == os.environ["REDIS_URL"] and url.startswith("redis+socket://")
        assert "CELERY_BROKER_URL" not in bench.env  # the product's settings make REDIS_URL the broker
        with kombu.Connection(url) as connection:  # how Celery opens its broker
            queue = connection.SimpleQueue("bench-harness-test")
            queue.put({"n": 1})
            message = queue.get(timeout=5)
            message.ack()
            assert message.payload == {"n": 1}
            queue.close()
        assert harness.redis_client(url).ping()  # and the product's redis-py clients read it too
    finally:
        harness.stop(bench)
    assert not _alive(socket_path)  # stopped with the run


def test_a_given_redis_url_is_used_as_is(harness):
    os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/10"
    bench = harness.prepare("harness-test")
    assert bench.env["REDIS_URL"] == "redis://127.0.0.1:6379/10" and bench.embedded_redis is None
    assert bench.env["DATABASE_URL"]  # the given one, or SQLite in the run's temp dir
    harness.stop(bench)
