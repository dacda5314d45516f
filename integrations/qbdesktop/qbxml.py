"""qbXML: request builders and a hardened, streaming response parser.

Sources (tests/specs/qbdesktop/QBWC.md): §4.1 envelope (`<?qbxml version?>`, `onError` required,
`requestID` echoed on the matching Rs), §4.2 queries (iterators Start/Continue with the
`MaxReturned` *element*; transactions filter with `ModifiedDateRangeFilter`, lists with top-level
`FromModifiedDate`/`ToModifiedDate`; TxnDeletedQuery/ListDeletedQuery have no iterators), §4.3 writes
(element order matters; Mods carry ListID/TxnID + EditSequence), §5 status codes. Element order of the
query requests follows Intuit's qbXML sample files as kept in consolibyte/quickbooks-php
`data/schema/{CustomerQuery,InvoiceQuery,ItemInventoryQuery,TxnDeletedQuery,ListDeletedQuery}.xml`.

Everything QuickBooks sends back is parsed with a parser that resolves no entities, loads no DTD,
touches no network and refuses documents that declare a DTD at all (qbXML responses never do): XXE
and entity-expansion payloads are rejected before lxml sees them. Parsing is streaming (iterparse)
and memory-flat: each `*Ret` is turned into a small dataclass, then its element is cleared.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from xml.sax.saxutils import escape

from lxml import etree

from connector.http import ApiError, NeedsReview, Permanent, Transient

DEFAULT_VERSION = "13.0"
ON_ERROR = "continueOnError"
DEFAULT_PAGE_SIZE = 100  # MaxReturned: keeps each QuickBooks response far below the client's timeout
MIN_PAGE_SIZE = 10  # a query page whose answer was lost is retried with half the rows, down to this
MAX_RESPONSE_BYTES = 32 * 1024 * 1024  # a 100-row page is ~100 KB; anything near this is hostile
REF_NUMBER_MAX = 11  # RefNumber of invoices, sales receipts, credit memos (QBWC.md §4.3; schema max length)


class HostileXML(ValueError):
    """The document declares a DTD/entities, is too large or is not well-formed qbXML."""


# --- Small value helpers ------------------------------------------------------------------------


def qb_datetime(moment: datetime, company_tz: tzinfo) -> str:
    """QuickBooks reads date-times without offset as the QuickBooks PC's local time (QBWC.md §4.2)."""
    if moment.tzinfo is None:
        raise ValueError("qb_datetime needs an aware datetime")
    return moment.astimezone(company_tz).replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S")


def qb_from_datetime(moment: datetime, company_tz: tzinfo) -> str:
    """A *lower* bound for QuickBooks: like qb_datetime, but when the local wall time is ambiguous (the
    repeated hour when DST ends) QuickBooks may read it as the later occurrence, so step back by the
    DST difference: the window can only grow, never lose that hour."""
    if moment.tzinfo is None:
        raise ValueError("qb_from_datetime needs an aware datetime")
    local = moment.astimezone(company_tz)
    other = local.replace(fold=1 - local.fold)
    if other.utcoffset() != local.utcoffset():
        moment -= abs(other.utcoffset() - local.utcoffset())
    return qb_datetime(moment, company_tz)


def parse_qb_time(text: str, company_tz: tzinfo) -> datetime | None:
    """QuickBooks' TimeModified/TimeDeleted as aware UTC. Only the wall-clock part is trusted: QuickBooks
    reports the standard-time offset even during DST (QBWC.md §4.2), so the company's zone decides.
    A repeated wall time is read as its first occurrence (the earlier instant: a cursor stays safe)."""
    text = (text or "").strip()
    for fmt, size in (("%Y-%m-%dT%H:%M:%S", 19), ("%Y-%m-%d", 10)):
        try:
            return datetime.strptime(text[:size], fmt).replace(tzinfo=company_tz, fold=0).astimezone(UTC)
        except ValueError:
            continue
    return None


def qb_date(day: date) -> str:
    return day.strftime("%Y-%m-%d")


def qb_amount(value: Decimal) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def qb_quantity(value: Decimal) -> str:
    text = format(Decimal(value).normalize(), "f")
    return text


