"""WooCommerce as a source of orders and customers for flows (DESIGN §5).

Webhook bodies already hold the whole order/customer (WOO.md §1.3: the same JSON as the REST GET),
so a delivery maps straight to a Change with `modified_at` = `date_modified_gmt`: the engine keeps
the newest version and an older delivery arriving late never wins. Polls list orders with
`modified_after` (GMT) and catch whatever a webhook missed (WooCommerce never retries a delivery).

An order also yields its buyer as a customer Change (billing name, company, addresses, phone), so
the contact is created or updated from the latest order, guests included. Registered
buyers share the record of their `customer.created` delivery (source id = customer id); guests are
keyed `guest:<email>`. The engine writes the contact only when those details changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from connector.adapters import (
    NO_CONTEXT,
    Change,
    DocumentSummary,
    NotSupported,
    SourceAdapter,
    TargetAdapter,
    Tracking,
    WriteContext,
    WriteResult,
)
from connector.canonical import StockLevel
from connector.http import ApiError, Permanent

from .client import BATCH_SIZE, WooCommerceClient
from .mapping import MappingError, map_customer, map_order, parse_gmt

GUEST_PREFIX = "guest:"
ORDER_TOPICS = frozenset({"order.created", "order.updated"})
CUSTOMER_TOPICS = frozenset({"customer.created", "customer.updated"})
# Core order statuses (_orders.md "Order properties": status); stores may add their own, which the
# store itself then accepts or refuses.
ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")


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
            raise Permanent(f"WooCommerce is not a source of {object_type!r}")

    def fetch(self, object_type: str, source_id: str):
        if object_type == "order":
            return map_order(self.client().get_order(source_id))
        if object_type == "customer":
            if source_id.startswith(GUEST_PREFIX):
                # Guests exist only inside their orders: the engine replays the stored buyer details.
                raise Permanent(f"WooCommerce has no customer record for the guest {source_id[len(GUEST_PREFIX) :]}.")
            return map_customer(self.client().get_customer(source_id))
        raise Permanent(f"WooCommerce is not a source of {object_type!r}")

    # Instructions back to the store (connector.adapters; Zoho pull-back and order rules) ----------

    def mark_shipped(self, tracking: Tracking) -> dict:
        """Tracking on the store's Shipment Tracking endpoint when it has one (so the "completed"
        email carries the link), then status "completed" and a customer-visible note with carrier
        and tracking number. Each step is skipped when the order already has it, so a retry after
        a failure part-way repeats nothing."""
        client = self.client()
        done: dict = {"tracking_endpoint": self._post_tracking(client, tracking)}
        order = client.get_order(tracking.order_id)
        if order.get("status") != "completed":
            client.update_order_status(tracking.order_id, "completed")
            done["status"] = "completed"
        done["note"] = self._note(client, tracking.order_id, tracking.note(), customer_visible=True)
        return done

    def _post_tracking(self, client: WooCommerceClient, tracking: Tracking) -> str:
        providers = client.shipment_tracking_providers()
        if providers is None:
            return "not offered"
        if any(
            t.get("tracking_number") == tracking.tracking_number
            for t in client.list_shipment_trackings(tracking.order_id)
        ):
            return "already"
        body: dict = {"tracking_number": tracking.tracking_number}
        if tracking.ship_date:
            body["date_shipped"] = tracking.ship_date.isoformat()
        known = {name.lower(): name for group in providers.values() if isinstance(group, dict) for name in group}
        provider = known.get(tracking.carrier.strip().lower())
        if provider is None:
            # A custom provider needs the carrier's tracking link, which Zoho does not give us:
            # the note still tells the customer.
            return f"skipped: {tracking.carrier!r} is not one of the store's Shipment Tracking providers"
        created = client.create_shipment_tracking(tracking.order_id, {**body, "tracking_provider": provider})
        return f"created {created.get('tracking_id', '')}".strip()

    def set_order_status(self, order_id: str, status: str) -> dict:
        if status not in ORDER_STATUSES:
            raise NotSupported(
                f"{status!r} is not a WooCommerce order status ({', '.join(ORDER_STATUSES)}).",
                remediation="Use one of these statuses in the rule.",
            )
        client = self.client()
        if client.get_order(order_id).get("status") == status:
            return {"unchanged": True}
        client.update_order_status(order_id, status)
        return {"status": status}

    def add_order_note(self, order_id: str, text: str, customer_visible: bool = False) -> dict:
        return {"note": self._note(self.client(), order_id, text, customer_visible=customer_visible)}

    @staticmethod
    def _note(client: WooCommerceClient, order_id: str, text: str, *, customer_visible: bool) -> str:
        text = text.strip()
        if not text:
            return "empty"
        if any(n.get("note") == text for n in client.list_order_notes(order_id)):
            return "already"
        client.add_order_note(order_id, text, customer_note=customer_visible)
        return "added"

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


# --- Stock levels: the store as a target (e.g. QuickBooks Desktop's QuantityOnHand pushed back) ------

STOCK_LEVEL = "stock_level"


class WooCommerceTarget(TargetAdapter):
    """Stock levels into the store's products, by SKU (`stock_quantity`, _products.md).

    WooCommerce holds whole units (`stock_quantity` integer; negative means backordered) and only for
    products whose "Manage stock" is on: it silently drops a quantity sent to any other, so those are
    skipped and said so, never switched on behind the merchant's back. Products are read in lists of
    SKUs and written with `products/batch` (100 a call); variations are not products and are not found.
    """

    system = "woocommerce"
    target_types = (STOCK_LEVEL,)

    @classmethod
    def unavailable(cls, connection, target_type: str) -> ApiError | None:
        """A connection without the store's key (never finished connecting) cannot take stock levels.
        Asked through `connector.registry.target_unavailable` by other systems' flows."""
        creds = connection.credentials or {}
        if target_type == STOCK_LEVEL and not (
            creds.get("consumer_key") and (connection.settings or {}).get("store_url")
        ):
            return Permanent(
                f"WooCommerce connection {connection.label} has no API key to set stock with.",
                remediation="Connect the store again on the Connections page (approve read/write access).",
            )
        return None

    def client(self) -> WooCommerceClient:
        return WooCommerceClient.for_connection(self.connection, on_call=self.on_call)

    def describe_result(self, object_type: str, obj: Any, result: WriteResult) -> DocumentSummary:
        summary = super().describe_result(object_type, obj, result)
        data = result.data or {}
        moved = f"{data['from']} → {data['to']} in stock" if "from" in data and "to" in data else ""
        return DocumentSummary("stock_level", "Stock level", summary.number, status=moved or summary.status)

    def find(self, object_type: str, obj: Any, *, context: WriteContext = NO_CONTEXT) -> str | None:
        """The SKU when the store has a product with it (a stock level's target id is its SKU)."""
        level = _stock_level(object_type, obj)
        return level.sku if self.client().get_product_by_sku(level.sku) else None

    def upsert(
        self, object_type: str, obj: Any, *, target_id: str | None, context: WriteContext = NO_CONTEXT
    ) -> WriteResult:
        """One level, as a record of its own: a SKU the store cannot hold a quantity for is an error the
        merchant sees (a batch push reports it as skipped instead)."""
        ((level, outcome),) = self.write_stock_levels([_stock_level(object_type, obj)])
        if isinstance(outcome, ApiError):
            raise outcome
        if outcome.action == "skipped" and outcome.data.get("reason") in ("missing", "not_managed"):
            raise Permanent(
                f"WooCommerce stock for SKU {level.sku} not set: {outcome.data['why']}.",
                remediation="Add the SKU to a product with “Manage stock” on in WooCommerce, then press Replay.",
            )
        return outcome

    def cancel(self, object_type: str, obj: Any, *, target_id: str, context: WriteContext = NO_CONTEXT) -> WriteResult:
        raise NotSupported(
            "A WooCommerce stock level cannot be cancelled; it is set to the source's quantity.",
            remediation="Correct the quantity at the source; the next sync sets it in WooCommerce.",
        )

    def write_stock_levels(
        self, levels: list[StockLevel], *, reason: str = "Connector", notes: str = ""
    ) -> Iterator[tuple[StockLevel, WriteResult | ApiError]]:
        """Set each SKU's `stock_quantity` to `level.on_hand`. Yields each SKU's outcome as it is known:
        "unchanged" (from/to), "skipped" (data["reason"] "fraction", "missing" or "not_managed", with
        data["why"] in words), "updated" (from/to/quantity), or the store's refusal of that one product
        (a Permanent). A failed call (5xx, 401, 429) is raised and ends the batch."""
        client = self.client()
        products = {str(p.get("sku") or ""): p for p in client.list_products_by_sku([lv.sku for lv in levels])}
        changes: list[tuple[StockLevel, dict, int]] = []
        for level in levels:
            product = products.get(level.sku)
            outcome = _stock_outcome(level, product)
            if outcome is not None:
                yield level, outcome
            else:
                changes.append((level, product, int(level.on_hand)))
        for start in range(0, len(changes), BATCH_SIZE):
            batch = changes[start : start + BATCH_SIZE]
            answers = client.batch_update_products([{"id": p["id"], "stock_quantity": q} for _lv, p, q in batch])
            by_id = {str(a.get("id")): a for a in answers if isinstance(a, dict)}
            for level, product, quantity in batch:
                yield level, _batch_outcome(level, product, quantity, by_id.get(str(product["id"])))


