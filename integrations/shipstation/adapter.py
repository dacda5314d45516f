"""What ShipStation offers flows (DESIGN §5): a source of orders, shipments and customers, and a
target for fulfilment orders (canonical Order -> `createorder`, upsert by `orderKey`) and for stock
levels (canonical StockLevel -> V2 `POST /v2/inventory` adjust; needs the connection's V2 API key)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
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
from connector.canonical import Order, OrderStatus, StockLevel
from connector.http import ApiError, NeedsReview, Permanent, RefusedURL
from connector.models import Event
from integrations.shipstation import mapping
from integrations.shipstation.client import ShipStationClient, ShipStationV2Client
from integrations.shipstation.connection import client_for, reauth_on_401, v2_client_for
from integrations.shipstation.webhooks import V2_RESOURCE_TYPES, parse_pointer

ORDER_EVENTS = ("ORDER_NOTIFY", "ITEM_ORDER_NOTIFY")
# Statuses a client may set through `createorder` (V1-OAS "Model - Order" orderStatus); "shipped"
# only comes from `markasshipped` or a label, and only open orders can change.
SETTABLE_STATUSES = ("awaiting_payment", "awaiting_shipment", "on_hold", "cancelled")
OPEN_STATUSES = ("awaiting_payment", "awaiting_shipment", "on_hold")
# Fields of an order `createorder` takes back (V1-OAS "Model - Order"); the rest are read-only.
WRITABLE_ORDER_FIELDS = (
    "orderNumber", "orderKey", "orderDate", "paymentDate", "shipByDate", "orderStatus", "customerUsername",
    "customerEmail", "billTo", "shipTo", "items", "amountPaid", "taxAmount", "shippingAmount", "customerNotes",
    "internalNotes", "gift", "giftMessage", "paymentMethod", "requestedShippingService", "carrierCode",
    "serviceCode", "packageCode", "confirmation", "shipDate", "holdUntilDate", "weight", "dimensions",
    "insuranceOptions", "internationalOptions", "advancedOptions", "tagIds",
)  # fmt: skip
CARRIER_ALIASES = {"dhl": "dhl_express", "united_states_postal_service": "usps", "stamps.com": "stamps_com"}
SHIP_EVENTS = ("SHIP_NOTIFY", "ITEM_SHIP_NOTIFY")

STOCK_LEVEL = "stock_level"
SKUS_PER_LOOKUP = 50  # SKUs per GET /v2/inventory?sku=... (a comma-separated list)
LOOKUP_LIMIT = 500  # page size of that lookup
LOCATION_OPTION = "inventory_location_id"  # flow option: the V2 location stock levels go to
NO_V2_KEY = "Setting stock levels in ShipStation needs a ShipStation V2 API key on the connection “{label}”."
NO_V2_KEY_REMEDIATION = (
    "Create a V2 API key in ShipStation (Settings → Account → API Settings) and add it on the ShipStation "
    "connection's page."
)


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
    def v2_client(self) -> ShipStationV2Client:
        if getattr(self, "_v2_client", None) is None:
            self._v2_client = v2_client_for(self.connection, on_call=self.on_call)
        return self._v2_client

    @property
    def currency(self) -> str:
        return self.options.get("currency") or self.connection.settings.get("currency") or "USD"


def order_search_text(order: Order) -> str:
    """What the audit log finds an order by besides its number (the record's `source_ref`): the
    buyer's email first, so a search by the whole address takes the indexed path (`search_text`
    starting with it), then the buyer's name. Lower-cased and cut to the column, as WooCommerce does."""
    buyer = order.customer
    if buyer is None:
        return ""
    return " ".join(p for p in (buyer.email, buyer.name) if p).lower()[:500]


