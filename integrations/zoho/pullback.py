"""Shipment pull-back from Zoho Books sales orders to the store.

On a schedule (every `pullback_interval_hours`, default 3) `pull_back(flow)` lists the sales orders
modified within the look-back window (`pullback_lookback_hours`, default 4, always at least the
interval plus 30 minutes so no edit falls between two runs) and reads their custom fields
`tracking_number`, `carrier` and `shipping_method` (tracking.py). A sales order of the flow whose
tracking number and carrier are filled becomes a Record of the flow (object type "tracking", source
id = sales order id) that the engine writes to the store like any other record: events on its
page, the engine's retries, Replay. The writer (tracking.StoreTracking) tells the store once, puts a
"Shipped:" event (stage "shipped") on the order's own record and fires the "shipped" order rules.
A run that sees the same tracking again queues nothing; a record that failed for good waits for
Replay. A sales order voided in Zoho gets a "canceled in Zoho" Event on its order record once and
fires its rules.

Before each run the three custom fields must exist on sales orders in the Zoho organisation
(`GET /settings/fields?entity=salesorder`, not in the saved OAS; its shape is what third-party code
calling the live API reads). When one is missing, pull-back is paused with an Alert telling exactly
what to create; it resumes (and the Alert resolves) by itself once they exist.

Pull-back polls on its own schedule rather than in the flow's poll: telling this flow's sales
orders from another flow's (two stores may send to one Zoho organisation) needs the flow, and its
interval is the merchant's, in hours. The store is reached through the registry (integrations.zoho
.store), never by importing another integration.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from celery import shared_task
from django.db import IntegrityError, transaction
from django.utils import timezone

from connector.adapters import Change
from connector.canonical import Shipment, to_payload
from connector.dispatch import enqueue_sync
from connector.engine import record_change
from connector.models import Flow, Link, Record, raise_alert, resolve_alerts
from integrations.zoho import rules
from integrations.zoho.client import ZohoBooksClient
from integrations.zoho.salesorders import TRACKING, is_void
from integrations.zoho.store import TrackingInfo  # noqa: F401 (what the store is told; tests name it here)
from integrations.zoho.tracking import (
    TRACKING_FIELDS,
    has_tracking,
    normal_name,
    order_event,
    order_of,
    order_record_for,
    shipment_of,
)

logger = logging.getLogger(__name__)

FIELD_LABELS = {"tracking_number": "Tracking Number", "carrier": "Carrier", "shipping_method": "Shipping Method"}
DEFAULT_INTERVAL_HOURS = 3.0
DEFAULT_LOOKBACK_HOURS = 4.0
MIN_MARGIN = timedelta(minutes=30)
CANCELED_LINK = "zoho_canceled_seen"
STATE_LINK = "pullback_state"


# --- Options ------------------------------------------------------------------------------------


def pullback_window(options: dict) -> tuple[timedelta, timedelta]:
    """(interval, look-back) from the flow options; the look-back always exceeds the interval."""
    interval = timedelta(hours=float(options.get("pullback_interval_hours") or DEFAULT_INTERVAL_HOURS))
    lookback = timedelta(hours=float(options.get("pullback_lookback_hours") or DEFAULT_LOOKBACK_HOURS))
    interval = max(interval, timedelta(minutes=15))
    return interval, max(lookback, interval + MIN_MARGIN)


def is_sales_order_flow(flow: Flow) -> bool:
    return flow.target.system == "zoho" and (flow.options or {}).get("document") == "sales_order"


# --- Custom fields ------------------------------------------------------------------------------


def missing_fields(definitions: list[dict]) -> list[str]:
    present = set()
    for definition in definitions:
        if definition.get("is_active", True) is False:
            continue
        for key in ("api_name", "placeholder", "label"):
            present.add(normal_name(definition.get(key)))
    return [name for name in TRACKING_FIELDS if name not in present]


def fields_alert_key(flow: Flow) -> str:
    return f"zoho-so-fields:{flow.pk}"


def check_tracking_fields(flow: Flow, client: ZohoBooksClient) -> list[str]:
    """The missing custom fields ([] when all three exist); raises or resolves the flow's Alert."""
    definitions = client.call("GET", "settings/fields", params={"entity": "salesorder"}).get("fields") or []
    missing = missing_fields(definitions)
    if not missing:
        resolve_alerts(flow.organization, fields_alert_key(flow))
        return []
    steps = "; ".join(f"label '{FIELD_LABELS[name]}' (API name cf_{name}), data type Text" for name in missing)
    raise_alert(
        flow.organization,
        fields_alert_key(flow),
        f"Shipment pull-back is paused: the Zoho Books organisation has no sales-order custom field "
        f"{', '.join(missing)}.",
        remediation=f"In Zoho Books open Settings → Preferences → Sales Orders → Custom Fields → New Custom Field "
        f"and create: {steps}. Pull-back resumes by itself at its next run.",
        level="error",
        flow=flow,
        connection=flow.target,
    )
    return missing


# --- Pull-back ----------------------------------------------------------------------------------


