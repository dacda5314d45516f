"""Counters every process adds to, kept in Redis (the /metrics page reads them, connector/web/metrics.py).

gunicorn workers and Celery workers are separate processes: a counter in one process's memory would
show only what that process saw, and restart from zero with it. These live in Redis hashes instead
(HINCRBY), so every process adds to the same number; a Redis restart resets them, which Prometheus
reads as a counter reset. Labels are product names only (a client's `system`, a task name, a status
class), never tenant data. Counting never breaks the call it counts: a Redis error is swallowed.
"""

from __future__ import annotations

import logging
import re

import redis

logger = logging.getLogger(__name__)

VENDOR_CALLS = "metrics:vendor_calls"  # field "<system>|<status class>"
VENDOR_RATE_LIMITED = "metrics:vendor_rate_limited"  # field "<system>"
TASK_FAILURES = "metrics:task_failures"  # field "<task name>"
_SEPARATOR = "|"
_UNSAFE = re.compile(r"[^a-z0-9_.-]")


def label(value: str | None) -> str:
    """A bounded, plain label value: lower-case, [a-z0-9_.-] only, at most 60 characters."""
    cleaned = _UNSAFE.sub("_", (value or "").lower())[:60]
    return cleaned or "unknown"


def status_class(status: int | None) -> str:
    """ "2xx" … "5xx" for an HTTP answer, "error" when none came (timeout, connection refused)."""
    if status is None or not 100 <= status <= 599:
        return "error"
    return f"{status // 100}xx"


def count_vendor_call(system: str, status: int | None) -> None:
    """One call to a vendor's API answered `status` (None: no answer); a 429 also counts as rate limited."""
    from connector.redis import get_redis

    name = label(system)
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.hincrby(VENDOR_CALLS, f"{name}{_SEPARATOR}{status_class(status)}", 1)
        if status == 429:
            pipe.hincrby(VENDOR_RATE_LIMITED, name, 1)
        pipe.execute()
    except (redis.RedisError, OSError) as exc:
        logger.debug("vendor call not counted: %s", type(exc).__name__)


def count_task_failure(task_name: str) -> None:
    """A Celery task ended in an exception (not a retry)."""
    from connector.redis import get_redis

    try:
        get_redis().hincrby(TASK_FAILURES, label(task_name), 1)
    except (redis.RedisError, OSError) as exc:
        logger.debug("task failure not counted: %s", type(exc).__name__)


def read_counts(key: str) -> dict[tuple[str, ...], int]:
    """A counter hash as {label values: count}; raises redis errors (the page reports Redis down)."""
    from connector.redis import get_redis

    return {tuple(field.decode().split(_SEPARATOR)): int(value) for field, value in get_redis().hgetall(key).items()}
