"""QuickBooks Desktop is fed by any order source: its machinery keys on the flow's target connection,
never on the ShipStation preset, and names the flow's own source in what it tells the merchant."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connector import registry
from connector.canonical import LineItem
from connector.models import Alert, Connection, Flow, Record
from integrations.qbdesktop import checks, sync
from integrations.qbdesktop.company import source_names
from integrations.qbdesktop.models import QBDInventoryLevel

from .test_flow import feed, invoices, make_order, run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop_flow(alice, qbd, monkeypatch):
    """A WooCommerce → QuickBooks Desktop flow, of a preset the QuickBooks app does not register."""
    preset = registry.FlowPreset(
        key="woocommerce_qbdesktop",
        name="WooCommerce → QuickBooks Desktop",
        source_system="woocommerce",
        target_system="qbdesktop",
        capabilities=(("order", "invoice"),),
        default_options={"posting": "invoice"},
    )
    monkeypatch.setitem(registry._presets, preset.key, preset)
    source = Connection.objects.create(organization=alice.org, system="woocommerce", label="Shop")
    return Flow.objects.create(organization=alice.org, preset=preset.key, source=source, target=qbd[0])


def test_another_source_is_invoiced_checked_and_named(live_server, qbd, books, shop_flow):
    connection = qbd[0]
    assert source_names(connection) == "WooCommerce"
    assert sync.sync_minutes(connection) == sync.LIST_SYNC_MINUTES  # the flow's target makes the sync due

    good = feed(shop_flow, make_order("1901"))
    unknown = feed(shop_flow, make_order("1902", lines=(LineItem("NOPE-9", "Nope", Decimal("1"), Decimal("1.00")),)))
    queued = checks.queue_run_checks(connection)
    assert checks.H_DELETED in {job.handler for job in queued}  # the deleted-transactions check runs for it too
    run(live_server, qbd, books)

    (invoice,) = invoices(books, "1901")
    assert invoice.memo == "WooCommerce order 1901"
    good.refresh_from_db()
    unknown.refresh_from_db()
    assert good.status == Record.Status.SYNCED and good.target_id == invoice.txn_id
    assert unknown.status == Record.Status.NEEDS_REVIEW
    assert "the item name must be the WooCommerce SKU" in unknown.remediation

    # Stock moved in QuickBooks outside the shop: the reconciliation names the shop, not ShipStation.
    books.item_by_name("WIDGET-1").quantity_on_hand = Decimal("30")  # a stock adjustment in QuickBooks
    feed(shop_flow, make_order("1903"))
    run(live_server, qbd, books)
    assert QBDInventoryLevel.objects.get(connection=connection, sku="WIDGET-1").difference == -8
    alert = Alert.objects.get(key=f"qbd-inventory:{connection.pk}", resolved_at=None)
    assert "what WooCommerce shipped" in alert.message and "ShipStation" not in alert.message
