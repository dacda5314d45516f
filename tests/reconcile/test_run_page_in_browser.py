"""The Reconciliation page over a stored run of 270 lines, and while a run is under way, in headless
chromium at desktop and phone widths: axe finds nothing serious, the phone never scrolls sideways,
the CSP blocks nothing, and the running page turns into the finished one by itself (htmx polling).
Screenshots: var/screenshots/reconciliation-run-{desktop,phone}.png (whole page),
reconciliation-run-top-{desktop,phone}.png (first screen) and reconciliation-running-{desktop,phone}.png."""

from __future__ import annotations

from datetime import date

import pytest

from connector import reconcile_runs, tasks
from connector.models import ReconciliationRun
from connector.reconcile import Period
from tests.browser.test_accessibility import SCREENSHOTS, WIDTHS, audit, logged_in_context, open_page
from tests.reconcile.fake_books import BOOKS, make_books_flow, seed

pytestmark = pytest.mark.django_db(transaction=True)
DAY = date(2026, 11, 10)


@pytest.fixture
def books():
    BOOKS.reset()
    yield BOOKS
    BOOKS.reset()


def test_a_stored_run_and_a_running_one_read_well(browser, live_server, alice, books, monkeypatch):
    flow = make_books_flow(alice.org, enabled=True)
    seed(DAY, matched=120, missing=130, differs=20)
    done = reconcile_runs.compute_now(flow, Period(DAY, DAY), ReconciliationRun.Trigger.MANUAL)
    monkeypatch.setattr(reconcile_runs, "enqueue", lambda run_id, countdown=0: None)  # no worker here
    running, _ = reconcile_runs.start_run(flow, Period(DAY, DAY.replace(day=11)), ReconciliationRun.Trigger.MANUAL)
    base = f"/flows/{flow.pk}/reconciliation/"
    problems: list[str] = []
    for width_name, (width, height) in WIDTHS.items():
        context = logged_in_context(browser, live_server, alice, viewport={"width": width, "height": height})
        page = open_page(context)
        problems += audit(page, "reconciliation-run", f"{base}?run={done.pk}", width_name)
        assert page.get_by_text("150 of 270 lines need your attention").is_visible()
        assert page.get_by_role("button", name="Replay all 130 missing orders").is_visible()
        assert page.get_by_role("link", name="Next 100 lines ›").is_visible()
        page.screenshot(path=str(SCREENSHOTS / f"reconciliation-run-top-{width_name}.png"))  # the first screen
        problems += audit(page, "reconciliation-running", f"{base}?run={running.pk}", width_name)
        assert page.get_by_text("Check queued.").is_visible()
        context.close()
    assert not problems, "\n".join(problems)

    # The worker finishes while the page is open: the page reloads itself with the lines.
    context = logged_in_context(browser, live_server, alice, viewport={"width": 1280, "height": 900})
    page = open_page(context)
    page.goto(f"{live_server.url}{base}?run={running.pk}")
    tasks.run_reconciliation.run(running.pk)
    page.get_by_text("150 of 270 lines need your attention").wait_for(timeout=15_000)
    context.close()