class ShipStationSource(_ShipStationAdapter, SourceAdapter):
    source_types = ("order", "shipment", "customer")

    # Changes --------------------------------------------------------------------------------

    def _order_change(self, data: dict) -> Change:
        order = mapping.order_from_shipstation(data, currency=self.currency)
        return Change("order", order.source_id, order.number, order.modified_at, order, order_search_text(order))

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

    # Instructions back to the store (connector.adapters; Zoho pull-back and order rules) ----------

    def mark_shipped(self, tracking: Tracking) -> dict:
        """`POST /orders/markasshipped` with carrier code, ship date and tracking number; ShipStation
        notifies the customer and the sales channel. An order already shipped counts as done."""
        with reauth_on_401(self.connection):
            order = self.client.get_order(tracking.order_id)
            status = str(order.get("orderStatus") or "")
            if status == "shipped":
                return {"already": True, "status": status}
            if status not in OPEN_STATUSES:
                raise Permanent(
                    f"ShipStation order {order.get('orderNumber', tracking.order_number)} is {status}; "
                    "it cannot be marked shipped.",
                    remediation="Check the order in ShipStation; mark it shipped there by hand if it did ship.",
                )
            try:
                self.client.mark_as_shipped(
                    int(tracking.order_id),
                    carrier_code=carrier_code(tracking.carrier),
                    ship_date=(tracking.ship_date or _today()).isoformat(),
                    tracking_number=tracking.tracking_number,
                    notify=True,
                )
            except Permanent as exc:
                if "cannot be marked as shipped" not in exc.message.lower():
                    raise
                return {"already": True}  # shipped between our read and our call
        return {"shipped": True, "carrier_code": carrier_code(tracking.carrier)}

    def set_order_status(self, order_id: str, status: str) -> dict:
        """The order written back through `createorder` (an upsert by orderKey) with the new status."""
        if status not in SETTABLE_STATUSES:
            raise NotSupported(
                f"ShipStation order statuses that can be set are {', '.join(SETTABLE_STATUSES)}; not {status!r}.",
                remediation="Use one of these statuses in the rule (shipped orders come from the pull-back).",
            )
        return self._rewrite(order_id, lambda order: {"orderStatus": status} if order["orderStatus"] != status else {})

    def add_order_note(self, order_id: str, text: str, customer_visible: bool = False) -> dict:
        """Appended to the order's internal notes. ShipStation's only customer-facing note is the
        buyer's own (`customerNotes`), so a customer-visible note is not supported."""
        if customer_visible:
            raise NotSupported(
                "ShipStation has no customer-visible order notes; the note was not added.",
                remediation="Make the rule's note internal, or tell the customer another way.",
            )
        text = text.strip()
        if not text:
            return {"unchanged": True}

        def append(order: dict) -> dict:
            current = str(order.get("internalNotes") or "")
            if text in current:
                return {}
            return {"internalNotes": f"{current.rstrip()}\n{text}".strip()}

        return self._rewrite(order_id, append)

    def _rewrite(self, order_id: str, change) -> dict:
        """Read the order, apply `change` (the fields to set; {} for nothing to do), write it back
        whole: `createorder` replaces the order, so every writable field goes with it."""
        with reauth_on_401(self.connection):
            order = self.client.get_order(order_id)
            fields = change(order)
            if not fields:
                return {"unchanged": True}
            if order.get("orderStatus") not in OPEN_STATUSES:
                raise Permanent(
                    f"ShipStation order {order.get('orderNumber', order_id)} is {order.get('orderStatus')}; "
                    "shipped and cancelled orders cannot be changed through the API.",
                    remediation="Change the order in ShipStation by hand if it is still needed.",
                )
            body = {k: order[k] for k in WRITABLE_ORDER_FIELDS if k in order and order[k] is not None}
            written = self.client.create_order({**body, **fields})
        return {"updated": sorted(fields), "orderId": written.get("orderId")}

    def changes_from_delivery(self, delivery) -> list[Change]:
        try:
            resource_type, resource_url = parse_pointer(bytes(delivery.body))
        except ValueError as exc:
            raise Permanent(f"malformed ShipStation webhook: {exc}") from None
        if resource_type in ORDER_EVENTS:
            build = self._order_change
        elif resource_type in SHIP_EVENTS:
            build = self._shipment_change
        elif resource_type in V2_RESOURCE_TYPES:
            # Recorded and verified, but V2 payloads are not turned into changes yet: fail visibly.
            raise Permanent(
                f"ShipStation V2 webhook {resource_type!r} was received and verified, but V2 payloads are not "
                "turned into records yet (see the ShipStation README: V2 as a source is not built)",
            )
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


