"""Shared fixtures. Named personas: alice and bob, each in an organisation of their own."""

from __future__ import annotations

import os

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model

from accounts.models import Membership, Organization, Role
from connector.models import Connection, Event, Flow, Record

PASSWORD = "correct horse battery staple 42"


def make_user(email: str, org_name: str, role: str = Role.OWNER):
    user = get_user_model().objects.create_user(username=email.split("@")[0], email=email, password=PASSWORD)
    # Email verification is mandatory: personas have proven their address.
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    org = Organization.objects.create(name=org_name)
    Membership.objects.create(user=user, organization=org, role=role)
    return user, org


@pytest.fixture
def alice(db):
    user, org = make_user("alice@example.com", "Alice Ltd")
    user.org = org
    return user


@pytest.fixture
def bob(db):
    user, org = make_user("bob@example.com", "Bob GmbH")
    user.org = org
    return user


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def make_flow(org, preset="test_preset", **kwargs) -> Flow:
    source = Connection.objects.create(organization=org, system="shipstation", label=f"{org.name} store")
    target = Connection.objects.create(organization=org, system="zoho", label=f"{org.name} books")
    return Flow.objects.create(organization=org, preset=preset, source=source, target=target, **kwargs)


def make_record(flow: Flow, number: str, **kwargs) -> Record:
    record = Record.objects.create(
        organization=flow.organization,
        flow=flow,
        object_type=kwargs.pop("object_type", "order"),
        source_id=kwargs.pop("source_id", number),
        source_ref=number,
        **kwargs,
    )
    Event.objects.create(organization=flow.organization, record=record, kind="received", message="seen")
    return record


@pytest.fixture(autouse=True)
def _flush_redis_buckets():
    """Rate-limit buckets and locks live in Redis: every test starts with an empty database (and an
    empty per-process webhook connection cache)."""
    from connector import inbox
    from connector.redis import get_redis

    get_redis().flushdb()
    inbox._hook_cache.clear()
    yield


@pytest.fixture
def inline_inbox(monkeypatch):
    """The inbox doorbell drains in this process instead of through the broker (no worker here)."""
    from connector import tasks

    monkeypatch.setattr(tasks.drain_inbox, "delay", lambda: tasks.drain_inbox.run())


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say loudly which tests were skipped and why (tests/skips.py), not only in pytest's short summary."""
    from tests import skips

    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.section("SKIPPED TESTS", yellow=True, bold=True)
        for line in skips.summary_lines(skipped, ci=skips.on_ci()):
            terminalreporter.write_line(line)


def pytest_sessionfinish(session, exitstatus):
    """On CI a skipped browser, PostgreSQL or RabbitMQ test fails the run: there they must really run."""
    from tests import skips

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    session.exitstatus = skips.ci_exit_status(skipped, session.exitstatus, ci=skips.on_ci())


# One browser for the whole run (tests/browser and any page test elsewhere): a second Playwright
# instance in the same process refuses to start inside the first one's event loop.
@pytest.fixture(scope="session")
def browser():
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed; .ci/run installs it")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
    # page actions are ordinary synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
