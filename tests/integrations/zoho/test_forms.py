"""Zoho flow options: document choice, pull-back timing and rules are validated before saving."""

from __future__ import annotations

import pytest

from connector.registry import get_preset
from connector.web.forms import options_form_for


def form(preset: str, **data):
    base = {"document": "sales_order", "pullback_interval_hours": "3", "pullback_lookback_hours": "4"}
    return options_form_for(get_preset(preset), {**base, **data})


def test_presets_use_the_zoho_options_forms():
    assert form("woocommerce_zoho").__class__.__name__ == "ZohoOrderOptionsForm"
    assert form("shipstation_zoho").__class__.__name__ == "ZohoShipmentOptionsForm"


def test_sales_order_options_are_saved():
    f = form("woocommerce_zoho", create_contact_if_missing="on")
    assert f.is_valid(), f.errors
    options = f.options()
    assert options["document"] == "sales_order" and options["create_contact_if_missing"] is True
    assert options["create_missing_items"] is False and options["rules"] == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"pullback_lookback_hours": "2"}, "pullback_lookback_hours"),
        ({"rules": '[{"event": "no_such_event"}]'}, "rules"),
        ({"rules": "not json"}, "rules"),
    ],
)
def test_bad_options_are_field_errors(data, field):
    f = form("woocommerce_zoho", **data)
    assert not f.is_valid() and field in f.errors
