"""Setup form for a QuickBooks Desktop connection."""

from __future__ import annotations

import zoneinfo

from django import forms

from connector.web.forms import BackfillOptionsForm

# QuickBooks reads query dates in the QuickBooks PC's local time: we need the company's zone.
COMMON_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Toronto",
    "America/Vancouver",
    "Europe/London",
    "Australia/Sydney",
    "UTC",
]


class ConnectForm(forms.Form):
    label = forms.CharField(max_length=100, initial="QuickBooks Desktop", help_text="A name for this company file.")
    time_zone = forms.ChoiceField(
        choices=[(z, z.replace("_", " ")) for z in COMMON_ZONES],
        initial="America/New_York",
        help_text="The time zone of the computer running QuickBooks.",
    )
    run_every_minutes = forms.IntegerField(
        min_value=1, max_value=1440, initial=15, help_text="How often the Web Connector runs (minutes)."
    )

    def clean_time_zone(self) -> str:
        value = self.cleaned_data["time_zone"]
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError("Unknown time zone.") from None
        return value


class FlowOptionsForm(BackfillOptionsForm):
    """Options of the ShipStation → QuickBooks Desktop flow (names as they are in QuickBooks)."""

    posting = forms.ChoiceField(
        label="Post shipped orders as",
        choices=[("invoice", "An invoice"), ("journal", "A journal entry")],
        widget=forms.RadioSelect,
        initial="invoice",
    )
    customer_full_name = forms.CharField(
        label="Post every order to this QuickBooks customer",
        required=False,
        help_text="Empty: the order's bill-to company or name, which must already exist in QuickBooks.",
    )
    shipping_item = forms.CharField(label="Shipping item", required=False, initial="Shipping")
    discount_item = forms.CharField(label="Discount item", required=False, initial="Discount")
    tax_item = forms.CharField(label="Sales tax item (an other-charge item)", required=False, initial="Sales Tax")
    journal_debit_account = forms.CharField(
        label="Journal: receivables account", required=False, initial="Accounts Receivable"
    )
    journal_sales_account = forms.CharField(label="Journal: sales account", required=False, initial="Sales")
    journal_shipping_account = forms.CharField(
        label="Journal: shipping income account", required=False, initial="Shipping Income"
    )
    journal_tax_account = forms.CharField(
        label="Journal: sales tax account", required=False, initial="Sales Tax Payable"
    )
