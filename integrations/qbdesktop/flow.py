"""The ShipStation → QuickBooks Desktop flow inside QuickBooks: chains of qbXML jobs per order.

QuickBooks only answers when the Web Connector polls, so every lookup is a queued job whose handler
queues the next one. `advance` decides the next step from what is already known (cached ListIDs in
Links), so a chain resumes from wherever it stopped:

    [InvoiceQuery/JournalEntryQuery by RefNumber]  only after a lost answer (uncertain write)
    CustomerQuery by FullName                      unless the customer's ListID is cached
    ItemQuery by FullName (= SKU)                  for items not cached
    InvoiceAdd or JournalEntryAdd                  shipped orders only; unshipped ones end "skipped"

The write's handler calls `engine.complete_deferred`; a missing customer or item ends the chain with
NeedsReview (the engine marks the record needs_review and raises an Alert). Nothing is ever created
in QuickBooks' lists.

Per Web Connector run (`queue_run_checks`, called at authenticate): a TxnDeletedQuery notices
deleted invoices/journal entries; after invoices, an ItemInventoryQuery reconciles QuantityOnHand.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import F
from django.utils import timezone

from connector import engine
from connector.adapters import WriteResult
from connector.canonical import Order, OrderStatus, from_payload
from connector.http import NeedsReview, Permanent, Uncertain
from connector.models import Connection, Event, Flow, Link, Record, raise_alert, resolve_alerts
from integrations.qbdesktop import jobs, mapping, qbxml
from integrations.qbdesktop.models import QBDInventoryLevel, QBXMLJob

logger = logging.getLogger(__name__)

PRESET = "qbdesktop_shipstation"
ORDER_KEY = "20-orders"
CHECK_KEY = "90-checks"  # after this run's orders: the queue runs in (order_key, id) order
H_LOOKUP = "qbdflow.lookup"
H_CUSTOMER = "qbdflow.customer"
H_ITEMS = "qbdflow.items"
H_WRITE = "qbdflow.write"
H_DELETED = "qbdflow.deleted"
H_INVENTORY = "qbdflow.inventory"
H_ITEM_SYNC = "qbdflow.item_sync"
ITEM_SYNC_PAGE_SIZE = 1000  # items per ItemInventoryQuery page (see bench/qbwc_items.py)
CHAIN_HANDLERS = (H_LOOKUP, H_CUSTOMER, H_ITEMS, H_WRITE)
LIVE = (QBXMLJob.Status.QUEUED, QBXMLJob.Status.WAITING, QBXMLJob.Status.SENT)
CUSTOMER_LINK = "qbd_customer"
ITEM_LINK = "qbd_item"
MAX_LOOKUPS = 3  # lost answers in a row before the record is handed back to the engine's retries
DELETED_CHECK_MINUTES = 60  # at least this often a run is requested just to look for deletions
DELETED_REMEDIATION = "Deleted in QuickBooks; press Replay to re-create"


# --- Small queries ------------------------------------------------------------------------------


def company_tz(connection: Connection) -> ZoneInfo:
    return ZoneInfo(connection.settings.get("time_zone") or "UTC")


def load_order(record: Record) -> Order:
    return from_payload(Order, record.source_payload)


def pending_chain_job(connection: Connection, number: str) -> QBXMLJob | None:
    """A job of this order's chain that is queued, waiting or out with the Web Connector."""
    return (
        QBXMLJob.objects.filter(connection=connection, handler__in=CHAIN_HANDLERS, status__in=LIVE)
        .filter(context__order=number)
        .first()
    )


def lost_write(connection: Connection, number: str) -> bool:
    return QBXMLJob.objects.filter(
        connection=connection, handler=H_WRITE, status=QBXMLJob.Status.UNCERTAIN, context__order=number
    ).exists()


def written_txn_id(connection: Connection, number: str) -> str | None:
    """The TxnID a finished write of ours got for this order (unless QuickBooks deleted it since)."""
    done = QBXMLJob.objects.filter(
        connection=connection, handler=H_WRITE, status=QBXMLJob.Status.DONE, context__order=number
    ).order_by("-id")
    for job in done[:5]:
        if job.result.get("txn_id") and not job.context.get("deleted_in_qb"):
            return job.result["txn_id"]
    return None


