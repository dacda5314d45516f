"""The sandbox's ShipStation behaviour, on its DB models (SHIPSTATION.md Part C).

- `createorder` upserts by `orderKey` (a new key when none is given); only open orders can change
  (`shipped` and `cancelled` are locked); every change moves `modifyDate`.
- Customers appear from orders (`customerEmail`/`customerUsername`); products from order items.
- ORDER_NOTIFY fires only for *new* orders not in `awaiting_payment`, or when an `awaiting_payment`
  order moves to anything but `cancelled`; SHIP_NOTIFY when a label is created. Voids fire nothing.
- Timestamps go out as Pacific wall clock with 7 fraction digits and no offset.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connector.canonical import money
from integrations.shipstation import timeutil
from integrations.shipstation.sandbox.models import (
    SandboxAccount,
    SandboxCustomer,
    SandboxOrder,
    SandboxProduct,
    SandboxShipment,
    SandboxWebhook,
    SandboxWebhookCall,
)

ORDER_STATUSES = ("awaiting_payment", "awaiting_shipment", "pending_fulfillment", "shipped", "on_hold", "cancelled")
OPEN_STATUSES = ("awaiting_payment", "awaiting_shipment", "on_hold")
WEBHOOK_EVENTS = ("ORDER_NOTIFY", "ITEM_ORDER_NOTIFY", "SHIP_NOTIFY", "ITEM_SHIP_NOTIFY")
# V2 event names: the V2-OAS `webhook_event` enum plus the *_v2 events of the current docs (§B4).
V2_WEBHOOK_EVENTS = (
    "batch", "carrier_connected", "order_source_refresh_complete", "rate", "report_complete",
    "sales_orders_imported", "track", "batch_processed_v2", "track_event_v2", "shipment_created_v2",
    "label_created_v2", "fulfillment_shipped_v2", "fulfillment_rejected_v2",
)  # fmt: skip
# When V1 fires X, V2 fires Y: new order -> shipment_created_v2 ("On New Order Created"); label -> label_created_v2.
V1_TO_V2_EVENTS = {"ORDER_NOTIFY": "shipment_created_v2", "SHIP_NOTIFY": "label_created_v2"}
ADDRESS_KEYS = ("name", "company", "street1", "street2", "street3", "city", "state", "postalCode", "country", "phone")
# Fields a client may write on createorder (V1-OAS "Model - Order"); the rest are read-only.
WRITABLE_ORDER_FIELDS = (
    "orderNumber", "orderKey", "orderDate", "paymentDate", "shipByDate", "orderStatus", "customerUsername",
    "customerEmail", "billTo", "shipTo", "items", "amountPaid", "taxAmount", "shippingAmount", "customerNotes",
    "internalNotes", "gift", "giftMessage", "paymentMethod", "requestedShippingService", "carrierCode",
    "serviceCode", "packageCode", "confirmation", "shipDate", "holdUntilDate", "weight", "dimensions",
    "insuranceOptions", "internationalOptions", "advancedOptions", "tagIds",
)  # fmt: skip


class SandboxError(Exception):
    """A request the real API refuses: `status` and ShipStation's error body."""

    def __init__(self, status: int, message: str, model_state: dict | None = None):
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"Message": message}
        if model_state:
            self.body["ModelState"] = model_state


def stamp(moment: datetime | None) -> str | None:
    return timeutil.to_response_stamp(moment) if moment else None


def default_base_url() -> str:
    return settings.PUBLIC_BASE_URL + "/sandbox/shipstation/"


# --- Orders -------------------------------------------------------------------------------------


