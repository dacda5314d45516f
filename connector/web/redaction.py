"""Redaction of payloads shown in pages, events and the API: secrets never leave the server."""

from __future__ import annotations

from typing import Any

SECRET_KEY_PARTS = ("token", "secret", "password", "authorization", "api_key", "apikey", "consumer_key", "signature")


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(part in lowered for part in SECRET_KEY_PARTS)


def redact(value: Any) -> Any:
    """A copy of `value` with every secret-looking key's value masked, at any depth."""
    if isinstance(value, dict):
        return {k: ("[redacted]" if is_secret_key(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