def record_for(connection: Connection, order: Order) -> Record | None:
    """The record syncing this order when the adapter is used outside the engine (the engine sets
    `current_record`); the one holding the lease wins."""
    candidates = Record.objects.filter(
        flow__target=connection, flow__preset=PRESET, object_type="order", source_id=order.source_id
    ).select_related("flow")
    return candidates.order_by(F("lease_until").desc(nulls_last=True), "-id").first()


def cached(connection: Connection, link_type: str, names: list[str]) -> dict[str, tuple[str, str]]:
    """lower-cased name -> (FullName, ListID) for names whose ListID we already know."""
    links = Link.objects.filter(
        connection=connection, object_type=link_type, canonical_key__in=[n.lower() for n in names]
    )
    return {link.canonical_key: (link.data.get("full_name") or link.canonical_key, link.external_id) for link in links}


def remember(connection: Connection, link_type: str, full_name: str, list_id: str, data: dict) -> None:
    key = full_name.lower()[:300]
    # A renamed object keeps its ListID: drop its old name first (one Link per ListID).
    Link.objects.filter(connection=connection, object_type=link_type, external_id=list_id).exclude(
        canonical_key=key
    ).delete()
    Link.objects.update_or_create(
        connection=connection,
        object_type=link_type,
        canonical_key=key,
        defaults={"organization_id": connection.organization_id, "external_id": list_id, "data": data},
    )


def without_baseline(connection: Connection, names: list[str]) -> set[str]:
    """Lower-cased names of cached inventory items that QBDInventoryLevel does not track yet."""
    links = Link.objects.filter(
        connection=connection, object_type=ITEM_LINK, canonical_key__in=[n.lower() for n in names]
    )
    inventory = {
        link.canonical_key: link.data.get("full_name") or link.canonical_key
        for link in links
        if link.data.get("item_type") == "ItemInventory"
    }
    if not inventory:
        return set()
    tracked = {
        sku.lower()
        for sku in QBDInventoryLevel.objects.filter(
            connection=connection, sku__in=list(inventory.values())
        ).values_list("sku", flat=True)
    }
    return {key for key, name in inventory.items() if name.lower() not in tracked}


def forget(connection: Connection, link_type: str, names: list[str]) -> None:
    Link.objects.filter(
        connection=connection, object_type=link_type, canonical_key__in=[n.lower() for n in names]
    ).delete()


def _note(record: Record, message: str, data: dict | None = None) -> None:
    Event.objects.create(
        organization_id=record.organization_id,
        record=record,
        connection_id=record.flow.target_id,
        kind=Event.Kind.MAPPED,
        message=message,
        data=data or {},
    )


# --- The chain ----------------------------------------------------------------------------------


def _queue(connection: Connection, record: Record, request: qbxml.Request, handler: str, context: dict) -> WriteResult:
    job = jobs.enqueue(connection, request, record=record, handler=handler, context=context, order_key=ORDER_KEY)
    return WriteResult("", "queued", data={"job": job.pk, "request": request.kind})