def _validate_order(data: Any, prefix: str = "apiOrder") -> dict:
    if not isinstance(data, dict):
        raise SandboxError(400, "The request is invalid.", {prefix: ["An Order object is required."]})
    errors: dict[str, list[str]] = {}
    for name in ("orderNumber", "orderDate", "orderStatus", "billTo", "shipTo"):
        if data.get(name) in (None, ""):
            errors[f"{prefix}.{name}"] = [f"The {name} field is required."]
    status = data.get("orderStatus")
    if status and status not in ORDER_STATUSES:
        errors[f"{prefix}.orderStatus"] = [f"The value '{status}' is not valid for orderStatus."]
    for name in ("orderDate", "paymentDate", "shipByDate", "holdUntilDate"):
        if data.get(name):
            try:
                timeutil.parse_wall_clock(str(data[name]))
            except ValueError:
                errors[f"{prefix}.{name}"] = [f"Could not convert string to DateTime: {data[name]}."]
    for name in ("billTo", "shipTo"):
        if data.get(name) is not None and not isinstance(data.get(name), dict):
            errors[f"{prefix}.{name}"] = ["An Address object is required."]
    items = data.get("items") or []
    if not isinstance(items, list):
        errors[f"{prefix}.items"] = ["An array of OrderItem objects is required."]
        items = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors[f"{prefix}.items[{i}]"] = ["An OrderItem object is required."]
            continue
        for name in ("quantity", "unitPrice", "taxAmount", "shippingAmount"):
            value = item.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                errors[f"{prefix}.items[{i}].{name}"] = [f"The value '{value}' is not valid for {name}."]
    for name in ("amountPaid", "taxAmount", "shippingAmount"):
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            errors[f"{prefix}.{name}"] = [f"The value '{value}' is not valid for {name}."]
    if errors:
        raise SandboxError(400, "The request is invalid.", errors)
    return {k: data[k] for k in WRITABLE_ORDER_FIELDS if k in data}


def _customer_for(account: SandboxAccount, data: dict, now: datetime) -> SandboxCustomer | None:
    email = str(data.get("customerEmail") or "").strip()
    username = str(data.get("customerUsername") or "").strip()
    key = email.lower() or username
    if not key:
        return None
    address = {k: (data.get("billTo") or {}).get(k) for k in ADDRESS_KEYS}
    customer, created = SandboxCustomer.objects.get_or_create(
        account=account,
        key=key,
        defaults={"email": email, "username": username, "address": address, "create_date": now, "modify_date": now},
    )
    if not created and (customer.address != address or customer.username != username):
        customer.address, customer.username, customer.modify_date = address, username, now
        customer.save(update_fields=["address", "username", "modify_date"])
    return customer


def _products_for(account: SandboxAccount, items: list[dict], now: datetime) -> None:
    for item in items:
        sku = str(item.get("sku") or "")
        if not sku or item.get("adjustment"):
            continue
        SandboxProduct.objects.get_or_create(
            account=account,
            sku=sku,
            defaults={
                "name": str(item.get("name") or sku)[:300],
                "price": money(item.get("unitPrice")),
                "create_date": now,
                "modify_date": now,
            },
        )


def upsert_order(
    account: SandboxAccount, data: Any, *, import_batch: str = "", notify: bool = True
) -> tuple[SandboxOrder, bool]:
    """`createorder`: create, or update by `orderKey`. Raises SandboxError like the real API.

    With `notify=False` the caller sends one ORDER_NOTIFY for its whole import batch (`createorders`).
    """
    fields = _validate_order(data)
    now = timezone.now()
    key = str(fields.get("orderKey") or "") or uuid.uuid4().hex
    with transaction.atomic():
        order = SandboxOrder.objects.select_for_update().filter(account=account, order_key=key).first()
        created = order is None
        previous_status = None if created else order.status
        if not created and order.status not in OPEN_STATUSES:
            raise SandboxError(
                400,
                f"Order {order.order_number} is {order.status}: shipped and cancelled orders are locked "
                "from modification through the API.",
            )
        customer = _customer_for(account, fields, now)
        _products_for(account, fields.get("items") or [], now)
        if created:
            order = SandboxOrder(
                account=account, order_key=key, create_date=now, import_batch=import_batch or uuid.uuid4().hex
            )
        fields["orderKey"] = key
        order.data = fields
        order.order_number = str(fields["orderNumber"])
        order.status = fields["orderStatus"]
        order.customer = customer
        order.modify_date = now
        order.save()
        order.notifies = _notifies_order(previous_status, order.status, created)
        if notify and order.notifies:
            queue_notifications(
                account, "ORDER_NOTIFY", f"orders?storeID={account.store_id}&importBatch={order.import_batch}"
            )
    return order, created


