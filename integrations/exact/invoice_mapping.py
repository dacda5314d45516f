"""Orders as Exact sales invoices and credit notes: pure mapping, no I/O.

The order number is the invoice's `YourRef` (its natural key: `find` filters on it), a credit note's
`YourRef` is the same number with `CREDIT_PREFIX`. Amounts are Decimal to the cent, sent as JSON
numbers (Exact's OData takes doubles, EXACT.md §5.2); each line carries its net amount so Exact's own
price list never decides what the customer is charged.

Exact adds VAT to each net line from the percentage of its VAT code, rounded per line to the cent,
half away from zero (picqer/exact-php-client `SalesInvoiceLine.php`: `AmountFC` "for normal lines
it's the amount excluding VAT", `VATPercentage` "used for the default calculation of VAT amounts";
the invoice's `AmountFC` is "the sum of all lines, including VAT", `SalesInvoice.php`). `vat_gap`
says when that VAT is not the tax the order charged, so the invoice total would not be the order's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from connector.canonical import Order, money

INVOICE = 8020
CREDIT_NOTE = 8021
CREDIT_PREFIX = "CR-"
STATUS_PROCESSED = 50
CENT = Decimal("0.01")


@dataclass(frozen=True)
class InvoiceOptions:
    journal: str  # code of a sales journal (Type 20)
    vat_code: str  # one VAT code for every line
    shipping_item: str = ""  # item code of the shipping line, when orders charge shipping


class MissingSetup(Exception):
    """The order cannot be invoiced as the flow is set up (an option or item is missing)."""


def credit_ref(number: str) -> str:
    return f"{CREDIT_PREFIX}{number}"


def account_from_order(order: Order) -> dict:
    """A new customer account (Status C) for the order's buyer."""
    customer = order.customer
    bill = order.bill_to
    name = (customer and (customer.company or customer.name)) or (bill and (bill.company or bill.name)) or ""
    email = customer.email if customer else ""
    payload = {"Name": (name or email)[:50], "Email": email, "Status": "C"}
    if bill:
        payload.update(
            {
                k: v
                for k, v in (
                    ("AddressLine1", bill.street1),
                    ("City", bill.city),
                    ("Postcode", bill.postal_code),
                    ("Country", bill.country),
                )
                if v
            }
        )
    return payload


def invoice_lines(order: Order, items: dict[str, str], options: InvoiceOptions) -> list[dict]:
    """One line per order line (item found by code in `items`), plus shipping when charged."""
    return document_lines(order, items, options, _line, verb="invoice")


def document_lines(
    order: Order, items: dict[str, str], options: InvoiceOptions, line: Callable[..., dict], *, verb: str
) -> list[dict]:
    """An Exact document's lines, built by `line(item id, quantity, amount, description, VAT code)`
    (an invoice line carries its amount, a sales order line its unit price): one per order line, plus
    shipping when charged. An order-level discount is refused: this flow does not `verb` it."""
    lines = [line(items[ol.sku], ol.quantity, ol.net, ol.name, options.vat_code) for ol in order.lines]
    if order.shipping:
        if not options.shipping_item:
            raise MissingSetup(f"Order {order.number} charges shipping and the flow names no shipping item.")
        lines.append(line(items[options.shipping_item], Decimal("1"), order.shipping, "Shipping", options.vat_code))
    if order.discount:
        raise MissingSetup(f"Order {order.number} has an order-level discount, which this flow does not {verb}.")
    return lines


def _line(item_id: str, quantity: Decimal, amount: Decimal, description: str, vat_code: str) -> dict:
    return {
        "Item": item_id,
        "Quantity": float(quantity),
        "AmountFC": float(money(amount)),
        "Description": description[:60],
        "VATCode": vat_code,
    }


def sales_invoice(order: Order, account_id: str, lines: list[dict], options: InvoiceOptions) -> dict:
    return {
        "OrderedBy": account_id,
        "Journal": options.journal,
        "Type": INVOICE,
        "YourRef": order.number,
        "Description": f"Order {order.number}"[:60],
        "Currency": order.currency,
        "SalesInvoiceLines": lines,
    }


def credit_note(invoice: dict, lines: list[dict], number: str) -> dict:
    """The credit of a written invoice: its lines with quantity and amount negated."""
    return {
        "OrderedBy": invoice["OrderedBy"],
        "Journal": invoice["Journal"],
        "Type": CREDIT_NOTE,
        "YourRef": credit_ref(number),
        "Description": f"Credit of order {number}"[:60],
        "Currency": invoice.get("Currency"),
        "SalesInvoiceLines": [
            {
                "Item": line["Item"],
                "Quantity": -float(line["Quantity"]),
                "AmountFC": -float(money(line["AmountFC"])),
                "Description": line.get("Description") or "",
                "VATCode": line.get("VATCode") or "",
            }
            for line in lines
        ],
    }


def same_lines(written: list[dict], wanted: list[dict]) -> bool:
    """Whether the invoice in Exact already holds these lines (item, quantity, amount, in order)."""

    def key(line: dict) -> tuple:
        return (str(line["Item"]).lower(), Decimal(str(line["Quantity"])), money(line["AmountFC"]))

    ordered = sorted(written, key=lambda line: line.get("LineNumber") or 0)
    return [key(x) for x in ordered] == [key(x) for x in wanted]


def invoice_total(lines: list[dict]) -> Decimal:
    return sum((money(line["AmountFC"]) for line in lines), Decimal("0.00"))


def line_vat(amount: Decimal, rate: Decimal) -> Decimal:
    """The VAT Exact adds to a net line at `rate` (a fraction: 0.21): to the cent, half away from zero."""
    return (money(amount) * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def invoice_vat(lines: list[dict], rate: Decimal) -> Decimal:
    """The VAT Exact computes for these invoice lines, all at `rate`: the sum of each line's, rounded per line."""
    return sum((line_vat(money(line["AmountFC"]), rate) for line in lines), Decimal("0.00"))


def order_tax(order: Order) -> Decimal:
    """All the tax the order charges: on its lines and at order level (shipping tax and the rest)."""
    return money(sum((line.tax for line in order.lines), Decimal("0.00")) + order.tax)


def vat_gap(order: Order, lines: list[dict], rate: Decimal) -> tuple[Decimal, Decimal] | None:
    """(the order's tax, Exact's VAT) when they differ by a cent or more, else None."""
    charged, computed = order_tax(order), invoice_vat(lines, rate)
    return None if charged == computed else (charged, computed)