def advance(record: Record, connection: Connection, *, looked_up: bool = False, lookups: int = 0) -> WriteResult:
    """Queue the next job this record's order needs (→ "queued"), or return the final result.

    Raises NeedsReview when the order cannot go to QuickBooks as it is."""
    order = load_order(record)
    options = mapping.options_with_defaults(record.flow.options)
    context = {"order": order.number, "flow": record.flow_id, "looked_up": looked_up, "lookups": lookups}
    if order.status == OrderStatus.CANCELLED:
        return WriteResult("", "skipped", data={"reason": f"Order {order.number} was cancelled before invoicing."})
    bad = mapping.problems(order)
    if bad:
        raise NeedsReview(" ".join(bad), remediation="Correct the order in ShipStation, then press Replay.")
    shipped = order.status == OrderStatus.SHIPPED
    journal = options["posting"] == "journal"
    if shipped and not looked_up and lost_write(connection, order.number):
        # The answer to an earlier add was lost: it may exist. Look it up before adding again.
        query = _ref_query(journal, order.number)
        return _queue(connection, record, query, H_LOOKUP, context)

    names = mapping.customer_candidates(order, options)
    if not names:
        raise NeedsReview(
            f"Order {order.number} has no customer or bill-to name to look up in QuickBooks.",
            remediation="Add a bill-to name in ShipStation or set a fixed QuickBooks customer in the flow's "
            "options, then press Replay.",
        )
    customers = cached(connection, CUSTOMER_LINK, names)
    customer = next((customers[n.lower()] for n in names if n.lower() in customers), None)
    if customer is None:
        return _queue(
            connection, record, qbxml.customer_query(full_names=names), H_CUSTOMER, {**context, "names": names}
        )

    needed = mapping.required_items(order, options)
    items = cached(connection, ITEM_LINK, needed)
    # An inventory item known only from the list sync has no reconciliation baseline yet: look it up
    # once more, so on_items reads QuantityOnHand before our invoice takes stock.
    unbased = without_baseline(connection, needed)
    missing = [n for n in needed if n.lower() not in items or n.lower() in unbased]
    if missing:
        return _queue(connection, record, qbxml.item_query(full_names=missing), H_ITEMS, {**context, "names": missing})

    if not shipped:
        return WriteResult(
            "",
            "skipped",
            data={"reason": f"Customer and items found in QuickBooks; order {order.number} is invoiced when it ships."},
        )
    tz = company_tz(connection)
    if journal:
        spec = mapping.journal_spec(order, customer[0], options, tz)
        request = qbxml.journal_entry_add(spec)
        summary = {"total": str(spec.debits[0].amount), "txn_date": spec.txn_date.isoformat(), "quantities": {}}
    else:
        resolved = mapping.Resolved(customer[0], customer[1], items)
        spec = mapping.invoice_spec(order, resolved, options, tz)
        request = qbxml.invoice_add(spec)
        inventory = {
            link.canonical_key
            for link in Link.objects.filter(
                connection=connection,
                object_type=ITEM_LINK,
                canonical_key__in=[line.sku.lower() for line in order.lines],
            )
            if link.data.get("item_type") == "ItemInventory"
        }
        quantities: dict[str, str] = {}
        for line in order.lines:
            if line.sku.lower() in inventory:
                name = items[line.sku.lower()][0]
                quantities[name] = str(Decimal(quantities.get(name, "0")) + line.quantity)
        summary = {
            "total": str(mapping.invoice_total(spec)),
            "txn_date": spec.txn_date.isoformat(),
            "quantities": quantities,
        }
    context = {**context, **summary, "customer": customer[0], "items": needed, "journal": journal}
    return _queue(connection, record, request, H_WRITE, context)


def _ref_query(journal: bool, number: str) -> qbxml.Request:
    return qbxml.journal_entry_query(ref_numbers=[number]) if journal else qbxml.invoice_query(ref_numbers=[number])


def _succeed(record: Record, result: WriteResult) -> None:
    """complete_deferred, and close this record's alerts: the engine only resolves them when the record
    is still needs_review, but Replay first sets it back to pending."""
    if result.action in ("created", "updated", "unchanged"):
        resolve_alerts(record.organization, f"record:{record.pk}")
        resolve_alerts(record.organization, f"qbd-deleted:{record.pk}")
    engine.complete_deferred(record.pk, result=result)


def _continue(job: QBXMLJob, record: Record, **kwargs) -> None:
    kwargs.setdefault("looked_up", bool(job.context.get("looked_up")))
    kwargs.setdefault("lookups", int(job.context.get("lookups") or 0))
    try:
        result = advance(record, job.connection, **kwargs)
    except NeedsReview as exc:
        engine.complete_deferred(record.pk, error=exc)
        return
    if result.action != "queued":
        _succeed(record, result)


def _chain_record(job: QBXMLJob) -> Record | None:
    if job.record_id is None:
        return None
    return Record.objects.select_related("flow").filter(pk=job.record_id).first()


def _answered_record(job: QBXMLJob, result: jobs.JobResult) -> Record | None:
    """The record a lookup answer continues, or None: no record waits, or QuickBooks answered with
    an error, which completes the record as failed here."""
    record = _chain_record(job)
    if record is not None and result.error is not None:
        engine.complete_deferred(record.pk, error=result.error)
        return None
    return record


def on_lookup(job: QBXMLJob, result: jobs.JobResult) -> None:
    record = _answered_record(job, result)
    if record is None:
        return
    number = job.context["order"]
    found = next((o for o in result.objects if isinstance(o, qbxml.Transaction) and o.ref_number == number), None)
    if found is not None:
        action = WriteResult(found.txn_id, "created", data={"found_by": "RefNumber", "ref_number": number})
        QBXMLJob.objects.filter(pk=job.pk).update(result={**job.result, "txn_id": found.txn_id})
        _succeed(record, action)
        return
    _note(record, f"No QuickBooks transaction has RefNumber {number}: the lost add was not applied; adding it.")
    _continue(job, record, looked_up=True)


