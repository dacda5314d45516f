"""A production `migrate` (SANDBOX_ENABLED off) makes no sandbox table, and old demo databases lose
the sandbox tables that used to live in the product apps.

Each check runs `manage.py` in a subprocess with the production settings module against a database
made for the test (a SQLite file; and a fresh PostgreSQL database when the suite runs on one).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEGACY_TABLES = (
    "shipstation_sandboxaccount",
    "woocommerce_sandboxstore",
    "zoho_sandboxzohouser",
    "exact_sandboxexactuser",
)


def production_env(database_url: str, **extra: str) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "SANDBOX_ENABLED", "PUBLIC_BASE_URL", "PORT")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="connector.settings",
        ENV_FILE="",
        SECRET_KEY="production-migrate-test-" + "x" * 40,
        FIELD_ENCRYPTION_KEYS="Nq0cI5mSsbXtD7vE0VfG4A6Jx0S5ZbzV3Qm8Hh2ZbLs=",
        DEBUG="false",
        SANDBOX_ENABLED="false",
        DATABASE_URL=database_url,
    )
    env.update(extra)
    return env


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def sqlite_tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_production_migrate_on_sqlite_creates_no_sandbox_table(tmp_path):
    path = tmp_path / "production.sqlite3"
    manage(production_env(f"sqlite:///{path}"), "migrate", "--noinput", "-v", "0")
    tables = sqlite_tables(path)
    assert "connector_connection" in tables and "woocommerce_wooauthrequest" in tables  # the product is there
    assert not [t for t in tables if "sandbox" in t]


def test_an_old_demo_database_loses_the_sandbox_tables_of_the_product_apps(tmp_path):
    """Before the sandboxes were apps, their tables lived in the product apps; the product apps'
    drop migrations remove them (DROP TABLE IF EXISTS), and nothing else is touched."""
    path = tmp_path / "old-demo.sqlite3"
    env = production_env(f"sqlite:///{path}")
    manage(env, "migrate", "--noinput", "-v", "0")
    with sqlite3.connect(path) as db:
        for table in LEGACY_TABLES:
            db.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY)")
        db.execute("DELETE FROM django_migrations WHERE name LIKE '%drop_sandbox_tables'")
    manage(env, "migrate", "--noinput", "-v", "0")
    tables = sqlite_tables(path)
    assert not [t for t in tables if "sandbox" in t] and "connector_connection" in tables


def test_with_sandboxes_on_the_sandbox_apps_make_their_own_tables(tmp_path):
    path = tmp_path / "demo.sqlite3"
    manage(production_env(f"sqlite:///{path}", SANDBOX_ENABLED="true", DEBUG="true"), "migrate", "--noinput", "-v", "0")
    tables = sqlite_tables(path)
    assert {
        "shipstation_sandbox_sandboxaccount",
        "zoho_sandbox_sandboxzohouser",
        "qbdesktop_sandbox_sandboxqbdcompany",
    } <= tables
    assert not set(LEGACY_TABLES) & tables  # none under the product apps' names


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL only (DATABASE_URL)"
)
def test_production_migrate_on_a_fresh_postgresql_database_creates_no_sandbox_table():
    import psycopg

    server = urlsplit(os.environ["DATABASE_URL"])
    name = f"prodmigrate_{secrets.token_hex(4)}"
    admin_url = urlunsplit(
        (
            server.scheme.replace("postgres", "postgresql", 1) if server.scheme == "postgres" else server.scheme,
            server.netloc,
            "/postgres",
            "",
            "",
        )
    )
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        manage(
            production_env(urlunsplit((server.scheme, server.netloc, f"/{name}", "", ""))),
            "migrate",
            "--noinput",
            "-v",
            "0",
        )
        with psycopg.connect(urlunsplit(("postgresql", server.netloc, f"/{name}", "", ""))) as db:
            tables = [
                row[0]
                for row in db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
            ]
        assert "connector_connection" in tables
        assert not [t for t in tables if "sandbox" in t]
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
