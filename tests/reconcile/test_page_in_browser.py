"""The Reconciliation page in headless chromium at desktop and phone widths: axe finds nothing
serious, the phone never scrolls sideways, the CSP blocks nothing; screenshots land in
var/screenshots/ (reconciliation-desktop.png, reconciliation-phone.png) for people to look at."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from tests.browser.test_accessibility import WIDTHS, audit, logged_in_context, open_page
from tests.reconcile.test_woocommerce_zoho import by_hand, invoice_of, today_query

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_page_reads_well_on_desktop_and_phone(
    browser,
    live_server,
    alice,
    zoho_base,
    shop,
    woo_flow,
    synced_orders,
    sandbox_org,
):
    changed, deleted, doubled, _ = synced_orders
    edited = invoice_of(sandbox_org, changed)
    by_hand(zoho_base, sandbox_org, edited, total=str(Decimal(edited.data["total"]) - Decimal("1.50")))
    by_hand(zoho_base, sandbox_org, invoice_of(sandbox_org, deleted), "DELETE")
    by_hand(zoho_base, sandbox_org, invoice_of(sandbox_org, doubled), duplicate=True)
    query = "&".join(f"{k}={v}" for k, v in today_query().items())
    url = f"{reverse('flow_reconciliation', args=[woo_flow.pk])}?{query}"
    problems: list[str] = []
    for width_name, (width, height) in WIDTHS.items():
        context = logged_in_context(browser, live_server, alice, viewport={"width": width, "height": height})
        page = open_page(context)
        problems += audit(page, "reconciliation", url, width_name)
        assert page.get_by_text("3 of 4 lines need your attention").is_visible()
        assert page.get_by_role("button", name="Replay the missing order").is_visible()
        context.close()
    assert not problems, "\n".join(problems)
