"""Tracking from Zoho Books sales orders back to the store: the "tracking" → "store_tracking" reverse
capability of the sales-order flows (DESIGN §5).

A sales order's custom fields `tracking_number`, `carrier` and `shipping_method` become a canonical
`Shipment` (`shipment_of`, pure): its source id is the sales order id, so each sales order's tracking
is one Record of the flow (object type "tracking") and reaches the store once. Pull-back
(pullback.py) finds them; the engine runs them like any other record (events, retries, Replay).

`StoreTracking` is the adapter that writes them: the flow's store is the target, reached through the
optional `mark_shipped` of the store's own source adapter (integrations.zoho.store, through the
registry; integrations never import each other). Exactly once: the engine's Link (store connection,
"store_tracking", "<order number>/<sales order id>") is written with the record's success, and
before a first send `find` looks for the order record's "Shipped:" event of this sales order, which
is written right after the store's answer, so a crash between the two is healed, not re-sent.
Tracking changed in Zoho after it was sent is not sent again.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from connector.adapters import NO_CONTEXT, DocumentSummary, TargetAdapter, WriteContext, WriteResult
from connector.canonical import Order, Shipment, from_payload
from connector.http import Permanent
from connector.models import Event, Flow, Link, Record
from integrations.zoho import rules
from integrations.zoho import store as store_module
from integrations.zoho.salesorders import LEGACY_SHIPMENT_LINK, STORE_TRACKING, is_void
from integrations.zoho.salesorders import LINK as SALES_ORDER_LINK
from integrations.zoho.store import TrackingInfo

TRACKING_FIELDS = ("tracking_number", "carrier", "shipping_method")


# --- Sales order → canonical shipment (pure) ----------------------------------------------------


def normal_name(text: Any) -> str:
    """A custom field's name as pull-back compares it: "CF_Tracking Number" → "tracking_number"."""
    return str(text or "").strip().lower().removeprefix("cf_").replace(" ", "_")


def field_values(salesorder: dict) -> dict[str, str]:
    """tracking_number / carrier / shipping_method of a sales order (by api name or label)."""
    values = {}
    for entry in salesorder.get("custom_fields") or []:
        for key in ("api_name", "placeholder", "label"):
            name = normal_name(entry.get(key))
            if name in TRACKING_FIELDS and name not in values:
                values[name] = str(entry.get("value") or "").strip()
    return values


def ship_date_of(salesorder: dict) -> date | None:
    """The day the tracking was filled in: the sales order's last modification (UTC)."""
    stamp = str(salesorder.get("last_modified_time") or "")
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC).date()
    except ValueError:
        return None


def shipment_of(salesorder: dict) -> Shipment:
    """The whole sales order (with its custom fields) as the shipment to tell the store about. The
    store's order id is not in Zoho: the writer takes it from the flow's order record."""
    values = field_values(salesorder)
    return Shipment(
        source_id=str(salesorder["salesorder_id"]),
        order_id="",
        order_number=str(salesorder.get("reference_number") or ""),
        ship_date=ship_date_of(salesorder),
        carrier=values.get("carrier", ""),
        service=values.get("shipping_method", ""),
        tracking_number=values.get("tracking_number", ""),
        voided=is_void(salesorder),
    )


def has_tracking(shipment: Shipment) -> bool:
    return bool(shipment.tracking_number and shipment.carrier)


# --- The flow's order record ----------------------------------------------------------------------


def order_record_for(flow: Flow, salesorder_id: str) -> Record | None:
    """The flow's order Record that became this sales order; None when another flow's order did."""
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


def order_of(record: Record) -> Order:
    return from_payload(Order, record.payload or record.source_payload or {})


def order_event(record: Record, kind: str, message: str, data: dict) -> None:
    """An Event on the order's own record; its stage (shipped / canceled) moves with it."""
    Event.objects.create(organization_id=record.organization_id, record=record, kind=kind, message=message, data=data)
    if data.get("stage"):
        Record.objects.filter(pk=record.pk).update(stage=data["stage"])


