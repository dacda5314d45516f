"""Pure mapping from canonical Orders to qbXML specs for flows into QuickBooks Desktop.

No I/O here: the caller resolves customers and items (cached ListIDs) and passes them in.

Amounts: QuickBooks computes an invoice line as Quantity × Rate. Line discounts, order-level
discount, shipping and tax therefore become their own lines on configurable items (Rate = the amount,
negative for discounts) so the invoice total equals the order's computed total to the cent. We do not
use QuickBooks' own sales-tax calculation (ItemSalesTaxRef): the source already charged the tax.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, tzinfo
from decimal import Decimal

from connector.canonical import Order, OrderStatus, Refund
from integrations.qbdesktop import qbxml

REF_NUMBER_MAX = qbxml.REF_NUMBER_MAX  # QuickBooks' RefNumber limit (the qbxml builders enforce it too)
INVOICE, JOURNAL, SALES_RECEIPT = "invoice", "journal", "sales_receipt"
POSTINGS = (INVOICE, JOURNAL, SALES_RECEIPT)

DEFAULT_OPTIONS = {
    "posting": INVOICE,  # or JOURNAL, or SALES_RECEIPT (paid orders as sales receipts)
    "post_when": "shipped",  # or "paid": an order is posted once paid, shipped or not
    "shipping_item": "Shipping",
    "discount_item": "Discount",
    "tax_item": "Sales Tax",
    "customer_full_name": "",  # post every order to this one customer instead of the order's
    "journal_debit_account": "Accounts Receivable",
    "journal_sales_account": "Sales",
    "journal_shipping_account": "Shipping Income",
    "journal_tax_account": "Sales Tax Payable",
    "refund_item": "Refunds",  # the item each refund's credit memo line is on
    "payment_method": "",  # sales receipts: QuickBooks payment method (empty: none)
    "deposit_account": "",  # sales receipts: deposit-to account (empty: QuickBooks' Undeposited Funds)
}


def ready_to_post(order: Order, options: dict) -> bool:
    """Shipped orders are always posted; with "post_when" = "paid", a paid order waiting to ship too
    (a store whose orders are invoiced at payment)."""
    if order.status == OrderStatus.SHIPPED:
        return True
    return options.get("post_when") == "paid" and order.status == OrderStatus.OPEN


def waiting_for(options: dict) -> str:
    """What an order not posted yet waits for, in the merchant's words."""
    return "it is paid" if options.get("post_when") == "paid" else "it ships"


def options_with_defaults(options: dict | None) -> dict:
    merged = dict(DEFAULT_OPTIONS)
    merged.update({k: v for k, v in (options or {}).items() if v not in (None, "")})
    return merged


def customer_candidates(order: Order, options: dict) -> list[str]:
    """QuickBooks customer names to try, best first: the flow's fixed customer, else the bill-to
    company, bill-to name, then the customer's company and name. Duplicates (case-insensitive) dropped."""
    fixed = (options.get("customer_full_name") or "").strip()
    if fixed:
        return [fixed]
    raw = []
    if order.bill_to:
        raw += [order.bill_to.company, order.bill_to.name]
    if order.customer:
        raw += [order.customer.company, order.customer.name]
    seen: set[str] = set()
    names = []
    for name in raw:
        name = (name or "").strip()
        if name and name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


def required_items(order: Order, options: dict) -> list[str]:
    """Item FullNames an invoice (or sales receipt) for this order needs: line SKUs, then the charge
    items it uses."""
    if options.get("posting") == JOURNAL:
        return []
    names: list[str] = []
    for line in order.lines:
        if line.sku and line.sku.lower() not in {n.lower() for n in names}:
            names.append(line.sku)
    extras = []
    if order.shipping:
        extras.append(options["shipping_item"])
    if any(line.discount for line in order.lines) or order.discount:
        extras.append(options["discount_item"])
    if order_tax(order):
        extras.append(options["tax_item"])
    for name in extras:
        if name.lower() not in {n.lower() for n in names}:
            names.append(name)
    return names


def order_tax(order: Order) -> Decimal:
    return sum((line.tax for line in order.lines), Decimal("0.00")) + order.tax


def problems(order: Order) -> list[str]:
    """Why this order cannot become a QuickBooks transaction at all (no QuickBooks lookup needed)."""
    found = []
    if len(order.number) > REF_NUMBER_MAX:
        found.append(f"Order number '{order.number}' is longer than QuickBooks' {REF_NUMBER_MAX}-character RefNumber.")
    if not order.lines:
        found.append(f"Order {order.number} has no lines.")
    for line in order.lines:
        if not line.sku:
            found.append(f"Line '{line.name}' of order {order.number} has no SKU to match a QuickBooks item.")
    return found


def txn_date(order: Order, company_tz: tzinfo) -> date:
    """The ship date (sources give it as a date), else the order date in the company's local time."""
    if order.ship_date:
        return order.ship_date
    return order.order_date.astimezone(company_tz).date()


@dataclass(frozen=True)
class Resolved:
    """What the QuickBooks lookups found: the customer's FullName and ListID, items by lower-cased name."""

    customer_full_name: str
    customer_list_id: str
    items: dict[str, tuple[str, str]]  # lower-cased name -> (FullName, ListID)


