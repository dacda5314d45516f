"""Orders as Exact sales orders (`salesorder/SalesOrders`, EXACT.md §6.1–6.2): pure mapping, no I/O.

The order number is the sales order's `YourRef` (its natural key, as for invoices). Lines name an
`Item` with `Quantity`, the unit `NetPrice` and a `VATCode`; Exact works out each line's `AmountFC`
from them (picqer's `SalesOrderLine.php`: `NetPrice` "Net price of the sales order line", `AmountFC`
"Amount in the currency of the transaction"). The unit price carries up to six decimals so the line
amount Exact computes is the order line's net amount to the cent.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from connector.canonical import Order, money
from integrations.exact.invoice_mapping import InvoiceOptions, MissingSetup, document_lines

#: The flow option `exact_document`: what an order becomes in Exact.
DOCUMENT_INVOICE = "invoice"
DOCUMENT_SALES_ORDER = "sales_order"
STATUS_OPEN = 12  # 12 open, 20 partial, 21 complete, 45 cancelled (EXACT.md §6.1)
UNIT_PLACES = Decimal("0.000001")


def unit_price(amount: Decimal, quantity: Decimal) -> Decimal:
    if not quantity:
        raise MissingSetup("A sales order line needs a quantity other than 0.")
    return (amount / quantity).quantize(UNIT_PLACES, rounding=ROUND_HALF_UP)


def order_lines(order: Order, items: dict[str, str], options: InvoiceOptions) -> list[dict]:
    """One line per order line (item found by code in `items`), plus shipping when charged."""
    return document_lines(order, items, options, _line, verb="send")


def _line(item_id: str, quantity: Decimal, amount: Decimal, description: str, vat_code: str) -> dict:
    return {
        "Item": item_id,
        "Quantity": float(quantity),
        "NetPrice": float(unit_price(money(amount), quantity)),
        "Description": description[:60],
        "VATCode": vat_code,
    }


def sales_order(order: Order, account_id: str, lines: list[dict]) -> dict:
    return {
        "OrderedBy": account_id,
        "YourRef": order.number,
        "Description": f"Order {order.number}"[:60],
        "Currency": order.currency,
        "OrderDate": f"{order.order_date.date().isoformat()}T00:00:00",
        "SalesOrderLines": lines,
    }


def line_amount(line: dict) -> Decimal:
    """What Exact makes of a line: its quantity times its net unit price, to the cent."""
    return money(Decimal(str(line["Quantity"])) * Decimal(str(line["NetPrice"])))


def same_lines(written: list[dict], wanted: list[dict]) -> bool:
    """Whether the sales order already holds these lines (item, quantity, amount, in order)."""

    def key(line: dict) -> tuple:
        return (str(line["Item"]).lower(), Decimal(str(line["Quantity"])), line_amount(line))

    ordered = sorted(written, key=lambda line: line.get("LineNumber") or 0)
    return [key(x) for x in ordered] == [key(x) for x in wanted]


def order_total(lines: list[dict]) -> Decimal:
    return sum((line_amount(line) for line in lines), Decimal("0.00"))
