"""REST API schema, production settings (`check --deploy`), and the demo command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_openapi_schema_lists_the_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert {"/api/v1/records/", "/api/v1/flows/", "/api/v1/connections/", "/api/v1/events/"} <= set(schema["paths"])


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SANDBOX_ENABLED", "SANDBOX_ALLOWED_WITHOUT_DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        ENV_FILE="",
        DJANGO_SETTINGS_MODULE="connector.settings",
        SECRET_KEY="p" + "roduction-secret-" * 5,
        FIELD_ENCRYPTION_KEYS="Nq0cI5mSsbXtD7vE0VfG4A6Jx0S5ZbzV3Qm8Hh2ZbLs=",
        PUBLIC_BASE_URL="https://connector.example.com",
        ALLOWED_HOSTS="connector.example.com",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sandboxes_are_refused_in_production():
    env = {**os.environ, "ENV_FILE": "", "DJANGO_SETTINGS_MODULE": "connector.settings"}
    env.update(DEBUG="false", SANDBOX_ENABLED="true")
    env.pop("SANDBOX_ALLOWED_WITHOUT_DEBUG", None)
    env.setdefault("SECRET_KEY", "x" * 50)
    env.setdefault("FIELD_ENCRYPTION_KEYS", "Nq0cI5mSsbXtD7vE0VfG4A6Jx0S5ZbzV3Qm8Hh2ZbLs=")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "SANDBOX_ENABLED" in result.stderr


@pytest.mark.django_db
def test_demo_is_idempotent_and_prints_its_login_as_json():
    out = StringIO()
    call_command("demo", "--json", stdout=out)
    call_command("demo", "--json", stdout=StringIO())
    facts = json.loads(out.getvalue())
    assert facts["email"] == "demo@example.com" and facts["password"]
    from accounts.models import Organization

    assert Organization.objects.filter(name=facts["organization"]).count() == 1


@pytest.mark.django_db
def test_demo_connects_the_sandboxes_and_starts_the_showcase_flow(settings):
    from connector.models import Connection, Flow

    out = StringIO()
    call_command("demo", "--json", stdout=out)
    facts = json.loads(out.getvalue())
    systems = set(Connection.objects.values_list("system", flat=True))
    assert {"shipstation", "zoho", "woocommerce"} <= systems
    running = Flow.objects.get(preset="shipstation_zoho")
    assert running.enabled and running.options["expense_account_id"] and running.options["offset_account_id"]
    assert any("running" in f for f in facts["flows"])
    call_command("demo", "--json", stdout=StringIO())  # again: nothing duplicated
    assert Flow.objects.filter(preset="shipstation_zoho").count() == 1


def test_the_web_access_log_never_carries_credentials():
    """Gunicorn's default access log prints the Basic-auth user (an API key) and full query strings
    (OAuth codes, query-string keys): the web process (Procfile → gunicorn.conf.py) logs the path only,
    and that path has its tokens masked (tests/security/test_access_log.py)."""
    import runpy

    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert "-c gunicorn.conf.py" in web
    fmt = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["access_log_format"]
    assert "%(u)s" not in fmt and "%(r)s" not in fmt and "%(q)s" not in fmt and "%(U)s" in fmt


def test_web_workers_freeze_the_start_up_heap():
    """gunicorn.conf.py: after a worker loads the app, what start-up allocated is out of the garbage
    collector's reach (a full collection over it is a pause in a webhook request)."""
    import gc
    import runpy

    hook = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["post_worker_init"]
    try:
        hook(None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
