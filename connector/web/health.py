"""`/healthz` for load balancers: 200 when the database and Redis answer, 503 when one does not."""

from __future__ import annotations

import time

import redis
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from connector.redis import get_redis


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def _check_redis() -> str:
    try:
        get_redis().ping()
    except (redis.RedisError, OSError) as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


@never_cache
def healthz(request):
    started = time.perf_counter()
    checks = {"database": _check_database(), "redis": _check_redis()}
    healthy = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if healthy else "unavailable", **checks, "ms": int((time.perf_counter() - started) * 1000)}
    return JsonResponse(body, status=200 if healthy else 503)