def carrier_code(carrier: str) -> str:
    """ShipStation carrier codes are lower-case identifiers ("fedex", "ups", "usps", "dhl_express")."""
    code = "_".join(carrier.strip().lower().split())
    return CARRIER_ALIASES.get(code, code) or "other"


def _today():
    from django.utils import timezone

    return timezone.now().date()


def _host(url: str) -> str:
    """The authority of a refused pointer, for its audit event. Cut out, never parsed: the URL is hostile
    and a parser may raise on it (urlsplit does on `http://[::1/`)."""
    rest = url.partition("://")[2]
    for separator in "/?#":
        rest = rest.split(separator, 1)[0]
    return rest[:200]


class ShipStationTarget(_ShipStationAdapter, TargetAdapter):
    """Canonical orders become ShipStation orders, upserted by `orderKey`.

    Writes go through `createorders` (at most 100 per call, a result per order; SHIPSTATION.md /
    V1-OAS `POST /orders/createorders`). The engine hands us one record at a time, so a create also
    takes along other new orders of the same flow that are waiting and unleased: it leases them,
    sends them in the same call and finishes each through `engine.complete_deferred` (Link, status
    and events together, as for any write). Their own queued tasks then find them unchanged. A
    crash between ShipStation's answer and our commit heals like a single write: the orderKey
    upsert makes the retry harmless.
    """

    target_types = ("fulfilment_order", STOCK_LEVEL)
    LOCKED = ("shipped", "cancelled")  # ShipStation refuses to change these (sandbox: "locked")

    @classmethod
    def unavailable(cls, connection, target_type: str) -> ApiError | None:
        """Stock levels live in V2 only (`/v2/inventory`): a connection without a V2 API key cannot
        take them. Asked through `connector.registry.target_unavailable` by other systems' flows."""
        if target_type == STOCK_LEVEL and not (connection.credentials or {}).get("v2_api_key"):
            return Permanent(NO_V2_KEY.format(label=connection.label), remediation=NO_V2_KEY_REMEDIATION)
        return None

    def _check(self, object_type: str, obj: Any) -> Order:
        if object_type != "fulfilment_order" or not isinstance(obj, Order):
            raise Permanent(f"ShipStation cannot be a target for {object_type!r}")
        return obj

    def describe_result(self, object_type: str, obj: Any, result: WriteResult) -> DocumentSummary:
        """A ShipStation order by its order number, or a SKU's stock level as "from → to" units."""
        summary = super().describe_result(object_type, obj, result)
        data = result.data or {}
        if object_type == STOCK_LEVEL:
            moved = f"{data['from']} → {data['to']} on hand" if "from" in data and "to" in data else ""
            return DocumentSummary("stock_level", "Stock level", summary.number, status=moved or summary.status)
        number = str(data.get("orderNumber") or summary.number)
        return DocumentSummary("order", "ShipStation order", number, summary.total, summary.currency, summary.status)

    def find(self, object_type: str, obj: Any, *, context: WriteContext = NO_CONTEXT) -> str | None:
        if object_type == STOCK_LEVEL:
            level = _stock_level(obj)
            return level.sku if self._current_levels([level.sku]).get(level.sku) else None
        order = self._check(object_type, obj)
        key = order.key or order.number
        with reauth_on_401(self.connection):
            for data in self.client.list_orders(orderNumber=order.number):
                if data.get("orderKey") == key:
                    return str(data["orderId"])
        return None

    def _current_status(self, target_id: str) -> str:
        with reauth_on_401(self.connection):
            return str(self.client.get_order(target_id).get("orderStatus") or "")

    def upsert(
        self, object_type: str, obj: Any, *, target_id: str | None, context: WriteContext = NO_CONTEXT
    ) -> WriteResult:
        if object_type == STOCK_LEVEL:
            ((_, outcome),) = self.write_stock_levels([_stock_level(obj)])
            if isinstance(outcome, ApiError):
                raise outcome
            return outcome
        order = self._check(object_type, obj)
        if target_id:
            status = self._current_status(target_id)
            if status in self.LOCKED:
                # e.g. the source order was edited (or got its tracking note) after it shipped
                return WriteResult(
                    target_id, "unchanged", data={"reason": f"The ShipStation order is {status}; not changed."}
                )
        bodies = [mapping.order_to_shipstation(order)]
        companions = []
        for record, other in _take_companions(self, context.record) if not target_id else []:
            try:
                bodies.append(mapping.order_to_shipstation(other))
                companions.append((record, other))
            except Exception:
                _release([record])
        try:
            with reauth_on_401(self.connection):
                results = self.client.create_orders(bodies)
        except BaseException:
            _release([record for record, _ in companions])
            raise
        by_key = {r.order_key: r for r in results}
        _finish_companions(self, companions, by_key, size=len(bodies))
        mine = by_key.get(bodies[0]["orderKey"])
        if mine is None or not mine.success or not mine.order_id:
            reason = mine.error if mine else "no result for this order"
            raise Permanent(f"ShipStation refused order {order.number}: {reason}")
        return WriteResult(
            target_id=str(mine.order_id),
            action="updated" if target_id else "created",
            data={"orderKey": mine.order_key, "orderNumber": mine.order_number, "batch": len(bodies)},
        )

    def cancel(self, object_type: str, obj: Any, *, target_id: str, context: WriteContext = NO_CONTEXT) -> WriteResult:
        if object_type == STOCK_LEVEL:
            raise NotSupported(
                "A ShipStation stock level cannot be cancelled; it is set to the source's quantity.",
                remediation="Correct the quantity at the source; the next sync sets it in ShipStation.",
            )
        order = self._check(object_type, obj)
        target_id = target_id or self.find(object_type, order) or ""
        if not target_id:  # createorder would add the order, cancelled, to ShipStation
            return WriteResult(
                "", "skipped", data={"reason": "ShipStation never received this order: nothing to cancel."}
            )
        status = self._current_status(target_id)
        if status == "shipped":
            return WriteResult(
                target_id, "skipped", data={"reason": "Already shipped in ShipStation; the order was not cancelled."}
            )
        if status == "cancelled":
            return WriteResult(target_id, "voided", data={"status": status})
        cancelled = dataclasses.replace(order, status=OrderStatus.CANCELLED)
        with reauth_on_401(self.connection):
            data = self.client.create_order(mapping.order_to_shipstation(cancelled))
        return WriteResult(target_id=str(data["orderId"]), action="voided", data={"status": data.get("orderStatus")})

    # Stock levels (V2 inventory) ---------------------------------------------------------------

    def write_stock_levels(
        self, levels: list[StockLevel], *, reason: str = "Connector", notes: str = ""
    ) -> Iterator[tuple[StockLevel, WriteResult | ApiError]]:
        """Set ShipStation's on-hand quantity of each SKU to `level.on_hand`, reading in batches.

        1. `GET /v2/inventory?sku=A,B,...` (V2-OAS getInventoryLevels, 50 SKUs a call) reads the
           on-hand per SKU and location;
        2. a SKU whose total differs gets `POST /v2/inventory {transaction_type: "adjust", sku,
           inventory_location_id, quantity}` (V2-OAS updateSKUStockLevels: "adjust on hand quantity
           ... to the quantity indicated") at the level's location, else the flow option
           `inventory_location_id`, else the SKU's only location, else the account's first
           (`GET /v2/inventory_locations`, read once); other locations keep what they hold.

        Yields each SKU's outcome as it is done, so the caller records it before a later call can
        fail: a WriteResult ("updated" with from/to/location/quantity, "unchanged", or "skipped" with
        data["reason"] "fraction" — ShipStation holds whole units — or "elsewhere" — other locations
        already hold more), or a NeedsReview when no location can be chosen. A negative quantity is
        set as 0. A failed call (5xx, 429, 401, a refused adjust) is raised and ends the batch; a
        connection without a V2 key raises before any call.
        """
        error = self.unavailable(self.connection, STOCK_LEVEL)
        if error is not None:
            raise error
        current = self._current_levels([level.sku for level in levels])
        account_locations: list[str] | None = None  # read once, only if some SKU needs it
        for level in levels:
            found = current.get(level.sku, [])
            if self._needs_account_location(level, found) and account_locations is None:
                with reauth_on_401(self.connection):
                    account_locations = self.v2_client.list_inventory_location_ids()
            yield level, self._write_stock_level(level, found, account_locations or [], reason=reason, notes=notes)

    def _current_levels(self, skus: list[str]) -> dict[str, list[dict]]:
        error = self.unavailable(self.connection, STOCK_LEVEL)
        if error is not None:
            raise error
        found: dict[str, list[dict]] = {}
        with reauth_on_401(self.connection):
            for start in range(0, len(skus), SKUS_PER_LOOKUP):
                batch = skus[start : start + SKUS_PER_LOOKUP]
                for row in self.v2_client.list_inventory(sku=",".join(batch), limit=LOOKUP_LIMIT):
                    found.setdefault(str(row.get("sku", "")), []).append(row)
        return found

    def _needs_account_location(self, level: StockLevel, found: list[dict]) -> bool:
        wanted = whole_units(level.on_hand)
        return (
            wanted is not None
            and wanted != _on_hand(found)
            and not (level.location_id or self.options.get(LOCATION_OPTION))
            and not _locations(found)
        )

    def _write_stock_level(
        self, level: StockLevel, found: list[dict], account_locations: list[str], *, reason: str, notes: str
    ) -> WriteResult | ApiError:
        before = _on_hand(found)
        wanted = whole_units(level.on_hand)
        if wanted is None:
            return WriteResult(level.sku, "skipped", data={"reason": "fraction", "from": before})
        if before == wanted:
            return WriteResult(level.sku, "unchanged", data={"from": before, "to": wanted})
        locations = _locations(found)
        location = level.location_id or self.options.get(LOCATION_OPTION) or ""
        if not location and len(locations) == 1:
            location = next(iter(locations))
        elif not location and not locations and account_locations:
            location = account_locations[0]
        if not location:
            return NeedsReview(
                f"ShipStation inventory {level.sku}: no inventory location to put the quantity in "
                f"(the SKU is in {len(locations)} locations, or the account has none).",
                remediation="Set the ShipStation inventory location in the flow's options.",
            )
        elsewhere = sum(int(row.get("on_hand") or 0) for row in found if row.get("inventory_location_id") != location)
        here = wanted - elsewhere
        if here < 0:
            return WriteResult(
                level.sku, "skipped", data={"reason": "elsewhere", "from": before, "to": wanted, "elsewhere": elsewhere}
            )
        with reauth_on_401(self.connection):
            self.v2_client.adjust_inventory(level.sku, location, here, reason=reason, notes=notes)
        return WriteResult(
            level.sku, "updated", data={"from": before, "to": wanted, "location": location, "quantity": here}
        )


