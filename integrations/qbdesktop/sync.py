"""Incremental sync of QuickBooks customers, items and invoices (QBWC.md §4.2).

Each pass is a paged query (iterator, MaxReturned) of what changed since the cursor, plus for lists a
ListDeletedQuery of what was deleted since:

    CustomerQuery  FromModifiedDate      → active customers cached as Links (qbd_customer), inactive forgotten
    ItemQuery      FromModifiedDate      → items cached as Links (qbd_item); tracked inventory SKUs reconciled
    InvoiceQuery   ModifiedDateRangeFilter → our invoices changed in QuickBooks are noted (Event, Alert if
                                           the amount moved); the first pass starts at our first write
    ListDeletedQuery Customer / Item*   → their Links are forgotten, so the next order looks them up again

Deleted invoices and journal entries stay with the per-run TxnDeletedQuery of checks.py (`on_deleted`),
which now also asks only from its own cursor (`QBDSyncCursor.deleted_since` of "invoices").

Times: QuickBooks reads a date-time without offset as the QuickBooks PC's local time, so bounds are sent
in the company's zone (connection.settings["time_zone"]). The cursor is QuickBooks' own TimeModified
high-water mark (its wall clock read in that zone; the offset it reports is wrong during DST), capped at
the time we sent the first page, so a PC clock that runs ahead cannot push the cursor past changes we
have not seen. Each pass asks from cursor − OVERLAP: QuickBooks' bound is inclusive and a change in the
same second as the last one seen, or committed late, is read again and deduplicated by ListID/TxnID.
The cursor moves only in the handler of the pass's last page, in the same transaction that applied it.

Schedule: `queue_due` runs when the Web Connector authenticates (checks.queue_run_checks): a kind is
queued when none of its jobs is pending and its last pass completed more than the flow option
`list_sync_minutes` ago (default LIST_SYNC_MINUTES).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from connector.models import Connection, Event, Link, raise_alert
from integrations.qbdesktop import inventory, jobs, qbxml
from integrations.qbdesktop.chain import H_WRITE
from integrations.qbdesktop.company import company_tz, source_name, source_names, target_flows, target_records
from integrations.qbdesktop.links import CUSTOMER_LINK, INVOICE_LINK, ITEM_LINK, forget_ids, remember
from integrations.qbdesktop.models import QBDInventoryLevel, QBDSyncCursor, QBXMLJob

logger = logging.getLogger(__name__)

H_MODIFIED = "qbdsync.modified"
H_DELETED_LISTS = "qbdsync.deleted_lists"
OVERLAP = timedelta(minutes=5)
PAGE_SIZE = 500  # customers/items/invoices per page: a few hundred KB of qbXML, far from QBWC's timeout
LIST_SYNC_MINUTES = 60
MIN_LIST_SYNC_MINUTES = 5
ITEM_DEL_TYPES = (
    "ItemInventory",
    "ItemInventoryAssembly",
    "ItemNonInventory",
    "ItemService",
    "ItemOtherCharge",
    "ItemDiscount",
    "ItemSalesTax",
    "ItemGroup",
)
Kind = QBDSyncCursor.Kind


def cursor_for(connection: Connection, kind: str, *, lock: bool = False) -> QBDSyncCursor:
    rows = QBDSyncCursor.objects.select_for_update() if lock else QBDSyncCursor.objects
    cursor = rows.filter(connection=connection, kind=kind).first()
    if cursor is None:
        cursor, _ = QBDSyncCursor.objects.get_or_create(
            connection=connection, kind=kind, defaults={"organization_id": connection.organization_id}
        )
        if lock:
            cursor = QBDSyncCursor.objects.select_for_update().get(pk=cursor.pk)
    return cursor


def window_start(cursor_value: datetime | None) -> datetime | None:
    return cursor_value - OVERLAP if cursor_value is not None else None


def modified_request(
    connection: Connection, kind: str, cursor: QBDSyncCursor, *, page_size: int = PAGE_SIZE
) -> qbxml.Request | None:
    tz = company_tz(connection)
    since = window_start(cursor.modified_since)
    if kind == Kind.CUSTOMERS:
        return qbxml.customer_query(max_returned=page_size, active_status="All", from_modified=since, company_tz=tz)
    if kind == Kind.ITEMS:
        return qbxml.item_query(max_returned=page_size, active_status="All", from_modified=since, company_tz=tz)
    # Only our invoices matter, and none is older than our first write: the first pass starts at its
    # TimeModified (QuickBooks' clock), not at the beginning of the company file. No write yet: no pass.
    since = since or window_start(first_write_time(connection))
    if since is None:
        return None
    return qbxml.invoice_query(max_returned=page_size, from_modified=since, company_tz=tz)


def first_write_time(connection: Connection) -> datetime | None:
    """QuickBooks' TimeModified of the first invoice this connection wrote (as QuickBooks answered it)."""
    writes = QBXMLJob.objects.filter(
        connection=connection, handler=H_WRITE, kind="InvoiceAdd", status=QBXMLJob.Status.DONE
    ).order_by("id")
    for job in writes[:20]:
        objects = job.result.get("objects") or []
        stamp = objects[0].get("time_modified") if objects else ""
        moment = qbxml.parse_qb_time(stamp, company_tz(connection)) if stamp else None
        if moment is not None:
            return moment
    return None


