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

from connector.sandbox import kit
from integrations.zoho.sandbox.models import SandboxZohoOrg

KNOBS = {
    "error_rate": kit.RATE,
    "rate_429": kit.RATE,
    "latency_ms": int,
    "timeout_rate": kit.RATE,
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


def _prefix(org: SandboxZohoOrg) -> str:
    return f"sandbox:zoho:{org.organization_id}"


def _key(org: SandboxZohoOrg, what: str) -> str:
    return f"{_prefix(org)}:{what}"


def draw(org: SandboxZohoOrg) -> random.Random:
    """A random stream for this request: seeded from the knob and a shared sequence number."""
    return kit.dice(_key(org, "seq"), org.faults.get("seed"))


def count_call(org: SandboxZohoOrg) -> tuple[int, int, int]:
    """Count one call; returns (calls this minute, calls today, seconds until the daily reset)."""
    windows = kit.count(_prefix(org), {"min": 60, "day": 86400})
    return windows["min"].used, windows["day"].used, int(windows["day"].reset)


def total_calls(org: SandboxZohoOrg) -> int:
    """Calls this organisation received today (benchmarks read it)."""
    return kit.peek(_prefix(org), "day", 86400).used


def apply_settings(org: SandboxZohoOrg, body: dict) -> dict:
    """Validate and store knobs (the kit's one validator); returns the errors by name (empty when
    all were applied). `reset` clears the knobs before applying the ones sent with it."""
    clean, errors = kit.validate_knobs(body, {**KNOBS, **ORG_FIELDS}, ignore=("organization_id", "reset"))
    errors.update({name: "cannot be cleared" for name in ORG_FIELDS if name in clean and clean[name] is None})
    if errors:
        return errors
    faults = {} if body.get("reset") else dict(org.faults or {})
    for name, value in clean.items():
        if name in ORG_FIELDS:
            setattr(org, name, value)
        elif value is None:
            faults.pop(name, None)
        else:
            faults[name] = value
    org.faults = faults
    org.save()
    return errors