def on_customer(job: QBXMLJob, result: jobs.JobResult) -> None:
    record = _answered_record(job, result)
    if record is None:
        return
    names = job.context.get("names") or []
    found_inactive = []
    for obj in result.objects:
        if not isinstance(obj, qbxml.Customer):
            continue
        if obj.is_active:
            remember(job.connection, CUSTOMER_LINK, obj.full_name, obj.list_id, {"full_name": obj.full_name})
        else:
            found_inactive.append(obj.full_name)
    if not cached(job.connection, CUSTOMER_LINK, names):
        if found_inactive:
            name = found_inactive[0]
            error = NeedsReview(
                f"Customer '{name}' is inactive in QuickBooks.",
                remediation=f"Make customer '{name}' active in QuickBooks, then press Replay.",
            )
        else:
            tried = f" (also tried {', '.join(repr(n) for n in names[1:])})" if len(names) > 1 else ""
            error = NeedsReview(
                f"Customer '{names[0]}' is not in QuickBooks{tried}.",
                remediation=f"Create customer '{names[0]}' in QuickBooks, then press Replay.",
            )
        engine.complete_deferred(record.pk, error=error)
        return
    _continue(job, record)


def on_items(job: QBXMLJob, result: jobs.JobResult) -> None:
    record = _answered_record(job, result)
    if record is None:
        return
    names = job.context.get("names") or []
    inactive = []
    for obj in result.objects:
        if not isinstance(obj, qbxml.Item):
            continue
        if not obj.is_active:
            inactive.append(obj.full_name)
            continue
        remember(
            job.connection,
            ITEM_LINK,
            obj.full_name,
            obj.list_id,
            {"full_name": obj.full_name, "item_type": obj.item_type},
        )
        if obj.item_type == "ItemInventory":
            # First sight of this SKU: QuickBooks' quantity now is the reconciliation baseline.
            QBDInventoryLevel.objects.get_or_create(
                connection=job.connection,
                sku=obj.full_name,
                defaults={
                    "organization_id": job.organization_id,
                    "list_id": obj.list_id,
                    "quantity_on_hand": obj.quantity_on_hand,
                    "checked_at": timezone.now(),
                },
            )
    known = cached(job.connection, ITEM_LINK, names)
    missing = [n for n in names if n.lower() not in known]
    if missing:
        listed = ", ".join(f"'{n}'" for n in missing)
        plural = "s" if len(missing) > 1 else ""
        if set(missing) <= set(inactive):
            message = f"Item{plural} {listed} inactive in QuickBooks."
            remediation = f"Make item{plural} {listed} active in QuickBooks, then press Replay."
        else:
            message = f"Item{plural} {listed} not in QuickBooks."
            remediation = (
                f"Create item{plural} {listed} in QuickBooks (the item name must be the ShipStation SKU), "
                "then press Replay."
            )
        engine.complete_deferred(record.pk, error=NeedsReview(message, remediation=remediation))
        return
    _continue(job, record)


def on_write(job: QBXMLJob, result: jobs.JobResult) -> None:
    record = _chain_record(job)
    if record is None:
        return
    if isinstance(result.error, Uncertain):
        lookups = int(job.context.get("lookups") or 0) + 1
        if lookups > MAX_LOOKUPS:
            engine.complete_deferred(record.pk, error=result.error)
            return
        _note(record, f"QuickBooks' answer was lost; looking up RefNumber {job.context['order']} before adding again.")
        _continue(job, record, looked_up=False, lookups=lookups)
        return
    if result.error is not None:
        if result.error.vendor_code == 3140:
            # A cached ListID may be stale (deleted or merged in QuickBooks): look everything up again.
            forget(job.connection, CUSTOMER_LINK, [job.context.get("customer", "")])
            forget(job.connection, ITEM_LINK, job.context.get("items") or [])
        engine.complete_deferred(record.pk, error=result.error)
        return
    txn_id = job.result.get("txn_id", "")
    if not txn_id:
        engine.complete_deferred(record.pk, error=Permanent(f"QuickBooks answered {job.kind} without a TxnID."))
        return
    for sku, quantity in (job.context.get("quantities") or {}).items():
        QBDInventoryLevel.objects.filter(connection=job.connection, sku=sku).update(
            invoiced_since_check=F("invoiced_since_check") + Decimal(quantity)
        )
    ensure_inventory_check(job.connection)
    data = {k: job.context.get(k) for k in ("txn_date", "total") if job.context.get(k)}
    _succeed(record, WriteResult(txn_id, "created", data={"ref_number": job.context["order"], **data}))


