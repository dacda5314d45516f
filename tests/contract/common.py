"""What the source and target contracts share: parameters, fault kinds, error assertions."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from connector.http import ApiError
from connector.redis import get_redis
from connector.registry import capabilities_of, presets, writer_of, writing_system

FAULTS = ("5xx", "429")  # what a vendor's sandbox is made to answer in the fault cases
CENT = Decimal("0.01")


def parameter_cases(cls: type) -> dict[str, list]:
    """The values each contract parameter takes for the class `cls` (see tests/contract/conftest.py)."""
    return cls.contract_parameters()


def error_of(call: Callable[[], Any]) -> Exception | None:
    """The exception `call` raises, or None when it succeeds."""
    try:
        call()
    except Exception as exc:  # the contract decides which kinds are right, not this helper
        return exc
    return None


def assert_error(exc: Exception | None, kind: type[ApiError], what: str) -> ApiError:
    assert exc is not None, f"{what}: expected {kind.__name__}, the call succeeded"
    assert isinstance(exc, kind), f"{what}: expected {kind.__name__}, got {type(exc).__name__}: {exc}"
    return exc


def assert_readable(exc: ApiError) -> None:
    """A merchant can read it: words, not an empty string, a bare status or a JSON dump."""
    message = (exc.message or "").strip()
    assert len(message) >= 10, f"message too short to act on: {message!r}"
    assert not message.startswith(("{", "[")), f"message is a raw body: {message[:80]!r}"
    assert not message.startswith("HTTP "), f"message is a bare status: {message!r}"


def assert_cents(value: Any, expected: Decimal, what: str) -> None:
    assert isinstance(value, Decimal), f"{what} is {type(value).__name__} {value!r}, not Decimal"
    assert value == expected, f"{what}: {value} != {expected}"
    assert value == value.quantize(CENT), f"{what} {value} has fractions of a cent"


def forget_rate_limits() -> None:
    """Drop the shared buckets a 429 blocked, so the next call of the same test is sent at once."""
    redis = get_redis()
    for key in redis.scan_iter("rl:*"):
        redis.delete(key)


def preset_types(system: str) -> tuple[set[str], set[str]]:
    """(source types, target types) the registered flow presets ask of `system`."""
    reads: set[str] = set()
    writes: set[str] = set()
    for preset in presets():
        for capability in capabilities_of(preset):
            reader = preset.target_system if capability.reverse else preset.source_system
            if reader == system:
                reads.add(capability.source_type)
            # A type the preset brings its own writer for is not asked of the system's target adapter.
            if writing_system(preset, capability) == system and writer_of(preset, capability.target_type) is None:
                writes.add(capability.target_type)
    return reads, writes
