"""WooCommerce as the source of a reconciliation: every order created in a period, in one paginated
pass (`after`/`before` on the creation date, GMT), as the ledger should hold it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from connector.reconcile import Period, SourceOrder, source_order
from integrations.woocommerce.client import WooCommerceClient
from integrations.woocommerce.mapping import map_order


def list_orders(connection, options: dict, period: Period) -> Iterator[SourceOrder]:
    client = WooCommerceClient.for_connection(connection)
    # `after`/`before` are exclusive: a second's margin at the start, the period decides what counts.
    for data in client.list_orders_created(period.since - timedelta(seconds=1), period.until):
        order = source_order(map_order(data))
        if period.contains(order.date):
            yield order
