"""Shipment lines on the Reconciliation page in headless chromium at desktop and phone widths: each
shipment named with its order and tracking, a voided shipment's reversal marked; axe finds nothing
serious, the phone never scrolls sideways. Screenshots: var/screenshots/reconciliation-shipments-*.png."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integrations.shipstation.sandbox import state as ss_state
from tests.browser.test_accessibility import WIDTHS, audit, logged_in_context, open_page
from tests.reconcile.conftest import sync
from tests.reconcile.test_shipment_journals import journal_flow, journals, ship  # noqa: F401 (fixture)
from tests.reconcile.test_shipstation_zoho import ss_flow  # noqa: F401 (fixture)
from tests.reconcile.test_woocommerce_zoho import by_hand, today_query

pytestmark = pytest.mark.django_db(transaction=True)


def test_shipment_lines_read_well_on_desktop_and_phone(
    browser,
    live_server,
    alice,
    zoho_base,
    journal_flow,  # noqa: F811
    sandbox_org,
):
    shipped = ship(journal_flow.account, ["PG-1", "PG-2", "PG-3"], ["7.50", "8.25", "6.00"])
    sync(journal_flow)
    ss_state.void_label(journal_flow.account, shipped["PG-3"])
    sync(journal_flow)
    by_hand(zoho_base, sandbox_org, journals(sandbox_org)[shipped["PG-1"]], total="9.99")
    query = "&".join(f"{k}={v}" for k, v in today_query().items())
    url = f"{reverse('flow_reconciliation', args=[journal_flow.pk])}?{query}&show=all"  # matched lines too
    problems: list[str] = []
    for width_name, (width, height) in WIDTHS.items():
        context = logged_in_context(browser, live_server, alice, viewport={"width": width, "height": height})
        page = open_page(context)
        problems += audit(page, "reconciliation-shipments", url, width_name)
        assert page.get_by_text(f"Shipment {shipped['PG-1']}").is_visible()
        assert page.get_by_text("Order PG-1 ups").first.is_visible()
        assert page.get_by_text("(reversal)").is_visible()
        assert page.get_by_text("1 of 6 lines needs your attention").is_visible()
        context.close()
    assert not problems, "\n".join(problems)
