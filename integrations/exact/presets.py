"""Flow presets whose target is Exact Online (DESIGN §1, §5): store orders become sales invoices."""

from __future__ import annotations

import dataclasses

from connector.registry import Capability, FlowPreset, register_preset
from integrations.exact.adapter import STORE_COST_POSTING
from integrations.exact.salesorder_mapping import DOCUMENT_SALES_ORDER

INVOICE_FORM = "integrations.exact.forms.ExactInvoiceOptionsForm"
SHIPPING_STORE_FORM = "integrations.exact.forms.ExactShippingStoreOptionsForm"
STORE_ORDER_FORM = "integrations.exact.forms.ExactStoreOrderOptionsForm"


def demo_options(sandboxes: dict) -> dict:
    """The demo's flows take the sandbox company's sales journal, VAT code and the items it keeps for
    shipping charges and refunds."""
    exact = sandboxes.get("exact", {})
    return {
        "exact_sales_journal": exact.get("sales_journal", ""),
        "exact_vat_code": exact.get("vat_code", ""),
        "exact_document": "invoice",
        "exact_shipping_item": exact.get("shipping_item", ""),
        "exact_refund_item": exact.get("refund_item", ""),
    }


def shipping_demo_options(sandboxes: dict) -> dict:
    """A shipping store's flow also posts shipment costs: the sandbox company's GL accounts and journal."""
    exact = sandboxes.get("exact", {})
    return {
        **demo_options(sandboxes),
        "exact_expense_gl_account": exact.get("expense_gl_account", ""),
        "exact_offset_gl_account": exact.get("offset_gl_account", ""),
        "exact_journal_code": exact.get("journal_code", ""),
    }


SHIPSTATION_DESCRIPTION = (
    "Orders become Exact sales invoices (or sales orders, your choice) with customers found by email or "
    "created and items matched by code; each shipment's cost (shipping and insurance) becomes a balanced "
    "general journal entry on your GL accounts, reversed when the label is voided. The sales journal, VAT "
    "code, GL accounts and journal are picked from Exact's lists; a cancelled order is credited (a sales "
    "order deleted)."
)
DESCRIPTION = (
    "Orders become Exact sales invoices (or sales orders, your choice) with customers found by email or "
    "created and items matched by code. The sales journal and VAT code are picked from Exact's lists; "
    "a cancelled order is credited (a sales order deleted)."
)
WOOCOMMERCE_DESCRIPTION = (
    "Orders become Exact sales invoices (or sales orders, your choice) with customers found by email or "
    "created and items matched by code; each refund becomes a credit note. The sales journal and VAT "
    "code are picked from Exact's lists; a cancelled order is credited (a sales order deleted)."
)


def _invoices_preset(key: str, source_system: str, name: str, **extra) -> FlowPreset:
    return FlowPreset(
        key=key,
        name=name,
        source_system=source_system,
        target_system="exact",
        **{
            "capabilities": (("order", "invoice"),),
            "demo_options": demo_options,
            "description": DESCRIPTION,
            "options_form": INVOICE_FORM,
            **extra,
        },
    )


# ShipStation ships: its SHIP_NOTIFY webhooks and shipment polls feed the cost postings.
SHIPSTATION_EXACT = _invoices_preset(
    "shipstation_exact",
    "shipstation",
    "ShipStation → Exact Online",
    capabilities=(("order", "invoice"), ("shipment", "cost_posting")),
    description=SHIPSTATION_DESCRIPTION,
    options_form=SHIPPING_STORE_FORM,
    demo_options=shipping_demo_options,
)
# WooCommerce never retries a webhook: a poll every 15 minutes catches what one missed.
WOOCOMMERCE_EXACT = _invoices_preset(
    "woocommerce_exact",
    "woocommerce",
    "WooCommerce → Exact Online",
    default_interval_seconds=900,
    description=WOOCOMMERCE_DESCRIPTION,
    options_form=STORE_ORDER_FORM,
)


def resolve_capability(capability: Capability, options: dict) -> Capability:
    """The flow's "Orders become" option: orders written to Exact become sales invoices (the
    presets' default) or sales orders. A shipment posted forward (from a store, not back to the Exact
    sales order it came from) has no Exact order lines to split its cost over: a store cost posting."""
    if capability.target_type == "invoice" and options.get("exact_document") == DOCUMENT_SALES_ORDER:
        return dataclasses.replace(capability, target_type="sales_order")
    if capability.target_type == "cost_posting" and not capability.reverse:
        return dataclasses.replace(capability, target_type=STORE_COST_POSTING)
    return capability


def register_presets() -> None:
    for preset in (SHIPSTATION_EXACT, WOOCOMMERCE_EXACT):
        register_preset(preset)