def _el(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def _ref(name: str, *, list_id: str = "", full_name: str = "") -> str:
    if not list_id and not full_name:
        raise ValueError(f"{name} needs a ListID or a FullName")
    inner = (_el("ListID", list_id) if list_id else "") + (_el("FullName", full_name) if full_name else "")
    return f"<{name}>{inner}</{name}>"


# --- Requests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One `<XxxRq>` element (without requestID; the job id is filled in when it is sent)."""

    kind: str  # qbXML request name without "Rq": "CustomerQuery", "InvoiceAdd", ...
    xml: str

    @property
    def is_iterator(self) -> bool:
        return 'iterator="Start"' in self.xml or 'iterator="Continue"' in self.xml


def _rq(kind: str, body: str, *, iterator: bool = False) -> Request:
    attrs = ' iterator="Start"' if iterator else ""
    return Request(kind=kind, xml=f"<{kind}Rq{attrs}>{body}</{kind}Rq>")


def modified_date_range_filter(from_modified: datetime | None, to_modified: datetime | None, company_tz: tzinfo) -> str:
    """Transactions (InvoiceQuery, JournalEntryQuery, ...) filter by modification in this aggregate."""
    inner = ""
    if from_modified is not None:
        inner += _el("FromModifiedDate", qb_from_datetime(from_modified, company_tz))
    if to_modified is not None:
        inner += _el("ToModifiedDate", qb_datetime(to_modified, company_tz))
    return f"<ModifiedDateRangeFilter>{inner}</ModifiedDateRangeFilter>" if inner else ""


def list_modified_filter(from_modified: datetime | None, to_modified: datetime | None, company_tz: tzinfo) -> str:
    """Lists (CustomerQuery, ItemQuery, ...) take top-level From/ToModifiedDate instead."""
    text = ""
    if from_modified is not None:
        text += _el("FromModifiedDate", qb_from_datetime(from_modified, company_tz))
    if to_modified is not None:
        text += _el("ToModifiedDate", qb_datetime(to_modified, company_tz))
    return text


def _list_query(
    kind: str,
    *,
    list_ids: Iterable[str] = (),
    full_names: Iterable[str] = (),
    max_returned: int | None = None,
    active_status: str = "All",
    from_modified: datetime | None = None,
    to_modified: datetime | None = None,
    company_tz: tzinfo | None = None,
) -> Request:
    list_ids, full_names = list(list_ids), list(full_names)
    if list_ids or full_names:
        # Either IDs or the filter set, never both (QBWC.md §4.2); ID queries are not iterated.
        body = "".join(_el("ListID", v) for v in list_ids) + "".join(_el("FullName", v) for v in full_names)
        return _rq(kind, body)
    if (from_modified or to_modified) and company_tz is None:
        raise ValueError("modified-date filters need the company's time zone")
    body = _el("MaxReturned", max_returned or DEFAULT_PAGE_SIZE)
    if active_status:
        body += _el("ActiveStatus", active_status)
    body += list_modified_filter(from_modified, to_modified, company_tz) if company_tz else ""
    return _rq(kind, body, iterator=True)


def customer_query(**filters) -> Request:
    """CustomerQuery; `filters` as `_list_query` takes them (ids, names, page size, modified window)."""
    return _list_query("CustomerQuery", **filters)


def item_query(**filters) -> Request:
    """ItemQuery: all item kinds (service, inventory, non-inventory, ...)."""
    return _list_query("ItemQuery", **filters)


def item_inventory_query(**filters) -> Request:
    """ItemInventoryQuery: inventory items only, with QuantityOnHand."""
    return _list_query("ItemInventoryQuery", **filters)


def invoice_query(
    *,
    txn_ids: Iterable[str] = (),
    ref_numbers: Iterable[str] = (),
    max_returned: int | None = None,
    from_modified: datetime | None = None,
    to_modified: datetime | None = None,
    company_tz: tzinfo | None = None,
    include_line_items: bool = False,
    txn_from: date | None = None,
    txn_to: date | None = None,
) -> Request:
    """By TxnID or RefNumber; else an iterator over those modified in a window or, with `txn_from`/
    `txn_to`, dated in a period (the two filters are alternatives in the qbXML schema)."""
    txn_ids, ref_numbers = list(txn_ids), list(ref_numbers)
    tail = _el("IncludeLineItems", "true") if include_line_items else ""
    if txn_from is not None or txn_to is not None:
        body = _el("MaxReturned", max_returned or DEFAULT_PAGE_SIZE) + txn_date_range_filter(txn_from, txn_to)
        return _rq("InvoiceQuery", body + tail, iterator=True)
    if txn_ids or ref_numbers:
        body = "".join(_el("TxnID", v) for v in txn_ids) + "".join(_el("RefNumber", v) for v in ref_numbers)
        return _rq("InvoiceQuery", body + tail)
    if (from_modified or to_modified) and company_tz is None:
        raise ValueError("modified-date filters need the company's time zone")
    body = _el("MaxReturned", max_returned or DEFAULT_PAGE_SIZE)
    if company_tz is not None:
        body += modified_date_range_filter(from_modified, to_modified, company_tz)
    return _rq("InvoiceQuery", body + tail, iterator=True)


def txn_date_range_filter(txn_from: date | None, txn_to: date | None) -> str:
    """Transactions dated in a period, both ends included (dates carry no time: no time zone)."""
    inner = ""
    if txn_from is not None:
        inner += _el("FromTxnDate", txn_from.isoformat())
    if txn_to is not None:
        inner += _el("ToTxnDate", txn_to.isoformat())
    return f"<TxnDateRangeFilter>{inner}</TxnDateRangeFilter>"


def _by_id_query(kind: str, txn_ids: Iterable[str], ref_numbers: Iterable[str]) -> Request:
    txn_ids, ref_numbers = list(txn_ids), list(ref_numbers)
    if not txn_ids and not ref_numbers:
        raise ValueError(f"{kind} needs TxnIDs or RefNumbers")
    body = "".join(_el("TxnID", v) for v in txn_ids) + "".join(_el("RefNumber", v) for v in ref_numbers)
    return _rq(kind, body)


def journal_entry_query(
    *,
    txn_ids: Iterable[str] = (),
    ref_numbers: Iterable[str] = (),
    max_returned: int | None = None,
    txn_from: date | None = None,
    txn_to: date | None = None,
) -> Request:
    """By TxnID or RefNumber (the flow's duplicate check after a lost answer), or an iterator over
    the entries dated in a period (with their debit and credit lines)."""
    txn_ids, ref_numbers = list(txn_ids), list(ref_numbers)
    if not txn_ids and not ref_numbers and (txn_from is not None or txn_to is not None):
        body = _el("MaxReturned", max_returned or DEFAULT_PAGE_SIZE) + txn_date_range_filter(txn_from, txn_to)
        return _rq("JournalEntryQuery", body, iterator=True)
    if not txn_ids and not ref_numbers:
        raise ValueError("journal_entry_query needs TxnIDs, RefNumbers or a date range")
    return _by_id_query("JournalEntryQuery", txn_ids, ref_numbers)


def sales_receipt_query(*, txn_ids: Iterable[str] = (), ref_numbers: Iterable[str] = ()) -> Request:
    """By TxnID or RefNumber only (the flow's duplicate check after a lost answer)."""
    return _by_id_query("SalesReceiptQuery", txn_ids, ref_numbers)


def credit_memo_query(*, txn_ids: Iterable[str] = (), ref_numbers: Iterable[str] = ()) -> Request:
    """By TxnID or RefNumber only: the check before each CreditMemoAdd that it is not there yet."""
    return _by_id_query("CreditMemoQuery", txn_ids, ref_numbers)


def _deleted_query(
    kind: str, type_tag: str, types: Iterable[str], from_deleted, to_deleted, company_tz: tzinfo | None
) -> Request:
    types = list(types)
    if not types:
        raise ValueError(f"{kind} needs at least one {type_tag}")
    body = "".join(_el(type_tag, t) for t in types)
    if from_deleted or to_deleted:
        if company_tz is None:
            raise ValueError("deleted-date filters need the company's time zone")
        inner = ""
        if from_deleted:
            inner += _el("FromDeletedDate", qb_from_datetime(from_deleted, company_tz))
        if to_deleted:
            inner += _el("ToDeletedDate", qb_datetime(to_deleted, company_tz))
        body += f"<DeletedDateRangeFilter>{inner}</DeletedDateRangeFilter>"
    return _rq(kind, body)  # neither supports iterators (QBWC.md §4.2)


def txn_deleted_query(
    types: Iterable[str] = ("Invoice", "JournalEntry"),
    *,
    from_deleted: datetime | None = None,
    to_deleted: datetime | None = None,
    company_tz: tzinfo | None = None,
) -> Request:
    return _deleted_query("TxnDeletedQuery", "TxnDelType", types, from_deleted, to_deleted, company_tz)


def list_deleted_query(
    types: Iterable[str] = ("Customer", "ItemInventory", "ItemNonInventory", "ItemService"),
    *,
    from_deleted: datetime | None = None,
    to_deleted: datetime | None = None,
    company_tz: tzinfo | None = None,
) -> Request:
    return _deleted_query("ListDeletedQuery", "ListDelType", types, from_deleted, to_deleted, company_tz)


@dataclass(frozen=True)
class InvoiceLine:
    item_full_name: str
    quantity: Decimal
    rate: Decimal
    desc: str = ""
    item_list_id: str = ""


@dataclass(frozen=True)
class InvoiceSpec:
    customer_full_name: str
    txn_date: date
    ref_number: str  # the order number: our natural key; QuickBooks caps it at 11 characters
    lines: tuple[InvoiceLine, ...]
    customer_list_id: str = ""
    memo: str = ""
    ship_date: date | None = None
    item_sales_tax_full_name: str = ""


def _invoice_header(spec: InvoiceSpec) -> str:
    # InvoiceAdd order (qbXML 7.0, QBWC.md §4.3): CustomerRef, ..., TxnDate, RefNumber, ..., ShipDate,
    # ..., ItemSalesTaxRef, Memo, ... then the lines.
    _check_ref_number(spec.ref_number)
    text = _ref("CustomerRef", list_id=spec.customer_list_id, full_name=spec.customer_full_name)
    text += _el("TxnDate", qb_date(spec.txn_date)) + _el("RefNumber", spec.ref_number)
    if spec.ship_date:
        text += _el("ShipDate", qb_date(spec.ship_date))
    if spec.item_sales_tax_full_name:
        text += _ref("ItemSalesTaxRef", full_name=spec.item_sales_tax_full_name)
    if spec.memo:
        text += _el("Memo", spec.memo[:4095])
    return text


def _invoice_line(tag: str, line: InvoiceLine, *, new_line_id: bool = False) -> str:
    text = _el("TxnLineID", "-1") if new_line_id else ""  # -1 = add this line (Mod semantics)
    text += _ref("ItemRef", list_id=line.item_list_id, full_name=line.item_full_name)
    if line.desc:
        text += _el("Desc", line.desc)
    text += _el("Quantity", qb_quantity(line.quantity)) + _el("Rate", qb_amount(line.rate))
    return f"<{tag}>{text}</{tag}>"


def invoice_add(spec: InvoiceSpec) -> Request:
    if not spec.lines:
        raise ValueError("an invoice needs at least one line")
    body = _invoice_header(spec) + "".join(_invoice_line("InvoiceLineAdd", line) for line in spec.lines)
    return _rq("InvoiceAdd", f"<InvoiceAdd>{body}</InvoiceAdd>")


def sales_receipt_add(spec: InvoiceSpec, *, payment_method: str = "", deposit_account: str = "") -> Request:
    """A paid order as a sales receipt: the invoice's customer, dates, RefNumber, memo and lines, plus
    how it was paid and where the money went (empty: QuickBooks' own default, Undeposited Funds).

    SalesReceiptAdd order (qbXML 13.0, consolibyte/quickbooks-php schema SalesReceiptAddRq): CustomerRef,
    ClassRef, TemplateRef, TxnDate, RefNumber, BillAddress, ShipAddress, IsPending, CheckNumber,
    PaymentMethodRef, DueDate, SalesRepRef, ShipDate, ShipMethodRef, FOB, ItemSalesTaxRef, Memo, ...,
    DepositToAccountRef, ..., then SalesReceiptLineAdd (the invoice line's elements). RefNumber ≤ 11."""
    if not spec.lines:
        raise ValueError("a sales receipt needs at least one line")
    _check_ref_number(spec.ref_number)
    body = _ref("CustomerRef", list_id=spec.customer_list_id, full_name=spec.customer_full_name)
    body += _el("TxnDate", qb_date(spec.txn_date)) + _el("RefNumber", spec.ref_number)
    if payment_method:
        body += _ref("PaymentMethodRef", full_name=payment_method)
    if spec.ship_date:
        body += _el("ShipDate", qb_date(spec.ship_date))
    if spec.item_sales_tax_full_name:
        body += _ref("ItemSalesTaxRef", full_name=spec.item_sales_tax_full_name)
    if spec.memo:
        body += _el("Memo", spec.memo[:4095])
    if deposit_account:
        body += _ref("DepositToAccountRef", full_name=deposit_account)
    body += "".join(_invoice_line("SalesReceiptLineAdd", line) for line in spec.lines)
    return _rq("SalesReceiptAdd", f"<SalesReceiptAdd>{body}</SalesReceiptAdd>")


@dataclass(frozen=True)
class CreditMemoSpec:
    """Money given back to a customer: one credit memo of `amount` on one item (a refund)."""

    customer_full_name: str
    txn_date: date
    ref_number: str  # ≤ 11 characters (CreditMemoAdd RefNumber, as InvoiceAdd's)
    item_full_name: str
    amount: Decimal
    customer_list_id: str = ""
    item_list_id: str = ""
    desc: str = ""
    memo: str = ""


def credit_memo_add(spec: CreditMemoSpec) -> Request:
    """CreditMemoAdd (qbXML 13.0, consolibyte/quickbooks-php schema CreditMemoAddRq): CustomerRef, ClassRef,
    ARAccountRef, TemplateRef, TxnDate, RefNumber (max length 11), ..., Memo (4095), ..., then
    CreditMemoLineAdd: ItemRef, Desc, Quantity, UnitOfMeasure, Rate, ClassRef, Amount. The line carries
    its Amount only: the credit is exactly the money given back."""
    _check_ref_number(spec.ref_number)
    if Decimal(spec.amount) <= 0:
        raise ValueError(f"credit memo {spec.ref_number} needs a positive amount, not {spec.amount}")
    body = _ref("CustomerRef", list_id=spec.customer_list_id, full_name=spec.customer_full_name)
    body += _el("TxnDate", qb_date(spec.txn_date)) + _el("RefNumber", spec.ref_number)
    if spec.memo:
        body += _el("Memo", spec.memo[:4095])
    line = _ref("ItemRef", list_id=spec.item_list_id, full_name=spec.item_full_name)
    if spec.desc:
        line += _el("Desc", spec.desc[:4095])
    line += _el("Amount", qb_amount(spec.amount))
    body += f"<CreditMemoLineAdd>{line}</CreditMemoLineAdd>"
    return _rq("CreditMemoAdd", f"<CreditMemoAdd>{body}</CreditMemoAdd>")


def _check_ref_number(ref_number: str) -> None:
    if len(ref_number) > REF_NUMBER_MAX:
        raise ValueError(f"RefNumber {ref_number!r} is longer than QuickBooks' {REF_NUMBER_MAX} characters")


def invoice_mod(txn_id: str, edit_sequence: str, spec: InvoiceSpec) -> Request:
    """Replace the invoice's header fields and lines; EditSequence must be current (else status 3200)."""
    body = _el("TxnID", txn_id) + _el("EditSequence", edit_sequence) + _invoice_header(spec)
    body += "".join(_invoice_line("InvoiceLineMod", line, new_line_id=True) for line in spec.lines)
    return _rq("InvoiceMod", f"<InvoiceMod>{body}</InvoiceMod>")


@dataclass(frozen=True)
class JournalLine:
    account_full_name: str
    amount: Decimal
    memo: str = ""
    entity_full_name: str = ""


@dataclass(frozen=True)
class JournalEntrySpec:
    txn_date: date
    ref_number: str
    debits: tuple[JournalLine, ...]
    credits: tuple[JournalLine, ...]


def journal_entry_add(spec: JournalEntrySpec) -> Request:
    total_debit = sum((Decimal(line.amount) for line in spec.debits), Decimal(0))
    total_credit = sum((Decimal(line.amount) for line in spec.credits), Decimal(0))
    if not spec.debits or not spec.credits or total_debit != total_credit:
        raise ValueError(f"journal entry {spec.ref_number} does not balance ({total_debit} != {total_credit})")

    def line(tag: str, item: JournalLine) -> str:
        # Line order (QBWC.md §4.3): AccountRef, Amount, Memo, EntityRef. Memos go on lines because the
        # header Memo is flagged "not in QBD" in qbXML 7.0.
        text = _ref("AccountRef", full_name=item.account_full_name) + _el("Amount", qb_amount(item.amount))
        if item.memo:
            text += _el("Memo", item.memo)
        if item.entity_full_name:
            text += _ref("EntityRef", full_name=item.entity_full_name)
        return f"<{tag}>{text}</{tag}>"

    body = _el("TxnDate", qb_date(spec.txn_date)) + _el("RefNumber", spec.ref_number)
    body += "".join(line("JournalDebitLine", d) for d in spec.debits)
    body += "".join(line("JournalCreditLine", c) for c in spec.credits)
    return _rq("JournalEntryAdd", f"<JournalEntryAdd>{body}</JournalEntryAdd>")


def message_set(requests: Iterable[tuple[str, Request]], *, version: str = DEFAULT_VERSION) -> str:
    """Wrap `(requestID, Request)` pairs in one QBXML message set."""
    if not re.fullmatch(r"\d{1,2}\.\d", version):
        raise ValueError(f"bad qbXML version {version!r}")
    parts = []
    for request_id, request in requests:
        root = etree.fromstring(request.xml, parser=_trusted_parser())
        root.set("requestID", str(request_id))
        parts.append(etree.tostring(root, encoding="unicode"))
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{version}"?>\n'
        f'<QBXML><QBXMLMsgsRq onError="{ON_ERROR}">{"".join(parts)}</QBXMLMsgsRq></QBXML>'
    )


