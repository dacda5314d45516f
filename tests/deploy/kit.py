"""What the deploy tests share: a fresh copy of the checkout (no var/, no .env, as a clone has it),
the Procfile's commands run as a platform runs them (a shell in the checkout, the venv's `python`,
`gunicorn` and `celery` on PATH), and a database of their own (a fresh PostgreSQL database when the
suite runs on one, else a SQLite file)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
FERNET_KEY = "Nq0cI5mSsbXtD7vE0VfG4A6Jx0S5ZbzV3Qm8Hh2ZbLs="
# Only what a shell on a server has: the production settings read nothing else from the test run.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")


def copy_checkout(dest: Path) -> Path:
    """The repository's files (committed or about to be) in `dest`, without var/, .env or .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() and not name.startswith("var/") and name != ".env":
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def procfile(checkout: Path) -> dict[str, str]:
    entries = {}
    for line in (checkout / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and not line.startswith("#"):
            entries[name.strip()] = command.strip()
    return entries


def base_env(**values: str) -> dict[str, str]:
    env = {key: os.environ[key] for key in INHERITED if key in os.environ}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(values)
    return env


def run(checkout: Path, command: str, env: dict, timeout: int = 300) -> str:
    done = subprocess.run(command, shell=True, cwd=checkout, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def start(checkout: Path, command: str, env: dict, log: Path) -> subprocess.Popen:
    """A Procfile process in its own process group (stopped with `stop`)."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, shell=True, cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def stop_embedded_redis(checkout: Path) -> None:
    """The embedded Redis daemonises: stop the one this checkout's processes started, by its pid."""
    pidfile = checkout / "var" / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def on_postgresql() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith("postgres")


@contextlib.contextmanager
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """A new, empty database's URL: on the suite's PostgreSQL server (dropped afterwards), else SQLite."""
    if not on_postgresql():
        yield f"sqlite:///{tmp_path / 'production.sqlite3'}"
        return
    import psycopg

    server = urlsplit(os.environ["DATABASE_URL"])
    name = f"deploy_{secrets.token_hex(4)}"
    admin_url = urlunsplit(("postgresql", server.netloc, "/postgres", "", ""))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit((server.scheme, server.netloc, f"/{name}", "", ""))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
