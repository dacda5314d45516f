"""End to end: a real Celery worker process beside the live server, sharing its database and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    host = s.get("HOST") or "127.0.0.1"
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture
def celery_worker(live_server, settings, tmp_path):
    """Start `celery worker` as its own process on the test database; stop it after the test."""
    settings.PUBLIC_BASE_URL = live_server.url
    worker = start_worker(settings.REDIS_URL, live_server.url, tmp_path / "worker.log")
    yield worker
    stop_worker(worker)


def start_worker(
    redis_url: str, public_base_url: str, log_path: Path, *, settings_module: str = "tests.settings"
) -> subprocess.Popen:
    """A `celery worker` process on the test database, the way the Procfile runs it, once it is ready."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": public_base_url,
        # A vendor failure becomes "failed" after two quick attempts instead of eight slow ones.
        "SYNC_MAX_ATTEMPTS": "2",
        "SYNC_BACKOFF_SECONDS": "0.2",
    }
    log = open(log_path, "wb")  # noqa: SIM115 (closed by stop_worker)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "connector",
            "worker",
            "-Q",
            "webhooks,polls,sync,qbwc",
            "-P",
            "threads",
            "-c",
            "4",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker.log_path, worker.log_file = log_path, log
    deadline = time.monotonic() + 60
    while b"ready" not in log_path.read_bytes():
        if worker.poll() is not None or time.monotonic() > deadline:
            stop_worker(worker)
            raise RuntimeError("celery worker did not start:\n" + log_path.read_text()[-3000:])
        time.sleep(0.2)
    return worker


def stop_worker(worker: subprocess.Popen) -> None:
    """SIGTERM (a warm shutdown), then SIGKILL if it hangs: never leave a worker behind to disturb later tests."""
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(timeout=20)
    worker.log_file.close()


def wait_until(predicate, *, timeout: float = 60.0, interval: float = 0.25, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}\n{_state()}")


def _state() -> str:
    """What the records say, to make a timeout readable."""
    from connector.models import Delivery, Event, Record

    lines = []
    for r in Record.objects.order_by("id"):
        lines.append(
            f"  {r.object_type} {r.source_ref} [{r.source_id}] {r.status} attempts={r.attempts} {r.last_error[:200]}"
        )
        for e in Event.objects.filter(record=r).order_by("-id")[:4]:
            lines.append(f"      {e.kind}: {e.message[:160]}")
    for d in Delivery.objects.order_by("id"):
        lines.append(f"  delivery {d.topic} {d.status} {d.error[:200]}")
    return "\n".join(lines)