# --- Rewriting queued requests (iterators, EditSequence retries) ------------------------------------


def _trusted_parser() -> etree.XMLParser:
    # Our own request XML, still parsed without entities or network.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _rewrite(request: Request, change) -> Request:
    root = etree.fromstring(request.xml, parser=_trusted_parser())
    change(root)
    return Request(kind=request.kind, xml=etree.tostring(root, encoding="unicode"))


def continue_iterator(request: Request, iterator_id: str) -> Request:
    """The next page: same filters, iterator="Continue" and the iteratorID QuickBooks gave."""

    def change(root):
        root.set("iterator", "Continue")
        root.set("iteratorID", iterator_id)

    return _rewrite(request, change)


def restart_iterator(request: Request) -> Request:
    """An iterator lives only inside one Web Connector session: start the query again."""

    def change(root):
        root.set("iterator", "Start")
        root.attrib.pop("iteratorID", None)

    return _rewrite(request, change)


def max_returned(request: Request) -> int | None:
    match = re.search(r"<MaxReturned>(\d+)</MaxReturned>", request.xml)
    return int(match.group(1)) if match else None


def with_max_returned(request: Request, size: int) -> Request:
    """The same query with another page size (MaxReturned)."""

    def change(root):
        node = root.find("MaxReturned")
        if node is None:
            raise ValueError(f"{request.kind} has no MaxReturned to replace")
        node.text = str(size)

    return _rewrite(request, change)


