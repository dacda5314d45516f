"""The order → invoice presets: registered by the Exact app, options picked from Exact's lists and
required before a flow starts."""

from __future__ import annotations

import pytest
from django import forms

from connector.registry import capabilities_of, get_preset
from connector.web.forms import options_form_for
from integrations.exact.forms import ExactInvoiceOptionsForm

LISTS = {"sales_journal": [("70", "70 Verkoopboek")], "vat_code": [("2", "2 BTW hoog"), ("0", "0 Geen BTW")]}


@pytest.mark.parametrize(
    ("key", "name", "source", "moves"),
    [
        # ShipStation ships too: its shipments' costs are posted to Exact's general ledger.
        (
            "shipstation_exact",
            "ShipStation → Exact Online",
            "shipstation",
            [("order", "invoice"), ("shipment", "cost_posting")],
        ),
        ("woocommerce_exact", "WooCommerce → Exact Online", "woocommerce", [("order", "invoice")]),
    ],
)
def test_presets_send_orders_to_exact_invoices(key, name, source, moves):
    preset = get_preset(key)
    assert (preset.name, preset.source_system, preset.target_system) == (name, source, "exact")
    assert [(c.source_type, c.target_type) for c in capabilities_of(preset)] == moves
    assert isinstance(options_form_for(preset, None), ExactInvoiceOptionsForm)


def _form(data, lists=None):
    preset = get_preset("woocommerce_exact")
    return options_form_for(preset, data, target_choices=lambda n: (lists or {}).get(n, []))


def test_journal_and_vat_code_are_pickers_of_exacts_lists():
    form = _form({"exact_sales_journal": "70", "exact_vat_code": "2"}, LISTS)
    assert isinstance(form.fields["exact_sales_journal"], forms.ChoiceField)
    assert [v for v, _ in form.fields["exact_vat_code"].choices] == ["", "2", "0"]
    assert form.is_valid(), form.errors
    assert not _form({"exact_sales_journal": "90", "exact_vat_code": "2"}, LISTS).is_valid()


def test_journal_and_vat_code_are_required_before_start():
    missing = _form({})
    assert not missing.is_valid()
    assert {"exact_sales_journal", "exact_vat_code"} <= set(missing.errors)
    assert "exact_shipping_item" not in missing.errors