def _item_line(resolved: Resolved, name: str, quantity: Decimal, rate: Decimal, desc: str = "") -> qbxml.InvoiceLine:
    full_name, list_id = resolved.items[name.lower()]
    return qbxml.InvoiceLine(full_name, quantity, rate, desc=desc[:4095], item_list_id=list_id)


def invoice_spec(
    order: Order, resolved: Resolved, options: dict, company_tz: tzinfo, *, source: str
) -> qbxml.InvoiceSpec:
    """`source` names the order's system in the memo ("<source> order 1001")."""
    lines = [_item_line(resolved, line.sku, line.quantity, line.unit_price, line.name) for line in order.lines]
    discount = sum((line.discount for line in order.lines), Decimal("0.00")) + order.discount
    if discount:
        lines.append(_item_line(resolved, options["discount_item"], Decimal(1), -discount, "Discount"))
    if order.shipping:
        lines.append(_item_line(resolved, options["shipping_item"], Decimal(1), order.shipping, "Shipping"))
    tax = order_tax(order)
    if tax:
        lines.append(_item_line(resolved, options["tax_item"], Decimal(1), tax, "Sales tax"))
    return qbxml.InvoiceSpec(
        customer_full_name=resolved.customer_full_name,
        customer_list_id=resolved.customer_list_id,
        txn_date=txn_date(order, company_tz),
        ref_number=order.number,
        lines=tuple(lines),
        ship_date=order.ship_date,
        memo=f"{source} order {order.number}",
    )


def invoice_total(spec: qbxml.InvoiceSpec) -> Decimal:
    return sum((Decimal(line.quantity) * Decimal(line.rate) for line in spec.lines), Decimal("0")).quantize(
        Decimal("0.01")
    )


def journal_spec(
    order: Order, customer_full_name: str, options: dict, company_tz: tzinfo, *, source: str
) -> qbxml.JournalEntrySpec:
    """Debit receivables (with the customer: QuickBooks requires a name on A/R lines); credit sales,
    shipping and tax. Sales = the order's computed total less shipping and tax, so it balances."""
    total = order.computed_total
    tax = order_tax(order)
    sales = total - order.shipping - tax
    memo = f"{source} order {order.number}"
    credits = [qbxml.JournalLine(options["journal_sales_account"], sales, memo)]
    if order.shipping:
        credits.append(qbxml.JournalLine(options["journal_shipping_account"], order.shipping, memo))
    if tax:
        credits.append(qbxml.JournalLine(options["journal_tax_account"], tax, memo))
    debit = qbxml.JournalLine(options["journal_debit_account"], total, memo, entity_full_name=customer_full_name)
    return qbxml.JournalEntrySpec(
        txn_date=txn_date(order, company_tz),
        ref_number=order.number,
        debits=(debit,),
        credits=tuple(c for c in credits if c.amount),
    )


# --- Refunds: one credit memo each -----------------------------------------------------------------


def credit_memo_ref(order_number: str, ordinal: int) -> str:
    """The RefNumber of the order's `ordinal`-th credited refund: "1001-R1", "1001-R2".

    The refund's own id does not fit: WooCommerce refund ids are post ids as long as order numbers,
    and order number + refund id overflow QuickBooks' 11 characters on any store past order 99999.
    The refund id is in the memo and in our Link's key instead (the key a retry is checked by)."""
    return f"{order_number}-R{ordinal}"


def credit_memo_marker(order: Order, refund: Refund, *, source: str) -> str:
    """The memo's opening words; a credit memo found by RefNumber is ours for this refund only if its
    memo starts with them."""
    return f"{source} refund {refund.source_id} of order {order.number}"


def refund_problems(order: Order, refund: Refund, ref_number: str) -> list[str]:
    """Why this refund cannot become a credit memo at all (no QuickBooks lookup needed)."""
    found = []
    if refund.amount <= 0:
        found.append(f"Refund {refund.source_id} of order {order.number} has no amount ({refund.amount}).")
    if len(ref_number) > REF_NUMBER_MAX:
        found.append(
            f"Credit memo number '{ref_number}' for refund {refund.source_id} is longer than QuickBooks' "
            f"{REF_NUMBER_MAX}-character RefNumber."
        )
    return found


def credit_memo_spec(
    order: Order, refund: Refund, ref_number: str, resolved: Resolved, item: str, day: date, *, source: str
) -> qbxml.CreditMemoSpec:
    """One credit memo for one refund: a single line of the refunded amount (tax included, as the store
    gave it back) on the flow's refund item, so the credit equals the money returned to the cent."""
    memo = credit_memo_marker(order, refund, source=source)
    if refund.reason:
        memo += f": {refund.reason}"
    item_name, item_list_id = resolved.items[item.lower()]
    return qbxml.CreditMemoSpec(
        customer_full_name=resolved.customer_full_name,
        customer_list_id=resolved.customer_list_id,
        txn_date=day,
        ref_number=ref_number,
        item_full_name=item_name,
        item_list_id=item_list_id,
        amount=refund.amount,
        desc=f"Refund {refund.source_id} of order {order.number}",
        memo=memo,
    )
