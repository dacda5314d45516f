"""Inventory reconciliation: QuickBooks' QuantityOnHand against what our invoices took from it.

Per SKU (QBDInventoryLevel): the quantity at the last check and what our invoices took since. After a
batch of invoices one ItemInventoryQuery checks every SKU they touched (`ensure_inventory_check`); the
full item sync pages through the whole catalogue (`queue_item_sync`). A quantity other than expected is
stock moved in QuickBooks outside the flow: one Alert per connection lists the differences. After each
comparison the checked SKUs may be pushed to the flow's source (inventory_push.py, flow option
push_inventory).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from connector.models import Connection, raise_alert, resolve_alerts
from integrations.qbdesktop import inventory_push, jobs, qbxml, tasks
from integrations.qbdesktop.company import source_names
from integrations.qbdesktop.links import INVENTORY_ITEM
from integrations.qbdesktop.models import QBDInventoryLevel, QBXMLJob

logger = logging.getLogger(__name__)

H_INVENTORY = "qbdflow.inventory"
H_ITEM_SYNC = "qbdflow.item_sync"
ITEM_SYNC_PAGE_SIZE = 1000  # items per ItemInventoryQuery page (see bench/qbwc_items.py)


def track(connection: Connection, item: qbxml.Item) -> None:
    """First sight of an inventory SKU: QuickBooks' quantity now is the reconciliation baseline."""
    if item.item_type != INVENTORY_ITEM:
        return
    QBDInventoryLevel.objects.get_or_create(
        connection=connection,
        sku=item.full_name,
        defaults={
            "organization_id": connection.organization_id,
            "list_id": item.list_id,
            "quantity_on_hand": item.quantity_on_hand,
            "checked_at": timezone.now(),
        },
    )


def note_invoiced(connection: Connection, quantities: dict[str, str]) -> None:
    """An invoice of ours took these quantities (FullName -> quantity): expected at the next check."""
    for sku, quantity in quantities.items():
        QBDInventoryLevel.objects.filter(connection=connection, sku=sku).update(
            invoiced_since_check=F("invoiced_since_check") + Decimal(quantity)
        )


def ensure_inventory_check(connection: Connection) -> QBXMLJob | None:
    """One queued ItemInventoryQuery per batch, covering every SKU invoiced since the last check."""
    skus = list(
        QBDInventoryLevel.objects.filter(connection=connection)
        .exclude(invoiced_since_check=0)
        .values_list("sku", flat=True)
    )
    if not skus:
        return None
    request = qbxml.item_inventory_query(full_names=skus)
    queued = (
        QBXMLJob.objects.select_for_update()
        .filter(connection=connection, handler=H_INVENTORY, status=QBXMLJob.Status.QUEUED)
        .first()
    )
    if queued is not None:
        queued.request_xml = request.xml
        queued.save(update_fields=["request_xml", "updated_at"])
        return queued
    return jobs.enqueue(connection, request, handler=H_INVENTORY, order_key=jobs.CHECK_KEY)


def reconcile(row: QBDInventoryLevel, obj: qbxml.Item, now: datetime, *, source: str) -> str:
    """Record one SKU's check; returns a finding ("" when QuickBooks matches what we expected).

    `source` names where the invoiced orders came from (company.source_names)."""
    actual = obj.quantity_on_hand
    expected = row.quantity_on_hand - row.invoiced_since_check if row.quantity_on_hand is not None else None
    row.difference = actual - expected if expected is not None else None
    row.expected = expected
    row.quantity_on_hand = actual
    row.invoiced_at_check = row.invoiced_since_check
    row.invoiced_since_check = Decimal(0)
    row.checked_at = now
    row.list_id = obj.list_id or row.list_id
    row.save()
    if row.difference:
        return (
            f"{row.sku}: QuickBooks has {_qty(actual)} on hand, expected {_qty(expected)} "
            f"after the {source} shipments invoiced ({_signed(row.difference)} unexplained)"
        )
    if actual < 0:
        return f"{row.sku}: QuickBooks has {_qty(actual)} on hand ({source} shipped more than it held)"
    return ""