def whole_units(on_hand: Decimal) -> int | None:
    """What ShipStation can hold: whole units only (None for a fraction), never below zero."""
    if on_hand != on_hand.to_integral_value():
        return None
    return max(0, int(on_hand))


def _on_hand(found: list[dict]) -> int:
    return sum(int(row.get("on_hand") or 0) for row in found)


def _locations(found: list[dict]) -> set[str]:
    return {str(row.get("inventory_location_id") or "") for row in found} - {""}


def _stock_level(obj: Any) -> StockLevel:
    if not isinstance(obj, StockLevel):
        raise Permanent(f"ShipStation stock levels take a StockLevel, not {type(obj).__name__}")
    return obj


# --- Batching new orders into one createorders call -------------------------------------------

BATCH_SIZE = 100  # createorders takes at most 100 orders


def _take_companions(target: ShipStationTarget, record) -> list[tuple[Any, Order]]:
    """Lease up to 99 other new orders of the running `record`'s flow to send in the same call (none
    outside the engine, where there is no record).

    Only never-tried records with a delivered payload that no Link names yet (pure creates): a
    retry, a replay or an update keeps its own path (backoff, fresh fetch, locked-order check).
    """
    from django.db.models import Q
    from django.utils import timezone

    from connector import engine
    from connector.canonical import CANONICAL_TYPES, canonical_hash, from_payload, is_cancellation, natural_key
    from connector.models import Link, Record

    if record is None:
        return []
    candidates = list(
        Record.objects.filter(
            flow_id=record.flow_id,
            object_type=record.object_type,
            status=Record.Status.PENDING,
            attempts=0,
            source_payload__isnull=False,
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now()))
        .exclude(pk=record.pk)
        .order_by("id")
        .values_list("pk", flat=True)[: (BATCH_SIZE - 1) * 2]
    )
    picked: list[tuple[Any, Order]] = []
    for pk in candidates:
        if len(picked) >= BATCH_SIZE - 1:
            break
        if not engine.acquire_lease(pk):
            continue  # its own task has it
        other = Record.objects.filter(pk=pk).first()
        try:
            obj = from_payload(CANONICAL_TYPES[other.object_type], other.source_payload) if other else None
        except Exception:  # an unreadable payload takes its own path, where it fails visibly
            obj = None
        usable = (
            isinstance(obj, Order)
            and other.status == Record.Status.PENDING
            and other.attempts == 0
            and not is_cancellation(obj)
            and not (other.payload_hash and canonical_hash(obj) == other.payload_hash)
            and not Link.objects.filter(
                connection_id=target.connection.pk, object_type="fulfilment_order", canonical_key=natural_key(obj)
            ).exists()
        )
        if usable:
            picked.append((other, obj))
        else:
            _release([pk])
    return picked


def _release(records: list) -> None:
    from connector.models import Record

    ids = [getattr(r, "pk", r) for r in records]
    if ids:
        Record.objects.filter(pk__in=ids).update(lease_until=None)


def _finish_companions(target: ShipStationTarget, companions: list, by_key: dict, *, size: int) -> None:
    """Each companion gets the outcome ShipStation gave it, committed like a direct write."""
    from connector import engine

    for record, order in companions:
        result = by_key.get(order.key or order.number)
        try:
            if result is None:
                _release([record])  # its own task writes it
            elif result.success and result.order_id:
                engine.complete_deferred(
                    record.pk,
                    result=WriteResult(
                        str(result.order_id),
                        "created",
                        data={"orderKey": result.order_key, "batch": size, "via": "createorders"},
                    ),
                    written=order,  # this version went out; a newer one seen meanwhile still gets its sync
                )
            else:
                engine.complete_deferred(
                    record.pk, error=Permanent(f"ShipStation refused order {order.number}: {result.error}")
                )
        except Exception:
            _release([record])
            raise


__all__ = ["ShipStationSource", "ShipStationTarget", "shipment_record_id"]
