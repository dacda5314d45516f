"""Options of the flows writing to Exact Online: the ledger fields, what to write back, documents.

ExactCostAccountsForm holds the accounts, journal and default cost centre a shipment's cost is posted
on, each a picker when Exact's lists can be read (shared by Exact ↔ ShipStation and ShipStation →
Exact); ExactLedgerOptionsForm adds a cost centre per Exact project. ExactShipStationOptionsForm
adds the two write-back choices (EXACT.md §6.10): the order text field that receives tracking
numbers (sales orders have no tracking field) and whether to create goods deliveries, which move
stock in Exact and so are off unless asked for.
"""

from __future__ import annotations

from django import forms

from connector.web.forms import BackfillOptionsForm
from integrations.exact.mapping import DEFAULT_TRACKING_FIELD, NO_TRACKING_FIELD, TRACKING_FIELDS
from integrations.exact.salesorder_mapping import DOCUMENT_INVOICE, DOCUMENT_SALES_ORDER


class ExactCostAccountsForm(BackfillOptionsForm):
    """Where a shipment's cost goes in Exact's general ledger: the two accounts, the journal and the
    default cost centre, each a picker when Exact's lists can be read; required, so a flow cannot
    start without them."""

    exact_expense_gl_account = forms.CharField(label="Shipping expense GL account")
    exact_offset_gl_account = forms.CharField(label="Offset GL account")
    exact_journal_code = forms.CharField(label="General journal", help_text="The journal code, e.g. 90.")
    exact_default_cost_center = forms.CharField(
        label="Default cost centre", required=False, help_text="Used when an order's project has no cost centre."
    )

    choice_lists = {
        "exact_expense_gl_account": "gl_account",
        "exact_offset_gl_account": "gl_account",
        "exact_journal_code": "journal",
        "exact_default_cost_center": "cost_center",
    }

    def clean(self):
        data = super().clean()
        expense = data.get("exact_expense_gl_account")
        if expense and expense == data.get("exact_offset_gl_account"):
            self.add_error("exact_offset_gl_account", "Choose two different accounts.")
        return data


class ExactLedgerOptionsForm(ExactCostAccountsForm):
    """Shipment costs of Exact sales orders: the accounts plus a cost centre per order project."""

    exact_project_cost_centers = forms.JSONField(
        label="Cost centre per project",
        required=False,
        initial=dict,
        help_text='JSON: {"project code": "cost centre code"}.',
    )


class ExactShipStationOptionsForm(ExactLedgerOptionsForm):
    exact_tracking_field = forms.ChoiceField(
        label="Write tracking numbers to",
        choices=[*((f, f"The sales order's {f}") for f in TRACKING_FIELDS), (NO_TRACKING_FIELD, "Nowhere")],
        initial=DEFAULT_TRACKING_FIELD,
        required=False,
        help_text="Exact sales orders have no tracking field; the note is appended to this text field.",
    )
    exact_create_goods_delivery = forms.BooleanField(
        label="Create goods deliveries in Exact",
        required=False,
        help_text="Records the shipped quantities as a goods delivery. This moves stock in Exact.",
    )

    # One cost-centre picker per Exact project, built from Exact's own lists (the mapping
    # screen); the JSON field stays for projects added later or typed by hand.
    PROJECT_PREFIX = "project_cost_center__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        projects = self.target_choices("project")
        centres = self.target_choices("cost_center")
        current = dict(self.initial.get("exact_project_cost_centers") or {})
        for project_id, label in projects:
            self.fields[f"{self.PROJECT_PREFIX}{project_id}"] = forms.ChoiceField(
                label=f"Cost centre for project {label}",
                choices=[("", "The default cost centre"), *centres],
                required=False,
                initial=current.get(project_id, ""),
            )

    def options(self) -> dict:
        options = super().options()
        pickers = [name for name in self.cleaned_data if name.startswith(self.PROJECT_PREFIX)]
        if not pickers:
            return options  # no project list from Exact: the JSON field alone decides
        mapping = dict(options.get("exact_project_cost_centers") or {})
        for name, value in self.cleaned_data.items():
            if name.startswith(self.PROJECT_PREFIX):
                project_id = name[len(self.PROJECT_PREFIX) :]
                options.pop(name, None)
                if value:
                    mapping[project_id] = value
                else:
                    mapping.pop(project_id, None)
        options["exact_project_cost_centers"] = mapping
        return options


class ExactInvoiceOptionsForm(BackfillOptionsForm):
    """Store orders as Exact sales invoices or sales orders: the sales journal and VAT code, picked
    from Exact's lists (required, so a flow cannot start without them; credit notes go to the journal
    in both modes), and the item shipping is charged as."""

    exact_document = forms.ChoiceField(
        label="Orders become",
        choices=[
            (DOCUMENT_INVOICE, "Sales invoices"),
            (DOCUMENT_SALES_ORDER, "Sales orders (delivered and invoiced in Exact)"),
        ],
        initial=DOCUMENT_INVOICE,
        required=False,
        help_text="Sales orders are updated while open and deleted when the order is cancelled.",
    )
    exact_sales_journal = forms.CharField(label="Sales journal", help_text="The journal code, e.g. 70.")
    exact_vat_code = forms.CharField(label="VAT code", help_text="Put on every invoice line, e.g. 2.")
    exact_shipping_item = forms.CharField(
        label="Shipping item code",
        required=False,
        help_text="The Exact item that invoices shipping charges. Orders charging shipping need it.",
    )

    choice_lists = {"exact_sales_journal": "sales_journal", "exact_vat_code": "vat_code"}

    def clean_exact_document(self) -> str:
        return self.cleaned_data.get("exact_document") or DOCUMENT_INVOICE


class ExactStoreOrderOptionsForm(ExactInvoiceOptionsForm):
    """A store that refunds (WooCommerce): refunds become credit notes on this item."""

    exact_refund_item = forms.CharField(
        label="Refund item code",
        required=False,
        help_text="The Exact item refunds are credited as (one credit note per refund). Refunded orders need it.",
    )


class ExactShippingStoreOptionsForm(ExactInvoiceOptionsForm, ExactCostAccountsForm):
    """A shipping store (ShipStation): its orders as invoices or sales orders, and each shipment's cost
    as a journal entry on the GL accounts and journal picked here (store orders carry no Exact
    projects, so the default cost centre is the only one)."""

    exact_default_cost_center = forms.CharField(
        label="Cost centre", required=False, help_text="Put on each shipment's cost line; leave empty for none."
    )

    choice_lists = {**ExactInvoiceOptionsForm.choice_lists, **ExactCostAccountsForm.choice_lists}
    field_order = (
        "exact_document",
        "exact_sales_journal",
        "exact_vat_code",
        "exact_shipping_item",
        "exact_expense_gl_account",
        "exact_offset_gl_account",
        "exact_journal_code",
        "exact_default_cost_center",
        "backfill_from",
    )