# --- Per-run checks -----------------------------------------------------------------------------


def queue_run_checks(connection: Connection, *, now=None) -> list[QBXMLJob]:
    """Called when the Web Connector authenticates: the incremental list/invoice sync when due
    (sync.py), a deleted-transactions check with every batch of orders, and at least every
    DELETED_CHECK_MINUTES even without one."""
    from integrations.qbdesktop import sync

    if not Flow.objects.filter(target=connection, preset=PRESET).exists():
        return []
    now = now or timezone.now()
    queued = sync.queue_due(connection, now=now)
    pending = jobs.pending(connection)
    if pending.filter(handler=H_DELETED).exists():
        return queued
    busy = pending.filter(handler__in=CHAIN_HANDLERS).exists()
    every = timedelta(minutes=int(connection.settings.get("deleted_check_minutes") or DELETED_CHECK_MINUTES))
    last = (
        QBXMLJob.objects.filter(connection=connection, handler=H_DELETED)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if not busy and last is not None and last > now - every:
        return queued
    # Only what was deleted since the last check (minus the overlap): QuickBooks' own TimeDeleted mark.
    since = sync.cursor_for(connection, sync.Kind.INVOICES).deleted_since
    request = qbxml.txn_deleted_query(
        ("Invoice", "JournalEntry"), from_deleted=sync.window_start(since), company_tz=company_tz(connection)
    )
    return [*queued, jobs.enqueue(connection, request, handler=H_DELETED, order_key=CHECK_KEY)]


def on_deleted(job: QBXMLJob, result: jobs.JobResult) -> None:
    from integrations.qbdesktop import sync

    if result.error is not None:
        logger.warning("TxnDeletedQuery failed for connection %s: %s", job.connection_id, result.error)
        return
    connection = job.connection
    tz = company_tz(connection)
    high = None
    for obj in result.objects:
        if not isinstance(obj, qbxml.DeletedTxn) or not obj.txn_id:
            continue
        deleted_at = qbxml.parse_qb_time(obj.time_deleted, tz)
        high = deleted_at if high is None or (deleted_at and deleted_at > high) else high
        links = Link.objects.filter(connection=connection, object_type="invoice", external_id=obj.txn_id)
        link = links.first()
        if link is None:
            continue  # not ours, or already noticed
        records = Record.objects.filter(flow__target=connection, flow__preset=PRESET).filter(target_id=obj.txn_id)
        kind = "journal entry" if obj.txn_type == "JournalEntry" else "invoice"
        message = f"QuickBooks {kind} {obj.ref_number or link.canonical_key} ({obj.txn_id}) was deleted in QuickBooks."
        for record in records.select_related("flow"):
            Record.objects.filter(pk=record.pk).update(
                status=Record.Status.FAILED,
                last_error=message,
                remediation=DELETED_REMEDIATION,
                payload_hash="",  # so Replay writes again instead of reporting "unchanged"
                target_id="",
                target_url="",
            )
            Event.objects.create(
                organization_id=record.organization_id,
                record=record,
                connection=connection,
                kind=Event.Kind.FAILED,
                message=message,
                data={"txn_id": obj.txn_id, "time_deleted": obj.time_deleted},
            )
            raise_alert(
                record.organization,
                f"qbd-deleted:{record.pk}",
                message,
                remediation=DELETED_REMEDIATION,
                record=record,
                flow=record.flow,
                connection=connection,
            )
        for write in QBXMLJob.objects.filter(connection=connection, handler=H_WRITE, context__order=link.canonical_key):
            if write.result.get("txn_id") == obj.txn_id:
                write.context = {**write.context, "deleted_in_qb": True}
                write.save(update_fields=["context", "updated_at"])
        links.delete()
    if high is not None:  # applied above, in this transaction: the next check asks from here
        cursor = sync.cursor_for(connection, sync.Kind.INVOICES, lock=True)
        capped = min(high, job.sent_at or high)
        if cursor.deleted_since is None or capped > cursor.deleted_since:
            cursor.deleted_since = capped
            cursor.save(update_fields=["deleted_since"])


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
    return jobs.enqueue(connection, request, handler=H_INVENTORY, order_key=CHECK_KEY)


def reconcile(row: QBDInventoryLevel, obj: qbxml.Item, now) -> str:
    """Record one SKU's check; returns a finding ("" when QuickBooks matches what we expected)."""
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
            f"after the ShipStation shipments invoiced ({_signed(row.difference)} unexplained)"
        )
    if actual < 0:
        return f"{row.sku}: QuickBooks has {_qty(actual)} on hand (ShipStation shipped more than it held)"
    return ""


