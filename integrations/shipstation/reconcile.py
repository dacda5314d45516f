"""ShipStation as the source of a reconciliation: every order dated in a period, in one paginated
pass (`orderDateStart`/`orderDateEnd`, ShipStation's Pacific time, a day's margin each side), as the
ledger should hold it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from connector.reconcile import Period, SourceOrder, source_order
from integrations.shipstation import mapping, timeutil
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