def _stock_level(object_type: str, obj: Any) -> StockLevel:
    if object_type != STOCK_LEVEL or not isinstance(obj, StockLevel):
        raise Permanent(f"WooCommerce cannot be a target for {object_type!r} records.")
    return obj


def _stock_outcome(level: StockLevel, product: dict | None) -> WriteResult | None:
    """What needs no write (pure); None when the product's quantity must be set."""
    if level.on_hand != level.on_hand.to_integral_value():
        why = f"WooCommerce holds whole units, and the quantity is {level.on_hand}"
        return WriteResult(level.sku, "skipped", data={"reason": "fraction", "why": why})
    if product is None:
        return WriteResult(
            level.sku, "skipped", data={"reason": "missing", "why": "no WooCommerce product has this SKU"}
        )
    if not product.get("manage_stock"):
        why = "its “Manage stock” is off in WooCommerce, so the store keeps no quantity for it"
        return WriteResult(level.sku, "skipped", data={"reason": "not_managed", "why": why})
    before = product.get("stock_quantity")
    if before is not None and int(before) == int(level.on_hand):
        return WriteResult(level.sku, "unchanged", data={"from": int(before), "to": int(level.on_hand)})
    return None


def _batch_outcome(level: StockLevel, product: dict, quantity: int, answer: dict | None) -> WriteResult | ApiError:
    if answer is None or answer.get("error"):
        error = (answer or {}).get("error") or {}
        message = error.get("message") or "no answer for this product"
        return Permanent(
            f"WooCommerce refused stock {quantity} for SKU {level.sku}: {message}",
            vendor_code=error.get("code"),
            remediation="Check the product in WooCommerce; the quantity is pushed again after the next check.",
        )
    data = {"from": product.get("stock_quantity"), "to": quantity, "location": "", "quantity": quantity}
    return WriteResult(level.sku, "updated", data=data)