def _notifies_order(previous: str | None, status: str, created: bool) -> bool:
    if created:
        return status != "awaiting_payment"
    return previous == "awaiting_payment" and status not in ("awaiting_payment", "cancelled")


def order_total(data: dict) -> Decimal:
    items = sum(
        (money(money(i.get("unitPrice")) * Decimal(str(i.get("quantity") or 0))) for i in data.get("items") or []),
        Decimal("0"),
    )
    return money(items + money(data.get("shippingAmount")) + money(data.get("taxAmount")))


def _address(value: dict | None, *, ship: bool) -> dict:
    value = value or {}
    out = {k: value.get(k) for k in ADDRESS_KEYS}
    out["residential"] = value.get("residential")
    out["addressVerified"] = "Address not yet validated" if ship else None
    return out


def _number(value: Any) -> int | float | None:
    if value is None:
        return None
    d = money(value)
    return int(d) if d == d.to_integral_value() else float(d)


def order_json(order: SandboxOrder) -> dict:
    """An order as `GET /orders/{id}` returns it (fields and order as in V1-OAS)."""
    d = order.data
    items = []
    for index, item in enumerate(d.get("items") or []):
        items.append(
            {
                "orderItemId": order.pk * 1000 + index + 1,
                "lineItemKey": item.get("lineItemKey"),
                "sku": item.get("sku"),
                "name": item.get("name"),
                "imageUrl": item.get("imageUrl"),
                "weight": item.get("weight") or {"value": 0, "units": "ounces"},
                "quantity": item.get("quantity"),
                "unitPrice": item.get("unitPrice"),
                "taxAmount": item.get("taxAmount"),
                "shippingAmount": item.get("shippingAmount"),
                "warehouseLocation": item.get("warehouseLocation"),
                "options": item.get("options") or [],
                "productId": item.get("productId"),
                "fulfillmentSku": item.get("fulfillmentSku"),
                "adjustment": bool(item.get("adjustment")),
                "upc": item.get("upc"),
                "createDate": stamp(order.create_date),
                "modifyDate": stamp(order.modify_date),
            }
        )
    advanced = {
        "warehouseId": 24079,
        "nonMachinable": False,
        "saturdayDelivery": False,
        "containsAlcohol": False,
        "mergedOrSplit": False,
        "mergedIds": [],
        "storeId": order.account.store_id,
        "customField1": None,
        "customField2": None,
        "customField3": None,
        "source": None,
        **(d.get("advancedOptions") or {}),
    }
    return {
        "orderId": order.pk,
        "orderNumber": order.order_number,
        "orderKey": order.order_key,
        "orderDate": stamp(timeutil.parse_pacific(d.get("orderDate"))),
        "createDate": stamp(order.create_date),
        "modifyDate": stamp(order.modify_date),
        "paymentDate": stamp(timeutil.parse_pacific(d.get("paymentDate"))),
        "shipByDate": stamp(timeutil.parse_pacific(d.get("shipByDate"))),
        "orderStatus": order.status,
        "customerId": order.customer_id,
        "customerUsername": d.get("customerUsername"),
        "customerEmail": d.get("customerEmail"),
        "billTo": _address(d.get("billTo"), ship=False),
        "shipTo": _address(d.get("shipTo"), ship=True),
        "items": items,
        "orderTotal": _number(order_total(d)),
        "amountPaid": _number(d.get("amountPaid") or 0),
        "taxAmount": _number(d.get("taxAmount") or 0),
        "shippingAmount": _number(d.get("shippingAmount") or 0),
        "customerNotes": d.get("customerNotes"),
        "internalNotes": d.get("internalNotes"),
        "gift": bool(d.get("gift")),
        "giftMessage": d.get("giftMessage"),
        "paymentMethod": d.get("paymentMethod"),
        "requestedShippingService": d.get("requestedShippingService"),
        "carrierCode": d.get("carrierCode"),
        "serviceCode": d.get("serviceCode"),
        "packageCode": d.get("packageCode"),
        "confirmation": d.get("confirmation") or "none",
        "shipDate": d.get("shipDate"),
        "holdUntilDate": d.get("holdUntilDate"),
        "weight": d.get("weight") or {"value": 0, "units": "ounces"},
        "dimensions": d.get("dimensions"),
        "insuranceOptions": d.get("insuranceOptions") or {"provider": None, "insureShipment": False, "insuredValue": 0},
        "internationalOptions": d.get("internationalOptions") or {"contents": None, "customsItems": None},
        "advancedOptions": advanced,
        "tagIds": d.get("tagIds"),
        "userId": None,
        "externallyFulfilled": False,
        "externallyFulfilledBy": None,
    }


