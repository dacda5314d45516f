"""Setup form for a QuickBooks Desktop connection."""

from __future__ import annotations

import zoneinfo

from django import forms

from connector.web.forms import BackfillOptionsForm
from integrations.qbdesktop.adapter import (
    DEPOSIT_ACCOUNTS,
    PAYMENT_METHODS,
    STOCK_LEVEL_SOURCES,
    STOCK_LEVEL_UNAVAILABLE,
)
from integrations.qbdesktop.inventory_push import LOCATION_OPTION, OPTION, PUSH_LABEL, unavailable_reason
from integrations.qbdesktop.mapping import INVOICE, JOURNAL, SALES_RECEIPT

NAME_MAX = 209  # FullName of a QuickBooks list reference (qbXML schema max length)

# Order sources whose stock lives in inventory locations the push must choose between (ShipStation's V2
# inventory: `inventory_location_id` on each stock level). Any other source (a WooCommerce store holds one
# `stock_quantity` per product) has nothing for the location option to choose, so it is not shown.
SOURCES_WITH_LOCATIONS = frozenset({"shipstation"})

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
    """Options of a flow of orders into QuickBooks Desktop, from any order source (names as they are in
    QuickBooks)."""

    # The journal's accounts matter only when orders post as journal entries; how a sale was paid only
    # for sales receipts.
    shown_when = {
        **{
            name: ("posting", JOURNAL)
            for name in (
                "journal_debit_account",
                "journal_sales_account",
                "journal_shipping_account",
                "journal_tax_account",
            )
        },
        "payment_method": ("posting", SALES_RECEIPT),
        "deposit_account": ("posting", SALES_RECEIPT),
    }
    # Typed names become pickers once the Web Connector has read QuickBooks' lists (adapter.choices).
    choice_lists = {"payment_method": PAYMENT_METHODS, "deposit_account": DEPOSIT_ACCOUNTS}

    posting = forms.ChoiceField(
        label="Orders become",
        choices=[
            (INVOICE, "Invoices"),
            (SALES_RECEIPT, "Sales receipts (paid orders: the money is received)"),
            (JOURNAL, "Journal entries"),
        ],
        widget=forms.RadioSelect,
        initial=INVOICE,
    )
    post_when = forms.ChoiceField(
        label="Post an order to QuickBooks",
        choices=[("shipped", "When it ships (or is completed)"), ("paid", "As soon as it is paid")],
        widget=forms.RadioSelect,
        initial="shipped",
        required=False,
        help_text="An order posted at payment is not posted again when it ships; later edits are not re-posted.",
    )
    customer_full_name = forms.CharField(
        label="Post every order to this QuickBooks customer",
        required=False,
        help_text="Empty: the order's bill-to company or name, which must already exist in QuickBooks.",
    )
    shipping_item = forms.CharField(label="Shipping item", required=False, initial="Shipping")
    discount_item = forms.CharField(label="Discount item", required=False, initial="Discount")
    tax_item = forms.CharField(label="Sales tax item (an other-charge item)", required=False, initial="Sales Tax")
    refund_item = forms.CharField(
        label="Refund item",
        required=False,
        initial="Refunds",
        help_text="Each refund becomes a QuickBooks credit memo of the refunded amount on this item "
        "(an other-charge item that must exist in QuickBooks).",
    )
    payment_method = forms.CharField(
        label="Sales receipts: payment method",
        required=False,
        max_length=NAME_MAX,
        help_text="As named in QuickBooks' payment methods. Empty: none.",
    )
    deposit_account = forms.CharField(
        label="Sales receipts: deposit to account",
        required=False,
        max_length=NAME_MAX,
        help_text="A bank or other current asset account in QuickBooks. Empty: Undeposited Funds.",
    )
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

    def clean_post_when(self) -> str:
        return self.cleaned_data.get("post_when") or "shipped"  # flows saved before the choice existed

    list_sync_minutes = forms.IntegerField(
        label="Refresh QuickBooks customers and items every (minutes)",
        required=False,
        min_value=5,
        max_value=1440,
        initial=60,
        help_text="When the Web Connector runs, changes and deletions since the last refresh are read.",
    )
    push_inventory = forms.BooleanField(
        label=PUSH_LABEL,
        required=False,
        help_text="After each QuickBooks inventory check, the order source's on-hand quantity is set to "
        "QuickBooks' QuantityOnHand for SKUs that differ.",
    )
    inventory_location_id = forms.CharField(
        label="Inventory location at the order source",
        required=False,
        help_text="The order source's id of the location to set. Empty: the SKU's only location, else the "
        "account's first.",
    )

    NO_SOURCE = "the flow's order source cannot take stock levels."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        reason = self._push_unavailable()
        self.push_unavailable = bool(reason)
        if reason:
            field = self.fields[OPTION]
            field.disabled = True
            field.help_text = f"Unavailable: {reason}"
        if not self._source_has_locations():
            del self.fields[LOCATION_OPTION]

    def _source_has_locations(self) -> bool:
        """Whether the flow's source keeps stock in locations; True while the source is unknown (a form
        built without a flow), so the option is not lost."""
        if self.flow is not None and self.flow.source_id:
            return self.flow.source.system in SOURCES_WITH_LOCATIONS
        return True

    def _push_unavailable(self) -> str:
        """ "" when the flow's source can take stock levels now; else why not, in that source's words.

        The flow's own source when the form has the flow; else what the QuickBooks adapter says of the
        sources of the connection's flows."""
        if self.flow is not None and self.flow.source_id:
            return unavailable_reason(self.flow.source)
        if self.target_choices(STOCK_LEVEL_SOURCES):
            return ""
        reasons = self.target_choices(STOCK_LEVEL_UNAVAILABLE)
        return reasons[0][1] if reasons else self.NO_SOURCE