def told(order: Record, salesorder_id: str) -> bool:
    """Did the store already get this sales order's tracking? The order record's "Shipped:" event,
    or the shipment Link pull-back kept before it ran through the engine."""
    if Event.objects.filter(record=order, data__stage="shipped", data__salesorder_id=salesorder_id).exists():
        return True
    return Link.objects.filter(
        connection_id=order.flow.source_id,
        object_type=LEGACY_SHIPMENT_LINK,
        canonical_key=salesorder_id,
        data__state="sent",
    ).exists()


# --- Writing to the store -------------------------------------------------------------------------


class StoreTracking(TargetAdapter):
    """The flow's store as the target of "store_tracking": marks the order shipped with the tracking.
    Runs inside the engine only (`context.record` is the tracking record)."""

    target_types = (STORE_TRACKING,)

    def find(self, object_type: str, obj: Shipment, *, context: WriteContext = NO_CONTEXT) -> str | None:
        order = self._order(obj, context)
        return order.source_id if told(order, obj.source_id) else None

    def upsert(
        self, object_type: str, obj: Shipment, *, target_id: str | None, context: WriteContext = NO_CONTEXT
    ) -> WriteResult:
        order = self._order(obj, context)
        if target_id:
            return WriteResult(target_id, "unchanged", data={"reason": "The store already has this tracking."})
        info = self._info(obj, order)
        store = store_module.store_side_for(order.flow, on_call=self.on_call)
        answer = store.mark_shipped(self.connection, info) or {}
        self._tell_order(order, info, store)
        return WriteResult(
            order.source_id,
            "created",
            data={"order_number": info.order_number, "already": bool(answer.get("already"))},
        )

    def cancel(self, object_type: str, obj: Shipment, *, target_id: str, context: WriteContext = NO_CONTEXT):
        return WriteResult(
            target_id, "unchanged", data={"reason": "Voided in Zoho after the store got the tracking; it keeps it."}
        )

    def describe_result(self, object_type: str, obj: Shipment, result: WriteResult) -> DocumentSummary:
        return DocumentSummary(
            kind="tracking",
            label="Tracking",
            number=f"{obj.carrier} {obj.tracking_number}".strip(),
            status=f"sent to {self.connection.label}",
            extra=(f"order {result.data.get('order_number') or obj.order_number}",),
        )

    def _order(self, obj: Shipment, context: WriteContext) -> Record:
        if context.record is None:
            raise Permanent("Tracking is sent to the store only by its flow.")
        order = order_record_for(context.record.flow, obj.source_id)
        if order is None:
            raise Permanent(
                f"No order of this flow became Zoho sales order {obj.source_id} ({obj.order_number}).",
                remediation="Mark the order shipped in the store by hand.",
            )
        return order

    def _info(self, obj: Shipment, order: Record) -> TrackingInfo:
        if not has_tracking(obj):
            raise Permanent(
                f"Sales order {obj.order_number or obj.source_id} has no tracking number and carrier in Zoho Books.",
                remediation="Fill the sales order's Tracking Number and Carrier in Zoho Books, then press Replay.",
            )
        return TrackingInfo(
            order_id=order.source_id,
            order_number=order.source_ref,
            salesorder_id=obj.source_id,
            carrier=obj.carrier,
            tracking_number=obj.tracking_number,
            shipping_method=obj.service,
            ship_date=obj.ship_date,
        )

    def _tell_order(self, order: Record, info: TrackingInfo, store) -> None:
        """The "Shipped:" event and stage on the order record, and the flow's "shipped" rules."""
        order_event(
            order,
            "updated",
            f"Shipped: {info.carrier} {info.tracking_number} sent to {self.connection.label}.",
            {
                "stage": "shipped",
                "carrier": info.carrier,
                "tracking_number": info.tracking_number,
                "shipping_method": info.shipping_method,
                "salesorder_id": info.salesorder_id,
            },
        )
        flow = order.flow
        rules.run(
            rules.SHIPPED,
            rules.Context(
                order=order_of(order),
                store=flow.source.system,
                shipment={"carrier": info.carrier, "tracking_number": info.tracking_number},
            ),
            flow.options.get("rules") or [],
            record=order,
            store_side=store,
        )
