"""The sandbox store's behaviour: build and edit orders, customers, products the way WooCommerce does.

Shapes follow tests/specs/woocommerce/official-docs-wp-api-v3/_orders.md, _customers.md,
_products.md and _webhooks.md. Totals follow WooCommerce's rules: line `subtotal` before and `total`
after coupons, both without tax; taxes per line, on shipping and on taxable fees at the store's
single rate; `total` = lines + line taxes + shipping + shipping tax + fees + fee taxes.
Every change bumps `date_modified_gmt` and queues the matching webhook topic (delivered after
commit by sandbox.delivery).
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from .models import SandboxCustomer, SandboxOrder, SandboxOrderNote, SandboxProduct, SandboxStore

ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash")
CENT = Decimal("0.01")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Sandbox coupons: percent off every line, or a fixed amount spread over the lines.
COUPONS = {"save10": ("percent", Decimal("10")), "fiver": ("fixed_cart", Decimal("5.00"))}
BILLING_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "state",
    "postcode",
    "country",
    "email",
    "phone",
)
SHIPPING_FIELDS = BILLING_FIELDS[:9]


class SandboxError(Exception):
    """A WooCommerce-shaped error: `{"code", "message", "data": {"status", ...}}`."""

    def __init__(self, status: int, code: str, message: str, **data):
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data

    def body(self) -> dict:
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.data}}


def invalid_param(name: str, reason: str) -> SandboxError:
    return SandboxError(400, "rest_invalid_param", f"Invalid parameter(s): {name}", params={name: reason})


def wc_time(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def money_str(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _dec(value: Any, name: str) -> Decimal:
    try:
        result = Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation as exc:
        raise invalid_param(name, f"{name} is not of type number.") from exc
    if not result.is_finite():
        raise invalid_param(name, f"{name} is not of type number.")
    return result


def _address(raw: Any, fields: tuple[str, ...], name: str, current: dict | None = None) -> dict:
    result = dict(current or {f: "" for f in fields})
    if raw is None:
        return result
    if not isinstance(raw, dict):
        raise invalid_param(name, f"{name} is not of type object.")
    for key, value in raw.items():
        if key not in fields:
            continue
        if not isinstance(value, str):
            raise invalid_param(name, f"{name}[{key}] is not of type string.")
        result[key] = value.strip()
    if name == "billing" and result.get("email") and not EMAIL.match(result["email"]):
        raise invalid_param("billing", "Invalid email address.")
    return result


def _modified_stamp(previous: datetime | None) -> datetime:
    """Now to the second (WooCommerce's resolution), strictly after the previous stamp."""
    now = timezone.now().replace(microsecond=0)
    if previous is not None and now <= previous:
        now = previous.replace(microsecond=0) + timedelta(seconds=1)
    return now


# --- Products and customers ---------------------------------------------------------------------


def create_product(store: SandboxStore, body: dict) -> SandboxProduct:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SandboxError(400, "rest_missing_callback_param", "Missing parameter(s): name", params=["name"])
    sku = str(body.get("sku") or "").strip()
    if sku and SandboxProduct.objects.filter(store=store, sku=sku).exists():
        raise SandboxError(400, "product_invalid_sku", "Invalid or duplicated SKU.", resource_id=0, unique_sku=sku)
    price = _dec(body.get("regular_price"), "regular_price")
    now = timezone.now().replace(microsecond=0)
    product = SandboxProduct.objects.create(store=store, sku=sku, date_modified_gmt=now)
    product.data = {
        "id": product.pk,
        "name": name.strip(),
        "slug": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
        "type": "simple",
        "status": "publish",
        "sku": sku,
        "price": money_str(price),
        "regular_price": money_str(price),
        "sale_price": "",
        "date_created": wc_time(now),
        "date_created_gmt": wc_time(now),
        "date_modified": wc_time(now),
        "date_modified_gmt": wc_time(now),
        "manage_stock": False,
        "stock_quantity": None,
        "meta_data": [],
    }
    _apply_stock(product.data, body)
    product.save(update_fields=["data"])
    return product


def _apply_stock(data: dict, body: dict) -> None:
    """`manage_stock` and `stock_quantity` as WooCommerce's products controller applies them
    (_products.md "Product properties": manage_stock boolean, stock_quantity integer): a quantity is
    kept only while the product manages its stock; otherwise WooCommerce drops it without an error."""
    if "manage_stock" in body:
        if not isinstance(body["manage_stock"], bool):
            raise invalid_param("manage_stock", "manage_stock is not of type boolean.")
        data["manage_stock"] = body["manage_stock"]
    if "stock_quantity" in body and body["stock_quantity"] is not None:
        quantity = body["stock_quantity"]
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise invalid_param("stock_quantity", "stock_quantity is not of type integer.")
        if data.get("manage_stock"):
            data["stock_quantity"] = quantity
    if not data.get("manage_stock"):
        data["stock_quantity"] = None
    if data.get("manage_stock"):
        data["stock_status"] = "instock" if (data.get("stock_quantity") or 0) > 0 else "outofstock"


def update_product(store: SandboxStore, product: SandboxProduct, body: dict) -> SandboxProduct:
    """PUT products/<id> (the fields the sandbox models: name, regular_price, stock)."""
    if not isinstance(body, dict):
        raise SandboxError(400, "rest_invalid_json", "Invalid JSON body passed.")
    data = dict(product.data)
    if "name" in body:
        data["name"] = str(body["name"]).strip() or data["name"]
    if "regular_price" in body:
        price = money_str(_dec(body["regular_price"], "regular_price"))
        data["regular_price"] = data["price"] = price
    _apply_stock(data, body)
    now = timezone.now().replace(microsecond=0)
    data["date_modified"] = data["date_modified_gmt"] = wc_time(now)
    product.data, product.date_modified_gmt = data, now
    product.save(update_fields=["data", "date_modified_gmt"])
    from .delivery import queue_event

    queue_event(store, "product.updated", product.data)
    return product


def create_customer(store: SandboxStore, body: dict) -> SandboxCustomer:
    email = str(body.get("email") or "").strip().lower()
    if not email:
        raise SandboxError(400, "rest_missing_callback_param", "Missing parameter(s): email", params=["email"])
    if not EMAIL.match(email):
        raise invalid_param("email", "Invalid email address.")
    if SandboxCustomer.objects.filter(store=store, email=email).exists():
        raise SandboxError(
            400, "registration-error-email-exists", "An account is already registered with your email address."
        )
    now = timezone.now().replace(microsecond=0)
    with transaction.atomic():
        customer = SandboxCustomer.objects.create(store=store, email=email, date_created_gmt=now, date_modified_gmt=now)
        billing = _address(body.get("billing"), BILLING_FIELDS, "billing")
        billing["email"] = billing.get("email") or email
        customer.data = {
            "id": customer.pk,
            "date_created": wc_time(now),
            "date_created_gmt": wc_time(now),
            "date_modified": wc_time(now),
            "date_modified_gmt": wc_time(now),
            "email": email,
            "first_name": str(body.get("first_name") or ""),
            "last_name": str(body.get("last_name") or ""),
            "role": "customer",
            "username": str(body.get("username") or email.split("@")[0]),
            "billing": billing,
            "shipping": _address(body.get("shipping"), SHIPPING_FIELDS, "shipping"),
            "is_paying_customer": False,
            "avatar_url": "",
            "meta_data": [],
        }
        customer.save(update_fields=["data"])
        from .delivery import queue_event

        queue_event(store, "customer.created", customer_payload(customer))
    return customer


def customer_payload(customer: SandboxCustomer) -> dict:
    return dict(customer.data)


# --- Orders -------------------------------------------------------------------------------------


def _product_for(store: SandboxStore, item: dict) -> SandboxProduct:
    if item.get("sku"):
        product = SandboxProduct.objects.filter(store=store, sku=str(item["sku"])).first()
    elif item.get("product_id"):
        product = SandboxProduct.objects.filter(store=store, pk=_int(item["product_id"], "product_id")).first()
    else:
        raise SandboxError(400, "woocommerce_rest_required_product_reference", "Product ID or SKU is required.")
    if product is None:
        raise SandboxError(400, "woocommerce_rest_invalid_product_id", "Product ID provided is invalid.")
    return product


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise invalid_param(name, f"{name} is not of type integer.") from exc


def _line(store: SandboxStore, item: dict, line_id: int) -> dict:
    if not isinstance(item, dict):
        raise invalid_param("line_items", "line_items[0] is not of type object.")
    product = _product_for(store, item)
    quantity = _int(item.get("quantity", 1), "quantity")
    if quantity < 1:
        raise SandboxError(400, "woocommerce_rest_invalid_quantity", "Quantity must be a positive number.")
    price = _dec(item["price"], "price") if item.get("price") not in (None, "") else Decimal(product.data["price"])
    subtotal = (price * quantity).quantize(CENT, rounding=ROUND_HALF_UP)
    return {
        "id": line_id,
        "name": product.data["name"],
        "product_id": product.pk,
        "variation_id": 0,
        "quantity": quantity,
        "tax_class": "",
        "subtotal": money_str(subtotal),
        "subtotal_tax": "0.00",
        "total": money_str(subtotal),
        "total_tax": "0.00",
        "taxes": [],
        "meta_data": [m for m in item.get("meta_data") or [] if isinstance(m, dict)],
        "sku": product.sku,
        "price": float(price),
    }


def recalculate(store: SandboxStore, data: dict) -> None:
    """Coupons, taxes and totals from the lines, as WooCommerce's calculate_totals() does."""
    rate = Decimal(store.tax_rate)
    lines = data["line_items"]
    subtotals = [Decimal(li["subtotal"]) for li in lines]
    discounts = [Decimal("0.00")] * len(lines)
    for coupon in data["coupon_lines"]:
        kind, amount = COUPONS[coupon["code"].lower()]
        if kind == "percent":
            share = [(s * amount / 100).quantize(CENT, rounding=ROUND_HALF_UP) for s in subtotals]
        else:
            base = sum(subtotals, Decimal("0"))
            amount = min(amount, base)
            share = [
                (s * amount / base).quantize(CENT, rounding=ROUND_HALF_UP) if base else CENT * 0 for s in subtotals
            ]
            if share:
                share[-1] += amount - sum(share, Decimal("0"))
        coupon["discount"] = money_str(sum(share, Decimal("0")))
        coupon["discount_tax"] = money_str(sum(((s * rate).quantize(CENT) for s in share), Decimal("0")))
        discounts = [d + s for d, s in zip(discounts, share, strict=True)]
    cart_tax = Decimal("0.00")
    for line, subtotal, discount in zip(lines, subtotals, discounts, strict=True):
        total = subtotal - discount
        line["total"] = money_str(total)
        line["subtotal_tax"] = money_str(subtotal * rate)
        line["total_tax"] = money_str(total * rate)
        line["taxes"] = [{"id": 1, "total": line["total_tax"], "subtotal": line["subtotal_tax"]}] if rate else []
        line["price"] = float(total / line["quantity"]) if line["quantity"] else 0.0
        cart_tax += Decimal(line["total_tax"])
    fees = Decimal("0.00")
    for fee in data["fee_lines"]:
        fee_total = Decimal(fee["total"])
        fee["total_tax"] = money_str(fee_total * rate if fee.get("tax_status") == "taxable" else Decimal("0"))
        fees += fee_total
        cart_tax += Decimal(fee["total_tax"])
    shipping = sum((Decimal(s["total"]) for s in data["shipping_lines"]), Decimal("0.00"))
    shipping_tax = Decimal("0.00")
    for ship in data["shipping_lines"]:
        ship["total_tax"] = money_str(Decimal(ship["total"]) * rate)
        shipping_tax += Decimal(ship["total_tax"])
    items = sum((Decimal(li["total"]) for li in lines), Decimal("0.00"))
    data["discount_total"] = money_str(sum(discounts, Decimal("0.00")))
    data["discount_tax"] = money_str(sum((Decimal(c["discount_tax"]) for c in data["coupon_lines"]), Decimal("0")))
    data["shipping_total"] = money_str(shipping)
    data["shipping_tax"] = money_str(shipping_tax)
    data["cart_tax"] = money_str(cart_tax)
    data["total_tax"] = money_str(cart_tax + shipping_tax)
    data["total"] = money_str(items + fees + shipping + cart_tax + shipping_tax)
    data["tax_lines"] = (
        [
            {
                "id": 1,
                "rate_code": "SANDBOX-TAX-1",
                "rate_id": 1,
                "label": "Tax",
                "compound": False,
                "tax_total": money_str(cart_tax),
                "shipping_tax_total": money_str(shipping_tax),
                "meta_data": [],
            }
        ]
        if rate
        else []
    )


def _apply_lists(store: SandboxStore, data: dict, body: dict, next_id) -> None:
    if "line_items" in body:
        if not isinstance(body["line_items"], list):
            raise invalid_param("line_items", "line_items is not of type array.")
        for item in body["line_items"]:
            if isinstance(item, dict) and item.get("id"):
                existing = next((li for li in data["line_items"] if li["id"] == _int(item["id"], "id")), None)
                if existing is None:
                    raise SandboxError(
                        400, "woocommerce_rest_invalid_item_id", "Order item ID provided is not associated with order."
                    )
                quantity = _int(item.get("quantity", existing["quantity"]), "quantity")
                if quantity == 0:
                    data["line_items"].remove(existing)
                    continue
                unit = Decimal(existing["subtotal"]) / existing["quantity"]
                existing["quantity"] = quantity
                existing["subtotal"] = money_str(unit * quantity)
            else:
                data["line_items"].append(_line(store, item, next_id()))
    if "shipping_lines" in body:
        for ship in body["shipping_lines"] or []:
            data["shipping_lines"].append(
                {
                    "id": next_id(),
                    "method_title": str(ship.get("method_title") or "Flat rate"),
                    "method_id": str(ship.get("method_id") or "flat_rate"),
                    "total": money_str(_dec(ship.get("total"), "shipping_lines")),
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                }
            )
    if "fee_lines" in body:
        for fee in body["fee_lines"] or []:
            data["fee_lines"].append(
                {
                    "id": next_id(),
                    "name": str(fee.get("name") or "Fee"),
                    "tax_class": "",
                    "tax_status": "taxable" if fee.get("tax_status", "taxable") == "taxable" else "none",
                    "total": money_str(_dec(fee.get("total"), "fee_lines")),
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                }
            )
    if "coupon_lines" in body:
        for coupon in body["coupon_lines"] or []:
            code = str((coupon or {}).get("code") or "").strip().lower()
            if code not in COUPONS:
                raise SandboxError(400, "woocommerce_rest_invalid_coupon", f'Coupon "{code}" does not exist!')
            data["coupon_lines"].append(
                {"id": next_id(), "code": code, "discount": "0.00", "discount_tax": "0.00", "meta_data": []}
            )


def _item_counter(data: dict):
    used = [x["id"] for key in ("line_items", "shipping_lines", "fee_lines", "coupon_lines") for x in data.get(key, [])]
    state = {"next": max(used, default=0) + 1}

    def next_id() -> int:
        value = state["next"]
        state["next"] += 1
        return value

    return next_id


def _check_status(status: Any) -> str:
    if status not in ORDER_STATUSES:
        raise invalid_param("status", f"status is not one of {', '.join(ORDER_STATUSES)}.")
    return status


def create_order(store: SandboxStore, body: dict) -> SandboxOrder:
    if not isinstance(body, dict):
        raise SandboxError(400, "rest_invalid_json", "Invalid JSON body passed.")
    status = _check_status(body.get("status", "pending"))
    if body.get("set_paid") is True:
        status = "processing"
    currency = str(body.get("currency") or store.currency).upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise invalid_param("currency", "currency is not one of the ISO 4217 codes.")
    customer_id = _int(body.get("customer_id", 0), "customer_id")
    if customer_id and not SandboxCustomer.objects.filter(store=store, pk=customer_id).exists():
        raise SandboxError(400, "woocommerce_rest_invalid_customer_id", "Customer ID is invalid.")
    now = timezone.now().replace(microsecond=0)
    with transaction.atomic():
        order = SandboxOrder.objects.create(store=store, status=status, date_created_gmt=now, date_modified_gmt=now)
        data = {
            "id": order.pk,
            "parent_id": 0,
            "number": str(order.pk),
            "order_key": "wc_order_" + secrets.token_hex(6),
            "created_via": "rest-api",
            "version": "8.9.0",
            "status": status,
            "currency": currency,
            "date_created": wc_time(now),
            "date_created_gmt": wc_time(now),
            "date_modified": wc_time(now),
            "date_modified_gmt": wc_time(now),
            "prices_include_tax": False,
            "customer_id": customer_id,
            "customer_ip_address": "",
            "customer_user_agent": "",
            "customer_note": str(body.get("customer_note") or ""),
            "billing": _address(body.get("billing"), BILLING_FIELDS, "billing"),
            "shipping": _address(body.get("shipping"), SHIPPING_FIELDS, "shipping"),
            "payment_method": str(body.get("payment_method") or ""),
            "payment_method_title": str(body.get("payment_method_title") or ""),
            "transaction_id": "",
            "date_paid": wc_time(now) if status in ("processing", "completed") else None,
            "date_paid_gmt": wc_time(now) if status in ("processing", "completed") else None,
            "date_completed": wc_time(now) if status == "completed" else None,
            "date_completed_gmt": wc_time(now) if status == "completed" else None,
            "cart_hash": "",
            "meta_data": [m for m in body.get("meta_data") or [] if isinstance(m, dict)],
            "line_items": [],
            "tax_lines": [],
            "shipping_lines": [],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [],
        }
        _apply_lists(store, data, body, _item_counter(data))
        recalculate(store, data)
        order.data = data
        order.save(update_fields=["data"])
        from .delivery import queue_event

        queue_event(store, "order.created", order.data)
    return order


def update_order(store: SandboxStore, order: SandboxOrder, body: dict) -> SandboxOrder:
    if not isinstance(body, dict):
        raise SandboxError(400, "rest_invalid_json", "Invalid JSON body passed.")
    with transaction.atomic():
        order = SandboxOrder.objects.select_for_update().get(pk=order.pk)
        data = dict(order.data)
        if "status" in body:
            data["status"] = _check_status(body["status"])
        if body.get("set_paid") is True and data["status"] in ("pending", "on-hold", "failed"):
            data["status"] = "processing"
        for key in ("billing", "shipping"):
            if key in body:
                fields = BILLING_FIELDS if key == "billing" else SHIPPING_FIELDS
                data[key] = _address(body[key], fields, key, data.get(key))
        if "customer_note" in body:
            data["customer_note"] = str(body["customer_note"] or "")
        if "meta_data" in body:
            data["meta_data"] = [m for m in body["meta_data"] or [] if isinstance(m, dict)]
        _apply_lists(store, data, body, _item_counter(data))
        recalculate(store, data)
        stamp = _modified_stamp(order.date_modified_gmt)
        data["date_modified"] = data["date_modified_gmt"] = wc_time(stamp)
        if data["status"] == "completed" and not data.get("date_completed_gmt"):
            data["date_completed"] = data["date_completed_gmt"] = wc_time(stamp)
        order.data, order.status, order.date_modified_gmt = data, data["status"], stamp
        order.save(update_fields=["data", "status", "date_modified_gmt"])
        from .delivery import queue_event

        queue_event(store, "order.updated", order.data)
    return order


def add_note(order: SandboxOrder, body: dict) -> SandboxOrderNote:
    note = body.get("note") if isinstance(body, dict) else None
    if not isinstance(note, str) or not note.strip():
        raise SandboxError(400, "rest_missing_callback_param", "Missing parameter(s): note", params=["note"])
    return SandboxOrderNote.objects.create(order=order, note=note, customer_note=bool(body.get("customer_note")))


def note_json(note: SandboxOrderNote) -> dict:
    return {
        "id": note.pk,
        "author": note.author,
        "date_created": wc_time(note.date_created_gmt),
        "date_created_gmt": wc_time(note.date_created_gmt),
        "note": note.note,
        "customer_note": note.customer_note,
    }
