"""Secrets: erased on disconnect, redacted in every log (web, worker, Sentry) and timeline, and never
overwritten with stale ciphertext by a key rotation running beside a token refresh."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.core.management import call_command
from django.db import connection as db
from django.db import connections, transaction
from django.urls import reverse

from connector.logs import JsonFormatter, redact_text, scrub_sentry_event
from connector.models import Connection
from connector.web.redaction import redact, redact_body

ROOT = Path(__file__).resolve().parents[2]
BASIC = "dXNlcjpzM2NyZXQtcGFzc3dvcmQ="  # base64("user:s3cret-password")
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
V2_KEY = "TEST_v2key_9f8e7d6c5b4a"


# --- ShipStation disconnect -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("vendor_answer", ["removed", "failed"])
def test_shipstation_disconnect_erases_the_stored_keys(client, alice, monkeypatch, vendor_answer):
    from connector.http import ApiError
    from integrations.shipstation import connection as conn

    def remove_for(_connection):
        if vendor_answer == "failed":
            raise ApiError("ShipStation is down", status=503)
        return 2

    monkeypatch.setattr(conn, "remove_for", remove_for)
    connection = Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="Store",
        credentials={"api_key": "key-1234567890", "api_secret": "secret-1234567890", "v2_api_key": V2_KEY},
    )
    client.force_login(alice)
    response = client.post(reverse("shipstation_disconnect", args=[connection.pk]))
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.status == Connection.Status.DISABLED
    assert connection.credentials == {}
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM connector_connection WHERE id = %s", [connection.pk])
        stored = cursor.fetchone()[0]
    assert _plaintext(stored) == "{}"  # erased, not merely unused


def _plaintext(token: str) -> str:
    from django.conf import settings

    return MultiFernet([Fernet(k.encode()) for k in settings.FIELD_ENCRYPTION_KEYS]).decrypt(token.encode()).decode()


# --- Authorization values in logs and timelines -----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Basic {BASIC}",
        f"{{'Authorization': 'Basic {BASIC}'}}",
        f'"authorization": "Bearer {BEARER}"',
        f"Authorization: Zoho-oauthtoken {BEARER}",
        f"API-Key: {V2_KEY}",
        f"{{'API-Key': '{V2_KEY}'}}",
        f"x-api-key={V2_KEY}",
        f"sent Basic {BASIC} to the store",
        f"retrying with Bearer {BEARER}",
    ],
)
def test_authorization_and_api_key_values_are_redacted_in_text(text):
    redacted = redact_text(text)
    assert BASIC not in redacted and BEARER not in redacted and V2_KEY not in redacted, redacted
    assert "[redacted]" in redacted


def test_the_json_log_line_redacts_headers_in_messages_and_tracebacks():
    try:
        raise RuntimeError(f"vendor said 401 for Authorization: Basic {BASIC}")
    except RuntimeError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "headers %s", ({"API-Key": V2_KEY},), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert BASIC not in line and V2_KEY not in line and json.loads(line)["exception"]


def test_event_payloads_redact_api_key_headers_and_header_text():
    payload = {
        "headers": {"API-Key": V2_KEY, "X-API-Key": V2_KEY, "Accept": "application/json"},
        "note": f"Authorization: Basic {BASIC}",
        "lines": [{"raw": f"Bearer {BEARER}"}],
    }
    shown = json.dumps(redact(payload))
    assert V2_KEY not in shown and BASIC not in shown and BEARER not in shown
    assert "application/json" in shown
    body = redact_body(f"GET /orders HTTP/1.1\nAuthorization: Basic {BASIC}\nAPI-Key: {V2_KEY}\n")
    assert BASIC not in body and V2_KEY not in body


# --- Celery worker logs -----------------------------------------------------------------------------


def test_celery_worker_logs_are_json_lines_with_the_same_redaction():
    """Celery's own logging setup (what `celery worker` runs) must hand over to settings.LOGGING."""
    script = (
        "from connector.celery import app\n"
        "app.log.setup(loglevel='INFO')\n"
        "import logging\n"
        f"logging.getLogger('celery.app.trace').warning('task failed: Authorization: Basic {BASIC}')\n"
        "logging.getLogger('celery.worker').info('celery@test ready.')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    output = done.stdout + done.stderr
    assert BASIC not in output, output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert "task failed: Authorization: Basic [redacted]" in messages, output
    # `--loglevel INFO` still applies: the worker's "ready" line (which the e2e tests wait for) shows.
    assert "celery@test ready." in messages, output


# --- Sentry ------------------------------------------------------------------------------------------


def test_sentry_before_send_scrubs_secret_names_and_text():
    event = {
        "exception": {
            "values": [
                {
                    "value": f"401 Authorization: Basic {BASIC}",
                    "stacktrace": {
                        "frames": [
                            {
                                "vars": {
                                    "password": "hunter2-hunter2",
                                    "ticket": "qbwc-ticket-abcdef",
                                    "webhook_secret": "whsec-123456",
                                    "api_key": V2_KEY,
                                    "self": {"refresh_token": "1000.refresh"},
                                    "order_number": "1001",
                                }
                            }
                        ]
                    },
                }
            ]
        },
        "request": {
            "url": "https://app.example.test/invitations/Zk3vQ9xR2mN8pL4tW7yB1cD5fG6hJ0aS/?code=c0de",
            "headers": {"Authorization": f"Basic {BASIC}", "Cookie": "sessionid=abc"},
            "query_string": "state=s1&page=2",
        },
        "breadcrumbs": {"values": [{"message": f"GET with Bearer {BEARER}", "data": {"token": "t-1"}}]},
    }
    flat = json.dumps(scrub_sentry_event(event, {}))
    for secret in (BASIC, BEARER, V2_KEY, "hunter2", "qbwc-ticket", "whsec", "1000.refresh", "c0de", "Zk3vQ9", "s1&"):
        assert secret not in flat, secret
    assert "1001" in flat and "page=2" in flat


class _SentryIngest(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding == "br":
            pytest.skip("brotli-compressed envelope")
        type(self).received.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_sentry_events_sent_by_the_product_carry_no_secrets():
    """The settings' sentry_sdk.init, sending to a Sentry stand-in on loopback."""
    _SentryIngest.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SentryIngest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    script = (
        "import django; django.setup()\n"
        "import sentry_sdk\n"
        "def refresh(password, ticket):\n"
        f"    authorization = 'Basic {BASIC}'\n"
        "    raise RuntimeError('refresh failed')\n"
        "try:\n"
        "    refresh('hunter2-hunter2', 'qbwc-ticket-abcdef')\n"
        "except RuntimeError:\n"
        "    sentry_sdk.capture_exception()\n"
        "sentry_sdk.flush(10)\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "SENTRY_DSN": f"http://publickey@127.0.0.1:{server.server_address[1]}/1",
    }
    try:
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, timeout=120, check=True)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    sent = b"".join(_SentryIngest.received).decode("utf-8", "replace")
    assert "refresh failed" in sent  # the event arrived
    for secret in ("hunter2", "qbwc-ticket", BASIC):
        assert secret not in sent, secret


# --- rotate_keys beside a token refresh ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_rotate_keys_does_not_overwrite_a_concurrent_token_refresh(alice, settings):
    if db.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite serialises every writer anyway)")
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    connection = Connection.objects.create(
        organization=alice.org, system="zoho", label="Books", credentials={"refresh_token": "old-refresh"}
    )
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]  # a new key prepended, as the README says

    locked, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def refresh():
        """What a token refresh does: lock the row, write new tokens, commit (DESIGN §6)."""
        try:
            with transaction.atomic():
                row = Connection.objects.select_for_update().get(pk=connection.pk)
                locked.set()
                release.wait(30)
                row.credentials = {"refresh_token": "new-refresh"}
                row.save(update_fields=["credentials"])
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    def rotate():
        try:
            call_command("rotate_keys", stdout=io.StringIO())
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    refresher = threading.Thread(target=refresh)
    refresher.start()
    assert locked.wait(30)
    rotator = threading.Thread(target=rotate)
    rotator.start()
    _wait_for_a_lock_wait()  # the rotation is queued behind the refresh's row lock
    release.set()
    refresher.join(30)
    rotator.join(60)
    assert not errors, errors
    connection.refresh_from_db()
    assert connection.credentials == {"refresh_token": "new-refresh"}
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM connector_connection WHERE id = %s", [connection.pk])
        stored = cursor.fetchone()[0]
    assert json.loads(Fernet(new_key.encode()).decrypt(stored.encode())) == {"refresh_token": "new-refresh"}


def _wait_for_a_lock_wait() -> None:
    deadline = time.monotonic() + 30
    with db.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("rotate_keys never waited for the row lock")