def with_edit_sequence(request: Request, edit_sequence: str) -> Request:
    def change(root):
        node = root.find(f"{request.kind}/EditSequence")
        if node is None:
            raise ValueError(f"{request.kind} has no EditSequence to replace")
        node.text = edit_sequence

    return _rewrite(request, change)


MOD_REQUERY = {
    # Mod kind -> (query kind, identity element): a 3200 re-queries the object for its EditSequence.
    "InvoiceMod": ("InvoiceQuery", "TxnID"),
    "JournalEntryMod": ("JournalEntryQuery", "TxnID"),
    "SalesReceiptMod": ("SalesReceiptQuery", "TxnID"),
    "CreditMemoMod": ("CreditMemoQuery", "TxnID"),
    "CustomerMod": ("CustomerQuery", "ListID"),
    "ItemInventoryMod": ("ItemInventoryQuery", "ListID"),
}


def requery_for(request: Request) -> Request:
    """The query that fetches the current EditSequence of the object a Mod request changes."""
    try:
        query_kind, id_tag = MOD_REQUERY[request.kind]
    except KeyError:
        raise ValueError(f"no re-query known for {request.kind}") from None
    root = etree.fromstring(request.xml, parser=_trusted_parser())
    node = root.find(f"{request.kind}/{id_tag}")
    if node is None or not node.text:
        raise ValueError(f"{request.kind} has no {id_tag}")
    return _rq(query_kind, _el(id_tag, node.text))