def _reconcile_all(connection: Connection, objects: Iterable) -> tuple[list[str], list[str]]:
    """Reconcile the tracked SKUs among `objects` (read once, as streamed): (SKUs checked, findings)."""
    levels = {row.sku.lower(): row for row in QBDInventoryLevel.objects.filter(connection=connection)}
    now = timezone.now()
    source = source_names(connection)
    checked: list[str] = []
    findings: list[str] = []
    for obj in objects:
        if not isinstance(obj, qbxml.Item) or obj.quantity_on_hand is None:
            continue
        row = levels.get(obj.full_name.lower())
        if row is None:
            continue
        checked.append(row.sku)
        if finding := reconcile(row, obj, now, source=source):
            findings.append(finding)
    return checked, findings


def _inventory_alert(connection: Connection, findings: list[str], *, resolve: bool) -> None:
    key = f"qbd-inventory:{connection.pk}"
    if findings:
        source = source_names(connection)
        raise_alert(
            connection.organization,
            key,
            f"QuickBooks quantities differ from what {source} shipped: " + "; ".join(findings),
            remediation=f"Check these items' stock in QuickBooks (adjustments, receipts or sales outside {source}).",
            connection=connection,
        )
    elif resolve:
        resolve_alerts(connection.organization, key)


def after_reconcile(connection: Connection, skus: list[str], findings: list[str], *, resolve: bool) -> None:
    """After an inventory comparison: the differences Alert, then (flow option push_inventory) the
    push of QuickBooks' quantities to the flow's source, after this transaction commits."""
    _inventory_alert(connection, findings, resolve=resolve)
    if skus and inventory_push.mark_pending(connection, skus):
        connection_id = connection.pk
        transaction.on_commit(lambda: tasks.push_inventory.delay(connection_id))


def on_inventory(job: QBXMLJob, result: jobs.JobResult) -> None:
    """QuickBooks' QuantityOnHand vs expected = last check's quantity − what our invoices took since."""
    if result.error is not None:
        logger.warning("ItemInventoryQuery failed for connection %s: %s", job.connection_id, result.error)
        return
    checked, findings = _reconcile_all(job.connection, result.objects)
    after_reconcile(job.connection, checked, findings, resolve=True)


# --- Full item sync (iterator) -------------------------------------------------------------------


def queue_item_sync(connection: Connection, *, page_size: int = ITEM_SYNC_PAGE_SIZE) -> QBXMLJob:
    """Page through every inventory item (ItemInventoryQuery iterator, MaxReturned = page_size).

    Each page is streamed to `on_item_sync`, which reconciles the SKUs this flow tracks; the rest of
    the catalogue is only counted. A page of 1,000 items is ~0.5 MB of qbXML: far from QBWC's timeout."""
    pending = jobs.pending(connection).filter(handler=H_ITEM_SYNC).first()
    if pending is not None:
        return pending
    request = qbxml.item_inventory_query(max_returned=page_size, active_status="All")
    return jobs.enqueue(connection, request, handler=H_ITEM_SYNC, order_key=jobs.CHECK_KEY)


def on_item_sync(job: QBXMLJob, result: jobs.JobResult) -> None:
    if result.error is not None:
        logger.warning("ItemInventoryQuery page failed for connection %s: %s", job.connection_id, result.error)
        return
    # Streamed: nothing of the page is held but the tracked SKUs' rows.
    checked, findings = _reconcile_all(job.connection, result.objects)
    after_reconcile(job.connection, checked, findings, resolve=False)


def _qty(value) -> str:
    return format(Decimal(value).normalize(), "f")


def _signed(value) -> str:
    return ("+" if value > 0 else "") + _qty(value)


HANDLERS = {H_INVENTORY: on_inventory, H_ITEM_SYNC: on_item_sync}
