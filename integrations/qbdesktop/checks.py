"""Per Web Connector run checks (`queue_run_checks`, called at authenticate).

The incremental list/invoice sync when due (sync.py), and a TxnDeletedQuery that notices our invoices,
sales receipts and journal entries deleted in QuickBooks: with every batch of orders, and at least every
DELETED_CHECK_MINUTES even without one. A deleted transaction fails its record (Replay writes it again).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from connector.models import Connection, Event, Link, Record, raise_alert
from integrations.qbdesktop import jobs, lists, qbxml, sync
from integrations.qbdesktop.chain import CHAIN_HANDLERS, H_WRITE
from integrations.qbdesktop.company import company_tz, target_flows, target_records
from integrations.qbdesktop.links import INVOICE_LINK
from integrations.qbdesktop.models import QBXMLJob

logger = logging.getLogger(__name__)

H_DELETED = "qbdflow.deleted"
DELETED_CHECK_MINUTES = 60  # at least this often a run is requested just to look for deletions
DELETED_REMEDIATION = "Deleted in QuickBooks; press Replay to re-create"


def queue_run_checks(connection: Connection, *, now: datetime | None = None) -> list[QBXMLJob]:
    """Called when the Web Connector authenticates: the incremental list/invoice sync when due
    (sync.py), a deleted-transactions check with every batch of orders, and at least every
    DELETED_CHECK_MINUTES even without one."""
    if not target_flows(connection).exists():
        return []
    now = now or timezone.now()
    # QuickBooks' payment methods and accounts, for flows that post sales receipts (their pick lists).
    queued = [*lists.queue_due(connection, now=now), *sync.queue_due(connection, now=now)]
    if not _deleted_check_due(connection, now):
        return queued
    # Only what was deleted since the last check (minus the overlap): QuickBooks' own TimeDeleted mark.
    since = sync.cursor_for(connection, sync.Kind.INVOICES).deleted_since
    request = qbxml.txn_deleted_query(
        ("Invoice", "SalesReceipt", "JournalEntry"),
        from_deleted=sync.window_start(since),
        company_tz=company_tz(connection),
    )
    return [*queued, jobs.enqueue(connection, request, handler=H_DELETED, order_key=jobs.CHECK_KEY)]


def _deleted_check_due(connection: Connection, now: datetime) -> bool:
    """None pending, and orders in this run or the last check older than the connection's interval."""
    pending = jobs.pending(connection)
    if pending.filter(handler=H_DELETED).exists():
        return False
    if pending.filter(handler__in=CHAIN_HANDLERS).exists():
        return True
    every = timedelta(minutes=int(connection.settings.get("deleted_check_minutes") or DELETED_CHECK_MINUTES))
    last = (
        QBXMLJob.objects.filter(connection=connection, handler=H_DELETED)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return last is None or last <= now - every


def on_deleted(job: QBXMLJob, result: jobs.JobResult) -> None:
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
        _forget_deleted(connection, obj)
    if high is not None:  # applied above, in this transaction: the next check asks from here
        cursor = sync.cursor_for(connection, sync.Kind.INVOICES, lock=True)
        capped = min(high, job.sent_at or high)
        if cursor.deleted_since is None or capped > cursor.deleted_since:
            cursor.deleted_since = capped
            cursor.save(update_fields=["deleted_since"])


def _forget_deleted(connection: Connection, obj: qbxml.DeletedTxn) -> None:
    """One of our transactions was deleted: its records fail, its write is marked, its Link goes."""
    links = Link.objects.filter(connection=connection, object_type=INVOICE_LINK, external_id=obj.txn_id)
    link = links.first()
    if link is None:
        return  # not ours, or already noticed
    kind = {"JournalEntry": "journal entry", "SalesReceipt": "sales receipt"}.get(obj.txn_type, "invoice")
    message = f"QuickBooks {kind} {obj.ref_number or link.canonical_key} ({obj.txn_id}) was deleted in QuickBooks."
    for record in target_records(connection).filter(target_id=obj.txn_id).select_related("flow"):
        _fail_record(record, connection, obj, message)
    for write in QBXMLJob.objects.filter(connection=connection, handler=H_WRITE, context__order=link.canonical_key):
        if write.result.get("txn_id") == obj.txn_id:
            write.context = {**write.context, "deleted_in_qb": True}
            write.save(update_fields=["context", "updated_at"])
    links.delete()


def _fail_record(record: Record, connection: Connection, obj: qbxml.DeletedTxn, message: str) -> None:
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


HANDLERS = {H_DELETED: on_deleted}
