"""Flow presets whose target is ShipStation (DESIGN §1, §5): pairings of capabilities, as data."""

from __future__ import annotations

from connector.registry import FlowPreset, register_preset

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
    demo_options=lambda sandboxes: {
        "exact_expense_gl_account": sandboxes.get("exact", {}).get("expense_gl_account", ""),
        "exact_offset_gl_account": sandboxes.get("exact", {}).get("offset_gl_account", ""),
        "exact_journal_code": sandboxes.get("exact", {}).get("journal_code", ""),
    },
)


def register_presets() -> None:
    register_preset(EXACT_SHIPSTATION)
