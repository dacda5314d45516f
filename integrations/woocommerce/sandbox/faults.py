"""Fault knobs of a sandbox store, with seedable randomness (DESIGN §9).

Knobs (all optional, JSON via POST /sandbox/woocommerce/_control/faults):
  error_rate, rate_429, timeout_rate      probability per REST call of a 500, a 429, a stall
  latency_ms                              added to every REST call
  timeout_seconds                         how long a stall lasts (default 35 s)
  retry_after                             Retry-After seconds on 429s (default 1)
  duplicate_rate                          probability a webhook delivery is sent twice (same id)
  out_of_order_rate                       probability a delivery is held and sent after the next one
  strip_authorization                     act as a proxy that drops the Authorization header
  max_delivery_failures                   WooCommerce's woocommerce_max_webhook_delivery_failures (5)
  seed                                    seeds the store's random generator
"""

from __future__ import annotations

import random
import threading

from connector.sandbox import kit

from .models import SandboxStore

KNOBS = {
    "error_rate": kit.RATE,
    "rate_429": kit.RATE,
    "timeout_rate": kit.RATE,
    "latency_ms": int,
    "timeout_seconds": float,
    "retry_after": int,
    "duplicate_rate": kit.RATE,
    "out_of_order_rate": kit.RATE,
    "strip_authorization": bool,
    "max_delivery_failures": int,
    "seed": int,
}

_lock = threading.Lock()
_generators: dict[tuple[int, object], random.Random] = {}


def clean_faults(raw: dict) -> dict:
    """Validated knobs (the kit's one validator; None clears a knob); raises ValueError naming the bad ones."""
    if not isinstance(raw, dict):
        raise ValueError("faults must be a JSON object")
    cleaned, problems = kit.validate_knobs(raw, KNOBS, ignore=("store", "reset"))
    if problems:
        known = f" (known: {', '.join(sorted(KNOBS))})" if "unknown knob" in problems.values() else ""
        raise ValueError("; ".join(f"{name} {problem}" for name, problem in sorted(problems.items())) + known)
    return cleaned


def reset_generator(store: SandboxStore) -> None:
    with _lock:
        for key in [k for k in _generators if k[0] == store.pk]:
            del _generators[key]


def roll(store: SandboxStore, knob: str) -> bool:
    """True with the store's probability for `knob`; reproducible for a given seed."""
    rate = float((store.faults or {}).get(knob) or 0)
    if rate <= 0:
        return False
    key = (store.pk, (store.faults or {}).get("seed"))
    with _lock:
        generator = _generators.get(key)
        if generator is None:
            seed = key[1]
            generator = _generators[key] = random.Random(seed) if seed is not None else random.Random()
        return generator.random() < rate
