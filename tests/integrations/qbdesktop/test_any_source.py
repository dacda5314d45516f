"""QuickBooks Desktop is fed by any order source: its machinery keys on the flow's target connection,
never on the ShipStation preset, and names the flow's own source in what it tells the merchant."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.apps import apps as django_apps

from connector import registry
from connector.canonical import LineItem, OrderStatus
from connector.models import Alert, Connection, Flow, Record
from connector.web.forms import options_form_for
from integrations.qbdesktop import checks, inventory_push, sync
from integrations.qbdesktop import flow as flow_module
from integrations.qbdesktop.adapter import STOCK_LEVEL_SOURCES, QBDesktopTarget
from integrations.qbdesktop.company import source_names
from integrations.qbdesktop.models import QBDInventoryLevel

from .test_flow import feed, invoices, make_order, run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop_flow(alice, qbd):
    """A WooCommerce → QuickBooks Desktop flow, posting when the order ships (as ShipStation's does)."""
    source = Connection.objects.create(organization=alice.org, system="woocommerce", label="Shop")
    return Flow.objects.create(
        organization=alice.org,
        preset="woocommerce_qbdesktop",
        source=source,
        target=qbd[0],
        options={"posting": "invoice", "post_when": "shipped"},
    )


def test_the_woocommerce_pairing_is_registered_and_posts_paid_orders_by_default():
    preset = registry.get_preset("woocommerce_qbdesktop")
    assert (preset.source_system, preset.target_system) == ("woocommerce", "qbdesktop")
    assert preset.default_options["post_when"] == "paid"


def test_a_paid_order_waits_for_shipping_or_posts_at_once_as_the_flow_says(live_server, qbd, books, shop_flow):
    paid = feed(shop_flow, make_order("1951", status=OrderStatus.OPEN))
    run(live_server, qbd, books)
    paid.refresh_from_db()
    assert paid.status == Record.Status.SKIPPED and not invoices(books, "1951")
    assert "invoiced when it ships" in paid.events.order_by("-id").first().message

    Flow.objects.filter(pk=shop_flow.pk).update(options={"posting": "invoice", "post_when": "paid"})
    shop_flow.refresh_from_db()
    at_once = feed(shop_flow, make_order("1952", status=OrderStatus.OPEN))
    unpaid = feed(shop_flow, make_order("1953", status=OrderStatus.AWAITING_PAYMENT))
    run(live_server, qbd, books)
    at_once.refresh_from_db()
    unpaid.refresh_from_db()
    (invoice,) = invoices(books, "1952")
    assert at_once.status == Record.Status.SYNCED and at_once.target_id == invoice.txn_id
    assert str(invoice.txn_date) == "2024-03-04"  # not shipped: the order date in the company's time zone
    assert unpaid.status == Record.Status.SKIPPED and not invoices(books, "1953")
    assert "invoiced when it is paid" in unpaid.events.order_by("-id").first().message


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


def _texts(form) -> str:
    return " ".join(f"{field.label} {field.help_text}" for field in form.fields.values())


def test_the_options_form_names_no_particular_source(alice, qbd, shop_flow):
    """The inventory push is offered in the flow's own source's terms: a WooCommerce source without its
    store key cannot take stock levels, and the form says so in WooCommerce's words, never ShipStation's."""
    preset = registry.get_preset(flow_module.PRESET)
    on_the_flow_page = options_form_for(preset, None, initial=shop_flow.options, flow=shop_flow)
    adapter = QBDesktopTarget(qbd[0], options=shop_flow.options)
    in_the_wizard = options_form_for(preset, None, initial=shop_flow.options, target_choices=adapter.choices)
    for form in (on_the_flow_page, in_the_wizard):
        assert form.push_unavailable and form.fields[inventory_push.OPTION].disabled
        assert "WooCommerce connection Shop has no API key" in form.fields[inventory_push.OPTION].help_text
        assert "shipstation" not in _texts(form).lower() and "V2" not in _texts(form)
    assert adapter.choices(STOCK_LEVEL_SOURCES) == []


def test_options_and_alerts_named_after_shipstation_are_renamed(alice, qbd, shop_flow):
    """Flows saved before the push became source-neutral keep their settings under the new names."""
    migration = importlib.import_module("integrations.qbdesktop.migrations.0007_source_neutral_push_option")
    old = {"posting": "invoice", "push_inventory_v2": True, "shipstation_inventory_location_id": "se-1"}
    Flow.objects.filter(pk=shop_flow.pk).update(options=old)
    other = Flow.objects.create(  # a flow into another ledger is not touched
        organization=alice.org, preset="shipstation_zoho", source=shop_flow.source, target=shop_flow.source, options=old
    )
    alert = Alert.objects.create(organization=alice.org, key=f"qbd-ss-inventory:{shop_flow.pk}", message="Push failed")

    migration.forwards(django_apps, None)
    shop_flow.refresh_from_db()
    assert shop_flow.options == {"posting": "invoice", "push_inventory": True, "inventory_location_id": "se-1"}
    assert Flow.objects.get(pk=other.pk).options == old
    alert.refresh_from_db()
    assert alert.key == inventory_push.alert_key(shop_flow)

    migration.backwards(django_apps, None)
    shop_flow.refresh_from_db()
    assert shop_flow.options == old
