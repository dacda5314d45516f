"""Push QuickBooks' QuantityOnHand to the flow source's inventory, per flow option `push_inventory`.

After an inventory comparison (inventory.after_reconcile: the per-batch ItemInventoryQuery, the full item
sync, the incremental item sync) the SKUs checked are marked `push_pending`; once the receiveResponseXML
transaction commits, the Celery task `qbdesktop.push_inventory` runs `push(connection_id)`, which hands
the pending SKUs as canonical StockLevels to the flow source's "stock_level" target (DESIGN §5: through
`connector.engine.target_adapter`, never by importing the source's app). The source's adapter reads
its levels in batches and adjusts the SKUs that differ, at the flow's location (option
`inventory_location_id`), else as that adapter decides (e.g. the SKU's only location).

Each adjustment is an Event (kind "updated") on the source connection; the row keeps the quantity
pushed. Failures lose nothing: the rows stay `push_pending` (with `push_error`), an Alert says what failed
and the task retries transient errors; the next comparison pushes them too. A flow whose source
connection cannot take stock levels now (`connector.registry.target_unavailable`, e.g. a missing API
key) cannot push: an Alert gives the source's own reason, and the options form shows the option as
unavailable with it. Quantities the source cannot hold (fractions) are skipped with an Event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.utils import timezone

from connector.adapters import WriteResult
from connector.canonical import StockLevel
from connector.engine import target_adapter
from connector.http import ApiError
from connector.models import Connection, Event, Flow, raise_alert, resolve_alerts
from connector.registry import target_unavailable
from integrations.qbdesktop.company import source_name, target_flows
from integrations.qbdesktop.models import QBDInventoryLevel

logger = logging.getLogger(__name__)

OPTION = "push_inventory"
LOCATION_OPTION = "inventory_location_id"
ALERT_PREFIX = "qbd-inventory-push:"
STOCK_LEVEL = "stock_level"  # the target type the flow's source connection must offer
PUSH_LABEL = "Push QuickBooks quantities to the order source's inventory"
TURN_OFF = f" Or turn the option “{PUSH_LABEL}” off in the flow."


def takes_stock_levels(connection: Connection) -> bool:
    """Whether the flow's source connection can take stock levels now (its adapter's `unavailable`)."""
    return target_unavailable(connection, STOCK_LEVEL) is None


def unavailable_reason(connection: Connection) -> str:
    """Why the source connection cannot take stock levels, in its adapter's words; "" when it can."""
    error = target_unavailable(connection, STOCK_LEVEL)
    if error is None:
        return ""
    return f"{error.message} {getattr(error, 'remediation', '') or ''}".strip()


def pushing_flows(connection: Connection):
    return (
        target_flows(connection)
        .filter(**{f"options__{OPTION}": True})
        .select_related("source", "organization")
        .order_by("id")
    )


def mark_pending(connection: Connection, skus: list[str]) -> bool:
    """Mark the SKUs for pushing (the caller queues the push after commit); False when no flow pushes."""
    if not pushing_flows(connection).exists():
        return False
    QBDInventoryLevel.objects.filter(connection=connection, sku__in=skus).update(push_pending=True)
    return True


@dataclass
class PushReport:
    pushed: list[str] = field(default_factory=list)
    equal: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    error: ApiError | None = None


def alert_key(flow: Flow) -> str:
    return f"{ALERT_PREFIX}{flow.pk}"


def _event(flow: Flow, kind: str, message: str, data: dict) -> None:
    Event.objects.create(
        organization_id=flow.organization_id,
        connection=flow.source,
        kind=kind,
        message=message,
        data={"flow": flow.pk, "qbd_connection": flow.target_id, **data},
    )


def push(connection_id: int) -> PushReport:
    """Push every pending SKU of this QuickBooks connection to its flows' source inventory."""
    report = PushReport()
    connection = Connection.objects.filter(pk=connection_id, system="qbdesktop").first()
    if connection is None:
        return report
    rows = list(QBDInventoryLevel.objects.filter(connection=connection, push_pending=True).order_by("sku"))
    flows = list(pushing_flows(connection))
    if not flows:
        QBDInventoryLevel.objects.filter(pk__in=[r.pk for r in rows]).update(push_pending=False)
        return report
    if not rows:
        return report
    done: set[int] = set(r.pk for r in rows)
    for flow in flows:
        flow_report = _push_flow(flow, rows)
        report.pushed += flow_report.pushed
        report.equal += flow_report.equal
        report.skipped += flow_report.skipped
        report.failed += flow_report.failed
        report.error = report.error or flow_report.error
        done -= {r.pk for r in rows if r.sku in flow_report.failed}
    # A SKU stays pending until every pushing flow has it (failures are retried, never dropped).
    QBDInventoryLevel.objects.filter(pk__in=done).update(push_pending=False, push_error="")
    return report


