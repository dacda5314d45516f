"""Access and request logs never carry webhook, invitation or password-reset tokens.

A webhook URL's token is the only credential of a ShipStation or Exact delivery, and an invitation
link grants a seat in an organisation: whoever reads the logs must not be able to replay them.
"""

from __future__ import annotations

import http.client
import logging
import os
import runpy
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import connection as db_connection

from connector.logs import GunicornLogger, JsonFormatter, redact_path, redact_url

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "Zk3vQ9xR2mN8pL4tW7yB1cD5fG6hJ0aS"  # shaped like secrets.token_urlsafe(24)
PATHS = [
    f"/hooks/woocommerce/{TOKEN}/",
    f"/hooks/shipstation/{TOKEN}/",
    f"/hooks/exact/{TOKEN}/",
    f"/invitations/{TOKEN}/",
    f"/hooks/woocommerce/{TOKEN}/extra/",  # no route matches: the token-shaped segment still goes
]


def _database_url() -> str:
    s = db_connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s.get('USER') or 'postgres'}{password}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_gunicorn_access_log_has_no_tokens(settings, tmp_path):
    """The Procfile's web process (gunicorn.conf.py) on loopback, hit with token URLs."""
    port = _free_port()
    log_path = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
    }
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "connector.wsgi:application",
                "-c",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(server, port, log_path)
            for path in PATHS:
                _request(port, "POST", path, referer=f"http://127.0.0.1:{port}{PATHS[3]}")
                _request(port, "GET", path + "?code=one-time-code&state=abc")
        finally:
            server.terminate()
            server.wait(timeout=30)
    text = log_path.read_text()
    assert f"/hooks/woocommerce/{TOKEN}" not in text  # sanity of the needle itself below
    assert TOKEN not in text and "one-time-code" not in text, text[-2000:]
    assert "/hooks/woocommerce/[redacted]/" in text and "/invitations/[redacted]/" in text, text[-2000:]


def _request(port: int, method: str, path: str, referer: str = "") -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            method, path, body=b"{}" if method == "POST" else None, headers={"Referer": referer} if referer else {}
        )
        conn.getresponse().read()
    finally:
        conn.close()


def _wait_until_up(server: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited:\n" + log_path.read_text()[-3000:])
        try:
            _request(port, "GET", "/healthz")
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start:\n" + log_path.read_text()[-3000:])


def test_gunicorn_conf_recycles_workers_with_jitter_and_uses_the_redacting_logger():
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert conf["max_requests"] > 0 and 0 < conf["max_requests_jitter"] < conf["max_requests"]
    assert conf["logger_class"] == "connector.logs.GunicornLogger"
    assert "gunicorn.conf.py" in (ROOT / "Procfile").read_text()


@pytest.mark.django_db
def test_logger_masks_every_atom_a_format_can_print():
    """Whatever access_log_format an operator sets: path, request line, query, referer, secret headers."""
    from gunicorn.config import Config

    log_format = (
        "%(U)s|%(r)s|%(q)s|%(f)s|%({authorization}i)s|%({referer}i)s|%({raw_uri}e)s|%({path_info}e)s"
        "|%({query_string}e)s|%({http_authorization}e)s|%({x-wc-webhook-signature}i)s"
    )
    config = Config()
    config.set("access_log_format", log_format)
    logger = GunicornLogger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/invitations/{TOKEN}/?user_id={TOKEN}&page=2",
        "PATH_INFO": f"/invitations/{TOKEN}/",
        "QUERY_STRING": f"user_id={TOKEN}&page=2",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://app.example.test/hooks/exact/{TOKEN}/",
        "HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNzd29yZA==",
    }
    request = SimpleNamespace(
        headers=[
            ("REFERER", environ["HTTP_REFERER"]),
            ("AUTHORIZATION", environ["HTTP_AUTHORIZATION"]),
            ("X-WC-WEBHOOK-SIGNATURE", "c2lnbmF0dXJlLXZhbHVl"),
        ]
    )
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    atoms = logger.atoms(response, request, environ, timedelta(milliseconds=5))
    line = log_format % atoms
    assert TOKEN not in line and "dXNlcjpwYXNzd29yZA" not in line and "c2lnbmF0dXJl" not in line, line
    assert atoms["U"] == "/invitations/[redacted]/"
    assert atoms["r"] == "GET /invitations/[redacted]/?user_id=[redacted]&page=2 HTTP/1.1"
    assert atoms["f"] == "https://app.example.test/hooks/exact/[redacted]/"
    assert atoms["{authorization}i"] == "[redacted]"


@pytest.mark.django_db
def test_numbers_and_plain_pages_are_kept():
    assert redact_path("/flows/12/") == "/flows/12/"
    assert redact_path("/audit/") == "/audit/"
    assert redact_url("/audit/?status=failed&since=2024-01-01") == "/audit/?status=failed&since=2024-01-01"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("logger_name", "message"),
    [
        ("django.request", f"Not Found: /hooks/shipstation/{TOKEN}/"),
        ("django.server", f'"GET /invitations/{TOKEN}/ HTTP/1.1" 302 0'),
    ],
)
def test_django_request_and_runserver_lines_are_redacted(logger_name, message):
    record = logging.LogRecord(logger_name, logging.WARNING, __file__, 1, "%s", (message,), None)
    line = JsonFormatter().format(record)
    assert TOKEN not in line and "[redacted]" in line


def test_runserver_lines_go_through_the_json_formatter(settings):
    assert settings.LOGGING["loggers"]["django.server"]["handlers"] == ["console"]
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status", "logged"),
    [
        (f"/hooks/woocommerce/{TOKEN}/", 200, False),  # accepted: the Delivery row is its record
        (f"/hooks/woocommerce/{TOKEN}/", 401, True),  # refused signatures stay in the access log
        (f"/hooks/shipstation/{TOKEN}/", 503, True),
        (f"/hooks/exact/{TOKEN}/", 404, True),
        ("/flows/", 200, True),
    ],
)
def test_access_log_leaves_out_only_accepted_webhook_deliveries(path, status, logged):
    from gunicorn.config import Config

    config = Config()
    config.set("accesslog", "-")
    logger = GunicornLogger(config)
    lines = []
    logger.access_log.info = lambda fmt, atoms: lines.append(fmt % atoms)
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    response = SimpleNamespace(status=f"{status} X", status_code=status, sent=2, headers=[])
    logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
    assert bool(lines) is logged
    assert all(TOKEN not in line for line in lines)
