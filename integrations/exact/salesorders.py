"""Orders into Exact Online as sales orders (the `sales_order` target type of ExactTarget), the flow
option "Orders become: sales orders" (presets.resolve_capability).

Customers and items are found as for invoices (invoicing.py). The order number is the sales order's
`YourRef`, so `find` locates one written before a lost answer or a crash. An edit replaces the lines
of an order still open in Exact (Status 12, nothing delivered or invoiced); once Exact has delivered
or invoiced any of it, the change goes to review. A cancellation deletes the open sales order (Exact
has no cancel call: DELETE is how an order nobody worked on goes away); one already delivered or
invoiced stays and goes to review. Refunds are credit notes, as in invoice mode (refunds.py): a
sales order is not money, the credit note is.
"""

from __future__ import annotations

from decimal import Decimal

from connector.adapters import WriteResult
from connector.canonical import Order
from connector.http import NeedsReview, Permanent
from integrations.exact import refunds
from integrations.exact.client import ExactClient
from integrations.exact.invoice_mapping import InvoiceOptions, MissingSetup
from integrations.exact.invoicing import SETUP_REMEDIATION, customer_account, find_invoice, invoice_options, item_ids
from integrations.exact.salesorder_mapping import STATUS_OPEN, order_lines, order_total, sales_order, same_lines


def find_sales_order(client: ExactClient, order: Order) -> str | None:
    rows = client.sales_orders_with_ref(order.number)
    return str(rows[0]["OrderID"]) if rows else None


def _wanted(client: ExactClient, order: Order, settings: InvoiceOptions) -> list[dict]:
    try:
        return order_lines(order, item_ids(client, order, settings), settings)
    except MissingSetup as exc:
        raise NeedsReview(str(exc), remediation=SETUP_REMEDIATION) from exc


def _facts(so: dict, lines: list[dict]) -> dict:
    return {
        "number": str(so.get("OrderNumber") or ""),
        "total": str(order_total(lines)),
        "currency": str(so.get("Currency") or ""),
    }


def upsert_sales_order(client: ExactClient, order: Order, options: dict, target_id: str | None) -> WriteResult:
    settings = invoice_options(options)
    lines = _wanted(client, order, settings)
    account = ""
    if target_id:
        result = _compare(client, order, target_id, lines)
    else:
        _not_invoiced_already(client, order)
        account = customer_account(client, order)
        so = client.create_sales_order(sales_order(order, account, lines))
        result = WriteResult(str(so["OrderID"]), "created", data=_facts(so, lines))
    if not order.refunds:
        return result
    credited = refunds.credit_refunds(client, order, options, settings, account or customer_account(client, order))
    return refunds.with_refunds(result, credited)


def _not_invoiced_already(client: ExactClient, order: Order) -> None:
    """An order the flow invoiced before it was switched to sales orders gets no sales order as well:
    invoicing that in Exact would bill the customer twice."""
    invoice_id = find_invoice(client, order)
    if invoice_id:
        raise NeedsReview(
            f"Order {order.number} already has an Exact sales invoice (made before this flow sent sales "
            "orders); no sales order was made for it.",
            remediation="Change the invoice in Exact if the order changed, then mark this record resolved.",
        )


def _worked_on(written: list[dict]) -> bool:
    return any(Decimal(str(line.get(f) or 0)) for line in written for f in ("QuantityDelivered", "QuantityInvoiced"))


def _compare(client: ExactClient, order: Order, target_id: str, lines: list[dict]) -> WriteResult:
    """Unchanged when Exact holds these lines; an open order nobody worked on gets its lines replaced
    (a retry after a crash midway compares again and finishes); otherwise the change goes to review."""
    written = client.written_sales_order_lines(target_id)
    if same_lines(written, lines):
        return WriteResult(target_id, "unchanged")
    so = client.sales_order(target_id) or {}
    if not so or so.get("Status") != STATUS_OPEN or _worked_on(written):
        raise NeedsReview(
            f"Order {order.number} changed after Exact sales order {so.get('OrderNumber', '')} was delivered, "
            "invoiced or closed; it was not changed.",
            remediation="Change the sales order in Exact by hand, then mark this record resolved.",
        )
    for line in written:
        client.delete_sales_order_line(str(line["ID"]))
    for line in lines:
        client.add_sales_order_line(target_id, line)
    return WriteResult(target_id, "updated", data=_facts(so, lines))


def cancel_sales_order(client: ExactClient, order: Order, target_id: str, options: dict) -> WriteResult:
    """Delete the open sales order; a refunded order keeps it and has its refunds credited."""
    if order.refunds:
        settings = invoice_options(options)
        credited = refunds.credit_refunds(client, order, options, settings, customer_account(client, order))
        result = WriteResult(target_id, "unchanged", data={"reason": "refunded: credited, not deleted"})
        return refunds.with_refunds(result, credited)
    target_id = target_id or find_sales_order(client, order) or ""
    if not target_id:
        return WriteResult("", "skipped", data={"reason": "No Exact sales order was written: nothing to cancel."})
    so = client.sales_order(target_id)
    if so is None:
        return WriteResult(target_id, "voided", data={"reason": "The Exact sales order is already gone."})
    if so.get("Status") != STATUS_OPEN or _worked_on(client.written_sales_order_lines(target_id)):
        raise NeedsReview(
            f"Order {order.number} was cancelled, but Exact sales order {so.get('OrderNumber', '')} is already "
            "delivered, invoiced or closed; it was left as it is.",
            remediation="Cancel or credit it in Exact by hand, then mark this record resolved.",
        )
    try:
        client.delete_sales_order(target_id)
    except Permanent as exc:
        if exc.status != 404:  # deleted meanwhile (a retry after a lost answer): done
            raise
    return WriteResult(target_id, "voided", data={"number": str(so.get("OrderNumber") or "")})
