"""The reconciliation's lines by status as one bar (connector.web.charts.share_bar), and on the page."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from connector.web.charts import BAR_WIDTH, share_bar


def test_widths_are_the_shares_and_add_up_to_the_bar():
    bar = share_bar([("missing", "Missing", 1), ("amount_differs", "Amount differs", 0), ("matched", "Matched", 3)])
    assert [(s.key, s.count, s.percent) for s in bar] == [("missing", 1, 25), ("matched", 3, 75)]
    assert bar[0].x == 0 and bar[1].x == bar[0].width
    assert sum(s.width for s in bar) == pytest.approx(BAR_WIDTH)
    assert bar[1].width == pytest.approx(3 * bar[0].width)


def test_a_single_problem_among_thousands_stays_visible():
    bar = share_bar([("extra", "Extra in ledger", 1), ("matched", "Matched", 9999)])
    assert bar[0].width >= 0.99 and sum(s.width for s in bar) == pytest.approx(BAR_WIDTH)


def test_nothing_to_draw():
    assert share_bar([]) == [] and share_bar([("matched", "Matched", 0)]) == []


@pytest.mark.django_db
def test_the_page_draws_the_bar_with_each_status_named(alice_client, alice):
    from tests.reconcile.fake_books import BOOKS, make_books_flow, seed

    BOOKS.reset()
    try:
        flow = make_books_flow(alice.org, enabled=True)
        seed(date.fromisoformat(DAY), matched=3, missing=1)
        page = alice_client.get(reverse("flow_reconciliation", args=[flow.pk]), {"start": DAY, "end": DAY})
    finally:
        BOOKS.reset()
    html = page.content.decode()
    assert page.status_code == 200 and 'class="share-bar"' in html and 'aria-label="Lines by status:' in html
    assert 'class="seg seg-missing"' in html and 'class="seg seg-matched"' in html
    assert "<title>Matched: 3 (75%)</title>" in html and "<title>Missing in ledger: 1 (25%)</title>" in html


DAY = "2026-11-10"
