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

    def __init__(self, *args, target_choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.target_choices = target_choices or (lambda name: [])

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


def options_form_for(preset: FlowPreset, *args, **kwargs) -> forms.Form:
    cls = import_string(preset.options_form) if preset.options_form else BackfillOptionsForm
    return cls(*args, **kwargs)
