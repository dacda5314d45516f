"""Shipment pull-back from Zoho Books sales orders to the store.

On a schedule (every `pullback_interval_hours`, default 3) `pull_back(flow)` lists the sales orders
modified within the look-back window (`pullback_lookback_hours`, default 4, always at least the
interval plus 30 minutes so no edit falls between two runs) and reads their custom fields
`tracking_number`, `carrier` and `shipping_method`. When tracking number and carrier are filled, the
shipment goes to the store once:

- exactly once: a Link on the store connection (object type "store_shipment", key = sales order id)
  is claimed before the store call and marked sent after it; a claim left "sending" by a crash, or
  "failed" by a store error, is retried by later runs (re-read from Zoho by id, so it does not depend
  on the window); a store that answers "already shipped" counts as sent;
- the order's Record gets an Event (stage "shipped"), and the "shipped" order rules fire;
- a sales order voided in Zoho gets a "canceled in Zoho" Event once and fires its rules.

Before each run the three custom fields must exist on sales orders in the Zoho organisation
(`GET /settings/fields?entity=salesorder`, not in the saved OAS; its shape is what third-party code
calling the live API reads). When one is missing, pull-back is paused with an Alert telling exactly
what to create; it resumes (and the Alert resolves) by itself once they exist.

The store side (integrations.zoho.store) is reached through the registry, never by importing another
integration: the store's source adapter implements the optional methods of connector.adapters.SourceAdapter
(`mark_shipped(tracking)`, `set_order_status(order_id, status)`, `add_order_note(order_id, text,
customer_visible)`): ShipStation marks the order shipped (`orders/markasshipped`); WooCommerce posts
the tracking to the store's Shipment Tracking endpoint when it has one, sets the order "completed"
and adds a customer-visible note. A store without them fails the shipment visibly (NotSupported).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from celery import shared_task
from django.db import IntegrityError, transaction
from django.utils import timezone

from connector.http import ApiError
from connector.models import Event, Flow, Link, Record, raise_alert, resolve_alerts
from connector.retry import RetryPolicy
from integrations.zoho import rules
from integrations.zoho import store as store_module
from integrations.zoho.client import ZohoBooksClient
from integrations.zoho.salesorders import LINK as SALES_ORDER_LINK
from integrations.zoho.salesorders import SHIPMENT_LINK, is_void
from integrations.zoho.store import StoreSide, TrackingInfo

logger = logging.getLogger(__name__)

TRACKING_FIELDS = ("tracking_number", "carrier", "shipping_method")
FIELD_LABELS = {"tracking_number": "Tracking Number", "carrier": "Carrier", "shipping_method": "Shipping Method"}
DEFAULT_INTERVAL_HOURS = 3.0
DEFAULT_LOOKBACK_HOURS = 4.0
MIN_MARGIN = timedelta(minutes=30)
CANCELED_LINK = "zoho_canceled_seen"
STATE_LINK = "pullback_state"
# A store call that failed is tried again by later runs once its jittered wait has passed (up to an
# hour after the first failure, two after the second ...), five calls in all.
STORE_RETRY = RetryPolicy(max_attempts=5, base=3600.0, cap=24 * 3600.0)
MAX_STORE_ATTEMPTS = STORE_RETRY.max_attempts
STALE_CLAIM = timedelta(minutes=30)


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


def _normal(text: Any) -> str:
    return str(text or "").strip().lower().removeprefix("cf_").replace(" ", "_")


def field_values(salesorder: dict) -> dict[str, str]:
    """tracking_number / carrier / shipping_method of a sales order (by api name or label)."""
    values = {}
    for entry in salesorder.get("custom_fields") or []:
        for key in ("api_name", "placeholder", "label"):
            name = _normal(entry.get(key))
            if name in TRACKING_FIELDS and name not in values:
                values[name] = str(entry.get("value") or "").strip()
    return values


def missing_fields(definitions: list[dict]) -> list[str]:
    present = set()
    for definition in definitions:
        if definition.get("is_active", True) is False:
            continue
        for key in ("api_name", "placeholder", "label"):
            present.add(_normal(definition.get(key)))
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


def _record_for(flow: Flow, salesorder: dict) -> Record | None:
    salesorder_id = str(salesorder.get("salesorder_id", ""))
    records = Record.objects.filter(flow=flow, object_type="order")
    found = records.filter(target_id=salesorder_id).first()
    if found is None:
        number = (
            Link.objects.filter(connection=flow.target, object_type=SALES_ORDER_LINK, external_id=salesorder_id)
            .values_list("canonical_key", flat=True)
            .first()
        )
        found = records.filter(source_ref=number).first() if number else None
    return found


def _event(record: Record, kind: str, message: str, data: dict) -> None:
    Event.objects.create(organization_id=record.organization_id, record=record, kind=kind, message=message, data=data)
    if data.get("stage") and kind != "failed":
        # The order's stage in the audit log (submitted → shipped / canceled), filterable.
        Record.objects.filter(pk=record.pk).update(stage=data["stage"])


def _claim(flow: Flow, salesorder_id: str, info: TrackingInfo, now: datetime) -> Link | None:
    """The shipment's Link, claimed for sending; None when it was already sent or another run holds it."""
    links = Link.objects.filter(connection=flow.source, object_type=SHIPMENT_LINK)
    data = {
        "state": "sending",
        "tracking_number": info.tracking_number,
        "carrier": info.carrier,
        "claimed_at": now.isoformat(),
        "attempts": 0,
    }
    try:
        with transaction.atomic():
            return Link.objects.create(
                organization_id=flow.organization_id,
                connection=flow.source,
                object_type=SHIPMENT_LINK,
                canonical_key=salesorder_id,
                external_id=salesorder_id,
                data=data,
            )
    except IntegrityError:
        pass
    with transaction.atomic():
        link = links.select_for_update().filter(canonical_key=salesorder_id).first()
        if link is None or link.data.get("state") == "sent":
            return None
        claimed = datetime.fromisoformat(link.data.get("claimed_at") or now.isoformat())
        if link.data.get("state") == "sending" and now - claimed < STALE_CLAIM:
            return None  # another run is sending it right now
        if not _due(link.data, now):
            return None
        link.data = {**link.data, **{k: v for k, v in data.items() if k != "attempts"}, "state": "sending"}
        link.save(update_fields=["data", "updated_at"])
        return link


