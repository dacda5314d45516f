"""A worker stopped with SIGTERM mid-poll (a rolling restart): the poll finishes, its lock goes, and
the next worker polls the flow; nothing is lost and nothing runs twice."""

from __future__ import annotations

import signal
import time

import pytest

from connector import tasks
from connector.redis import get_redis
from tests.conftest import make_flow
from tests.e2e.conftest import start_worker, stop_worker, wait_until
from tests.reliability.polls_worker_app import SLOW_POLL, finished_key, started_key

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WORKER_SETTINGS = "tests.reliability.polls_worker_settings"


def _runs(key: str) -> int:
    return get_redis().llen(key)


def test_a_worker_stopped_mid_poll_finishes_it_and_the_next_worker_polls_again(alice, live_server, settings, tmp_path):
    flow = make_flow(alice.org, preset=SLOW_POLL, enabled=True, options={"seconds": 2})
    old = start_worker(settings.REDIS_URL, live_server.url, tmp_path / "old.log", settings_module=WORKER_SETTINGS)
    try:
        assert tasks.enqueue_poll(flow.pk)
        wait_until(lambda: _runs(started_key(flow.pk)) == 1, timeout=20, message="the poll to start")
        old.send_signal(signal.SIGTERM)
        assert tasks.enqueue_poll(flow.pk)  # "Run now" while the worker drains: owed, not lost
        assert old.wait(timeout=15) == 0, old.log_path.read_text()[-3000:]
    finally:
        stop_worker(old)
    # The warm shutdown let the poll finish, record itself and let go of its lock.
    assert "finishing 1 running task" in old.log_path.read_text()  # the shutdown said what it waited for
    assert _runs(finished_key(flow.pk)) == 1
    flow.refresh_from_db()
    assert flow.last_run_status == "ok"
    assert not get_redis().exists(f"poll:running:{flow.pk}")

    new = start_worker(settings.REDIS_URL, live_server.url, tmp_path / "new.log", settings_module=WORKER_SETTINGS)
    try:
        wait_until(lambda: _runs(finished_key(flow.pk)) == 2, timeout=20, message="the owed poll on the new worker")
        time.sleep(1.5)  # a redelivered or doubled poll would have started by now
        assert _runs(started_key(flow.pk)) == 2, new.log_path.read_text()[-3000:]
        assert not tasks.poll_in_progress(flow.pk)
        assert tasks.enqueue_poll(flow.pk)  # nothing left behind blocks the flow's next poll
        wait_until(lambda: _runs(finished_key(flow.pk)) == 3, timeout=20, message="the flow's next poll")
    finally:
        stop_worker(new)
