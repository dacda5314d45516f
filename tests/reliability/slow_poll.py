"""A flow preset whose poll takes a while and counts its runs in Redis, for a worker process to run.

Installed only in worker processes that a reliability test starts (tests.reliability.worker_settings):
a real worker cannot see the test's in-memory registrations.
"""

from __future__ import annotations

import time

from django.apps import AppConfig

PRESET = "slow_poll"


def started_key(flow_id: int) -> str:
    return f"slowpoll:started:{flow_id}"


def finished_key(flow_id: int) -> str:
    return f"slowpoll:finished:{flow_id}"


def slow_runner(flow) -> dict:
    """Says it started, takes `options["seconds"]`, says it finished (one list entry per run)."""
    from connector.redis import get_redis

    redis = get_redis()
    redis.rpush(started_key(flow.pk), "1")
    time.sleep(float(flow.options.get("seconds", 2)))
    redis.rpush(finished_key(flow.pk), "1")
    return {}


class SlowPollConfig(AppConfig):
    name = "tests.reliability"
    label = "reliability_slow_poll"

    def ready(self) -> None:
        from connector.registry import FlowPreset, register_preset

        register_preset(FlowPreset(PRESET, "Slow poll", "fakesrc", "faketgt", (), runner=slow_runner))
