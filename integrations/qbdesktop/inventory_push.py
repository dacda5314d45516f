"""Push QuickBooks' QuantityOnHand to ShipStation's inventory (V2), per flow option `push_inventory_v2`.

After an inventory comparison (flow.after_reconcile: the per-batch ItemInventoryQuery, the full item
sync, the incremental item sync) the SKUs checked are marked `push_pending`; once the receiveResponseXML
transaction commits, the Celery task `qbdesktop.push_inventory` runs `push(connection_id)`:

1. `GET /v2/inventory?sku=A,B,...` (V2-OAS getInventoryLevels) reads ShipStation's on-hand per SKU and
   location;
2. a SKU whose ShipStation total differs from QuickBooks' QuantityOnHand gets
   `POST /v2/inventory {transaction_type: "adjust", sku, inventory_location_id, quantity}`
   (V2-OAS updateSKUStockLevels: "adjust on hand quantity ... to the quantity indicated"), at the flow's
   location (option `shipstation_inventory_location_id`), else the SKU's only location, else the
   account's first inventory location (`GET /v2/inventory_locations`);
3. each adjustment is an Event (kind "updated") on the ShipStation connection; the row keeps the
   quantity pushed.

Failures lose nothing: the rows stay `push_pending` (with `push_error`), an Alert says what failed and
the task retries transient errors; the next comparison pushes them too. A flow whose ShipStation
connection has no V2 API key cannot push: an Alert says so, and the options form shows the option as
unavailable. QuickBooks quantities that ShipStation cannot hold (fractions) are skipped with an Event;
a negative QuantityOnHand is pushed as 0.

Design note: integrations normally never import each other (DESIGN §5); the V2 client and its sandbox
routing come from integrations.shipstation.connection here because ShipStation's adapter offers no
"stock_level" target yet. The clean route is a ShipStationTarget "stock_level" capability that this
module would call through connector.engine.target_adapter(flow.source).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from connector.http import ApiError, AuthExpired
from connector.models import Connection, Event, Flow, raise_alert, resolve_alerts
from integrations.qbdesktop.models import QBDInventoryLevel

logger = logging.getLogger(__name__)

OPTION = "push_inventory_v2"
LOCATION_OPTION = "shipstation_inventory_location_id"
SKUS_PER_LOOKUP = 50  # SKUs per GET /v2/inventory?sku=... (a comma-separated list)
LOOKUP_LIMIT = 500
NO_V2_KEY = "Pushing QuickBooks quantities to ShipStation needs a ShipStation V2 API key on the connection “{label}”."
NO_V2_KEY_REMEDIATION = (
    "Create a V2 API key in ShipStation (Settings → Account → API Settings) and add it on the ShipStation "
    "connection's page, or turn the option off in the flow."
)


def has_v2_key(connection: Connection) -> bool:
    return bool((connection.credentials or {}).get("v2_api_key"))


def pushing_flows(connection: Connection):
    from integrations.qbdesktop.flow import PRESET

    return (
        Flow.objects.filter(target=connection, preset=PRESET, options__push_inventory_v2=True)
        .select_related("source", "organization")
        .order_by("id")
    )


def request_push(connection: Connection, skus: list[str]) -> bool:
    """Mark the SKUs for pushing and queue the push after commit; False when no flow pushes."""
    if not pushing_flows(connection).exists():
        return False
    QBDInventoryLevel.objects.filter(connection=connection, sku__in=skus).update(push_pending=True)
    connection_id = connection.pk

    def queue() -> None:
        from integrations.qbdesktop.tasks import push_inventory

        push_inventory.delay(connection_id)

    transaction.on_commit(queue)
    return True


@dataclass
class PushReport:
    pushed: list[str] = field(default_factory=list)
    equal: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    error: ApiError | None = None


def alert_key(flow: Flow) -> str:
    return f"qbd-ss-inventory:{flow.pk}"


def _event(flow: Flow, kind: str, message: str, data: dict) -> None:
    Event.objects.create(
        organization_id=flow.organization_id,
        connection=flow.source,
        kind=kind,
        message=message,
        data={"flow": flow.pk, "qbd_connection": flow.target_id, **data},
    )


def target_quantity(quantity_on_hand: Decimal) -> int | None:
    """What ShipStation should hold: whole units only, never below zero."""
    if quantity_on_hand != quantity_on_hand.to_integral_value():
        return None
    return max(0, int(quantity_on_hand))


def push(connection_id: int) -> PushReport:
    """Push every pending SKU of this QuickBooks connection to its flows' ShipStation inventory."""
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
    from integrations.shipstation.connection import mark_needs_reauth, v2_client_for

    report = PushReport()
    source = flow.source
    if not has_v2_key(source):
        message = NO_V2_KEY.format(label=source.label)
        raise_alert(
            flow.organization, alert_key(flow), message, remediation=NO_V2_KEY_REMEDIATION, flow=flow, connection=source
        )
        _mark_failed(rows, message, report)
        return report
    client = v2_client_for(source)
    try:
        levels = _levels(client, [r.sku for r in rows])
        location_default = flow.options.get(LOCATION_OPTION) or ""
        fallback: list[str] = []  # the account's first location, looked up once if needed
        for row in rows:
            _push_row(flow, client, row, levels.get(row.sku, []), location_default, fallback, report)
    except AuthExpired as exc:
        mark_needs_reauth(source, exc)
        _fail(flow, rows, report, exc)
        return report
    except ApiError as exc:
        _fail(flow, rows, report, exc)
        return report
    if not report.failed:
        resolve_alerts(flow.organization, alert_key(flow))
    return report


