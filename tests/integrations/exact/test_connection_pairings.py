"""The Exact Online connection page says what each flow Exact takes part in does, with a link that
starts that flow with this connection on Exact's side; it fits a phone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse

from connector.registry import presets
from tests.browser.test_accessibility import logged_in_context

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/pairexact-shots"))


def test_connection_page_explains_each_exact_pairing(alice_client, exact_connection):
    page = alice_client.get(reverse("exact_connection", args=[exact_connection.pk])).content.decode()
    exact_presets = [p for p in presets() if "exact" in (p.source_system, p.target_system)]
    assert {p.key for p in exact_presets} >= {"exact_shipstation", "shipstation_exact", "woocommerce_exact"}
    assert "What each flow does" in page
    for preset in exact_presets:
        assert preset.name in page and preset.description.replace("'", "&#x27;") in page, preset.key
        side = "target" if preset.target_system == "exact" else "source"
        assert f"preset={preset.key}&amp;{side}={exact_connection.pk}" in page


@pytest.mark.parametrize("width", [1280, 390])
def test_connection_page_fits_the_screen(browser, live_server, alice, exact_connection, width):
    context = logged_in_context(browser, live_server, alice, viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(reverse("exact_connection", args=[exact_connection.pk]))
    assert page.get_by_role("heading", name="What each flow does").is_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"exact-connection-{width}.png"), full_page=True)
    context.close()
    assert overflow <= 0