def mark_shipped(account: SandboxAccount, data: dict) -> SandboxOrder:
    """`markasshipped`: a fulfilment (no shipment, no SHIP_NOTIFY), order becomes shipped."""
    errors = {
        f"apiMarkAsShipped.{n}": [f"The {n} field is required."] for n in ("orderId", "carrierCode") if not data.get(n)
    }
    if errors:
        raise SandboxError(400, "The request is invalid.", errors)
    order = _order_or_404(account, data["orderId"])
    if order.status not in OPEN_STATUSES:
        raise SandboxError(400, f"Order {order.order_number} is {order.status} and cannot be marked as shipped.")
    order.status = "shipped"
    order.data = {
        **order.data,
        "orderStatus": "shipped",
        "shipDate": data.get("shipDate") or timezone.now().date().isoformat(),
    }
    order.modify_date = timezone.now()
    order.save()
    return order


def _order_or_404(account: SandboxAccount, order_id: Any) -> SandboxOrder:
    try:
        return SandboxOrder.objects.get(account=account, pk=int(order_id))
    except (SandboxOrder.DoesNotExist, TypeError, ValueError):
        raise SandboxError(404, f"Order not found: {order_id}") from None


# --- Shipments ----------------------------------------------------------------------------------


def create_label(account: SandboxAccount, data: dict, *, batch: str = "") -> SandboxShipment:
    """`createlabelfororder`: a shipment with cost and tracking; the order becomes shipped; SHIP_NOTIFY."""
    errors = {
        f"apiCreateLabel.{n}": [f"The {n} field is required."]
        for n in ("orderId", "carrierCode", "serviceCode", "shipDate")
        if not data.get(n)
    }
    if errors:
        raise SandboxError(400, "The request is invalid.", errors)
    with transaction.atomic():
        order = _order_or_404(account, data["orderId"])
        if order.status in ("cancelled",):
            raise SandboxError(400, f"Order {order.order_number} is cancelled; no label can be created.")
        ship_date = date.fromisoformat(str(data["shipDate"])[:10])
        items = [
            {
                "orderItemId": order.pk * 1000 + i + 1,
                "lineItemKey": item.get("lineItemKey"),
                "sku": item.get("sku"),
                "name": item.get("name"),
                "imageUrl": item.get("imageUrl"),
                "weight": item.get("weight"),
                "quantity": item.get("quantity"),
                "unitPrice": item.get("unitPrice"),
                "taxAmount": item.get("taxAmount"),
                "shippingAmount": item.get("shippingAmount"),
                "warehouseLocation": item.get("warehouseLocation"),
                "options": item.get("options") or [],
                "productId": item.get("productId"),
                "fulfillmentSku": item.get("fulfillmentSku"),
                "adjustment": False,
                "upc": item.get("upc"),
            }
            for i, item in enumerate(order.data.get("items") or [])
            if not item.get("adjustment")
        ]
        weight = Decimal(str((data.get("weight") or {}).get("value") or 1))
        cost = (
            money(Decimal("5.40") + weight * Decimal("1.15"))
            if data.get("shipmentCost") is None
            else money(data["shipmentCost"])
        )
        insured = bool((data.get("insuranceOptions") or {}).get("insureShipment"))
        shipment = SandboxShipment.objects.create(
            account=account,
            order=order,
            batch=batch or uuid.uuid4().hex[:12],
            carrier_code=data["carrierCode"],
            service_code=data["serviceCode"],
            package_code=data.get("packageCode") or "package",
            confirmation=data.get("confirmation") or "none",
            tracking_number=data.get("trackingNumber")
            or "9400" + "".join(secrets.choice("0123456789") for _ in range(18)),
            ship_date=ship_date,
            shipment_cost=cost,
            insurance_cost=money("1.25") if insured else money(0),
            items=items,
        )
        if order.status != "shipped":
            order.status = "shipped"
            order.data = {**order.data, "orderStatus": "shipped", "shipDate": ship_date.isoformat()}
            order.modify_date = timezone.now()
            order.save()
        queue_notifications(
            account,
            "SHIP_NOTIFY",
            f"shipments?storeID={account.store_id}&batchId={shipment.batch}&includeShipmentItems=False",
        )
    return shipment


