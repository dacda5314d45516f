"""Secrets at rest: ciphertext in the column, rotation keeps them readable."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from connector import crypto
from connector.models import Connection

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def raw_columns(conn: Connection) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials, webhook_secret FROM connector_connection WHERE id = %s", [conn.pk])
        return cursor.fetchone()


@pytest.fixture
def secret_connection(alice):
    return Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="Shop",
        credentials={"api_key": "KEY-PLAINTEXT-123", "api_secret": "SECRET-PLAINTEXT-456"},
        webhook_secret="HOOK-SECRET-789",
    )


def test_secrets_are_not_stored_in_plaintext(secret_connection):
    credentials, webhook_secret = raw_columns(secret_connection)
    for plaintext in ("KEY-PLAINTEXT-123", "SECRET-PLAINTEXT-456", "api_key"):
        assert plaintext not in credentials
    assert "HOOK-SECRET-789" not in webhook_secret
    fresh = Connection.objects.get(pk=secret_connection.pk)
    assert fresh.credentials["api_secret"] == "SECRET-PLAINTEXT-456"
    assert fresh.webhook_secret == "HOOK-SECRET-789"


def test_rotate_keys_re_encrypts_under_the_newest_key(secret_connection, settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    before = raw_columns(secret_connection)
    call_command("rotate_keys", stdout=io.StringIO())
    after = raw_columns(secret_connection)
    assert after != before
    # Readable with the new key alone: the old key can now be dropped.
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    fresh = Connection.objects.get(pk=secret_connection.pk)
    assert fresh.credentials["api_key"] == "KEY-PLAINTEXT-123"
    assert fresh.webhook_secret == "HOOK-SECRET-789"
    Fernet(new_key.encode()).decrypt(after[0].encode())  # really under the new key


def test_a_missing_old_key_is_a_clear_error_not_garbage(secret_connection, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(Exception, match="FIELD_ENCRYPTION_KEYS"):
        Connection.objects.get(pk=secret_connection.pk)


def test_dumpdata_style_serialisation_emits_ciphertext(secret_connection):
    field = Connection._meta.get_field("credentials")
    assert "KEY-PLAINTEXT-123" not in field.value_to_string(secret_connection)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("", "FIELD_ENCRYPTION_KEYS is not set"), ("not-a-key", "key #1 is not a valid Fernet key")],
)
def test_bad_or_missing_key_fails_at_start_up_naming_the_variable(value, fragment):
    env = {**os.environ, "FIELD_ENCRYPTION_KEYS": value, "DJANGO_SETTINGS_MODULE": "connector.settings", "ENV_FILE": ""}
    env["SECRET_KEY"] = "x" * 50
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_parse_keys_accepts_several_newest_first():
    a, b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert crypto.parse_keys(f" {a} , {b} ") == [a, b]