def _due(data: dict, now: datetime) -> bool:
    """May a shipment Link be claimed now? Not after its last try, nor before a failure's retry_at."""
    if not STORE_RETRY.retries_left(int(data.get("attempts", 0))):
        return False
    retry_at = data.get("retry_at") if data.get("state") == "failed" else None
    return not retry_at or datetime.fromisoformat(retry_at) <= now


def _send(flow: Flow, record: Record, info: TrackingInfo, store: StoreSide, now: datetime) -> str:
    link = _claim(flow, info.salesorder_id, info, now)
    if link is None:
        return "already"
    try:
        answer = store.mark_shipped(flow.source, info)
    except ApiError as exc:
        attempts = int(link.data.get("attempts", 0)) + 1
        retry_at = now + timedelta(seconds=STORE_RETRY.delay(attempts))
        Link.objects.filter(pk=link.pk).update(
            data={
                **link.data,
                "state": "failed",
                "attempts": attempts,
                "retry_at": retry_at.isoformat(),
                "error": str(exc)[:500],
            }
        )
        _event(
            record,
            "failed",
            f"Tracking {info.tracking_number} could not be sent to {flow.source.label}: {exc}",
            {
                "stage": "shipped",
                "error": type(exc).__name__,
                "attempt": attempts,
                "retrying": attempts < MAX_STORE_ATTEMPTS,
            },
        )
        if attempts >= MAX_STORE_ATTEMPTS:
            raise_alert(
                flow.organization,
                f"pullback:{record.pk}",
                f"Order {info.order_number}: tracking {info.tracking_number} could not be sent to {flow.source.label}.",
                remediation=exc.remediation or f"Mark the order shipped in {flow.source.label} by hand.",
                record=record,
                flow=flow,
            )
        return "failed"
    Link.objects.filter(pk=link.pk).update(
        data={**link.data, "state": "sent", "sent_at": now.isoformat(), "answer": answer or {}}
    )
    _event(
        record,
        "updated",
        f"Shipped: {info.carrier} {info.tracking_number} sent to {flow.source.label}.",
        {
            "stage": "shipped",
            "carrier": info.carrier,
            "tracking_number": info.tracking_number,
            "shipping_method": info.shipping_method,
        },
    )
    rules.run(
        rules.SHIPPED,
        rules.Context(
            order=_order_of(record),
            store=flow.source.system,
            shipment={"carrier": info.carrier, "tracking_number": info.tracking_number},
        ),
        flow.options.get("rules") or [],
        record=record,
        store_side=store,
    )
    return "sent"