def _push_flow(flow: Flow, rows: list[QBDInventoryLevel]) -> PushReport:
    report = PushReport()
    source = flow.source
    unavailable = target_unavailable(source, STOCK_LEVEL)
    if unavailable is not None:
        raise_alert(
            flow.organization,
            alert_key(flow),
            unavailable.message,
            remediation=(unavailable.remediation + TURN_OFF).strip(),
            flow=flow,
            connection=source,
        )
        _mark_failed(rows, unavailable.message, report)
        return report
    by_sku = {row.sku: row for row in rows}
    location = flow.options.get(LOCATION_OPTION) or ""
    levels = [StockLevel(row.sku, row.quantity_on_hand, location) for row in rows if row.quantity_on_hand is not None]
    report.skipped += [row.sku for row in rows if row.quantity_on_hand is None]
    target = target_adapter(source)  # the flow's source: its batch `write_stock_levels`
    try:
        outcomes = target.write_stock_levels(
            levels, reason="QuickBooks Desktop", notes="QuantityOnHand from QuickBooks Desktop"
        )
        for level, outcome in outcomes:
            _record(flow, by_sku[level.sku], outcome, report)
    except ApiError as exc:  # a 401 already marked the connection (the adapter's reauth rule)
        _fail(flow, rows, report, exc)
        return report
    if not report.failed:
        resolve_alerts(flow.organization, alert_key(flow))
    return report


def _record(flow: Flow, row: QBDInventoryLevel, outcome: WriteResult | ApiError, report: PushReport) -> None:
    """What the source's adapter did with one SKU, kept on the row and as an Event."""
    if isinstance(outcome, ApiError):  # this SKU only (no location to use); the others go on
        _record_refused(flow, row, outcome)
        report.failed.append(row.sku)
    elif outcome.action == "unchanged":
        QBDInventoryLevel.objects.filter(pk=row.pk).update(source_on_hand=outcome.data["to"])
        report.equal.append(row.sku)
    elif outcome.action == "skipped":
        _record_skipped(flow, row, outcome.data)
        report.skipped.append(row.sku)
    else:
        _record_pushed(flow, row, outcome.data)
        report.pushed.append(row.sku)


def _record_refused(flow: Flow, row: QBDInventoryLevel, error: ApiError) -> None:
    raise_alert(
        flow.organization,
        alert_key(flow),
        error.message,
        remediation=error.remediation,
        flow=flow,
        connection=flow.source,
    )
    QBDInventoryLevel.objects.filter(pk=row.pk).update(push_error=error.message[:1000])


def _record_skipped(flow: Flow, row: QBDInventoryLevel, data: dict) -> None:
    if data.get("why"):  # the source's adapter says why in its own words
        why = data["why"]
    elif data.get("reason") == "fraction":
        why = f"QuickBooks holds a fraction ({row.quantity_on_hand})"
    else:
        why = f"other locations already hold {data['elsewhere']} of the {data['to']} QuickBooks has"
    _event(flow, Event.Kind.SKIPPED, f"{source_name(flow)} inventory {row.sku}: not pushed, {why}.", {"sku": row.sku})


def _record_pushed(flow: Flow, row: QBDInventoryLevel, data: dict) -> None:
    wanted = data["to"]
    QBDInventoryLevel.objects.filter(pk=row.pk).update(source_on_hand=wanted, pushed_at=timezone.now(), push_error="")
    _event(
        flow,
        Event.Kind.UPDATED,
        f"{source_name(flow)} inventory {row.sku}: {data['from']} → {wanted} (QuickBooks QuantityOnHand "
        f"{format(row.quantity_on_hand.normalize(), 'f')})"
        + (f", location {data['location']}." if data.get("location") else "."),
        {"sku": row.sku, **{k: data[k] for k in ("from", "to", "location", "quantity")}},
    )


def _mark_failed(rows: list[QBDInventoryLevel], message: str, report: PushReport) -> None:
    QBDInventoryLevel.objects.filter(pk__in=[r.pk for r in rows]).update(push_error=message[:1000])
    report.failed += [r.sku for r in rows]


def _fail(flow: Flow, rows: list[QBDInventoryLevel], report: PushReport, exc: ApiError) -> None:
    pushed = set(report.pushed) | set(report.equal) | set(report.skipped) | set(report.failed)
    left = [r for r in rows if r.sku not in pushed]
    message = f"Pushing QuickBooks quantities to {source_name(flow)} failed: {exc.message}"
    raise_alert(
        flow.organization,
        alert_key(flow),
        message,
        remediation=getattr(exc, "remediation", "")
        or "The quantities are pushed again after the next QuickBooks inventory check, or retried automatically.",
        level="error",
        flow=flow,
        connection=flow.source,
    )
    _event(flow, Event.Kind.FAILED, message, {"skus": [r.sku for r in left][:100]})
    _mark_failed(left, message, report)
    report.error = exc
