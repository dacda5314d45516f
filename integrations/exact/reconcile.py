"""Exact Online as the ledger of a reconciliation: the sales invoices (and credit notes) orders became,
and the general journal entries shipment costs became, read from Exact itself for a period.

One paginated pass per collection, through the client's shared rate limiter (60 a minute, 5,000 a
day per company) and `__next` paging (EXACT.md §5.2), `$select` always (§5.3), `$filter` on the
documented date fields (§5.1: `datetime'…'` literals), never one lookup per order:

- `salesinvoice/SalesInvoices` by `InvoiceDate`: `YourRef` is the order number (a credit note's is
  `CR-` + the number, integrations/exact/invoice_mapping.py), `AmountFC` the total in `Currency`
  including the VAT Exact added to the net lines ("For the header this is the sum of all lines,
  including VAT", picqer `SalesInvoice.php`): what the order's customer paid, compared with the
  order's total. The flow holds an order whose tax is not its VAT code's (invoicing.check_vat), so
  a difference here is an edit in Exact or a VAT code changed after invoicing.
- `generaljournalentry/GeneralJournalEntryLines` by `Date` (§6.6): an entry of ours names its
  shipment in its line descriptions (`SHIP-<id>`, integrations/exact/mapping.py); its amount is its
  debit total, and it balances when its lines add up to zero.
- `generaljournalentry/GeneralJournalEntries` modified since a day before the period (headers carry
  no date): each entry's `Currency`, `EntryNumber` and `Reversal` (a voided shipment's correction).

Exact's OData answers amounts as doubles; Exact keeps them to the cent, so they are read with
`Decimal(str(x))` rounded half up to the cent (§5.2).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from connector.http import Permanent
from connector.reconcile import ORDER, SHIPMENT, LedgerDocument, Period
from integrations.exact.client import ExactClient, odata_datetime, parse_date
from integrations.exact.invoice_mapping import CREDIT_NOTE, CREDIT_PREFIX

CENT = Decimal("0.01")
SHIPMENT_TAG = re.compile(r"\bSHIP-([^\s\]]+)")
INVOICE_SELECT = "InvoiceID,InvoiceNumber,InvoiceDate,Type,Status,YourRef,Currency,AmountFC"
LINE_SELECT = "ID,EntryID,Date,Description,AmountFC"
ENTRY_SELECT = "EntryID,EntryNumber,Currency,Reversal,Status"


def reconcile_items(options: dict) -> tuple[str, ...]:
    """Orders (as sales invoices) and shipments (as general journal entries)."""
    return (ORDER, SHIPMENT)


def amount(value) -> Decimal:
    try:
        return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError) as exc:
        raise Permanent(f"Exact Online listed an amount we cannot read: {value!r}") from exc


def _between(field: str, period: Period) -> str:
    return f"{field} ge {odata_datetime(period.since)} and {field} lt {odata_datetime(period.until)}"


def list_documents(
    connection, options: dict, period: Period, items: tuple[str, ...] = (ORDER,)
) -> Iterator[LedgerDocument]:
    client = ExactClient(connection)
    if ORDER in items:
        params = {"$select": INVOICE_SELECT, "$filter": _between("InvoiceDate", period)}
        for row in client.iter_results("salesinvoice/SalesInvoices", params):
            document = invoice_document(row)
            if document is not None and period.contains(document.date):
                yield document
    if SHIPMENT in items:
        yield from _shipment_entries(client, period)


def invoice_document(row: dict) -> LedgerDocument | None:
    """A listed sales invoice as an order's invoice, a credit note as its credit; None without a
    reference (not an order's)."""
    reference = str(row.get("YourRef") or "").strip()
    credit = row.get("Type") == CREDIT_NOTE
    if credit and reference.startswith(CREDIT_PREFIX):
        reference = reference[len(CREDIT_PREFIX) :]
    when = parse_date(row.get("InvoiceDate"))
    if not reference or when is None:
        return None
    total = amount(row.get("AmountFC") or 0)
    return LedgerDocument(
        kind="credit_note" if credit else "invoice",
        document_id=str(row.get("InvoiceID") or ""),
        number=str(row.get("InvoiceNumber") or ""),
        reference=reference,
        amount=abs(total),  # a credit note's lines are negated: it credits what it names
        currency=str(row.get("Currency") or "").upper(),
        date=when.date(),
        status=str(row.get("Status") or ""),
        credit=credit,
    )


def _shipment_entries(client: ExactClient, period: Period) -> Iterator[LedgerDocument]:
    by_entry: dict[str, list[dict]] = defaultdict(list)
    params = {"$select": LINE_SELECT, "$filter": _between("Date", period)}
    for line in client.iter_results("generaljournalentry/GeneralJournalEntryLines", params):
        by_entry[str(line.get("EntryID") or "").lower()].append(line)
    if not by_entry:
        return
    since = period.since - timedelta(days=1)
    header_params = {"$select": ENTRY_SELECT, "$filter": f"Modified ge {odata_datetime(since)}"}
    headers = {
        str(h.get("EntryID") or "").lower(): h
        for h in client.iter_results("generaljournalentry/GeneralJournalEntries", header_params)
    }
    for entry_id, lines in by_entry.items():
        document = entry_document(entry_id, lines, headers.get(entry_id, {}))
        if document is not None and period.contains(document.date):
            yield document


def entry_document(entry_id: str, lines: list[dict], header: dict) -> LedgerDocument | None:
    """A general journal entry as the cost of the shipment its lines name, or None when no line names
    one (not a shipment entry of ours)."""
    tags = {m.group(1) for line in lines for m in SHIPMENT_TAG.finditer(str(line.get("Description") or ""))}
    if len(tags) != 1:
        return None
    amounts = [amount(line.get("AmountFC") or 0) for line in lines]
    dates = [d for d in (parse_date(line.get("Date")) for line in lines) if d is not None]
    if not dates:
        return None
    return LedgerDocument(
        kind="journal",
        document_id=entry_id,
        number=str(header.get("EntryNumber") or ""),
        reference=tags.pop(),
        amount=sum((a for a in amounts if a > 0), Decimal("0.00")),
        currency=str(header.get("Currency") or "").upper(),
        date=min(dates).date(),
        status=str(header.get("Status") or ""),
        credit=bool(header.get("Reversal")) if header else _reversed(lines),
        item=SHIPMENT,
        balanced=sum(amounts, Decimal("0.00")) == 0,
    )


def _reversed(lines: list[dict]) -> bool:
    """Without its header (an entry modified before the window): our reversal debits the offset line,
    the one whose description starts "Shipping cost"."""
    offset = [line for line in lines if str(line.get("Description") or "").startswith("Shipping cost")]
    return bool(offset) and amount(offset[0].get("AmountFC") or 0) > 0
