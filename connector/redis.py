"""The one Redis client factory (locks, rate-limit buckets, health checks)."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


def redis_py_url(url: str) -> str:
    """Celery's `redis+socket:///path` is redis-py's `unix:///path`."""
    if url.startswith("redis+socket://"):
        return "unix://" + url[len("redis+socket://") :]
    return url


@lru_cache(maxsize=8)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_py_url(url), socket_timeout=2, socket_connect_timeout=2, health_check_interval=30)


def get_redis() -> redis.Redis:
    return _client(settings.REDIS_URL)