def deleted_request(connection: Connection, kind: str, cursor: QBDSyncCursor) -> qbxml.Request:
    types = ("Customer",) if kind == Kind.CUSTOMERS else ITEM_DEL_TYPES
    since = window_start(cursor.deleted_since)
    return qbxml.list_deleted_query(types, from_deleted=since, company_tz=company_tz(connection))


def _pending(connection: Connection, kind: str):
    return jobs.pending(connection).filter(handler__in=(H_MODIFIED, H_DELETED_LISTS), context__kind=kind)


def queue_kind(connection: Connection, kind: str, *, page_size: int = PAGE_SIZE) -> list[QBXMLJob]:
    """Queue one pass of `kind` (unless one is pending): the changed-since query, and for lists the
    deleted-since query."""
    if _pending(connection, kind).exists():
        return []
    cursor = cursor_for(connection, kind)
    context = {"kind": kind}
    request = modified_request(connection, kind, cursor, page_size=page_size)
    if request is None:
        return []
    queued = [jobs.enqueue(connection, request, handler=H_MODIFIED, context=context, order_key=jobs.SYNC_KEY)]
    if kind != Kind.INVOICES:
        request = deleted_request(connection, kind, cursor)
        queued.append(
            jobs.enqueue(connection, request, handler=H_DELETED_LISTS, context=context, order_key=jobs.SYNC_KEY)
        )
    return queued


def sync_minutes(connection: Connection) -> int | None:
    """The shortest `list_sync_minutes` among the connection's flows; None without a flow."""
    options = list(target_flows(connection).values_list("options", flat=True))
    if not options:
        return None
    values = []
    for opts in options:
        try:
            values.append(int((opts or {}).get("list_sync_minutes") or LIST_SYNC_MINUTES))
        except (TypeError, ValueError):
            values.append(LIST_SYNC_MINUTES)
    return max(MIN_LIST_SYNC_MINUTES, min(values))


def queue_due(connection: Connection, *, now: datetime | None = None) -> list[QBXMLJob]:
    """At authenticate: queue each kind whose last completed pass is older than the flow's interval."""
    minutes = sync_minutes(connection)
    if minutes is None:
        return []
    now = now or timezone.now()
    queued: list[QBXMLJob] = []
    for kind in Kind.values:
        last = QBDSyncCursor.objects.filter(connection=connection, kind=kind).values_list("last_synced_at", flat=True)
        last_synced = next(iter(last), None)
        if last_synced is not None and last_synced > now - timedelta(minutes=minutes):
            continue
        queued += queue_kind(connection, kind)
    return queued


# --- Handlers -----------------------------------------------------------------------------------


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate > current else current


