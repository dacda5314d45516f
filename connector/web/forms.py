"""Flow setup forms: which preset between which connections, and each preset's options."""

from __future__ import annotations

from django import forms
from django.utils.module_loading import import_string

from connector.models import Connection
from connector.registry import FlowPreset, get_preset, presets


class FlowCreateForm(forms.Form):
    preset = forms.ChoiceField(label="Flow")
    source = forms.ModelChoiceField(queryset=Connection.objects.none(), label="From")
    target = forms.ModelChoiceField(queryset=Connection.objects.none(), label="To")
    interval_seconds = forms.IntegerField(
        label="Poll every (seconds)", min_value=60, max_value=86400, initial=300, help_text="Webhooks arrive at once."
    )

    def __init__(self, *args, organization=None, **kwargs):
        super().__init__(*args, **kwargs)
        active = Connection.objects.for_org(organization).exclude(status=Connection.Status.DISABLED)
        self.fields["preset"].choices = [(p.key, p.name) for p in presets()]
        self.fields["source"].queryset = active
        self.fields["target"].queryset = active

    def clean(self):
        data = super().clean()
        preset_key, source, target = data.get("preset"), data.get("source"), data.get("target")
        if preset_key and source and target:
            preset = get_preset(preset_key)
            if source.system != preset.source_system:
                self.add_error("source", f"Choose a {preset.source_system} connection for this flow.")
            if target.system != preset.target_system:
                self.add_error("target", f"Choose a {preset.target_system} connection for this flow.")
        return data


class BackfillOptionsForm(forms.Form):
    backfill_from = forms.DateField(
        label="Backfill from",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The first run picks up everything modified since this date (default: one day before the flow was created).",
    )

    def __init__(self, *args, target_choices=None, flow=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.target_choices = target_choices or (lambda name: [])
        self.flow = flow  # the flow being edited (None on forms built without one), e.g. for links

    def options(self) -> dict:
        data = dict(self.cleaned_data)
        if data.get("backfill_from"):
            data["backfill_from"] = data["backfill_from"].isoformat()
        return {k: v for k, v in data.items() if v not in (None, "")}


class ShipmentCostOptionsForm(BackfillOptionsForm):
    shipment_mode = forms.ChoiceField(
        label="Shipment costs as",
        choices=[("journal", "A journal entry"), ("comment", "A comment on the order's invoice")],
        widget=forms.RadioSelect,
        initial="journal",
    )
    expense_account_id = forms.CharField(label="Shipping expense account", required=False)
    offset_account_id = forms.CharField(label="Offset account (paid from)", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        accounts = self.target_choices("account")
        if accounts:
            for name in ("expense_account_id", "offset_account_id"):
                self.fields[name] = forms.ChoiceField(
                    label=self.fields[name].label, choices=[("", "Choose an account…"), *accounts], required=False
                )

    def clean(self):
        data = super().clean()
        if data.get("shipment_mode") == "journal":
            for name in ("expense_account_id", "offset_account_id"):
                if not data.get(name):
                    self.add_error(name, "A journal entry needs both accounts.")
            if data.get("expense_account_id") and data.get("expense_account_id") == data.get("offset_account_id"):
                self.add_error("offset_account_id", "Choose two different accounts.")
        return data


class LedgerOptionsForm(BackfillOptionsForm):
    """Shipment costs posted to a general ledger (Exact Online): accounts, journal and cost centres."""

    exact_expense_gl_account = forms.CharField(label="Shipping expense GL account")
    exact_offset_gl_account = forms.CharField(label="Offset GL account")
    exact_journal_code = forms.CharField(label="General journal", help_text="The journal code, e.g. 90.")
    exact_default_cost_center = forms.CharField(
        label="Default cost centre", required=False, help_text="Used when an order's project has no cost centre."
    )
    exact_project_cost_centers = forms.JSONField(
        label="Cost centre per project",
        required=False,
        initial=dict,
        help_text='JSON: {"project code": "cost centre code"}.',
    )

    choice_lists = {
        "exact_expense_gl_account": "gl_account",
        "exact_offset_gl_account": "gl_account",
        "exact_journal_code": "journal",
        "exact_default_cost_center": "cost_center",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field, list_name in self.choice_lists.items():
            values = self.target_choices(list_name)
            if values:
                old = self.fields[field]
                self.fields[field] = forms.ChoiceField(
                    label=old.label,
                    help_text=old.help_text,
                    required=old.required,
                    choices=[("", "Choose…"), *values],
                )

    def clean(self):
        data = super().clean()
        if data.get("exact_expense_gl_account") and data.get("exact_expense_gl_account") == data.get(
            "exact_offset_gl_account"
        ):
            self.add_error("exact_offset_gl_account", "Choose two different accounts.")
        return data


def options_form_for(preset: FlowPreset, *args, **kwargs) -> forms.Form:
    cls = import_string(preset.options_form) if preset.options_form else BackfillOptionsForm
    return cls(*args, **kwargs)
