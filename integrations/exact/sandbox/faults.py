"""Fault knobs and rate limits of the Exact sandbox, per division (DESIGN §9).

Knobs (POST /sandbox/exact/_control/faults {"division": 123, ...}): `error_rate` (500),
`rate_429` (429 on the minutely limit), `latency_ms`, `seed` (draws are a pure function of the
seed and a shared sequence number), `minutely_limit` (default 60), `daily_limit` (default 5000),
`token_seconds` (access-token lifetime of the division's user, default 600; the 570 s refresh
rule scales with it, so benchmarks can run many expiries on a scaled clock).
Counting is in Redis fixed windows, shared by every web process. Resets are epoch milliseconds.
The error limit (`count_error`, `endpoint_blocked`) counts 4xx answers per endpoint in a sliding hour.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from django.http import HttpResponse, JsonResponse

from connector.redis import get_redis
from connector.sandbox import kit
from integrations.exact.sandbox.models import SandboxExactDivision

KNOBS = {
    "error_rate": kit.RATE,
    "rate_429": kit.RATE,
    "latency_ms": int,
    "seed": int,
    "minutely_limit": int,
    "daily_limit": int,
    "token_seconds": int,
}


@dataclass(frozen=True)
class Usage:
    minute_calls: int
    day_calls: int
    minutely_limit: int
    daily_limit: int
    minute_reset_ms: int
    day_reset_ms: int


def _key(division: SandboxExactDivision, what: str) -> str:
    return f"sandbox:exact:{division.code}:{what}"


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": "", "message": {"lang": "", "value": message}}}, status=status)


def before_call(division: SandboxExactDivision) -> tuple[HttpResponse | None, Usage]:
    """Count the call; return a refusal (429/500) or None, and the usage for the headers."""
    from integrations.exact.sandbox.api import _limit_headers

    now = time.time()
    windows = kit.count(_key(division, "calls"), {"min": 60, "day": 86400}, now=now)
    knobs = division.faults or {}
    usage = Usage(
        windows["min"].used,
        windows["day"].used,
        int(knobs.get("minutely_limit", 60)),
        int(knobs.get("daily_limit", 5000)),
        int(windows["min"].ends) * 1000,
        int(windows["day"].ends) * 1000,
    )
    rng = kit.dice(_key(division, "seq"), knobs.get("seed"))
    if knobs.get("latency_ms"):
        time.sleep(int(knobs["latency_ms"]) / 1000)
    if usage.day_calls > usage.daily_limit:
        return _limit_headers(_error(429, "API rate limit exceeded (daily)"), usage, "daily"), usage
    if usage.minute_calls > usage.minutely_limit or rng.random() < float(knobs.get("rate_429", 0)):
        return _limit_headers(_error(429, "API rate limit exceeded (minutely)"), usage, "minutely"), usage
    if rng.random() < float(knobs.get("error_rate", 0)):
        return _error(500, "An internal error occurred"), usage
    return None, usage


#: Exact's error limit (EXACT.md §3.1; Exact's announcement of 1 July 2021 as quoted on the Invantive
#: forum, "No more than 10 errors per API key, per user, per company, per endpoint, and per hour …
#: Response code 400, 401, 403, and 404 are counted as errors"): after 10 such answers within an
#: hour the endpoint is blocked for this user and company, and the block lifts after an hour.
ERROR_LIMIT = 10
ERROR_WINDOW_SECONDS = 3600
COUNTED_ERRORS = frozenset({400, 401, 403, 404})
#: Exact does not publish the block's body; its help pages and integrators report it as an "API rate
#: limit exceeded" answer (1Archive help, "Booking documents is giving an 'API rate limit exceeded'
#: error message"). It names no limit, so it carries no X-RateLimit-* headers.
BLOCKED_MESSAGE = "API rate limit exceeded: too many errors on this endpoint within an hour"


def endpoint_blocked(division: SandboxExactDivision, endpoint: str) -> HttpResponse | None:
    """The block answer while `endpoint` is blocked for this company (and its user), else None."""
    if get_redis().exists(_key(division, f"blocked:{endpoint}")):
        return _error(429, BLOCKED_MESSAGE)
    return None


def count_error(division: SandboxExactDivision, endpoint: str, status: int) -> None:
    """Count a 4xx answer on `endpoint` in a sliding hour; the tenth blocks it for an hour."""
    if status not in COUNTED_ERRORS:
        return
    now = time.time()
    key = _key(division, f"errors:{endpoint}")
    pipe = get_redis().pipeline()
    pipe.zadd(key, {f"{now:.6f}:{random.random()}": now})
    pipe.zremrangebyscore(key, 0, now - ERROR_WINDOW_SECONDS)
    pipe.zcard(key)
    pipe.expire(key, ERROR_WINDOW_SECONDS)
    errors = pipe.execute()[2]
    if errors >= ERROR_LIMIT:
        get_redis().set(_key(division, f"blocked:{endpoint}"), "1", ex=ERROR_WINDOW_SECONDS)


def apply(division: SandboxExactDivision, body: dict) -> dict:
    """Validate (the kit's one validator) and store knobs; the errors by name, empty when applied."""
    clean, errors = kit.validate_knobs(body, KNOBS, ignore=("division", "reset"))
    seconds = clean.get("token_seconds")
    if seconds is not None and not 1 <= seconds <= 600:
        errors["token_seconds"] = "out of range (1-600)"
    if errors:
        return errors
    knobs = {} if body.get("reset") else dict(division.faults or {})
    for name, value in clean.items():
        if value is None:
            knobs.pop(name, None)
        else:
            knobs[name] = value
    division.faults = knobs
    division.save(update_fields=["faults"])
    return errors