def _cursor_unless_failed(job: QBXMLJob, result: jobs.JobResult, what: str):
    """The job's cursor, locked; None (with the error kept on the cursor) when QuickBooks failed it."""
    cursor = cursor_for(job.connection, job.context.get("kind", ""), lock=True)
    if result.error is None:
        return cursor
    cursor.last_error = str(result.error)[:1000]
    cursor.save(update_fields=["last_error"])
    logger.warning("QuickBooks %s failed for connection %s: %s", what, job.connection.pk, result.error)
    return None


def on_modified(job: QBXMLJob, result: jobs.JobResult) -> None:
    """One page of a changed-since pass: apply its objects; the cursor moves once the pass is whole."""
    kind = job.context.get("kind", "")
    cursor = _cursor_unless_failed(job, result, f"{kind} sync")
    if cursor is None:
        return
    if job.page == 1:  # the first page (or a restarted iterator): a new pass
        cursor.pass_high, cursor.pass_count = None, 0
        cursor.pass_started_at = job.sent_at or timezone.now()
    high, count = _apply_page(job.connection, kind, result.objects, cursor.pass_high)
    cursor.pass_high, cursor.pass_count = high, cursor.pass_count + count
    if not result.more_pages:
        _finish_pass(cursor, high)
    cursor.save()


def _apply_page(connection: Connection, kind: str, objects, high: datetime | None) -> tuple[datetime | None, int]:
    """Apply a page's objects of `kind`: the pass's new high-water mark and how many were applied."""
    tz = company_tz(connection)
    apply = {Kind.CUSTOMERS: _apply_customer, Kind.ITEMS: _apply_item, Kind.INVOICES: _apply_invoice}[kind]
    state: dict = {"findings": [], "skus": [], "source": source_names(connection) if kind == Kind.ITEMS else ""}
    count = 0
    for obj in objects:
        if apply(connection, obj, state):
            count += 1
            high = _later(high, qbxml.parse_qb_time(obj.time_modified, tz))
    if kind == Kind.ITEMS and state["skus"]:
        inventory.after_reconcile(connection, state["skus"], state["findings"], resolve=False)
    return high, count


def _finish_pass(cursor: QBDSyncCursor, high: datetime | None) -> None:
    """The pass is applied: only now does the cursor move (capped at when we asked, see above)."""
    if high is not None:
        cursor.modified_since = _later(cursor.modified_since, min(high, cursor.pass_started_at or high))
    cursor.last_synced_at = timezone.now()
    cursor.last_count, cursor.pass_high, cursor.pass_count = cursor.pass_count, None, 0
    cursor.last_error = ""


def _apply_customer(connection: Connection, obj, state: dict) -> bool:
    if not isinstance(obj, qbxml.Customer) or not obj.list_id:
        return False
    if obj.is_active:
        remember(connection, CUSTOMER_LINK, obj.full_name, obj.list_id, {"full_name": obj.full_name})
    else:
        # Not cached: an order naming it is looked up and told "inactive" (chain.on_customer).
        forget_ids(connection, CUSTOMER_LINK, [obj.list_id])
    return True


def _apply_item(connection: Connection, obj, state: dict) -> bool:
    if not isinstance(obj, qbxml.Item) or not obj.list_id:
        return False
    if obj.is_active:
        data = {"full_name": obj.full_name, "item_type": obj.item_type}
        remember(connection, ITEM_LINK, obj.full_name, obj.list_id, data)
    else:
        forget_ids(connection, ITEM_LINK, [obj.list_id])
    if obj.item_type == "ItemInventory" and obj.quantity_on_hand is not None:
        row = QBDInventoryLevel.objects.filter(connection=connection, sku__iexact=obj.full_name).first()
        if row is not None:  # a SKU this flow tracks: a fresh QuantityOnHand is a check
            finding = inventory.reconcile(row, obj, timezone.now(), source=state["source"])
            state["skus"].append(row.sku)
            if finding:
                state["findings"].append(finding)
    return True


