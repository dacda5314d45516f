"""Flow presets whose target is Exact Online (DESIGN §1, §5): store orders become sales invoices."""

from __future__ import annotations

import dataclasses

from connector.registry import Capability, FlowPreset, register_preset
from integrations.exact.salesorder_mapping import DOCUMENT_SALES_ORDER

INVOICE_FORM = "integrations.exact.forms.ExactInvoiceOptionsForm"
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
        capabilities=(("order", "invoice"),),
        demo_options=demo_options,
        **{"description": DESCRIPTION, "options_form": INVOICE_FORM, **extra},
    )


SHIPSTATION_EXACT = _invoices_preset("shipstation_exact", "shipstation", "ShipStation → Exact Online")
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
    presets' default) or sales orders."""
    if capability.target_type == "invoice" and options.get("exact_document") == DOCUMENT_SALES_ORDER:
        return dataclasses.replace(capability, target_type="sales_order")
    return capability


def register_presets() -> None:
    for preset in (SHIPSTATION_EXACT, WOOCOMMERCE_EXACT):
        register_preset(preset)
