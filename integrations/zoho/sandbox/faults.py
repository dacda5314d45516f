"""Fault knobs and rate limits of the Zoho sandbox (DESIGN §9).

Per sandbox organisation, set through `POST /sandbox/zoho/_control/faults`:
`error_rate` (500 with Zoho's documented `{"code":1000,"message":"Internal error"}`), `rate_429`,
`latency_ms`, `timeout_rate` + `timeout_seconds` (the request is applied, then the answer is held
back: the caller sees a read timeout with an unknown outcome), `fail_reference_numbers` (invoice
writes with these reference numbers answer 500), `seed` (random draws are a pure function of the
seed and the request's sequence number, so a test sees the same faults on every run).

Limits: 100 requests per minute per organisation (a fixed one-minute window in Redis, shared by all
web processes) and the plan's daily limit, reported in `X-Rate-Limit-*` headers (ZOHO.md §3).
"""

from __future__ import annotations

import random
import time

from connector.redis import get_redis
from integrations.zoho.sandbox.models import SandboxZohoOrg

KNOBS = {
    "error_rate": float,
    "rate_429": float,
    "latency_ms": int,
    "timeout_rate": float,
    "timeout_seconds": float,
    "seed": int,
    "fail_reference_numbers": list,
    # A scaled clock for tests and benchmarks: 429s carry `Retry-After: <n>` (real Zoho sends none,
    # so its clients wait out the minute).
    "retry_after_seconds": int,
}
ORG_FIELDS = {"rate_limit_per_minute": int, "daily_limit": int, "unique_reference_numbers": bool}

# Neither the 429 code nor its message is documented (ZOHO.md §3); these are recognisable stand-ins.
MINUTE_LIMIT_BODY = {
    "code": 44,
    "message": "You have exceeded the maximum number of API requests allowed per minute for this organization.",
}
DAILY_LIMIT_BODY = {
    "code": 45,
    "message": "You have reached the maximum number of API calls allowed per day for your plan.",
}


def _key(org: SandboxZohoOrg, what: str) -> str:
    return f"sandbox:zoho:{org.organization_id}:{what}"


def draw(org: SandboxZohoOrg) -> random.Random:
    """A random stream for this request: seeded from the knob and a shared sequence number."""
    sequence = get_redis().incr(_key(org, "seq"))
    seed = org.faults.get("seed")
    return random.Random(f"{seed}:{sequence}") if seed is not None else random.Random()


def count_call(org: SandboxZohoOrg) -> tuple[int, int, int]:
    """Count one call; returns (calls this minute, calls today, seconds until the daily reset)."""
    now = time.time()
    redis = get_redis()
    minute_key = _key(org, f"min:{int(now // 60)}")
    day_key = _key(org, f"day:{int(now // 86400)}")
    pipe = redis.pipeline()
    pipe.incr(minute_key)
    pipe.expire(minute_key, 120)
    pipe.incr(day_key)
    pipe.expire(day_key, 86400 + 60)
    minute, _, day, _ = pipe.execute()
    return int(minute), int(day), int(86400 - now % 86400)


def total_calls(org: SandboxZohoOrg) -> int:
    """Calls this organisation received today (benchmarks read it)."""
    value = get_redis().get(_key(org, f"day:{int(time.time() // 86400)}"))
    return int(value or 0)


def apply_settings(org: SandboxZohoOrg, body: dict) -> dict:
    """Validate and store knobs; returns the errors by name (empty when all were applied)."""
    errors: dict[str, str] = {}
    faults = dict(org.faults or {})
    for name, value in body.items():
        if name in ("organization_id", "reset"):
            continue
        kind = KNOBS.get(name) or ORG_FIELDS.get(name)
        if kind is None:
            errors[name] = "unknown knob"
            continue
        if value is None and name in KNOBS:
            faults.pop(name, None)
            continue
        number_for_float = kind is float and isinstance(value, int) and not isinstance(value, bool)
        wrong_type = not isinstance(value, kind) or isinstance(value, bool) != (kind is bool)
        if wrong_type and not number_for_float:
            errors[name] = f"expected {kind.__name__}"
            continue
        if kind is float and not 0 <= value <= (3600 if name == "timeout_seconds" else 1):
            errors[name] = "out of range"
            continue
        if name in KNOBS:
            faults[name] = value
        else:
            setattr(org, name, value)
    if not errors:
        org.faults = {} if body.get("reset") else faults
        org.save()
    return errors
