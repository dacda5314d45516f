"""WooCommerce as a source of orders and customers for flows (DESIGN §5).

Webhook bodies already hold the whole order/customer (WOO.md §1.3: the same JSON as the REST GET),
so a delivery maps straight to a Change with `modified_at` = `date_modified_gmt`: the engine keeps
the newest version and an older delivery arriving late never wins. Polls list orders with
`modified_after` (GMT) and catch whatever a webhook missed (WooCommerce never retries a delivery).

An order also yields its buyer as a customer Change (billing name, company, addresses, phone), so
the contact is created or updated from the latest order, guests included (issue 7). Registered
buyers share the record of their `customer.created` delivery (source id = customer id); guests are
keyed `guest:<email>`. The engine writes the contact only when those details changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

from connector.adapters import Change, SourceAdapter
from connector.http import Permanent

from .client import WooCommerceClient
from .mapping import MappingError, map_customer, map_order, parse_gmt

GUEST_PREFIX = "guest:"
ORDER_TOPICS = frozenset({"order.created", "order.updated"})
CUSTOMER_TOPICS = frozenset({"customer.created", "customer.updated"})


def order_change(data: dict) -> Change:
    order = _map(map_order, data)
    customer = order.customer
    search = " ".join(
        p for p in (order.number, customer.email if customer else "", customer.name if customer else "") if p
    )
    return Change(
        object_type="order",
        source_id=order.source_id,
        ref=order.number,
        modified_at=order.modified_at,
        obj=order,
        search_text=search.lower()[:500],
    )


def buyer_change(change: Change) -> Change | None:
    """The order's buyer as a customer Change, or None for an order without a billing email."""
    order = change.obj
    buyer = order.customer
    if buyer is None or not buyer.email:
        return None
    source_id = buyer.source_id or f"{GUEST_PREFIX}{buyer.email}"
    return Change(
        object_type="customer",
        source_id=source_id,
        ref=buyer.email,
        modified_at=change.modified_at,  # the order's version decides which buyer details are newest
        obj=replace(buyer, source_id=source_id),
        search_text=f"{buyer.email} {buyer.name}".strip().lower()[:500],
    )


def order_changes(data: dict) -> list[Change]:
    change = order_change(data)
    buyer = buyer_change(change)
    return [change, buyer] if buyer is not None else [change]


def customer_change(data: dict) -> Change:
    customer = _map(map_customer, data)
    return Change(
        object_type="customer",
        source_id=customer.source_id,
        ref=customer.email or customer.key,
        modified_at=customer.modified_at,
        obj=customer,
        search_text=f"{customer.email} {customer.name}".strip().lower()[:500],
    )


def _map(func, data):
    try:
        return func(data)
    except MappingError as exc:
        raise Permanent(
            f"WooCommerce sent data we cannot read: {exc}",
            remediation="Check the order in WooCommerce; press Replay once it is fixed.",
        ) from exc


class WooCommerceSource(SourceAdapter):
    system = "woocommerce"
    source_types = ("order", "customer")

    def client(self) -> WooCommerceClient:
        return WooCommerceClient.for_connection(self.connection, on_call=self.on_call)

    def changes_since(self, object_type: str, since: datetime | None, until: datetime) -> Iterator[Change]:
        if object_type == "order":
            for data in self.client().list_orders(modified_after=since, modified_before=until):
                yield from order_changes(data)
        elif object_type == "customer":
            # The customers endpoint has no modified filter (_customers.md): filter on our side.
            for data in self.client().list_customers():
                modified = parse_gmt(data.get("date_modified_gmt"))
                if since is None or modified is None or since <= modified <= until:
                    yield customer_change(data)
        else:
            raise ValueError(f"WooCommerce is not a source of {object_type!r}")

    def fetch(self, object_type: str, source_id: str):
        if object_type == "order":
            return map_order(self.client().get_order(source_id))
        if object_type == "customer":
            if source_id.startswith(GUEST_PREFIX):
                # Guests exist only inside their orders: the engine replays the stored buyer details.
                raise Permanent(f"WooCommerce has no customer record for the guest {source_id[len(GUEST_PREFIX) :]}.")
            return map_customer(self.client().get_customer(source_id))
        raise ValueError(f"WooCommerce is not a source of {object_type!r}")

    def changes_from_delivery(self, delivery) -> list[Change]:
        topic = delivery.topic or ""
        if topic not in ORDER_TOPICS | CUSTOMER_TOPICS:
            return []  # stored and ignored
        try:
            data = json.loads(bytes(delivery.body))
        except ValueError as exc:
            raise Permanent("The webhook body is not JSON.") from exc
        if topic in ORDER_TOPICS:
            return order_changes(data)
        return [customer_change(data)]