def _levels(client, skus: list[str]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for start in range(0, len(skus), SKUS_PER_LOOKUP):
        batch = skus[start : start + SKUS_PER_LOOKUP]
        for level in client.list_inventory(sku=",".join(batch), limit=LOOKUP_LIMIT):
            found.setdefault(str(level.get("sku", "")), []).append(level)
    return found


def _push_row(flow, client, row, levels: list[dict], location: str, fallback: list[str], report: PushReport) -> None:
    if row.quantity_on_hand is None:
        report.skipped.append(row.sku)
        return
    wanted = target_quantity(row.quantity_on_hand)
    current = sum(int(level.get("on_hand") or 0) for level in levels)
    if wanted is None:
        _event(
            flow,
            Event.Kind.SKIPPED,
            f"ShipStation inventory {row.sku}: not pushed, QuickBooks holds a fraction ({row.quantity_on_hand}).",
            {"sku": row.sku},
        )
        report.skipped.append(row.sku)
        return
    if current == wanted:
        QBDInventoryLevel.objects.filter(pk=row.pk).update(shipstation_on_hand=current)
        report.equal.append(row.sku)
        return
    locations = {str(level.get("inventory_location_id") or "") for level in levels} - {""}
    if not location:
        if len(locations) == 1:
            location = next(iter(locations))
        elif not locations:
            if not fallback:
                fallback.extend(client.list_inventory_location_ids())
            location = fallback[0] if fallback else ""
    if not location:
        raise_alert(
            flow.organization,
            alert_key(flow),
            f"ShipStation inventory {row.sku}: no inventory location to put QuickBooks' quantity in "
            f"(the SKU is in {len(locations)} locations, or the account has none).",
            remediation="Set the ShipStation inventory location in the flow's options.",
            flow=flow,
            connection=flow.source,
        )
        report.failed.append(row.sku)
        return
    elsewhere = sum(
        int(level.get("on_hand") or 0) for level in levels if level.get("inventory_location_id") != location
    )
    here = wanted - elsewhere
    if here < 0:
        report.skipped.append(row.sku)
        _event(
            flow,
            Event.Kind.SKIPPED,
            f"ShipStation inventory {row.sku}: not pushed, other locations already hold {elsewhere} of the "
            f"{wanted} QuickBooks has.",
            {"sku": row.sku},
        )
        return
    client.adjust_inventory(
        row.sku, location, here, reason="QuickBooks Desktop", notes="QuantityOnHand from QuickBooks Desktop"
    )
    now = timezone.now()
    QBDInventoryLevel.objects.filter(pk=row.pk).update(shipstation_on_hand=wanted, pushed_at=now, push_error="")
    _event(
        flow,
        Event.Kind.UPDATED,
        f"ShipStation inventory {row.sku}: {current} → {wanted} (QuickBooks QuantityOnHand "
        f"{format(row.quantity_on_hand.normalize(), 'f')}), location {location}.",
        {"sku": row.sku, "from": current, "to": wanted, "location": location, "quantity": here},
    )
    report.pushed.append(row.sku)


def _mark_failed(rows: list[QBDInventoryLevel], message: str, report: PushReport) -> None:
    QBDInventoryLevel.objects.filter(pk__in=[r.pk for r in rows]).update(push_error=message[:1000])
    report.failed += [r.sku for r in rows]


def _fail(flow: Flow, rows: list[QBDInventoryLevel], report: PushReport, exc: ApiError) -> None:
    pushed = set(report.pushed) | set(report.equal) | set(report.skipped)
    left = [r for r in rows if r.sku not in pushed]
    message = f"Pushing QuickBooks quantities to ShipStation failed: {exc.message}"
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
