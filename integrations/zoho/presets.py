"""Flow presets whose target is Zoho Books (DESIGN §1, §5): pairings of capabilities, as data, and
what Zoho's flows contribute to the core (how flow options resolve a capability, the stage of a
record that failed, periodic tasks)."""

from __future__ import annotations

import dataclasses

from connector.registry import REVERSE, Capability, FlowPreset, PeriodicTask, register_preset
from integrations.zoho.salesorders import STORE_TRACKING, TRACKING
from integrations.zoho.tracking import StoreTracking

# Sales-order flows: tracking filled in Zoho goes back to the store (pullback.py finds it, the engine
# writes it with StoreTracking). Flows sending invoices never find any.
TRACKING_BACK = (TRACKING, STORE_TRACKING, REVERSE)
WRITERS = ((STORE_TRACKING, StoreTracking),)

SHIPSTATION_ZOHO = FlowPreset(
    key="shipstation_zoho",
    name="ShipStation → Zoho Books",
    source_system="shipstation",
    target_system="zoho",
    capabilities=(("order", "invoice"), ("shipment", "cost_posting"), ("customer", "contact"), TRACKING_BACK),
    writers=WRITERS,
    description=(
        "Orders become invoices (created once, updated on edit, voided when cancelled); shipment costs "
        "become a journal entry or an invoice comment; customers become contacts."
    ),
    options_form="integrations.zoho.forms.ZohoShipmentOptionsForm",
    default_options={"shipment_mode": "journal"},
    demo_options=lambda sandboxes: {
        "shipment_mode": "journal",
        "expense_account_id": sandboxes.get("zoho", {}).get("expense_account_id", ""),
        "offset_account_id": sandboxes.get("zoho", {}).get("offset_account_id", ""),
    },
    demo_starts=True,  # the demo's records appear on the dashboard within a minute
)

WOOCOMMERCE_ZOHO = FlowPreset(
    key="woocommerce_zoho",
    name="WooCommerce → Zoho Books",
    source_system="woocommerce",
    target_system="zoho",
    capabilities=(("order", "invoice"), ("customer", "contact"), TRACKING_BACK),
    writers=WRITERS,
    description="Orders become invoices with items matched by SKU, then name; customers become contacts by email.",
    options_form="integrations.zoho.forms.ZohoOrderOptionsForm",
    # WooCommerce never retries a webhook: a poll every 15 minutes catches what one missed.
    default_interval_seconds=900,
)


def resolve_capability(capability: Capability, options: dict) -> Capability:
    """The flow's "document" option picks what an order becomes in Zoho Books: an invoice (the
    presets' default) or a sales order (the Order Desk way)."""
    if capability.target_type == "invoice" and options.get("document") == "sales_order":
        return dataclasses.replace(capability, target_type="sales_order")
    return capability


def failed_stage(target_type: str) -> str:
    """A sales order that failed for good was never submitted to Zoho (the error beside it says why)."""
    return "not_submitted" if target_type == "sales_order" else ""


# Sales-order flows: pull tracking back from the sales orders' custom fields.
PERIODIC_TASKS = (PeriodicTask("zoho-pull-back", "integrations.zoho.pullback.pull_back_due_flows", 900.0),)


def register_presets() -> None:
    for preset in (SHIPSTATION_ZOHO, WOOCOMMERCE_ZOHO):
        register_preset(preset)
