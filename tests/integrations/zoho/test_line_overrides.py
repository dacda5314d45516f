"""Per-line overrides the store keeps in the line's own meta list reach the sales order."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from connector.canonical import LineItem, Order, OrderStatus
from integrations.zoho.salesorders import lift_line_overrides


def test_woocommerce_line_meta_becomes_the_overrides_and_top_level_keys_win():
    lines = (
        LineItem(
            sku="MUG-1",
            name="Mug",
            quantity=Decimal("1"),
            unit_price=Decimal("5"),
            metadata={
                "product_id": 7,
                "meta_data": [
                    {"key": "zohobooks_item_id", "value": "4600001"},
                    {"key": "Description", "value": "Blue mug"},
                    {"key": "tax_id", "value": ""},
                    {"key": "colour", "value": "blue"},
                ],
            },
        ),
        LineItem(
            sku="CAP",
            name="Cap",
            quantity=Decimal("1"),
            unit_price=Decimal("5"),
            metadata={"description": "Kept", "options": [{"name": "description", "value": "Ignored"}]},
        ),
        LineItem(sku="X", name="X", quantity=Decimal("1"), unit_price=Decimal("1")),
    )
    order = Order("1", "1", OrderStatus.OPEN, "USD", datetime(2026, 1, 1, tzinfo=UTC), lines=lines)
    lifted = lift_line_overrides(order)
    assert lifted.lines[0].metadata["zohobooks_item_id"] == "4600001"
    assert lifted.lines[0].metadata["description"] == "Blue mug" and "tax_id" not in lifted.lines[0].metadata
    assert "colour" not in lifted.lines[0].metadata
    assert lifted.lines[1].metadata["description"] == "Kept" and lifted.lines[2] == lines[2]
    assert order.lines[0].metadata.get("zohobooks_item_id") is None  # the input is untouched
