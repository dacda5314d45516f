"""Flow presets whose target is Exact Online (DESIGN §1, §5): store orders become sales invoices."""

from __future__ import annotations

from connector.registry import FlowPreset, register_preset

INVOICE_FORM = "integrations.exact.forms.ExactInvoiceOptionsForm"


def demo_options(sandboxes: dict) -> dict:
    """The demo's flows take the sandbox company's sales journal and VAT code."""
    exact = sandboxes.get("exact", {})
    return {"exact_sales_journal": exact.get("sales_journal", ""), "exact_vat_code": exact.get("vat_code", "")}


DESCRIPTION = (
    "Orders become Exact sales invoices in the sales journal you pick (customers found by email or "
    "created, items matched by code, one VAT code); a cancelled order is credited."
)


def _invoices_preset(key: str, source_system: str, name: str, **extra) -> FlowPreset:
    return FlowPreset(
        key=key,
        name=name,
        source_system=source_system,
        target_system="exact",
        capabilities=(("order", "invoice"),),
        description=DESCRIPTION,
        options_form=INVOICE_FORM,
        demo_options=demo_options,
        **extra,
    )


SHIPSTATION_EXACT = _invoices_preset("shipstation_exact", "shipstation", "ShipStation → Exact Online")
# WooCommerce never retries a webhook: a poll every 15 minutes catches what one missed.
WOOCOMMERCE_EXACT = _invoices_preset(
    "woocommerce_exact", "woocommerce", "WooCommerce → Exact Online", default_interval_seconds=900
)


def register_presets() -> None:
    for preset in (SHIPSTATION_EXACT, WOOCOMMERCE_EXACT):
        register_preset(preset)
