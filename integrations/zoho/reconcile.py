"""Zoho Books as the ledger of a reconciliation: every invoice (or sales order) and credit note of a
period, read from Books itself in one paginated pass per document type (`date_start`/`date_end`,
200 a page, through the client's per-organisation rate limiter), never one lookup per order."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from connector.http import Permanent
from connector.reconcile import LedgerDocument, Period
from integrations.zoho.adapter import ZohoBooksTarget
from integrations.zoho.client import ZohoBooksClient

CENT = Decimal("0.01")
# (list path and key, our document kind, Books' kind for its web page, is a credit)
INVOICES = ("invoices", "invoice", "invoice", False)
SALES_ORDERS = ("salesorders", "sales_order", "salesorder", False)
CREDIT_NOTES = ("creditnotes", "credit_note", "creditnote", True)


def document_kinds(options: dict) -> tuple[tuple, ...]:
    """What an order becomes under the flow's options (an invoice unless it writes sales orders),
    and the credit notes of its refunds."""
    return (SALES_ORDERS if options.get("document") == "sales_order" else INVOICES, CREDIT_NOTES)


def amount(value) -> Decimal:
    """Books keeps totals to the cent, rounded half up."""
    try:
        return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError) as exc:
        raise Permanent(f"Zoho Books listed a document total we cannot read: {value!r}") from exc


def ledger_document(row: dict, kind: tuple, url: str) -> LedgerDocument:
    path, ours, books_kind, credit = kind
    status = str(row.get("status") or "")
    return LedgerDocument(
        kind=ours,
        document_id=str(row.get(f"{books_kind}_id") or ""),
        number=str(row.get(f"{books_kind}_number") or ""),
        reference=str(row.get("reference_number") or ""),
        amount=amount(row.get("total", 0)),
        currency=str(row.get("currency_code") or ""),
        date=date.fromisoformat(str(row.get("date"))[:10]),
        status=status,
        url=url,
        credit=credit,
        void=status == "void",
    )


def list_documents(connection, options: dict, period: Period) -> Iterator[LedgerDocument]:
    client = ZohoBooksClient(connection)
    target = ZohoBooksTarget(connection, options=options)
    params = {"date_start": period.start.isoformat(), "date_end": period.end.isoformat(), "sort_column": "date"}
    for kind in document_kinds(options):
        path, _, books_kind, _ = kind
        for row in client.pages(path, path, params):
            url = target.document_url(books_kind, str(row.get(f"{books_kind}_id") or ""))
            yield ledger_document(row, kind, url)
