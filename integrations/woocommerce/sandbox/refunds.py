"""Sandbox order refunds: `POST/GET /orders/<id>/refunds` (official-docs-wp-api-v3/_order-refunds.md).

A refund of `amount` (tax included) with a `reason`; the order's read-only `refunds` summary gains
`{id, reason, total}` with the total negative, as WooCommerce shows it; when the refunds reach the
order total the order becomes `refunded` (WooCommerce does this for a full refund). Creating a refund
fires `order.updated` (WooCommerce's `woocommerce_order_refunded` hook is one of that topic's
hooks). Errors: a non-positive amount is `woocommerce_rest_invalid_order_refund` (400); more than
is left to refund is `woocommerce_rest_cannot_create_order_refund` (500), WooCommerce's codes.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from .models import SandboxOrder, SandboxOrderRefund, SandboxStore
from .store import SandboxError, _dec, _modified_stamp, money_str, wc_time


def refund_json(refund: SandboxOrderRefund) -> dict:
    return {
        "id": refund.pk,
        "date_created": wc_time(refund.date_created_gmt),
        "date_created_gmt": wc_time(refund.date_created_gmt),
        "amount": money_str(refund.amount),
        "reason": refund.reason,
        "refunded_by": 1,
        "refunded_payment": False,
        "meta_data": [],
        "line_items": [],
    }


def create_refund(store: SandboxStore, order: SandboxOrder, body: dict) -> SandboxOrderRefund:
    if not isinstance(body, dict):
        raise SandboxError(400, "rest_invalid_json", "Invalid JSON body passed.")
    amount = _dec(body.get("amount", "0"), "amount")
    if amount <= 0:
        raise SandboxError(400, "woocommerce_rest_invalid_order_refund", "Refund amount must be greater than zero.")
    with transaction.atomic():
        order = SandboxOrder.objects.select_for_update().get(pk=order.pk)
        data = dict(order.data)
        refunded = sum((r.amount for r in order.refund_rows.all()), Decimal("0"))
        total = Decimal(str(data.get("total") or "0"))
        if refunded + amount > total:
            raise SandboxError(500, "woocommerce_rest_cannot_create_order_refund", "Invalid refund amount.")
        refund = SandboxOrderRefund.objects.create(order=order, amount=amount, reason=str(body.get("reason") or ""))
        summary = {"id": refund.pk, "reason": refund.reason, "total": money_str(-amount)}
        data["refunds"] = [summary, *(data.get("refunds") or [])]  # newest first, as WooCommerce lists them
        if refunded + amount == total:
            data["status"] = "refunded"
        stamp = _modified_stamp(order.date_modified_gmt)
        data["date_modified"] = data["date_modified_gmt"] = wc_time(stamp)
        order.data, order.status, order.date_modified_gmt = data, data["status"], stamp
        order.save(update_fields=["data", "status", "date_modified_gmt"])
        from .delivery import queue_event

        queue_event(store, "order.updated", order.data)
    return refund