def _order_of(record: Record):
    from connector.canonical import Order, from_payload

    return from_payload(Order, record.payload or record.source_payload or {})


def _notice_void(flow: Flow, record: Record, salesorder: dict) -> bool:
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
    _event(
        record,
        "skipped",
        f"Canceled in Zoho: sales order {salesorder.get('salesorder_number', salesorder_id)} was voided in Zoho Books.",
        {"stage": "canceled", "canceled_in_zoho": True, "salesorder_id": salesorder_id},
    )
    if record.payload or record.source_payload:
        rules.run(
            rules.CANCELED_IN_ZOHO,
            rules.Context(order=_order_of(record), store=flow.source.system),
            flow.options.get("rules") or [],
            record=record,
        )
    return True


def _ship_date(salesorder: dict) -> date | None:
    stamp = str(salesorder.get("last_modified_time") or "")
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC).date()
    except ValueError:
        return None


def _handle(
    flow: Flow, salesorder: dict, client: ZohoBooksClient, store: StoreSide, now: datetime, summary: dict
) -> None:
    record = _record_for(flow, salesorder)
    if record is None:
        summary["not_ours"] += 1
        return
    if is_void(salesorder):
        summary["canceled"] += int(_notice_void(flow, record, salesorder))
        return
    if "custom_fields" not in salesorder:  # a list row without them: read the whole sales order
        salesorder = client.get_sales_order(str(salesorder["salesorder_id"]))
    values = field_values(salesorder)
    if not values.get("tracking_number") or not values.get("carrier"):
        summary["waiting"] += 1
        return
    info = TrackingInfo(
        order_number=record.source_ref,
        order_id=record.source_id,
        salesorder_id=str(salesorder["salesorder_id"]),
        tracking_number=values["tracking_number"],
        carrier=values["carrier"],
        shipping_method=values.get("shipping_method", ""),
        ship_date=_ship_date(salesorder),
    )
    summary[_send(flow, record, info, store, now)] += 1


def pull_back(
    flow: Flow, *, now: datetime | None = None, store: StoreSide | None = None, client: ZohoBooksClient | None = None
) -> dict:
    """One pull-back run of a sales-order flow; returns counts (or {"paused": [missing fields]})."""
    now = now or timezone.now()
    store = store or store_module.store_side_for(flow)
    client = client or ZohoBooksClient(flow.target)
    missing = check_tracking_fields(flow, client)
    if missing:
        return {"paused": missing}
    _, lookback = pullback_window(flow.options or {})
    summary = {"sent": 0, "already": 0, "failed": 0, "waiting": 0, "canceled": 0, "not_ours": 0, "retried": 0}
    seen = set()
    for salesorder in client.sales_orders_modified_since(now - lookback):
        seen.add(str(salesorder.get("salesorder_id")))
        _handle(flow, salesorder, client, store, now, summary)
    # Claims a store refused (or a crash left "sending"), outside the window by now: retry by id.
    retry = Link.objects.filter(connection=flow.source, object_type=SHIPMENT_LINK).exclude(canonical_key__in=seen)
    for link in retry.exclude(data__state="sent"):
        if not _due(link.data, now):
            continue
        summary["retried"] += 1
        _handle(flow, client.get_sales_order(link.canonical_key), client, store, now, summary)
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
