"""The dashboard with a reconciliation alert, in headless chromium at desktop and phone widths: the
"Open the reconciliation" button is visible and opens the run's page, axe finds nothing serious and
the phone never scrolls sideways. Screenshots: var/screenshots/dashboard-reconciliation-alert-{desktop,phone}.png."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from connector import reconcile_runs, tasks
from connector.models import ReconciliationRun
from tests.browser.test_accessibility import WIDTHS, audit, logged_in_context, open_page
from tests.reconcile.fake_books import BOOKS, make_books_flow, seed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def books():
    BOOKS.reset()
    yield BOOKS
    BOOKS.reset()


def test_the_alert_button_opens_the_run(browser, live_server, alice, books, monkeypatch):
    monkeypatch.setattr(reconcile_runs, "enqueue", lambda run_id, countdown=0: None)  # no worker here
    flow = make_books_flow(alice.org, enabled=True)
    seed(timezone.now().date() - timedelta(days=1), matched=40, missing=3, differs=2)
    period = reconcile_runs.scheduled_period(timezone.now().date())
    run, _ = reconcile_runs.start_run(flow, period, ReconciliationRun.Trigger.SCHEDULE)
    tasks.run_reconciliation.run(run.pk)
    problems: list[str] = []
    for width_name, (width, height) in WIDTHS.items():
        context = logged_in_context(browser, live_server, alice, viewport={"width": width, "height": height})
        page = open_page(context)
        problems += audit(page, "dashboard-reconciliation-alert", reverse("dashboard"), width_name)
        assert page.get_by_text("5 of 45 orders").is_visible()
        button = page.get_by_role("link", name="Open the reconciliation")
        assert button.is_visible()
        button.click()
        page.wait_for_url(f"**/flows/{flow.pk}/reconciliation/?run={run.pk}")
        assert page.get_by_text("5 of 45 lines need your attention").is_visible()
        context.close()
    assert not problems, "\n".join(problems)