def mod_target_id(request: Request) -> str:
    _query_kind, id_tag = MOD_REQUERY.get(request.kind, ("", "TxnID"))
    node = etree.fromstring(request.xml, parser=_trusted_parser()).find(f"{request.kind}/{id_tag}")
    return node.text if node is not None and node.text else ""


# --- Parsing ------------------------------------------------------------------------------------


_DTD_MARKER = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)


def _as_bytes(data: str | bytes, limit: int) -> bytes:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > limit:
        raise HostileXML(f"qbXML response of {len(raw)} bytes is over the {limit}-byte limit")
    if _DTD_MARKER.search(raw):
        raise HostileXML("qbXML response declares a DTD or entities; refused")
    if isinstance(data, str):
        # The text came decoded through SOAP; drop an encoding declaration that no longer holds.
        raw = re.sub(rb"^\s*<\?xml[^>]*\?>", b"", raw, count=1)
    return raw


def hardened_iterparse(data: str | bytes, *, limit: int = MAX_RESPONSE_BYTES, events=("start", "end")):
    raw = _as_bytes(data, limit)
    return etree.iterparse(
        io.BytesIO(raw),
        events=events,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


@dataclass(frozen=True)
class Status:
    """The statusCode/Severity/Message of one `...Rs`, plus its paging attributes."""

    request_id: str
    kind: str  # "CustomerQuery", "InvoiceAdd"
    code: int
    severity: str
    message: str
    ret_count: int | None = None
    iterator_id: str = ""
    iterator_remaining: int | None = None

    @property
    def ok(self) -> bool:
        return self.code in (0, 1) or 500 <= self.code < 1000 and self.severity != "Error"


@dataclass(frozen=True)
class Customer:
    request_id: str
    list_id: str
    full_name: str
    name: str = ""
    edit_sequence: str = ""
    time_modified: str = ""
    is_active: bool = True
    email: str = ""
    company_name: str = ""


@dataclass(frozen=True)
class Item:
    request_id: str
    item_type: str  # "ItemInventory", "ItemService", ... (the Ret tag without "Ret")
    list_id: str
    full_name: str
    name: str = ""
    edit_sequence: str = ""
    time_modified: str = ""
    is_active: bool = True
    quantity_on_hand: Decimal | None = None
    sales_price: Decimal | None = None


@dataclass(frozen=True)
class TxnLine:
    txn_line_id: str
    item_full_name: str
    quantity: Decimal | None
    rate: Decimal | None
    amount: Decimal | None


@dataclass(frozen=True)
class Transaction:
    """InvoiceRet / JournalEntryRet / SalesReceiptRet: identity, EditSequence and the key fields."""

    request_id: str
    txn_type: str  # "Invoice", "JournalEntry"
    txn_id: str
    edit_sequence: str
    ref_number: str = ""
    txn_date: str = ""
    time_modified: str = ""
    customer_full_name: str = ""
    subtotal: Decimal | None = None
    lines: tuple[TxnLine, ...] = field(default_factory=tuple)
    sales_tax_total: Decimal | None = None
    currency: str = ""  # CurrencyRef/FullName with multicurrency on; empty: the home currency
    debit_total: Decimal | None = None  # a journal entry's JournalDebitLine amounts added up
    credit_total: Decimal | None = None
    memo: str = ""
    total: Decimal | None = None  # TotalAmount (sales receipts, credit memos)


@dataclass(frozen=True)
class DeletedTxn:
    request_id: str
    txn_type: str
    txn_id: str
    time_deleted: str
    ref_number: str = ""


@dataclass(frozen=True)
class DeletedListItem:
    request_id: str
    list_type: str
    list_id: str
    time_deleted: str
    full_name: str = ""


@dataclass(frozen=True)
class OtherRet:
    request_id: str
    tag: str
    fields: dict


Parsed = Status | Customer | Item | Transaction | DeletedTxn | DeletedListItem | OtherRet

ITEM_RETS = {
    "ItemInventoryRet",
    "ItemNonInventoryRet",
    "ItemServiceRet",
    "ItemOtherChargeRet",
    "ItemInventoryAssemblyRet",
    "ItemDiscountRet",
    "ItemSalesTaxRet",
    "ItemSalesTaxGroupRet",
    "ItemSubtotalRet",
    "ItemGroupRet",
    "ItemPaymentRet",
    "ItemFixedAssetRet",
}
TXN_RETS = {
    "InvoiceRet": "Invoice",
    "JournalEntryRet": "JournalEntry",
    "SalesReceiptRet": "SalesReceipt",
    "CreditMemoRet": "CreditMemo",
}
TXN_LINE_RETS = ("InvoiceLineRet", "SalesReceiptLineRet", "CreditMemoLineRet")


def _text(elem, path: str) -> str:
    node = elem.find(path)
    return (node.text or "").strip() if node is not None else ""


def _leaves(elem) -> dict[str, str]:
    """The text of each direct child, first occurrence wins: one pass instead of a find() per field."""
    out: dict[str, str] = {}
    for child in elem:
        if child.tag not in out:
            out[child.tag] = (child.text or "").strip()
    return out


def _decimal(text: str) -> Decimal | None:
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _int_attr(elem, name: str) -> int | None:
    value = elem.get(name)
    if value is None or not value.strip().lstrip("-").isdigit():
        return None
    return int(value)


def _status(elem) -> Status:
    code = _int_attr(elem, "statusCode")
    if code is None:
        raise HostileXML(f"{elem.tag} has no numeric statusCode")
    return Status(
        request_id=elem.get("requestID", ""),
        kind=elem.tag[:-2],
        code=code,
        severity=elem.get("statusSeverity", ""),
        message=elem.get("statusMessage", ""),
        ret_count=_int_attr(elem, "retCount"),
        iterator_id=elem.get("iteratorID", ""),
        iterator_remaining=_int_attr(elem, "iteratorRemainingCount"),
    )


def _ret(elem, request_id: str) -> Parsed:
    """One `...Ret` element as its typed object; OtherRet keeps the leaves of anything else."""
    tag = elem.tag
    if tag in ITEM_RETS:
        return _item_ret(elem, request_id)
    if tag in TXN_RETS:
        return _txn_ret(elem, request_id)
    parse = _RET_PARSERS.get(tag)
    if parse is not None:
        return parse(elem, request_id)
    return OtherRet(request_id=request_id, tag=tag, fields={c.tag: (c.text or "").strip() for c in elem if len(c) == 0})


def _customer_ret(elem, request_id: str) -> Customer:
    f = _leaves(elem)
    return Customer(
        request_id=request_id,
        list_id=f.get("ListID", ""),
        full_name=f.get("FullName", ""),
        name=f.get("Name", ""),
        edit_sequence=f.get("EditSequence", ""),
        time_modified=f.get("TimeModified", ""),
        is_active=f.get("IsActive") != "false",
        email=f.get("Email", ""),
        company_name=f.get("CompanyName", ""),
    )


def _item_ret(elem, request_id: str) -> Item:
    f = _leaves(elem)
    return Item(
        request_id=request_id,
        item_type=elem.tag[:-3],
        list_id=f.get("ListID", ""),
        full_name=f.get("FullName", ""),
        name=f.get("Name", ""),
        edit_sequence=f.get("EditSequence", ""),
        time_modified=f.get("TimeModified", ""),
        is_active=f.get("IsActive") != "false",
        quantity_on_hand=_decimal(f.get("QuantityOnHand", "")),
        sales_price=_decimal(f.get("SalesPrice") or _text(elem, "SalesOrPurchase/Price")),
    )


def _txn_ret(elem, request_id: str) -> Transaction:
    lines = tuple(
        TxnLine(
            txn_line_id=_text(line, "TxnLineID"),
            item_full_name=_text(line, "ItemRef/FullName"),
            quantity=_decimal(_text(line, "Quantity")),
            rate=_decimal(_text(line, "Rate")),
            amount=_decimal(_text(line, "Amount")),
        )
        for tag in TXN_LINE_RETS
        for line in elem.iterfind(tag)
    )
    return Transaction(
        request_id=request_id,
        txn_type=TXN_RETS[elem.tag],
        txn_id=_text(elem, "TxnID"),
        edit_sequence=_text(elem, "EditSequence"),
        ref_number=_text(elem, "RefNumber"),
        txn_date=_text(elem, "TxnDate"),
        time_modified=_text(elem, "TimeModified"),
        customer_full_name=_text(elem, "CustomerRef/FullName"),
        subtotal=_decimal(_text(elem, "Subtotal")),
        lines=lines,
        sales_tax_total=_decimal(_text(elem, "SalesTaxTotal")),
        currency=_text(elem, "CurrencyRef/FullName"),
        debit_total=_sum_amounts(elem, "JournalDebitLine"),
        credit_total=_sum_amounts(elem, "JournalCreditLine"),
        memo=_text(elem, "Memo"),
        total=_decimal(_text(elem, "TotalAmount")),
    )


def _sum_amounts(elem, tag: str) -> Decimal | None:
    """A journal entry's lines of one side added up; None for a transaction without such lines."""
    amounts = [_decimal(_text(line, "Amount")) for line in elem.iterfind(tag)]
    return sum((a for a in amounts if a is not None), Decimal(0)) if amounts else None


def _deleted_txn_ret(elem, request_id: str) -> DeletedTxn:
    return DeletedTxn(
        request_id=request_id,
        txn_type=_text(elem, "TxnDelType"),
        txn_id=_text(elem, "TxnID"),
        time_deleted=_text(elem, "TimeDeleted"),
        ref_number=_text(elem, "RefNumber"),
    )


def _deleted_list_ret(elem, request_id: str) -> DeletedListItem:
    return DeletedListItem(
        request_id=request_id,
        list_type=_text(elem, "ListDelType"),
        list_id=_text(elem, "ListID"),
        time_deleted=_text(elem, "TimeDeleted"),
        full_name=_text(elem, "FullName"),
    )


_RET_PARSERS = {"CustomerRet": _customer_ret, "TxnDeletedRet": _deleted_txn_ret, "ListDeletedRet": _deleted_list_ret}


def iter_response(data: str | bytes, *, limit: int = MAX_RESPONSE_BYTES) -> Iterator[Parsed]:
    """Yield a `Status` at the start of each `...Rs`, then one object per `...Ret` inside it.

    Memory stays flat: every Ret element is cleared (and dropped from its parent) once converted.
    Raises HostileXML for DTDs/entities, oversize input, malformed XML or a non-qbXML root.
    """
    depth = 0
    current: Status | None = None
    try:
        for event, elem in hardened_iterparse(data, limit=limit):
            if event == "start":
                depth += 1
                if depth == 1 and elem.tag != "QBXML":
                    raise HostileXML(f"not a qbXML document (root <{elem.tag}>)")
                if depth == 3 and elem.tag.endswith("Rs"):
                    current = _status(elem)
                    yield current
                continue
            # end event
            if depth == 4 and current is not None:
                yield _ret(elem, current.request_id)
                elem.clear(keep_tail=False)
                parent = elem.getparent()
                while elem.getprevious() is not None:
                    del parent[0]
            elif depth == 3:
                current = None
                elem.clear(keep_tail=False)
            depth -= 1
    except etree.XMLSyntaxError as exc:
        raise HostileXML(f"qbXML response is not well-formed: {exc}") from None


def statuses(data: str | bytes) -> list[Status]:
    return [item for item in iter_response(data) if isinstance(item, Status)]


@dataclass(frozen=True)
class HostInfo:
    """What QBWC's first sendRequestXML tells us (strHCPResponse): versions and the company file."""

    product_name: str = ""
    supported_versions: tuple[str, ...] = ()
    company_name: str = ""
    file_ids: dict = field(default_factory=dict)  # OwnerID (lower-case) -> FileID DataExtValue


def parse_host_response(data: str | bytes) -> HostInfo:
    product, versions, company, file_ids = "", [], "", {}
    for _event, elem in hardened_iterparse(data, events=("end",)):
        if elem.tag == "HostRet":
            product = _text(elem, "ProductName")
            versions = [(v.text or "").strip() for v in elem.iterfind("SupportedQBXMLVersion")]
        elif elem.tag == "CompanyRet":
            company = _text(elem, "CompanyName")
            for ext in elem.iterfind("DataExtRet"):
                if _text(ext, "DataExtName") == "FileID":
                    file_ids[_text(ext, "OwnerID").lower()] = _text(ext, "DataExtValue").lower()
    return HostInfo(product_name=product, supported_versions=tuple(versions), company_name=company, file_ids=file_ids)


def negotiate_version(host: HostInfo | None, major: int | None, minor: int | None) -> str:
    """The highest version ≤ ours that QuickBooks supports (QBWC.md §4.1)."""

    def key(text: str) -> tuple[int, int]:
        a, _, b = text.partition(".")
        return (int(a), int(b or 0)) if a.isdigit() and (b or "0").isdigit() else (0, 0)

    ours = key(DEFAULT_VERSION)
    candidates = [v for v in (host.supported_versions if host else ()) if (0, 0) < key(v) <= ours]
    if candidates:
        best = max(candidates, key=key)
        return f"{key(best)[0]}.{key(best)[1]}"
    if major:
        best = min(ours, (major, minor or 0))
        return f"{best[0]}.{best[1]}"
    return DEFAULT_VERSION


# --- Status codes as typed errors (QBWC.md §5) ------------------------------------------------------

EDIT_SEQUENCE_OUT_OF_DATE = 3200
RETRYABLE_CODES = {1000, 3170, 3175, 3176, 3180}


class EditSequenceOutOfDate(Transient):
    """Status 3200: re-query the object for its EditSequence, then retry the Mod."""


def status_error(status: Status) -> ApiError | None:
    """None when the status is a success (0), an empty result (1) or a warning; else a typed error."""
    if status.ok:
        return None
    kwargs = {"vendor_code": status.code}
    message = f"QuickBooks {status.kind}: {status.message} (status {status.code})"
    if status.code == EDIT_SEQUENCE_OUT_OF_DATE:
        return EditSequenceOutOfDate(message, **kwargs)
    if status.code in RETRYABLE_CODES:
        return Transient(message, remediation="QuickBooks was busy; the request is retried.", **kwargs)
    if status.code == 3140:
        return NeedsReview(
            message,
            remediation="Create the missing customer or item in QuickBooks, then press Replay.",
            **kwargs,
        )
    if status.code in (3250, 3260, 3261):
        return NeedsReview(
            message,
            remediation="Turn the feature on or grant this application access in QuickBooks, then press Replay.",
            **kwargs,
        )
    if status.code == 3100:
        return Permanent(message, remediation="The name is already in use in QuickBooks.", **kwargs)
    if status.code == 3120:
        return Permanent(message, remediation="The referenced object no longer exists in QuickBooks.", **kwargs)
    return Permanent(message, **kwargs)