def void_label(account: SandboxAccount, shipment_id: Any) -> SandboxShipment:
    try:
        shipment = SandboxShipment.objects.get(account=account, pk=int(shipment_id))
    except (SandboxShipment.DoesNotExist, TypeError, ValueError):
        raise SandboxError(404, f"Shipment not found: {shipment_id}") from None
    if not shipment.voided:
        shipment.voided = True
        shipment.void_date = timezone.now()
        shipment.save(update_fields=["voided", "void_date"])
    return shipment  # no webhook: ShipStation fires nothing on a void


def shipment_json(shipment: SandboxShipment, *, include_items: bool) -> dict:
    order = shipment.order
    ship_to = _address(order.data.get("shipTo"), ship=True)
    ship_to.pop("addressVerified", None)
    return {
        "shipmentId": shipment.pk,
        "orderId": order.pk,
        "orderKey": order.order_key,
        "userId": "00000000-0000-0000-0000-000000000000",
        "customerEmail": order.data.get("customerEmail"),
        "orderNumber": order.order_number,
        "createDate": stamp(shipment.create_date),
        "shipDate": shipment.ship_date.isoformat(),
        "shipmentCost": _number(shipment.shipment_cost),
        "insuranceCost": _number(shipment.insurance_cost),
        "trackingNumber": shipment.tracking_number,
        "isReturnLabel": False,
        "batchNumber": shipment.batch,
        "carrierCode": shipment.carrier_code,
        "serviceCode": shipment.service_code,
        "packageCode": shipment.package_code,
        "confirmation": shipment.confirmation,
        "warehouseId": 24079,
        "voided": shipment.voided,
        "voidDate": stamp(shipment.void_date),
        "marketplaceNotified": False,
        "notifyErrorMessage": None,
        "shipTo": ship_to,
        "weight": {"value": 1, "units": "ounces"},
        "dimensions": None,
        "insuranceOptions": {"provider": None, "insureShipment": bool(shipment.insurance_cost), "insuredValue": 0},
        "advancedOptions": None,
        "shipmentItems": shipment.items if include_items else None,
        "labelData": None,
        "formData": None,
    }


# --- Customers and products ---------------------------------------------------------------------


