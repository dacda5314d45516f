"""Options of flows whose target is Zoho Books: the document (invoice or sales order), contact and
item creation, shipment pull-back timing and order rules. Presets name these classes."""

from __future__ import annotations

from django import forms
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from connector.web.forms import BackfillOptionsForm, ShipmentCostOptionsForm
from integrations.zoho import pullback, rules


class RulesSummary(forms.Widget):
    """The flow's rules as a short list (names, events, on/off): the rule builder edits them."""

    def render(self, name, value, attrs=None, renderer=None):
        import json

        try:
            saved = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            saved = []
        saved = [r for r in saved or [] if isinstance(r, dict)]
        if not saved:
            return format_html(
                '<p id="{}" class="muted">No rules: every order is sent as it is.</p>', (attrs or {}).get("id", "")
            )
        items = format_html_join(
            "",
            "<li>{} <span class='muted'>· {}{}</span></li>",
            (
                (
                    r.get("name") or "(unnamed)",
                    rules.EVENTS.get(r.get("event"), r.get("event")),
                    " · off" if r.get("enabled") is False else "",
                )
                for r in saved
            ),
        )
        return format_html('<ul id="{}" class="plain">{}</ul>', (attrs or {}).get("id", ""), items)


class ZohoOrderOptionsForm(BackfillOptionsForm):
    # Pull-back and rule-only sending exist only for sales orders: hidden while orders become invoices.
    shown_when = {
        "rule_submit_only": ("document", "sales_order"),
        "pullback_interval_hours": ("document", "sales_order"),
        "pullback_lookback_hours": ("document", "sales_order"),
    }
    document = forms.ChoiceField(
        label="Orders become",
        choices=[("invoice", "Invoices"), ("sales_order", "Sales orders (fulfilled in Zoho, tracking pulled back)")],
        initial="invoice",
        required=False,  # absent means invoices
        widget=forms.RadioSelect,
    )
    create_contact_if_missing = forms.BooleanField(
        label="Create the Zoho contact when no contact has the order's email", required=False, initial=True
    )
    create_missing_items = forms.BooleanField(
        label="Create Zoho items for SKUs Zoho does not know", required=False, initial=True
    )
    # Off (the default) sends every order; a checkbox missing from a partial POST keeps that behaviour.
    rule_submit_only = forms.BooleanField(
        label="Sales orders: send only orders an order rule submits", required=False, initial=False
    )
    pullback_interval_hours = forms.FloatField(
        label="Pull shipments back every (hours)",
        min_value=0.25,
        max_value=48,
        initial=pullback.DEFAULT_INTERVAL_HOURS,
        required=False,
    )
    pullback_lookback_hours = forms.FloatField(
        label="Look back (hours)",
        min_value=0.5,
        max_value=168,
        initial=pullback.DEFAULT_LOOKBACK_HOURS,
        required=False,
        help_text="Sales orders modified this far back are read; always longer than the interval.",
    )
    rules = forms.JSONField(
        label="Order rules",
        required=False,
        initial=list,
        help_text="A JSON list of rules: events, conditions and actions (see the Zoho integration's README).",
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.flow is not None and self.flow.pk:
            # The rule builder owns the rules: shown here read-only, with the way to it.
            count = len((self.flow.options or {}).get("rules") or [])
            field = self.fields["rules"]
            field.disabled = True
            field.widget = RulesSummary()
            field.help_text = format_html(
                '{} rule{}. <a href="{}">Open the rule builder</a> to add, change, enable or preview them.',
                count,
                "" if count == 1 else "s",
                reverse("zoho_rules", args=[self.flow.pk]),
            )

    def clean_rules(self):
        value = self.cleaned_data.get("rules") or []
        problems = rules.validate(value)
        if problems:
            raise forms.ValidationError(problems)
        return value

    def clean(self):
        data = super().clean()
        interval, lookback = data.get("pullback_interval_hours"), data.get("pullback_lookback_hours")
        if interval and lookback and lookback <= interval:
            self.add_error("pullback_lookback_hours", "The look-back must be longer than the interval.")
        return data


class ZohoShipmentOptionsForm(ZohoOrderOptionsForm, ShipmentCostOptionsForm):
    """Stores with shipments (ShipStation): shipment costs as journals or invoice comments as well."""
