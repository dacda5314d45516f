"""Store refunds as Exact sales credit notes (Type 8021), one per refund (refund_mapping.py).

Each refund is looked up by its `YourRef` before anything is written, so a retry after a crash or a
lost answer finds the credit note it made instead of making a second one. The refund lines need an
Exact item like every line (`exact_refund_item`, never created: a person adds it) and take the flow's
VAT code; a refund the flow cannot credit is held for review with what to fix.
"""

from __future__ import annotations

from decimal import Decimal

from connector.adapters import WriteResult
from connector.canonical import Order, Refund
from connector.http import NeedsReview
from integrations.exact.client import ExactClient
from integrations.exact.invoice_mapping import InvoiceOptions
from integrations.exact.refund_mapping import refund_credit_note, refund_ref

REFUND_ITEM_OPTION = "exact_refund_item"


def uncredited(client: ExactClient, order: Order) -> list[Refund]:
    """The order's refunds Exact holds no credit note for (one lookup each, by YourRef)."""
    return [r for r in order.refunds if not client.sales_invoices_with_ref(refund_ref(order.number, r))]


def _refund_item(client: ExactClient, options: dict, order: Order) -> str:
    code = str(options.get(REFUND_ITEM_OPTION) or "").strip()
    if not code:
        raise NeedsReview(
            f"Order {order.number} was refunded and the flow names no Exact item to credit refunds as.",
            remediation="Pick the refund item code in the flow settings, then replay.",
        )
    rows = client.items_with_code(code)
    if not rows:
        raise NeedsReview(
            f"Exact has no item with code {code!r} to credit the refunds of order {order.number} as.",
            remediation="Create the item in Exact with this code (or pick another in the flow settings), then replay.",
        )
    return str(rows[0]["ID"])


def _vat_rate(client: ExactClient, vat_code: str) -> Decimal:
    rate = client.vat_percentage(vat_code)
    if rate is not None:
        return rate
    raise NeedsReview(
        f"Exact has no VAT code {vat_code!r} with a percentage to credit refunds with.",
        remediation="Pick a VAT code from Exact's list in the flow settings, then replay.",
    )


def credit_refunds(
    client: ExactClient, order: Order, options: dict, settings: InvoiceOptions, account_id: str
) -> list[str]:
    """Credit the refunds not credited yet; the numbers of the credit notes this call made."""
    pending = uncredited(client, order) if order.refunds else []
    if not pending:
        return []
    item_id = _refund_item(client, options, order)
    rate = _vat_rate(client, settings.vat_code)
    made = []
    for refund in pending:
        payload = refund_credit_note(
            order,
            refund,
            account_id=account_id,
            journal=settings.journal,
            item_id=item_id,
            vat_code=settings.vat_code,
            vat_rate=rate,
        )
        credit = client.create_sales_invoice(payload)
        made.append(str(credit.get("InvoiceNumber") or credit["InvoiceID"]))
    return made


def with_refunds(result: WriteResult, credited: list[str]) -> WriteResult:
    """The write's result, saying which credit notes were made (an unchanged document was updated)."""
    if not credited:
        return result
    action = "updated" if result.action == "unchanged" else result.action
    return WriteResult(result.target_id, action, result.url, {**result.data, "credit_notes": credited})
