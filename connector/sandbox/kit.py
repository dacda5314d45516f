"""What every emulator needs, written once: fault knobs with one validator, seeded dice, call
counters and fixed rate-limit windows (DESIGN §9). State lives in Redis (counters, sequences) so
every web process and worker agrees; each sandbox names its own keys.

- `validate_knobs(body, spec)`: the one place a fault-knob request is checked. A spec maps a knob
  to RATE (a probability, 0..1), int (whole, not negative), float (not negative), bool or list;
  `None` clears a knob. Answers the clean values and the problems by knob name.
- `dice(counter_key, seed)`: a random stream for one request. With a seed it is a pure function of
  the seed and a shared sequence number, so a test that sets a seed sees the same faults every run.
- `count(prefix, windows)`: counts one call in fixed windows (e.g. {"min": 60, "day": 86400}) in one
  Redis round trip; `peek` reads a window without counting.
- `note(key, seconds)` / `recent(key, seconds)`: a rolling window (the last `seconds`, not a fixed
  slot), for vendor limits a fixed window would let through twice at a slot boundary.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

from connector.redis import get_redis

RATE = "rate"  # a probability between 0 and 1


def _problem(kind, value) -> str | None:
    if kind is bool:
        return None if isinstance(value, bool) else "expected true or false"
    if kind is list:
        return None if isinstance(value, list) else "expected a list"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "expected a number"
    if kind is int and not isinstance(value, int):
        return "expected a whole number"
    if kind == RATE and not 0 <= value <= 1:
        return "must be between 0 and 1"
    if value < 0:
        return "must not be negative"
    return None


def validate_knobs(body: dict, spec: dict, *, ignore: tuple[str, ...] = ()) -> tuple[dict, dict[str, str]]:
    """(clean knobs, problems by name) for a knob request; names in `ignore` are passed over."""
    clean: dict = {}
    problems: dict[str, str] = {}
    for name, value in body.items():
        if name in ignore:
            continue
        if name not in spec:
            problems[name] = "unknown knob"
            continue
        problem = None if value is None else _problem(spec[name], value)
        if problem:
            problems[name] = problem
        else:
            clean[name] = float(value) if spec[name] in (RATE, float) and value is not None else value
    return clean, problems


def dice(counter_key: str, seed) -> random.Random:
    """A random stream for this request (see the module docstring); unseeded without a seed."""
    if seed is None:
        return random.Random()
    return random.Random(f"{seed}:{get_redis().incr(counter_key)}")


@dataclass(frozen=True)
class Window:
    used: int  # calls counted in this window, this one included
    reset: float  # seconds until the window ends
    ends: float  # when it ends (epoch seconds)


def _index(seconds: float, now: float) -> tuple[int, float]:
    index = int(now // seconds)
    return index, (index + 1) * seconds - now


def count(prefix: str, windows: dict[str, float], *, now: float | None = None) -> dict[str, Window]:
    """Count one call in each named fixed window (`<prefix>:<name>:<index>` keys, expiring after it)."""
    now = time.time() if now is None else now
    pipe = get_redis().pipeline()
    indexes = {}
    for name, seconds in windows.items():
        indexes[name], _ = _index(seconds, now)
        key = f"{prefix}:{name}:{indexes[name]}"
        pipe.incr(key)
        pipe.expire(key, int(seconds) + 60)
    answers = pipe.execute()
    return {name: _window(int(answers[2 * i]), indexes[name], windows[name], now) for i, name in enumerate(windows)}


def _window(used: int, index: int, seconds: float, now: float) -> Window:
    ends = (index + 1) * seconds
    return Window(used, ends - now, ends)


def peek(prefix: str, name: str, seconds: float, *, now: float | None = None) -> Window:
    now = time.time() if now is None else now
    index, _ = _index(seconds, now)
    return _window(int(get_redis().get(f"{prefix}:{name}:{index}") or 0), index, seconds, now)


def _rolling_member(now: float) -> str:
    return f"{now:.6f}:{random.getrandbits(32):08x}"


def note(key: str, seconds: float, *, now: float | None = None) -> None:
    """Record one event in the rolling window `key` (kept `seconds`)."""
    now = time.time() if now is None else now
    pipe = get_redis().pipeline()
    pipe.zadd(key, {_rolling_member(now): now})
    pipe.zremrangebyscore(key, "-inf", now - seconds)
    pipe.expire(key, int(seconds) + 60)
    pipe.execute()


def recent(key: str, seconds: float, *, now: float | None = None) -> int:
    """How many events `note` recorded under `key` in the last `seconds`."""
    now = time.time() if now is None else now
    return int(get_redis().zcount(key, f"({now - seconds}", "+inf"))