def customer_json(customer: SandboxCustomer) -> dict:
    a = customer.address or {}
    return {
        "customerId": customer.pk,
        "createDate": stamp(customer.create_date),
        "modifyDate": stamp(customer.modify_date),
        "name": a.get("name"),
        "company": a.get("company"),
        "street1": a.get("street1"),
        "street2": a.get("street2"),
        "city": a.get("city"),
        "state": a.get("state"),
        "postalCode": a.get("postalCode"),
        "countryCode": a.get("country"),
        "phone": a.get("phone"),
        "email": customer.email or None,
        "addressVerified": "Unverified",
        "marketplaceUsernames": [
            {
                "customerUserId": customer.pk * 10 + 1,
                "customerId": customer.pk,
                "createDate": stamp(customer.create_date),
                "modifyDate": stamp(customer.modify_date),
                "marketplaceId": 0,
                "marketplace": "ShipStation",
                "username": customer.username or customer.email,
            }
        ],
        "tags": [],
    }


def product_json(product: SandboxProduct) -> dict:
    return {
        "productId": product.pk,
        "sku": product.sku,
        "name": product.name,
        "price": _number(product.price),
        "defaultCost": None,
        "length": None,
        "width": None,
        "height": None,
        "weightOz": None,
        "internalNotes": None,
        "fulfillmentSku": None,
        "createDate": stamp(product.create_date),
        "modifyDate": stamp(product.modify_date),
        "active": True,
        "productCategory": None,
        "productType": None,
        "warehouseLocation": None,
        "defaultCarrierCode": None,
        "defaultServiceCode": None,
        "defaultPackageCode": None,
        "defaultIntlCarrierCode": None,
        "defaultIntlServiceCode": None,
        "defaultIntlPackageCode": None,
        "defaultConfirmation": None,
        "defaultIntlConfirmation": None,
        "customsDescription": None,
        "customsValue": None,
        "customsTariffNo": None,
        "customsCountryCode": None,
        "noCustoms": None,
        "tags": [],
    }


# --- Webhooks -----------------------------------------------------------------------------------


def webhook_json(hook: SandboxWebhook) -> dict:
    return {
        "IsLabelAPIHook": False,
        "WebHookID": hook.pk,
        "SellerID": 100000 + hook.account_id,
        "StoreID": hook.store_id,
        "HookType": hook.event,
        "MessageFormat": "Json",
        "Url": hook.target_url,
        "Name": hook.friendly_name,
        "BulkCopyBatchID": None,
        "BulkCopyRecordID": None,
        "Active": hook.active,
        "WebhookLogs": [],
        "Seller": None,
        "Store": None,
    }


def queue_notifications(
    account: SandboxAccount, event: str, resource_path: str, *, base_url: str | None = None
) -> list[int]:
    """Store one pending POST per active subscriber; they go out after the transaction commits."""
    from integrations.shipstation.sandbox import delivery

    events = {event, "ITEM_" + event}
    base = (base_url or delivery.current_base_url() or default_base_url()).rstrip("/") + "/"
    v1_base = delivery.pointer_root(base)
    ids = []
    for hook in SandboxWebhook.objects.filter(account=account, active=True, api_version="v1", event__in=events):
        body = {"resource_url": v1_base + resource_path, "resource_type": hook.event}
        ids.append(SandboxWebhookCall.objects.create(webhook=hook, body=body).pk)
    # V2 subscribers hear the same moments under the V2 event names; the payload is the V2 pointer
    # shape `{resource_url, resource_type}` (§B4). The resource_url path is NOT sourced (the specs show
    # no example for these events): it mirrors the V1 pointer under /v2/.
    v2_event = V1_TO_V2_EVENTS.get(event)
    for hook in SandboxWebhook.objects.filter(account=account, active=True, api_version="v2", event=v2_event):
        body = {"resource_url": base + "v2/" + resource_path, "resource_type": hook.event.upper()}
        ids.append(SandboxWebhookCall.objects.create(webhook=hook, body=body).pk)
    if ids and account.auto_deliver_webhooks:
        transaction.on_commit(lambda: delivery.deliver_in_background(ids))
    return ids
