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

    # The journal's accounts matter only when orders post as journal entries.
    shown_when = {
        name: ("posting", "journal")
        for name in (
            "journal_debit_account",
            "journal_sales_account",
            "journal_shipping_account",
            "journal_tax_account",
        )
    }

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
    list_sync_minutes = forms.IntegerField(
        label="Refresh QuickBooks customers and items every (minutes)",
        required=False,
        min_value=5,
        max_value=1440,
        initial=60,
        help_text="When the Web Connector runs, changes and deletions since the last refresh are read.",
    )
    push_inventory_v2 = forms.BooleanField(
        label="Push QuickBooks quantities to ShipStation inventory (V2)",
        required=False,
        help_text="After each QuickBooks inventory check, ShipStation's on-hand quantity is set to QuickBooks' "
        "QuantityOnHand for SKUs that differ.",
    )
    shipstation_inventory_location_id = forms.CharField(
        label="ShipStation inventory location",
        required=False,
        help_text="An inventory_location_id (se-…). Empty: the SKU's only location, else the account's first.",
    )

    UNAVAILABLE = (
        "Unavailable: the flow's ShipStation connection has no V2 API key. Add one on the ShipStation "
        "connection's page (Settings → Account → API Settings in ShipStation), then come back."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The QuickBooks adapter names the flow sources that can take V2 inventory updates.
        if not self.target_choices("shipstation_v2_inventory"):
            field = self.fields["push_inventory_v2"]
            field.disabled = True
            field.help_text = self.UNAVAILABLE
            self.push_unavailable = True
        else:
            self.push_unavailable = False