def _apply_invoice(connection: Connection, obj, state: dict) -> bool:
    """Our invoices changed in QuickBooks since we wrote them: shown on the record, alerted if the
    amount moved (shipped orders are immutable: nothing is re-posted)."""
    if not isinstance(obj, qbxml.Transaction) or not obj.txn_id:
        return False
    link = Link.objects.filter(connection=connection, object_type=INVOICE_LINK, external_id=obj.txn_id).first()
    if link is None:
        return True  # not ours
    write = _last_write(connection, link.canonical_key)
    known = link.data.get("qb_edit_sequence") or (write.result.get("edit_sequence") if write else "")
    if obj.edit_sequence == known:
        return True
    _keep_edit_sequence(link, obj)
    if not known:
        return True  # first sight (e.g. a Link made before this sync existed): the baseline
    posted = write.context.get("total") if write else None
    moved = posted is not None and obj.subtotal is not None and obj.subtotal != Decimal(posted)
    _report_invoice_change(connection, obj, _invoice_change(obj, link.canonical_key, posted, moved), moved)
    return True


def _last_write(connection: Connection, order_number: str) -> QBXMLJob | None:
    """Our last finished InvoiceAdd/JournalEntryAdd for the order: what we posted, and its EditSequence."""
    return (
        QBXMLJob.objects.filter(connection=connection, handler=H_WRITE, context__order=order_number)
        .filter(status=QBXMLJob.Status.DONE)
        .order_by("-id")
        .first()
    )


def _keep_edit_sequence(link: Link, obj: qbxml.Transaction) -> None:
    link.data = {**link.data, "qb_edit_sequence": obj.edit_sequence, "qb_time_modified": obj.time_modified}
    link.save(update_fields=["data", "updated_at"])


def _invoice_change(obj: qbxml.Transaction, order_number: str, posted: str | None, moved: bool) -> str:
    """What changed, in the merchant's words (pure)."""
    ref = obj.ref_number or order_number
    message = f"QuickBooks invoice {ref} ({obj.txn_id}) was changed in QuickBooks ({obj.time_modified})"
    return message + (
        f": it now totals {obj.subtotal}, the order posted {posted}." if moved else "; its total is unchanged."
    )


def _report_invoice_change(connection: Connection, obj: qbxml.Transaction, message: str, moved: bool) -> None:
    """An Event on each record the invoice came from; an Alert too when its amount moved."""
    records = target_records(connection).filter(target_id=obj.txn_id)
    for record in records.select_related("flow__source"):
        Event.objects.create(
            organization_id=record.organization_id,
            record=record,
            connection=connection,
            kind=Event.Kind.ALERT if moved else Event.Kind.FETCHED,
            message=message,
            data={"txn_id": obj.txn_id, "edit_sequence": obj.edit_sequence, "subtotal": str(obj.subtotal)},
        )
        if moved:
            raise_alert(
                record.organization,
                f"qbd-changed:{record.pk}",
                message,
                remediation=f"Check the invoice in QuickBooks: shipped {source_name(record.flow)} orders are not posted again.",
                record=record,
                flow=record.flow,
                connection=connection,
            )


def on_deleted_lists(job: QBXMLJob, result: jobs.JobResult) -> None:
    connection = job.connection
    kind = job.context.get("kind", "")
    cursor = _cursor_unless_failed(job, result, "ListDeletedQuery")
    if cursor is None:
        return
    tz = company_tz(connection)
    link_type = CUSTOMER_LINK if kind == Kind.CUSTOMERS else ITEM_LINK
    ids, high = [], None
    for obj in result.objects:
        if isinstance(obj, qbxml.DeletedListItem) and obj.list_id:
            ids.append(obj.list_id)
            high = _later(high, qbxml.parse_qb_time(obj.time_deleted, tz))
    forgotten = forget_ids(connection, link_type, ids) if ids else 0
    if high is not None:
        cursor.deleted_since = _later(cursor.deleted_since, min(high, job.sent_at or high))
    cursor.last_deleted_count = forgotten
    cursor.save(update_fields=["deleted_since", "last_deleted_count"])


def register_handlers() -> None:
    jobs.register_handler(H_MODIFIED, on_modified)
    jobs.register_handler(H_DELETED_LISTS, on_deleted_lists)
