"""Flow presets (DESIGN §1, §5): pairings of capabilities, as data. No vendor code lives here."""

from __future__ import annotations

from connector.registry import FlowPreset, register_preset

SHIPSTATION_ZOHO = FlowPreset(
    key="shipstation_zoho",
    name="ShipStation → Zoho Books",
    source_system="shipstation",
    target_system="zoho",
    capabilities=(("order", "invoice"), ("shipment", "cost_posting"), ("customer", "contact")),
    description=(
        "Orders become invoices (created once, updated on edit, voided when cancelled); shipment costs "
        "become a journal entry or an invoice comment; customers become contacts."
    ),
    options_form="integrations.zoho.forms.ZohoShipmentOptionsForm",
    default_options={"shipment_mode": "journal"},
)

WOOCOMMERCE_ZOHO = FlowPreset(
    key="woocommerce_zoho",
    name="WooCommerce → Zoho Books",
    source_system="woocommerce",
    target_system="zoho",
    capabilities=(("order", "invoice"), ("customer", "contact")),
    description="Orders become invoices with items matched by SKU, then name; customers become contacts by email.",
    options_form="integrations.zoho.forms.ZohoOrderOptionsForm",
    # WooCommerce never retries a webhook: a poll every 15 minutes catches what one missed.
    default_interval_seconds=900,
)


EXACT_SHIPSTATION = FlowPreset(
    key="exact_shipstation",
    name="Exact Online ↔ ShipStation",
    source_system="exact",
    target_system="shipstation",
    capabilities=(("order", "fulfilment_order"), ("shipment", "cost_posting", "reverse")),
    description=(
        "Exact sales orders become ShipStation orders (upserted by order key); ShipStation shipment costs "
        "come back as balanced general journal entries on your GL accounts and cost centres."
    ),
    options_form="integrations.exact.forms.ExactShipStationOptionsForm",
)


def register_presets() -> None:
    for preset in (SHIPSTATION_ZOHO, WOOCOMMERCE_ZOHO, EXACT_SHIPSTATION):
        register_preset(preset)
