"""ShipStation as the source of a reconciliation: every order dated in a period, in one paginated
pass (`orderDateStart`/`orderDateEnd`, ShipStation's Pacific time, a day's margin each side), as the
ledger should hold it; and every shipment shipped in a period, whose cost a flow books as a journal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from connector.reconcile import Period, SourceOrder, source_order, source_shipment
from integrations.shipstation import mapping, timeutil
from integrations.shipstation.adapter import shipment_record_id
from integrations.shipstation.connection import client_for, reauth_on_401


def list_orders(connection, options: dict, period: Period) -> Iterator[SourceOrder]:
    currency = options.get("currency") or (connection.settings or {}).get("currency") or "USD"
    filters = {
        "orderDateStart": timeutil.to_filter(period.since - timedelta(days=1)),
        "orderDateEnd": timeutil.to_filter_end(period.until + timedelta(days=1)),
        "sortBy": "OrderDate",
    }
    seen: set[str] = set()
    with reauth_on_401(connection):
        for data in client_for(connection).list_orders(**filters):
            order = source_order(mapping.order_from_shipstation(data, currency=currency))
            if order.source_id not in seen and period.contains(order.date):
                seen.add(order.source_id)
                yield order


def list_shipments(connection, options: dict, period: Period) -> Iterator[SourceOrder]:
    """Every shipment shipped in the period (`shipDateStart`/`shipDateEnd`, a day's margin each side),
    voided ones included (their journal must be reversed), in one paginated pass. A shipment without
    a cost books nothing, so it is not listed."""
    currency = options.get("currency") or (connection.settings or {}).get("currency") or "USD"
    seen: set[str] = set()
    with reauth_on_401(connection):
        shipments = client_for(connection).list_shipments(
            date_field="shipDate",
            since=period.since - timedelta(days=1),
            until=period.until + timedelta(days=1),
            include_items=False,
        )
        for data in shipments:
            shipment = mapping.shipment_from_shipstation(data, currency=currency)
            if shipment.total_cost <= 0 or shipment.source_id in seen:
                continue
            item = source_shipment(shipment, source_id=shipment_record_id(shipment.order_id, shipment.source_id))
            if period.contains(item.date):
                seen.add(shipment.source_id)
                yield item
