"""What ShipStation offers flows (DESIGN §5): a source of orders, shipments and customers, and a
target for fulfilment orders (canonical Order -> `createorder`, upsert by `orderKey`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from connector.adapters import Change, SourceAdapter, TargetAdapter, WriteResult
from connector.canonical import Order, OrderStatus
from connector.http import Permanent, RefusedURL
from connector.models import Event
from integrations.shipstation import mapping
from integrations.shipstation.client import ShipStationClient
from integrations.shipstation.connection import client_for, reauth_on_401
from integrations.shipstation.webhooks import parse_pointer

ORDER_EVENTS = ("ORDER_NOTIFY", "ITEM_ORDER_NOTIFY")
SHIP_EVENTS = ("SHIP_NOTIFY", "ITEM_SHIP_NOTIFY")


def shipment_record_id(order_id: Any, shipment_id: Any) -> str:
    """V1 has no GET /shipments/{id}; the record id carries the order id so `fetch` can find it."""
    return f"{order_id}:{shipment_id}"


class _ShipStationAdapter:
    system = "shipstation"

    @property
    def client(self) -> ShipStationClient:
        if getattr(self, "_client", None) is None:
            self._client = client_for(self.connection, on_call=self.on_call)
        return self._client

    @property
    def currency(self) -> str:
        return self.options.get("currency") or self.connection.settings.get("currency") or "USD"


class ShipStationSource(_ShipStationAdapter, SourceAdapter):
    source_types = ("order", "shipment", "customer")

    # Changes --------------------------------------------------------------------------------

    def _order_change(self, data: dict) -> Change:
        order = mapping.order_from_shipstation(data, currency=self.currency)
        email = order.customer.email.lower() if order.customer else ""
        return Change(
            "order", order.source_id, order.number, order.modified_at, order, f"{order.number} {email}".strip()
        )

    def _shipment_change(self, data: dict) -> Change:
        shipment = mapping.shipment_from_shipstation(data, currency=self.currency)
        return Change(
            "shipment",
            shipment_record_id(shipment.order_id, shipment.source_id),
            shipment.order_number,
            shipment.void_date or shipment.created_at,
            shipment,
            f"{shipment.order_number} {shipment.tracking_number}".strip(),
        )

    def changes_since(self, object_type: str, since: datetime | None, until: datetime) -> Iterator[Change]:
        with reauth_on_401(self.connection):
            if object_type == "order":
                seen: set[str] = set()
                for data in self.client.list_orders(modified_since=since, modified_until=until):
                    if str(data.get("orderId")) not in seen:  # a row can move pages while we read
                        seen.add(str(data.get("orderId")))
                        yield self._order_change(data)
            elif object_type == "shipment":
                found: dict[str, Change] = {}
                for field in ("createDate", "voidDate"):  # voids fire no webhook: poll them
                    for data in self.client.list_shipments(date_field=field, since=since, until=until):
                        change = self._shipment_change(data)
                        found[change.source_id] = change  # the void pass wins
                yield from found.values()
            elif object_type == "customer":
                # No modifyDate filter on /customers: read newest first and stop at the cursor.
                for data in self.client.list_customers(sortBy="ModifyDate", sortDir="DESC"):
                    customer = mapping.customer_from_shipstation(data)
                    if since is not None and customer.modified_at and customer.modified_at < since:
                        return
                    if customer.modified_at and customer.modified_at > until:
                        continue
                    yield Change(
                        "customer", customer.source_id, customer.key, customer.modified_at, customer, customer.key
                    )
            else:
                raise Permanent(f"ShipStation is not a source of {object_type!r}")

    def fetch(self, object_type: str, source_id: str) -> Any:
        with reauth_on_401(self.connection):
            if object_type == "order":
                return mapping.order_from_shipstation(self.client.get_order(source_id), currency=self.currency)
            if object_type == "customer":
                return mapping.customer_from_shipstation(self.client.get_customer(source_id))
            if object_type == "shipment":
                order_id, _, shipment_id = source_id.partition(":")
                if not shipment_id:
                    raise Permanent(f"shipment record id {source_id!r} lacks its order id")
                for data in self.client.list_shipments(date_field="createDate", orderId=order_id):
                    if str(data.get("shipmentId")) == shipment_id:
                        return mapping.shipment_from_shipstation(data, currency=self.currency)
                raise Permanent(f"ShipStation has no shipment {shipment_id} on order {order_id}")
        raise Permanent(f"ShipStation is not a source of {object_type!r}")

    def changes_from_delivery(self, delivery) -> list[Change]:
        try:
            resource_type, resource_url = parse_pointer(bytes(delivery.body))
        except ValueError as exc:
            raise Permanent(f"malformed ShipStation webhook: {exc}") from None
        if resource_type in ORDER_EVENTS:
            build = self._order_change
        elif resource_type in SHIP_EVENTS:
            build = self._shipment_change
        else:
            raise Permanent(f"unsupported ShipStation resource_type {resource_type!r}")
        try:
            self.client.check_pointer(resource_url)
        except RefusedURL as exc:
            Event.objects.create(
                organization_id=self.connection.organization_id,
                connection=self.connection,
                kind=Event.Kind.FAILED,
                message=exc.message,
                data={"delivery_id": delivery.pk, "resource_type": resource_type, "refused_host": _host(resource_url)},
            )
            raise
        with reauth_on_401(self.connection):
            items = list(self.client.follow(resource_url))
        return [build(data) for data in items]


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc[:200]


class ShipStationTarget(_ShipStationAdapter, TargetAdapter):
    target_types = ("fulfilment_order",)

    def _check(self, object_type: str, obj: Any) -> Order:
        if object_type != "fulfilment_order" or not isinstance(obj, Order):
            raise Permanent(f"ShipStation cannot be a target for {object_type!r}")
        return obj

    def find(self, object_type: str, obj: Any) -> str | None:
        order = self._check(object_type, obj)
        key = order.key or order.number
        with reauth_on_401(self.connection):
            for data in self.client.list_orders(orderNumber=order.number):
                if data.get("orderKey") == key:
                    return str(data["orderId"])
        return None

    def upsert(self, object_type: str, obj: Any, *, target_id: str | None) -> WriteResult:
        order = self._check(object_type, obj)
        with reauth_on_401(self.connection):
            data = self.client.create_order(mapping.order_to_shipstation(order))
        return WriteResult(
            target_id=str(data["orderId"]),
            action="updated" if target_id else "created",
            data={"orderKey": data.get("orderKey"), "orderNumber": data.get("orderNumber")},
        )

    def cancel(self, object_type: str, obj: Any, *, target_id: str) -> WriteResult:
        order = self._check(object_type, obj)
        cancelled = dataclasses.replace(order, status=OrderStatus.CANCELLED)
        with reauth_on_401(self.connection):
            data = self.client.create_order(mapping.order_to_shipstation(cancelled))
        return WriteResult(target_id=str(data["orderId"]), action="voided", data={"status": data.get("orderStatus")})


__all__ = ["ShipStationSource", "ShipStationTarget", "shipment_record_id"]
