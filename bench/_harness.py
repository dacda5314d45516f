"""The one set-up every benchmark that runs the product shares: a temp dir, Redis (REDIS_URL, or the
product's own embedded Redis, as the app runs without one), a database (DATABASE_URL, or SQLite in
the temp dir), a free port and the sandbox settings; then `runserver`, gunicorn or a Celery worker
started from that environment and waited for.

Without REDIS_URL the embedded server is the one `connector.embedded_redis` starts for the app, and
its URL is the product's `redis+socket://` form: Celery (kombu) reads it as the broker, the product's
redis-py clients read it through `connector.redis.redis_py_url`. (redis-py's `unix://` form is not a
broker URL kombu knows, which is why `make bench` once failed without REDIS_URL.)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def embedded_broker_url(tmp: Path) -> str:
    """Start the product's embedded Redis in `tmp`; its `redis+socket://` URL (broker and clients)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from connector.embedded_redis import embedded_redis_url

    return embedded_redis_url(tmp / "redis.db")


def redis_client(url: str):
    """A plain redis-py client for a broker URL of either form."""
    import redis

    from connector.redis import redis_py_url

    return redis.Redis.from_url(redis_py_url(url))


def shutdown_embedded(url: str) -> None:
    import redis

    with contextlib.suppress(redis.ConnectionError):  # it answers SHUTDOWN by closing the socket
        redis_client(url).shutdown(nosave=True)


@dataclass
class Bench:
    """One benchmark run's environment; `env` is what every process it starts is given."""

    tmp: Path
    env: dict[str, str]
    embedded_redis: str | None = None
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.env["PUBLIC_BASE_URL"]

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])


def prepare(prefix: str, *, sandbox: bool = True) -> Bench:
    """Set this process's environment for a bench run (the benchmark's own Django reads it too)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
    embedded = None
    if not os.environ.get("REDIS_URL"):
        embedded = os.environ["REDIS_URL"] = embedded_broker_url(tmp)
    os.environ.pop("CELERY_BROKER_URL", None)  # the broker is REDIS_URL, as in the product
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{free_port()}",
    )
    if sandbox:
        os.environ.update(SANDBOX_ENABLED="true", SANDBOX_ALLOWED_WITHOUT_DEBUG="true")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    bench = Bench(tmp, dict(os.environ), embedded)
    atexit.register(stop, bench)  # a benchmark that dies half-way leaves no server behind
    return bench


def migrate(bench: Bench) -> None:
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=bench.env, check=True, cwd=ROOT)


def _spawn(bench: Bench, name: str, command: list[str], env: dict | None = None) -> subprocess.Popen:
    log = open(bench.tmp / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(command, env=env or bench.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    bench.processes.append(process)
    return process


def wait_healthy(bench: Bench, name: str) -> None:
    for _ in range(600):
        try:
            requests.get(bench.base_url + "/healthz", timeout=5, allow_redirects=False)
            return
        except requests.RequestException:
            time.sleep(0.1)
    stop(bench)
    raise SystemExit(f"server did not start; see {bench.tmp / (name + '.log')}")


def start_server(bench: Bench, *, threaded: bool = True) -> subprocess.Popen:
    """Migrate, then `runserver` on PUBLIC_BASE_URL; returns once /healthz answers."""
    migrate(bench)
    command = [sys.executable, str(ROOT / "manage.py"), "runserver", f"127.0.0.1:{bench.port}", "--noreload"]
    server = _spawn(bench, "server", [*command, "--skip-checks", *([] if threaded else ["--nothreading"])])
    wait_healthy(bench, "server")
    return server


def start_gunicorn(bench: Bench, *, workers: int = 2, env: dict | None = None) -> subprocess.Popen:
    """gunicorn as the Procfile runs it (the caller migrates first); returns once /healthz answers."""
    command = [str(BIN / "gunicorn"), "connector.wsgi:application", "--bind", f"127.0.0.1:{bench.port}",
               "--workers", str(workers), "--threads", "4", "--keep-alive", "5"]  # fmt: skip
    server = _spawn(bench, "gunicorn", command, env)
    wait_healthy(bench, "gunicorn")
    return server


def start_worker(
    bench: Bench, *, queues: str = "webhooks,polls,sync,qbwc", concurrency: int = 4, name: str = "worker"
) -> subprocess.Popen:
    """A Celery worker on REDIS_URL; returns once it has connected to the broker and is ready."""
    command = [str(BIN / "celery"), "-A", "connector", "worker", "-Q", queues, "-P", "threads",
               "-c", str(concurrency), "--without-mingle", "--without-gossip", "-l", "INFO",
               "-n", f"{name}@%h"]  # fmt: skip
    worker = _spawn(bench, name, command)
    log = bench.tmp / f"{name}.log"
    for _ in range(600):
        if worker.poll() is not None:
            break
        if "ready." in log.read_text(errors="replace"):
            return worker
        time.sleep(0.1)
    stop(bench)
    raise SystemExit(f"Celery worker did not start; see {log}")


def stop(bench: Bench) -> None:
    for process in bench.processes:
        process.terminate()
    for process in bench.processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    bench.processes.clear()
    if bench.embedded_redis:
        shutdown_embedded(bench.embedded_redis)
        bench.embedded_redis = None


def unique(name: str) -> str:
    """A name no earlier run on the same database used (DATABASE_URL may be a kept database)."""
    return f"{name}-{time.time_ns()}"
