"""An order edited while its write waits for the Web Connector: the answer finishes the record with
the version QuickBooks was sent, so the newer version is still new to the record's own sync.

Finished from the record's payload instead (a poll or webhook refreshed it meanwhile), the record
counted the newer version as written: its sync said "unchanged" and an edited total or a cancellation
never reached review. The same race was found in ShipStation's batches by the chaos run."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connector import engine
from connector.adapters import Change
from connector.canonical import LineItem, Order, OrderStatus, canonical_hash, from_payload
from connector.models import Connection, Flow, Record
from integrations.qbdesktop import chain
from integrations.qbdesktop.models import QBXMLJob

from .test_flow import feed, invoices, make_order, run

pytestmark = pytest.mark.django_db(transaction=True)
EDITED_AT = datetime(2024, 3, 7, 9, tzinfo=UTC)


@pytest.fixture
def shop(alice, qbd):
    """WooCommerce → QuickBooks, paid orders posted at once (a paid order can still be edited)."""
    source = Connection.objects.create(organization=alice.org, system="woocommerce", label="Shop")
    return Flow.objects.create(
        organization=alice.org,
        preset="woocommerce_qbdesktop",
        source=source,
        target=qbd[0],
        options={"posting": "invoice", "post_when": "paid"},
    )


def refresh(flow, order: Order) -> Record:
    """What a poll or webhook does with a newer version: the record's payload is refreshed; its sync
    finds the record leased by the queued write."""
    change = Change("order", order.source_id, ref=order.number, modified_at=order.modified_at, obj=order)
    record = engine.record_change(flow, change)
    assert engine.sync_record(record.pk).status == "leased"
    return record


def edited_total(order: Order) -> Order:
    lines = (LineItem("WIDGET-1", "Widget", Decimal("3"), Decimal("12.50")),)
    return dataclasses.replace(order, lines=lines, total=Decimal("37.50"), modified_at=EDITED_AT)


def cancelled(order: Order) -> Order:
    return dataclasses.replace(order, status=OrderStatus.CANCELLED, modified_at=EDITED_AT)


@pytest.mark.parametrize(
    ("edit", "review"),
    [
        (edited_total, "changed after its QuickBooks transaction"),
        (cancelled, "was cancelled at its source, but QuickBooks already has its transaction"),
    ],
    ids=["new-total", "cancelled"],
)
def test_an_order_edited_while_its_write_waits_is_finished_with_the_version_sent(
    live_server, qbd, books, shop, edit, review
):
    feed(shop, make_order("4000", status=OrderStatus.OPEN, total=Decimal("25.00")))
    run(live_server, qbd, books)  # the customer and the item are known now: the next order's first job is the add

    sent = make_order("4001", status=OrderStatus.OPEN, total=Decimal("25.00"))
    record = feed(shop, sent)
    (job,) = QBXMLJob.objects.filter(context__order="4001")
    assert job.handler == chain.H_WRITE and job.status == QBXMLJob.Status.QUEUED
    assert from_payload(Order, job.context[chain.WRITTEN]) == sent  # the job keeps the version it sends

    newer = edit(sent)
    refresh(shop, newer)
    run(live_server, qbd, books)  # the Web Connector answers the add of the first version

    record.refresh_from_db()
    (invoice,) = invoices(books, "4001")
    assert invoice.total == Decimal("25.00")
    assert record.status == Record.Status.SYNCED and record.target_id == invoice.txn_id
    assert record.payload_hash == canonical_hash(sent) != canonical_hash(newer)
    assert from_payload(Order, record.source_payload) == newer  # the refresh is kept for the record's sync

    assert engine.sync_record(record.pk).status != "unchanged"  # the newer version is new to it
    record.refresh_from_db()
    assert record.status == Record.Status.NEEDS_REVIEW and review in record.last_error
    assert len(invoices(books, "4001")) == 1 and invoices(books, "4001")[0].total == Decimal("25.00")


def test_an_edit_seen_before_the_add_is_queued_is_the_version_sent(live_server, qbd, books, shop):
    """Edited while an earlier lookup of its chain waits: the add is built from the newer version,
    and that is the version the record is finished with."""
    first = make_order("4101", status=OrderStatus.OPEN, total=Decimal("25.00"))
    record = feed(shop, first)
    assert QBXMLJob.objects.get(context__order="4101").handler == chain.H_CUSTOMER
    newer = edited_total(first)
    refresh(shop, newer)
    run(live_server, qbd, books)
    record.refresh_from_db()
    (invoice,) = invoices(books, "4101")
    assert invoice.total == Decimal("37.50")
    assert record.status == Record.Status.SYNCED and record.payload_hash == canonical_hash(newer)
    assert engine.sync_record(record.pk).status == "unchanged"