def _notice_void(flow: Flow, record: Record, salesorder: dict) -> bool:
    """A "canceled in Zoho" event on the order record and its rules, once per sales order."""
    salesorder_id = str(salesorder["salesorder_id"])
    try:
        with transaction.atomic():
            Link.objects.create(
                organization_id=flow.organization_id,
                connection=flow.target,
                object_type=CANCELED_LINK,
                canonical_key=salesorder_id,
                external_id=salesorder_id,
            )
    except IntegrityError:
        return False  # already noticed
    order_event(
        record,
        "skipped",
        f"Canceled in Zoho: sales order {salesorder.get('salesorder_number', salesorder_id)} was voided in Zoho Books.",
        {"stage": "canceled", "canceled_in_zoho": True, "salesorder_id": salesorder_id},
    )
    if record.payload or record.source_payload:
        rules.run(
            rules.CANCELED_IN_ZOHO,
            rules.Context(order=order_of(record), store=flow.source.system),
            flow.options.get("rules") or [],
            record=record,
        )
    return True


def _queue(flow: Flow, order: Record, shipment: Shipment, salesorder: dict, enqueue: Callable[[int], object]) -> str:
    """The sales order's tracking record, pending and queued; "already" when that tracking is known."""
    payload = to_payload(shipment)
    known = Record.objects.filter(flow=flow, object_type=TRACKING, source_id=shipment.source_id)
    if known.filter(source_payload=payload).exists():
        return "already"  # sent, on its way, or failed for good and waiting for Replay
    words = (order.source_ref, shipment.tracking_number, salesorder.get("salesorder_number", ""))
    change = Change(
        object_type=TRACKING,
        source_id=shipment.source_id,
        ref=order.source_ref,
        obj=shipment,
        search_text=" ".join(str(w) for w in words if w),
    )
    record = record_change(flow, change, how="pull-back")
    if record is None:
        return "already"
    enqueue(record.pk)
    return "queued"


def _handle(flow: Flow, salesorder: dict, client: ZohoBooksClient, enqueue, summary: dict) -> None:
    order = order_record_for(flow, str(salesorder.get("salesorder_id", "")))
    if order is None:
        summary["not_ours"] += 1
        return
    if is_void(salesorder):
        summary["canceled"] += int(_notice_void(flow, order, salesorder))
        return
    if "custom_fields" not in salesorder:  # a list row without them: read the whole sales order
        salesorder = client.get_sales_order(str(salesorder["salesorder_id"]))
    shipment = shipment_of(salesorder)
    if not has_tracking(shipment):
        summary["waiting"] += 1
        return
    summary[_queue(flow, order, shipment, salesorder, enqueue)] += 1


def pull_back(
    flow: Flow,
    *,
    now: datetime | None = None,
    client: ZohoBooksClient | None = None,
    enqueue: Callable[[int], object] | None = None,
) -> dict:
    """One pull-back run of a sales-order flow: counts of what it found and queued for the engine
    (or {"paused": [missing fields]})."""
    now = now or timezone.now()
    client = client or ZohoBooksClient(flow.target)
    enqueue = enqueue or enqueue_sync
    missing = check_tracking_fields(flow, client)
    if missing:
        return {"paused": missing}
    _, lookback = pullback_window(flow.options or {})
    summary = {"queued": 0, "already": 0, "waiting": 0, "canceled": 0, "not_ours": 0}
    for salesorder in client.sales_orders_modified_since(now - lookback):
        _handle(flow, salesorder, client, enqueue, summary)
    _save_state(flow, now, summary)
    return summary


def _save_state(flow: Flow, now: datetime, summary: dict) -> None:
    Link.objects.update_or_create(
        organization_id=flow.organization_id,
        connection=flow.target,
        object_type=STATE_LINK,
        canonical_key=f"flow:{flow.pk}",
        defaults={"external_id": f"flow:{flow.pk}", "data": {"last_run_at": now.isoformat(), "summary": summary}},
    )


def last_run_at(flow: Flow) -> datetime | None:
    data = (
        Link.objects.filter(connection=flow.target, object_type=STATE_LINK, canonical_key=f"flow:{flow.pk}")
        .values_list("data", flat=True)
        .first()
    )
    return datetime.fromisoformat(data["last_run_at"]) if data and data.get("last_run_at") else None


def due(flow: Flow, now: datetime) -> bool:
    interval, _ = pullback_window(flow.options or {})
    last = last_run_at(flow)
    return last is None or now - last >= interval


# --- Celery -------------------------------------------------------------------------------------


@shared_task(name="integrations.zoho.pullback.pull_back_flow", ignore_result=True, acks_late=True)
def pull_back_flow(flow_id: int) -> dict | None:
    """One flow's pull-back, under a Redis lock so two workers never run it at once."""
    from connector.redis import get_redis

    flow = Flow.objects.select_related("source", "target", "organization").filter(pk=flow_id, enabled=True).first()
    if flow is None or not is_sales_order_flow(flow):
        return None
    lock = get_redis().lock(f"zoho:pullback:{flow_id}", timeout=3600, blocking=False)
    if not lock.acquire(blocking=False):
        return {"locked": True}
    try:
        return pull_back(flow)
    finally:
        try:
            lock.release()
        except Exception:  # expired: nothing to release
            logger.warning("pull-back lock expired", extra={"flow_id": flow_id})


@shared_task(name="integrations.zoho.pullback.pull_back_due_flows", ignore_result=True)
def pull_back_due_flows() -> int:
    """Beat entry (e.g. every 15 minutes): queue the sales-order flows whose interval has passed."""
    now = timezone.now()
    count = 0
    for flow in Flow.objects.filter(enabled=True, target__system="zoho").select_related("source", "target"):
        if is_sales_order_flow(flow) and due(flow, now):
            pull_back_flow.delay(flow.pk)
            count += 1
    return count
