"""A store refund as an Exact sales credit note: pure mapping, no I/O.

Exact's `salesinvoice/SalesInvoices` takes `Type` 8021 for a sales credit note, and a credit's amounts
are negative when posted or read (Exact's SalesInvoices reference, as picqer/exact-php-client's
`SalesInvoice.php` gives it: "Type ... 8021 - Sales credit note"; `GAccountAmountFC`: "In case of a
credit invoice the amount should have negative value"). One credit note per refund, its `YourRef`
`RF-<order number>-<refund id>`: the key a retry looks it up by before creating, so a refund is
never credited twice.

The store's refund is tax included; Exact adds the VAT of the line's VAT code to the line amount, so
the line carries the refund net of that VAT (to the cent): the credit note's total with VAT is the
money returned.
"""

from __future__ import annotations

from decimal import Decimal

from connector.canonical import Order, Refund, money
from integrations.exact.invoice_mapping import CREDIT_NOTE

REFUND_PREFIX = "RF-"


def refund_ref(number: str, refund: Refund) -> str:
    return f"{REFUND_PREFIX}{number}-{refund.source_id}"


def net_of_vat(amount: Decimal, vat_rate: Decimal) -> Decimal:
    """The amount before VAT at `vat_rate` (a fraction, 0.21), to the cent."""
    return money(amount / (Decimal("1") + vat_rate))


def refund_credit_note(
    order: Order, refund: Refund, *, account_id: str, journal: str, item_id: str, vat_code: str, vat_rate: Decimal
) -> dict:
    text = f"Refund {refund.source_id} of order {order.number}"
    if refund.reason:
        text += f": {refund.reason}"
    return {
        "OrderedBy": account_id,
        "Journal": journal,
        "Type": CREDIT_NOTE,
        "YourRef": refund_ref(order.number, refund),
        "Description": text[:60],
        "Currency": order.currency,
        "SalesInvoiceLines": [
            {
                "Item": item_id,
                "Quantity": -1.0,
                "AmountFC": -float(net_of_vat(refund.amount, vat_rate)),
                "Description": text[:60],
                "VATCode": vat_code,
            }
        ],
    }
