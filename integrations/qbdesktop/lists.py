"""QuickBooks' payment methods and deposit accounts, read when the Web Connector runs, for the flow's
sales receipt options: the options form offers them as pick lists (adapter.choices), so a name
QuickBooks does not have is refused before the flow starts instead of failing each order.

Both lists are short and neither query is paged (AccountQuery and PaymentMethodQuery take
`ActiveStatus` and name filters; QBWC.md §4.2 lists the filters of list queries): each answer is the
whole active list, so a name missing from it is forgotten. Read for connections with a flow that posts
sales receipts (until then the form's names are typed), at most every `list_sync_minutes` (sync.py's
interval), queued with the run's other checks.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from connector.models import Connection, Link
from integrations.qbdesktop import jobs, qbxml, sync
from integrations.qbdesktop.company import target_flows
from integrations.qbdesktop.links import remember
from integrations.qbdesktop.mapping import SALES_RECEIPT
from integrations.qbdesktop.models import QBXMLJob

logger = logging.getLogger(__name__)

H_LIST = "qbdlists.refresh"
ACCOUNT_LINK = "qbd_account"
PAYMENT_METHOD_LINK = "qbd_payment_method"
# Where a sales receipt's money can go: bank accounts, and other current assets (Undeposited Funds).
DEPOSIT_TYPES = ("Bank", "OtherCurrentAsset")
LISTS = {
    "accounts": (
        qbxml.Request("AccountQuery", "<AccountQueryRq><ActiveStatus>ActiveOnly</ActiveStatus></AccountQueryRq>"),
        ACCOUNT_LINK,
    ),
    "payment_methods": (
        qbxml.Request(
            "PaymentMethodQuery", "<PaymentMethodQueryRq><ActiveStatus>ActiveOnly</ActiveStatus></PaymentMethodQueryRq>"
        ),
        PAYMENT_METHOD_LINK,
    ),
}


def queue_due(connection: Connection, *, now: datetime | None = None) -> list[QBXMLJob]:
    """Queue both list reads when a flow into the connection posts sales receipts, unless one is
    pending or they were read within the sync interval."""
    if not target_flows(connection).filter(options__posting=SALES_RECEIPT).exists():
        return []
    if jobs.pending(connection).filter(handler=H_LIST).exists():
        return []
    now = now or timezone.now()
    minutes = sync.sync_minutes(connection) or sync.LIST_SYNC_MINUTES
    last = (
        QBXMLJob.objects.filter(connection=connection, handler=H_LIST, status=QBXMLJob.Status.DONE)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    if last is not None and last > now - timedelta(minutes=minutes):
        return []
    return [
        jobs.enqueue(connection, request, handler=H_LIST, context={"list": name}, order_key=jobs.SYNC_KEY)
        for name, (request, _link) in LISTS.items()
    ]


def on_list(job: QBXMLJob, result: jobs.JobResult) -> None:
    """The whole active list: remember each entry (FullName → ListID, with its type), forget the rest."""
    name = job.context.get("list", "")
    if name not in LISTS or result.error is not None:
        if result.error is not None:
            logger.warning("QuickBooks %s read failed for connection %s: %s", name, job.connection_id, result.error)
        return
    link_type = LISTS[name][1]
    seen: list[str] = []
    for obj in result.objects:
        if not isinstance(obj, qbxml.OtherRet):
            continue
        fields = obj.fields
        if not fields.get("ListID") or not fields.get("FullName") or fields.get("IsActive") == "false":
            continue
        data = {"full_name": fields["FullName"], "type": fields.get("AccountType", "")}
        remember(job.connection, link_type, fields["FullName"], fields["ListID"], data)
        seen.append(fields["ListID"])
    Link.objects.filter(connection=job.connection, object_type=link_type).exclude(external_id__in=seen).delete()


def names(connection: Connection, link_type: str, *, types: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(FullName, FullName) pairs of a read list, sorted; only the given account types when asked."""
    links = Link.objects.filter(connection=connection, object_type=link_type)
    found = sorted(
        link.data.get("full_name") or link.canonical_key
        for link in links
        if not types or link.data.get("type") in types
    )
    return [(name, name) for name in found]


def payment_methods(connection: Connection) -> list[tuple[str, str]]:
    return names(connection, PAYMENT_METHOD_LINK)


def deposit_accounts(connection: Connection) -> list[tuple[str, str]]:
    return names(connection, ACCOUNT_LINK, types=DEPOSIT_TYPES)


HANDLERS = {H_LIST: on_list}
