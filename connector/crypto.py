"""Secrets at rest: model fields encrypted with `MultiFernet` (DESIGN §4).

Keys come from FIELD_ENCRYPTION_KEYS, comma-separated, newest first. The newest key encrypts; every
key decrypts, so a new key can be prepended and `manage.py rotate_keys` re-encrypts old rows.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def parse_keys(raw: str) -> list[str]:
    """Validate FIELD_ENCRYPTION_KEYS at start-up so a bad key never fails at first use."""
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is not set. Generate one with: python -c "
            '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
        )
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS: key #{position} is not a valid Fernet key (32 url-safe base64-encoded bytes)."
            ) from exc
    return keys


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_str(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt_str(token: str) -> str:
    return _decrypt(tuple(settings.FIELD_ENCRYPTION_KEYS), token)


@lru_cache(maxsize=2048)
def _decrypt(keys: tuple[str, ...], token: str) -> str:
    # Cached per (keys, ciphertext): every record loads its flow's connections, and Fernet's
    # HMAC + AES per load would dominate the engine's CPU. Plaintext never leaves this process.
    try:
        return _fernet(keys).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        # Never include the token itself: it is ciphertext of a secret.
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS: "
            "was a key removed before `manage.py rotate_keys` ran?"
        ) from exc


def rotate_token(token: str) -> str:
    """Re-encrypt a stored token under the newest key."""
    return fernet().rotate(token.encode()).decode()


class _EncryptedField(models.TextField):
    """Stores Fernet ciphertext; Python code sees plaintext. Not searchable, by design."""

    @abstractmethod
    def _to_text(self, value: Any) -> str:
        raise NotImplementedError  # abstract: each subclass says how its values become text

    @abstractmethod
    def _from_text(self, text: str) -> Any:
        raise NotImplementedError  # abstract: the inverse of _to_text

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return encrypt_str(self._to_text(value))

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return self._from_text(decrypt_str(value))

    def to_python(self, value: Any) -> Any:
        return value

    def value_to_string(self, obj: Any) -> str:
        # Serialisation (dumpdata) must not leak plaintext: emit ciphertext.
        return self.get_prep_value(self.value_from_object(obj)) or ""


class EncryptedTextField(_EncryptedField):
    def _to_text(self, value: Any) -> str:
        return str(value)

    def _from_text(self, text: str) -> str:
        return text


class EncryptedJSONField(_EncryptedField):
    def _to_text(self, value: Any) -> str:
        return json.dumps(value, sort_keys=True)

    def _from_text(self, text: str) -> Any:
        return json.loads(text)
