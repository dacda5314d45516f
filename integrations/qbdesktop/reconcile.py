"""QuickBooks Desktop as the ledger of a reconciliation: the invoices (or journal entries) dated in a
period, read from the company file itself.

QuickBooks is reached only when the Web Connector runs, so a listing is a deferred question: the first
request queues one qbXML query (InvoiceQuery, or JournalEntryQuery when the flow posts journal
entries) with a `TxnDateRangeFilter` on the period, iterated `MaxReturned` at a time so no answer nears
the Web Connector's time limit (QBWC.md §4.2), and raises LedgerNotReady. The Web Connector's run
answers it page by page; `on_listing_page` keeps each page's documents on the period's
QBDLedgerListing, complete with the iterator's last page. The next request returns them. An answer
older than FRESH is asked for again (QuickBooks may have changed since), as is one that failed.

RefNumber is the order number (the flow writes it so); an invoice's amount is its Subtotal plus its
SalesTaxTotal, a journal entry's its debit lines added up (it balances when its credits add up to the
same), in its CurrencyRef or the company's home currency; QuickBooks keeps amounts to the cent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from connector.models import Connection
from connector.reconcile import ORDER, LedgerDocument, LedgerNotReady, Period
from connector.reconcile_runs import wake_waiting_runs
from integrations.qbdesktop import jobs, qbxml
from integrations.qbdesktop.models import QBDLedgerListing, QBXMLJob

H_LISTING = "qbdrecon.listing"
PAGE_SIZE = 500  # transactions per iterator page: a few hundred KB of qbXML
FRESH = timedelta(minutes=30)
CENT = Decimal("0.01")
HOME_CURRENCY = "USD"
WAITING = "Waiting for the Web Connector's next run to read {what} from QuickBooks."


def txn_type_of(options: dict) -> str:
    """What the flow posts an order as: an invoice, or a journal entry (`posting` = "journal")."""
    return "JournalEntry" if options.get("posting") == "journal" else "Invoice"


def list_documents(
    connection: Connection, options: dict, period: Period, items: tuple[str, ...] = (ORDER,)
) -> Iterator[LedgerDocument]:
    """The period's documents as QuickBooks last answered them; raises LedgerNotReady until it has."""
    if ORDER not in items:
        return iter(())
    txn_type = txn_type_of(options)
    listing = _listing(connection, period, txn_type)
    what = "the period's invoices" if txn_type == "Invoice" else "the period's journal entries"
    if listing.status == QBDLedgerListing.Status.ANSWERED and listing.answered_at >= timezone.now() - FRESH:
        return (document_from_json(row) for row in listing.documents)
    if listing.status == QBDLedgerListing.Status.PENDING and _waiting(listing):
        raise LedgerNotReady(WAITING.format(what=what))
    failed = listing.error if listing.status == QBDLedgerListing.Status.FAILED else ""
    request_listing(listing, page_size=PAGE_SIZE)
    message = WAITING.format(what=what)
    raise LedgerNotReady(f"{message} The last attempt failed: {failed}" if failed else message)


def _listing(connection: Connection, period: Period, txn_type: str) -> QBDLedgerListing:
    listing, _ = QBDLedgerListing.objects.get_or_create(
        connection=connection,
        start=period.start,
        end=period.end,
        txn_type=txn_type,
        defaults={"organization_id": connection.organization_id, "requested_at": timezone.now()},
    )
    return listing


def _waiting(listing: QBDLedgerListing) -> bool:
    """A query of this listing is still queued or on its way (its iterator's next page included)."""
    return jobs.pending(listing.connection).filter(handler=H_LISTING, context__listing=listing.pk).exists()


def request_listing(listing: QBDLedgerListing, *, page_size: int = PAGE_SIZE) -> QBXMLJob:
    """Queue the listing's query for the next Web Connector run; the stored answer starts again."""
    with transaction.atomic():
        locked = QBDLedgerListing.objects.select_for_update().get(pk=listing.pk)
        for job in jobs.pending(locked.connection).filter(handler=H_LISTING, context__listing=locked.pk):
            jobs.cancel(job)
        locked.status, locked.documents, locked.error = QBDLedgerListing.Status.PENDING, [], ""
        locked.requested_at, locked.answered_at = timezone.now(), None
        locked.save()
        query = qbxml.journal_entry_query if locked.txn_type == "JournalEntry" else qbxml.invoice_query
        request = query(max_returned=page_size, txn_from=locked.start, txn_to=locked.end)
        return jobs.enqueue(
            locked.connection, request, handler=H_LISTING, context={"listing": locked.pk}, order_key=jobs.SYNC_KEY
        )


def on_listing_page(job: QBXMLJob, result: jobs.JobResult) -> None:
    """One page of a listing's answer: its documents kept; the listing answered with the last page."""
    listing = QBDLedgerListing.objects.select_for_update().filter(pk=job.context.get("listing")).first()
    if listing is None or listing.status == QBDLedgerListing.Status.ANSWERED:
        return  # asked again since, or already complete
    if result.error is not None:
        listing.status, listing.error = QBDLedgerListing.Status.FAILED, str(result.error)[:1000]
        listing.save(update_fields=["status", "error"])
        wake_waiting_runs(listing.connection)  # they ask again, and say what failed
        return
    if job.page == 1:  # the first page, or a restarted iterator: the answer starts again
        listing.documents = []
    home = str((listing.connection.settings or {}).get("currency") or HOME_CURRENCY)
    for obj in result.objects:
        if isinstance(obj, qbxml.Transaction) and obj.txn_id:
            listing.documents.append(document_to_json(ledger_document(obj, home)))
    if not result.more_pages:
        listing.status, listing.answered_at = QBDLedgerListing.Status.ANSWERED, timezone.now()
    listing.save(update_fields=["documents", "status", "answered_at"])
    if listing.status == QBDLedgerListing.Status.ANSWERED:
        wake_waiting_runs(listing.connection)  # the reconciliations waiting for this answer run now


def _cents(value: Decimal | None) -> Decimal:
    return (value or Decimal(0)).quantize(CENT, rounding=ROUND_HALF_UP)


def ledger_document(txn: qbxml.Transaction, home_currency: str) -> LedgerDocument:
    """A QuickBooks transaction as the document of the order its RefNumber names (pure)."""
    journal = txn.txn_type == "JournalEntry"
    amount = _cents(txn.debit_total) if journal else _cents(txn.subtotal) + _cents(txn.sales_tax_total)
    return LedgerDocument(
        kind="journal_entry" if journal else "invoice",
        document_id=txn.txn_id,
        number=txn.ref_number,
        reference=txn.ref_number,
        amount=amount,
        currency=(txn.currency or home_currency).upper(),
        date=date.fromisoformat(txn.txn_date[:10]),
        balanced=not journal or _cents(txn.debit_total) == _cents(txn.credit_total),
    )


def document_to_json(document: LedgerDocument) -> dict:
    return {**vars(document), "amount": str(document.amount), "date": document.date.isoformat()}


def document_from_json(row: dict) -> LedgerDocument:
    return LedgerDocument(**{**row, "amount": Decimal(row["amount"]), "date": date.fromisoformat(row["date"])})


def register_handlers() -> None:
    jobs.register_handler(H_LISTING, on_listing_page)
