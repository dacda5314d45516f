"""The Exact ledger options live in the Exact app and reach the flow pages through the preset."""

from __future__ import annotations

from django import forms

from connector.registry import get_preset
from connector.web.forms import options_form_for
from integrations.exact.forms import ExactLedgerOptionsForm

LISTS = {
    "gl_account": [("G1", "4600 Shipping"), ("G2", "1600 Clearing")],
    "journal": [("90", "90 Memoriaal")],
    "cost_center": [("CC100", "CC100 Default")],
}
LEDGER = {"exact_expense_gl_account": "G1", "exact_offset_gl_account": "G2", "exact_journal_code": "90"}


def _form(data=None, lists=None):
    return options_form_for(get_preset("exact_shipstation"), data, target_choices=lambda n: (lists or {}).get(n, []))


def test_the_preset_contributes_the_exact_ledger_form():
    assert isinstance(_form(), ExactLedgerOptionsForm)


def test_ledger_fields_are_pickers_of_exacts_lists_when_exact_answers():
    form = _form({**LEDGER, "exact_default_cost_center": "CC100"}, LISTS)
    assert isinstance(form.fields["exact_expense_gl_account"], forms.ChoiceField)
    assert [v for v, _ in form.fields["exact_offset_gl_account"].choices] == ["", "G1", "G2"]
    assert [v for v, _ in form.fields["exact_journal_code"].choices] == ["", "90"]
    assert form.is_valid(), form.errors
    assert not _form({**LEDGER, "exact_expense_gl_account": "G9"}, LISTS).is_valid()


def test_ledger_fields_stay_typed_without_lists_and_are_required():
    form = _form({**LEDGER, "exact_expense_gl_account": "4600"})
    assert type(form.fields["exact_expense_gl_account"]) is forms.CharField
    assert form.is_valid(), form.errors
    missing = _form({"exact_expense_gl_account": "4600"})
    assert "General journal: This field is required." in missing.problems()


def test_expense_and_offset_must_differ():
    form = _form({**LEDGER, "exact_offset_gl_account": "G1"}, LISTS)
    assert form.errors["exact_offset_gl_account"] == ["Choose two different accounts."]
