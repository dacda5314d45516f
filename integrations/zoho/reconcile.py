"""Zoho Books as the ledger of a reconciliation: every invoice (or sales order) and credit note of a
period, and the shipment-cost journals of a flow posting them as journals, read from Books itself in
one paginated pass per document type (`date_start`/`date_end`, 200 a page, through the client's
per-organisation rate limiter), never one lookup per order.

A shipment's journal is found by the marker the flow writes into its notes (`[shipment:<id>]`, its
reversal `[shipment-void:<id>]`, integrations/zoho/mapping.py); the journals list carries `notes` and
`total` (journals.yml, list-journals response), so no journal is read one by one. Books refuses an
unbalanced journal, so every listed journal balances; journals without our marker are not ours."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from connector.http import Permanent
from connector.reconcile import ORDER, SHIPMENT, LedgerDocument, Period
from integrations.zoho.adapter import ZohoBooksTarget
from integrations.zoho.client import ZohoBooksClient

CENT = Decimal("0.01")
# (list path and key, our document kind, Books' kind for its web page, is a credit)
INVOICES = ("invoices", "invoice", "invoice", False)
SALES_ORDERS = ("salesorders", "sales_order", "salesorder", False)
CREDIT_NOTES = ("creditnotes", "credit_note", "creditnote", True)
SHIPMENT_MARKER = re.compile(r"\[(shipment|shipment-void):([^\]\s]+)\]")


def reconcile_items(options: dict) -> tuple[str, ...]:
    """Orders always; shipments when the flow books their costs as journals (not invoice comments)."""
    return (ORDER, SHIPMENT) if options.get("shipment_mode", "journal") == "journal" else (ORDER,)


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


def list_documents(
    connection, options: dict, period: Period, items: tuple[str, ...] = (ORDER,)
) -> Iterator[LedgerDocument]:
    client = ZohoBooksClient(connection)
    target = ZohoBooksTarget(connection, options=options)
    params = {"date_start": period.start.isoformat(), "date_end": period.end.isoformat(), "sort_column": "date"}
    if ORDER in items:
        for kind in document_kinds(options):
            path, _, books_kind, _ = kind
            for row in client.pages(path, path, params):
                url = target.document_url(books_kind, str(row.get(f"{books_kind}_id") or ""))
                yield ledger_document(row, kind, url)
    if SHIPMENT in items:
        base = str((connection.settings or {}).get("currency_code") or "")
        journal_params = {**params, "sort_column": "journal_date"}
        for row in client.pages("journals", "journals", journal_params):
            document = shipment_journal(row, base, target.document_url("journal", str(row.get("journal_id") or "")))
            if document is not None and period.contains(document.date):
                yield document


def shipment_journal(row: dict, base_currency: str, url: str = "") -> LedgerDocument | None:
    """A listed journal as the cost of the shipment its notes name (a reversal as a credit), or None
    for a journal no flow of ours wrote."""
    found = SHIPMENT_MARKER.search(str(row.get("notes") or ""))
    if found is None:
        return None
    status = str(row.get("status") or "")
    return LedgerDocument(
        kind="journal",
        document_id=str(row.get("journal_id") or ""),
        number=str(row.get("entry_number") or row.get("journal_number") or ""),
        reference=found.group(2),
        amount=amount(row.get("total", 0)),
        currency=str(row.get("currency_code") or base_currency or "").upper(),
        date=date.fromisoformat(str(row.get("journal_date") or row.get("date"))[:10]),
        status=status,
        url=url,
        credit=found.group(1) == "shipment-void",
        void=status == "void",
        item=SHIPMENT,
    )