def _inventory_alert(connection: Connection, findings: list[str], *, resolve: bool) -> None:
    key = f"qbd-inventory:{connection.pk}"
    if findings:
        raise_alert(
            connection.organization,
            key,
            "QuickBooks quantities differ from what ShipStation shipped: " + "; ".join(findings),
            remediation="Check these items' stock in QuickBooks (adjustments, receipts or sales outside ShipStation).",
            connection=connection,
        )
    elif resolve:
        resolve_alerts(connection.organization, key)


def on_inventory(job: QBXMLJob, result: jobs.JobResult) -> None:
    """QuickBooks' QuantityOnHand vs expected = last check's quantity − what our invoices took since."""
    if result.error is not None:
        logger.warning("ItemInventoryQuery failed for connection %s: %s", job.connection_id, result.error)
        return
    connection = job.connection
    levels = {row.sku.lower(): row for row in QBDInventoryLevel.objects.filter(connection=connection)}
    now = timezone.now()
    findings: list[str] = []
    checked: list[str] = []
    for obj in result.objects:
        if not isinstance(obj, qbxml.Item) or obj.quantity_on_hand is None:
            continue
        row = levels.get(obj.full_name.lower())
        if row is None:
            continue
        checked.append(row.sku)
        if finding := reconcile(row, obj, now):
            findings.append(finding)
    after_reconcile(connection, checked, findings, resolve=True)


def after_reconcile(connection: Connection, skus: list[str], findings: list[str], *, resolve: bool) -> None:
    """After an inventory comparison: the differences Alert, then (flow option push_inventory_v2) the
    push of QuickBooks' quantities to ShipStation, after this transaction commits."""
    from integrations.qbdesktop import inventory_push

    _inventory_alert(connection, findings, resolve=resolve)
    if skus:
        inventory_push.request_push(connection, skus)


# --- Full item sync (iterator) -------------------------------------------------------------------


def queue_item_sync(connection: Connection, *, page_size: int = ITEM_SYNC_PAGE_SIZE) -> QBXMLJob:
    """Page through every inventory item (ItemInventoryQuery iterator, MaxReturned = page_size).

    Each page is streamed to `on_item_sync`, which reconciles the SKUs this flow tracks; the rest of
    the catalogue is only counted. A page of 1,000 items is ~0.5 MB of qbXML: far from QBWC's timeout."""
    pending = jobs.pending(connection).filter(handler=H_ITEM_SYNC).first()
    if pending is not None:
        return pending
    request = qbxml.item_inventory_query(max_returned=page_size, active_status="All")
    return jobs.enqueue(connection, request, handler=H_ITEM_SYNC, order_key=CHECK_KEY)


def on_item_sync(job: QBXMLJob, result: jobs.JobResult) -> None:
    if result.error is not None:
        logger.warning("ItemInventoryQuery page failed for connection %s: %s", job.connection_id, result.error)
        return
    connection = job.connection
    levels = {row.sku.lower(): row for row in QBDInventoryLevel.objects.filter(connection=connection)}
    now = timezone.now()
    findings: list[str] = []
    checked: list[str] = []
    for obj in result.objects:  # streamed: nothing of the page is held but the tracked SKUs' rows
        if not isinstance(obj, qbxml.Item) or obj.quantity_on_hand is None:
            continue
        row = levels.get(obj.full_name.lower())
        if row is None:
            continue
        checked.append(row.sku)
        if finding := reconcile(row, obj, now):
            findings.append(finding)
    after_reconcile(connection, checked, findings, resolve=False)


def _qty(value) -> str:
    return format(Decimal(value).normalize(), "f")


def _signed(value) -> str:
    return ("+" if value > 0 else "") + _qty(value)


def register_handlers() -> None:
    for name, handler in (
        (H_LOOKUP, on_lookup),
        (H_CUSTOMER, on_customer),
        (H_ITEMS, on_items),
        (H_WRITE, on_write),
        (H_DELETED, on_deleted),
        (H_INVENTORY, on_inventory),
        (H_ITEM_SYNC, on_item_sync),
    ):
        jobs.register_handler(name, handler)
