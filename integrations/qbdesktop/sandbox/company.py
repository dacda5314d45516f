"""A simulated QuickBooks company file that answers qbXML like QuickBooks' request processor.

Written from tests/specs/qbdesktop/QBWC.md: envelope rules (§4.1: `<?qbxml version?>` required and
≤ the supported versions, `onError` required), queries (§4.2: IDs *or* filters, iterators with
`MaxReturned`, `iteratorRemainingCount`/`iteratorID`, list vs transaction date filters, deleted
queries without iterators), writes (§4.3: EditSequence on Mods) and status codes (§5: 0 OK, 1 no
match, 500 partial, 3100 duplicate name, 3120 object not found, 3140 invalid reference, 3200
EditSequence out of date). Messages copy the wording quoted there. A request QuickBooks could not
parse (not well-formed, unknown request, elements out of schema order) fails the whole message set
with HRESULT 0x80040400, which the Web Connector reports in receiveResponseXML.

State is in memory, per instance. Fault knobs: `fail_next(kind, code, message)` answers the next
request of that kind with an error status; `hresult_next()` makes QuickBooks throw instead;
`unavailable` makes the Web Connector report connectionError; `touch_invoice`/`delete_invoice`
simulate another QuickBooks user, as do `touch_customer`/`touch_item` (rename, deactivate) and
`delete_customer`/`delete_item` (ListDeletedQuery). Sales receipts and credit memos (SalesReceiptAdd/
CreditMemoAdd, queried by TxnID or RefNumber) refuse an unknown customer, item, payment method or
deposit account (3140) and a RefNumber over 11 characters (3070, "The string … in the field
"RefNumber" is too long."); `accounts` and `payment_methods` answer AccountQuery/PaymentMethodQuery. Clock: the PC's local wall clock in `time_zone`
(from `clock_start`, one second per change, `advance_clock(seconds)`); TimeModified/TimeDeleted carry
the zone's *standard* offset even in DST (QBWC.md §4.2), and From/To(Modified|Deleted)Date are read
as local wall-clock times, inclusive (an offset in them is ignored: QuickBooks' handling of one is
undocumented; a value that is not a qbXML date-time fails to parse). `open_session()` (called by the
simulator at each run) drops the iterators of the previous session. Response time: `latency` seconds per request plus `latency_per_row`
per object returned are really slept; over `time_limit` seconds the answer never comes
(`SimulatedTimeout`, after sleeping the limit): QBWC.md §6, the Web Connector gives up on a slow
answer (a .NET client, 100 s default timeout), so our server sees a run that ends mid-request.
Randomness (iterator IDs) takes `seed`.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from lxml import etree

SUPPORTED_VERSIONS = ("1.0", "2.0", "3.0", "4.0", "5.0", "6.0", "7.0", "8.0", "10.0", "11.0", "12.0", "13.0")
PARSE_ERROR = ("0x80040400", "QuickBooks found an error when parsing the provided XML text stream.")
RET_CLOSE = re.compile(r"</\w+Ret>\n")  # one per object in an answer (every *Ret ends its line)
# The simulated PC's wall clock starts here: local time without a zone, as QuickBooks keeps it.
CLOCK_START = datetime(2024, 3, 1)  # noqa: DTZ001
# qbXML date-times: a date, or a date and time, optionally with an offset (which we read as local).
QB_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2})?([+-]\d{2}:\d{2}|Z)?")
LIST_DEL_TYPES = frozenset(
    [
        "Account",
        "BillingRate",
        "Class",
        "Currency",
        "Customer",
        "CustomerMsg",
        "CustomerType",
        "DateDrivenTerms",
        "Employee",
        "InventorySite",
        "ItemDiscount",
        "ItemFixedAsset",
        "ItemGroup",
        "ItemInventory",
        "ItemInventoryAssembly",
        "ItemNonInventory",
        "ItemOtherCharge",
        "ItemPayment",
        "ItemSalesTax",
        "ItemSalesTaxGroup",
        "ItemService",
        "ItemSubtotal",
        "JobType",
        "OtherName",
        "PaymentMethod",
        "PayrollItemNonWage",
        "PayrollItemWage",
        "PriceLevel",
        "SalesRep",
        "SalesTaxCode",
        "ShipMethod",
        "StandardTerms",
        "ToDo",
        "UnitOfMeasureSet",
        "Vehicle",
        "Vendor",
        "VendorType",
        "WorkersCompCode",
    ]
)
TXN_DEL_TYPES = frozenset(
    [
        "ARRefundCreditCard",
        "Bill",
        "BillPaymentCheck",
        "BillPaymentCreditCard",
        "BuildAssembly",
        "Charge",
        "Check",
        "CreditCardCharge",
        "CreditCardCredit",
        "CreditMemo",
        "Deposit",
        "Estimate",
        "InventoryAdjustment",
        "Invoice",
        "ItemReceipt",
        "JournalEntry",
        "PurchaseOrder",
        "ReceivePayment",
        "SalesOrder",
        "SalesReceipt",
        "SalesTaxPaymentCheck",
        "TimeTracking",
        "TransferInventory",
        "VehicleMileage",
        "VendorCredit",
    ]
)


class SimulatedTimeout(Exception):
    """QuickBooks took longer than the Web Connector waits: the run ends without an answer."""

    def __init__(self, seconds: float, limit: float):
        super().__init__(f"QuickBooks needed {seconds:.2f} s, over the {limit:.2f} s limit")
        self.seconds = seconds
        self.limit = limit


class SimulatedHResult(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class CustomerRow:
    list_id: str
    name: str
    edit_sequence: str
    time_modified: str
    email: str = ""
    is_active: bool = True


@dataclass
class ItemRow:
    list_id: str
    item_type: str  # "ItemInventory", "ItemService", "ItemNonInventory"
    name: str
    edit_sequence: str
    time_modified: str
    price: Decimal = Decimal("0")
    quantity_on_hand: Decimal | None = None
    is_active: bool = True


@dataclass
class TxnRow:
    txn_id: str
    txn_type: str  # "Invoice", "JournalEntry"
    edit_sequence: str
    time_modified: str
    txn_date: str
    ref_number: str
    customer: str = ""
    lines: list = field(default_factory=list)  # [(txn_line_id, item, qty, rate)] or [(kind, account, amount)]
    memo: str = ""
    currency: str = ""  # CurrencyRef/FullName (multicurrency on); empty: the home currency
    payment_method: str = ""  # sales receipts
    deposit_account: str = ""  # sales receipts: "Undeposited Funds" unless the request names one

    @property
    def total(self) -> Decimal:
        return sum((qty * rate for _id, _item, qty, rate in self.lines), Decimal(0))


@dataclass
class Iterator_:
    kind: str
    rows: list
    position: int = 0


def _e(name: str, value) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


INVOICE_ORDER = [
    "TxnID",
    "EditSequence",
    "CustomerRef",
    "ClassRef",
    "ARAccountRef",
    "TemplateRef",
    "TxnDate",
    "RefNumber",
    "BillAddress",
    "ShipAddress",
    "IsPending",
    "PONumber",
    "TermsRef",
    "DueDate",
    "SalesRepRef",
    "FOB",
    "ShipDate",
    "ShipMethodRef",
    "ItemSalesTaxRef",
    "Memo",
    "CustomerMsgRef",
    "IsToBePrinted",
    "IsToBeEmailed",
    "CustomerSalesTaxCodeRef",
    "Other",
    "LinkToTxnID",
    "InvoiceLineAdd",
    "InvoiceLineMod",
]
LINE_ORDER = ["TxnLineID", "ItemRef", "Desc", "Quantity", "UnitOfMeasure", "Rate", "RatePercent", "ClassRef", "Amount"]
LIST_QUERY_ORDER = [
    "ListID",
    "FullName",
    "MaxReturned",
    "ActiveStatus",
    "FromModifiedDate",
    "ToModifiedDate",
    "NameFilter",
    "NameRangeFilter",
    "IncludeRetElement",
    "OwnerID",
]
TXN_QUERY_ORDER = [
    "TxnID",
    "RefNumber",
    "RefNumberCaseSensitive",
    "MaxReturned",
    "ModifiedDateRangeFilter",
    "TxnDateRangeFilter",
    "EntityFilter",
    "AccountFilter",
    "RefNumberFilter",
    "RefNumberRangeFilter",
    "CurrencyFilter",
    "PaidStatus",
    "IncludeLineItems",
    "IncludeLinkedTxns",
    "IncludeRetElement",
    "OwnerID",
]
JOURNAL_ORDER = ["TxnDate", "RefNumber", "IsAdjustment", "JournalDebitLine", "JournalCreditLine"]
# consolibyte/quickbooks-php schema SalesReceiptAddRq / CreditMemoAddRq (qbXML 13.0 element order).
SALES_RECEIPT_ORDER = [
    "CustomerRef",
    "ClassRef",
    "TemplateRef",
    "TxnDate",
    "RefNumber",
    "BillAddress",
    "ShipAddress",
    "IsPending",
    "CheckNumber",
    "PaymentMethodRef",
    "DueDate",
    "SalesRepRef",
    "ShipDate",
    "ShipMethodRef",
    "FOB",
    "ItemSalesTaxRef",
    "Memo",
    "CustomerMsgRef",
    "IsToBePrinted",
    "IsToBeEmailed",
    "IsTaxIncluded",
    "CustomerSalesTaxCodeRef",
    "DepositToAccountRef",
    "CreditCardTxnInfo",
    "Other",
    "SalesReceiptLineAdd",
]
CREDIT_MEMO_ORDER = [
    *INVOICE_ORDER[INVOICE_ORDER.index("CustomerRef") : INVOICE_ORDER.index("Memo") + 1],
    "CustomerMsgRef",
    "IsToBePrinted",
    "IsToBeEmailed",
    "IsTaxIncluded",
    "CustomerSalesTaxCodeRef",
    "Other",
    "CreditMemoLineAdd",
]
REF_NUMBER_MAX = 11  # max length of RefNumber in InvoiceAdd, SalesReceiptAdd, CreditMemoAdd
JOURNAL_LINE_ORDER = ["TxnLineID", "AccountRef", "Amount", "Memo", "EntityRef", "ClassRef", "BillableStatus"]


def _check_order(elem, order: list[str]) -> None:
    """QuickBooks rejects unknown or misordered elements (QBWC.md §4.1)."""
    last = -1
    for child in elem:
        if child.tag not in order:
            raise SimulatedHResult(*PARSE_ERROR)
        index = order.index(child.tag)
        if index < last:
            raise SimulatedHResult(*PARSE_ERROR)
        last = index


class SimulatedCompany:
    def __init__(
        self,
        name: str = "Sandbox Company",
        *,
        seed: int = 0,
        supported_versions=SUPPORTED_VERSIONS,
        time_zone: str = "America/New_York",
        clock_start: datetime = CLOCK_START,
    ):
        self.name = name
        self.time_zone = ZoneInfo(time_zone)  # the QuickBooks PC's zone: every date-time it reads or writes
        self.clock_start = clock_start
        self.random = random.Random(seed)
        self.supported_versions = tuple(supported_versions)
        self.customers: dict[str, CustomerRow] = {}
        self.items: dict[str, ItemRow] = {}
        self.txns: dict[str, TxnRow] = {}
        self.accounts: set[str] = {
            "Accounts Receivable",
            "Sales",
            "Shipping Income",
            "Cost of Goods Sold",
            "Checking",
            "Undeposited Funds",
        }
        self.payment_methods: set[str] = {"Cash", "Check", "Visa", "MasterCard"}
        self.deleted_txns: list[dict] = []
        self.deleted_lists: list[dict] = []
        self.iterators: dict[str, Iterator_] = {}
        self.file_ids: dict[str, str] = {}  # data extension FileID per OwnerID, written by QBWC
        self.unavailable = False
        self.latency = 0.0  # seconds each answer takes
        self.latency_per_row = 0.0  # plus this per object returned
        self.time_limit: float | None = None  # answers slower than this never arrive
        self.requests_seen: list[str] = []
        self._failures: list[tuple[str | None, int, str]] = []
        self._hresults: list[tuple[str, str]] = []
        self._seq = itertools.count(1)
        self._tick = 0  # seconds since clock_start; every change takes one

    # --- Fixtures and fault knobs -----------------------------------------------------------------

    def _now(self) -> str:
        """The PC's local wall-clock time (no offset), one second later at every call."""
        moment = self.clock_start + timedelta(seconds=self._tick)
        self._tick += 1
        return moment.strftime("%Y-%m-%dT%H:%M:%S")

    def advance_clock(self, seconds: float) -> None:
        """Time passes on the QuickBooks PC (nothing changes meanwhile)."""
        self._tick += int(seconds)

    def local_now(self) -> datetime:
        """The PC's wall clock now (naive local time), without moving it."""
        return self.clock_start + timedelta(seconds=self._tick)

    def _stamp(self, local: str) -> str:
        """A local time as QuickBooks reports it: with the zone's *standard* offset even during DST
        (QBWC.md §4.2: "reports TimeModified with a wrong UTC offset during DST")."""
        wall = datetime.strptime(local[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=self.time_zone)
        offset = wall.utcoffset() - (wall.dst() or timedelta(0))
        minutes = int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        return f"{local}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    def _new_id(self) -> str:
        return f"{next(self._seq):X}0000-1710000000"

    def _edit_sequence(self) -> str:
        return str(1710000000 + next(self._seq))

    def add_customer(self, name: str, *, email: str = "", is_active: bool = True) -> CustomerRow:
        row = CustomerRow(self._new_id(), name, self._edit_sequence(), self._now(), email, is_active)
        self.customers[row.list_id] = row
        return row

    def add_item(
        self, name: str, *, item_type: str = "ItemInventory", price: str = "0", quantity_on_hand: str | None = "0"
    ) -> ItemRow:
        qoh = Decimal(quantity_on_hand) if item_type == "ItemInventory" and quantity_on_hand is not None else None
        row = ItemRow(self._new_id(), item_type, name, self._edit_sequence(), self._now(), Decimal(price), qoh)
        self.items[row.list_id] = row
        return row

    def fail_next(self, kind: str | None, code: int, message: str) -> None:
        self._failures.append((kind, code, message))

    def hresult_next(self, code: str = PARSE_ERROR[0], message: str = PARSE_ERROR[1]) -> None:
        self._hresults.append((code, message))

    def touch_customer(self, list_id: str, *, name: str | None = None, is_active: bool | None = None) -> CustomerRow:
        """Another QuickBooks user edits (renames, deactivates) a customer: TimeModified moves."""
        row = self.customers[list_id]
        row.name = row.name if name is None else name
        row.is_active = row.is_active if is_active is None else is_active
        row.edit_sequence = self._edit_sequence()
        row.time_modified = self._now()
        return row

    def touch_item(
        self, list_id: str, *, name: str | None = None, is_active: bool | None = None, price: str | None = None
    ) -> ItemRow:
        row = self.items[list_id]
        row.name = row.name if name is None else name
        row.is_active = row.is_active if is_active is None else is_active
        row.price = row.price if price is None else Decimal(price)
        row.edit_sequence = self._edit_sequence()
        row.time_modified = self._now()
        return row

    def open_session(self) -> None:
        """The Web Connector opens a new request-processor session: iterators of the last one are gone
        (QBWC.md §4.2: an iteratorID is valid only inside the session that created it)."""
        self.iterators.clear()

    def touch_invoice(self, txn_id: str) -> None:
        """Another QuickBooks user edits the invoice: its EditSequence changes."""
        row = self.txns[txn_id]
        row.edit_sequence = self._edit_sequence()
        row.time_modified = self._now()

    def delete_invoice(self, txn_id: str) -> None:
        row = self.txns.pop(txn_id)
        self.deleted_txns.append(
            {"type": row.txn_type, "txn_id": txn_id, "ref": row.ref_number, "deleted": self._now(), "created": ""}
        )

    def invoices(self) -> list[TxnRow]:
        return [t for t in self.txns.values() if t.txn_type == "Invoice"]

    # --- What a bookkeeper does by hand in QuickBooks' own windows (reconciliation tests, demo) -------

    def add_invoice(
        self,
        ref_number: str,
        txn_date: str,
        amount: str,
        *,
        customer: str = "",
        item: str = "Shipping",
        currency: str = "",
    ) -> TxnRow:
        """An invoice entered by hand: one line of `amount` on `item`."""
        row = TxnRow(
            txn_id=self._new_id(),
            txn_type="Invoice",
            edit_sequence=self._edit_sequence(),
            time_modified=self._now(),
            txn_date=txn_date,
            ref_number=ref_number,
            customer=customer or next(iter(self.customers.values())).name,
            lines=[(self._new_id(), item, Decimal(1), Decimal(amount))],
            currency=currency,
        )
        self.txns[row.txn_id] = row
        return row

    def add_journal_entry(
        self, ref_number: str, txn_date: str, amount: str, *, debit: str = "Accounts Receivable", credit: str = "Sales"
    ) -> TxnRow:
        """A journal entry entered by hand: one debit and one credit line of `amount`."""
        row = TxnRow(
            txn_id=self._new_id(),
            txn_type="JournalEntry",
            edit_sequence=self._edit_sequence(),
            time_modified=self._now(),
            txn_date=txn_date,
            ref_number=ref_number,
            lines=[("JournalDebitLine", debit, Decimal(amount)), ("JournalCreditLine", credit, Decimal(amount))],
        )
        self.txns[row.txn_id] = row
        return row

    def export_txns(self) -> list[dict]:
        """The transactions as JSON (amounts as text), to keep the company file between runs."""
        return [
            {
                **dataclasses.asdict(row),
                "lines": [[str(v) if isinstance(v, Decimal) else v for v in line] for line in row.lines],
            }
            for row in self.txns.values()
        ]

    def restore_txns(self, rows: list[dict]) -> None:
        """Transactions kept by `export_txns`, back in the company file; new ids count on past theirs."""
        highest = 0
        for data in rows:
            if data["txn_type"] == "Invoice":
                lines = [(a, b, Decimal(c), Decimal(d)) for a, b, c, d in data["lines"]]
            else:
                lines = [(a, b, Decimal(c)) for a, b, c in data["lines"]]
            row = TxnRow(**{**data, "lines": lines})
            self.txns[row.txn_id] = row
            highest = max(highest, int(row.txn_id.rsplit("0000-", 1)[0], 16), int(row.edit_sequence) - 1710000000)
        self._seq = itertools.count(max(highest + 1, next(self._seq)))

    def txn_by_ref(self, ref_number: str, txn_type: str = "Invoice") -> TxnRow:
        found = [t for t in self.txns.values() if t.ref_number == ref_number and t.txn_type == txn_type]
        if not found:
            raise KeyError(f"no {txn_type} with RefNumber {ref_number}")
        return found[0]

    def set_txn_amount(self, txn_id: str, amount: str) -> TxnRow:
        """Change a transaction's amount as a person would: an invoice's last line takes the difference;
        a journal entry's last debit and last credit line both do (QuickBooks keeps entries balanced)."""
        row = self.txns[txn_id]
        wanted = Decimal(amount)
        if row.txn_type == "Invoice":
            *others, (line_id, item, qty, _rate) = row.lines
            rest = sum((q * r for _i, _n, q, r in others), Decimal(0))
            row.lines = [*others, (line_id, item, qty, (wanted - rest) / qty)]
        else:
            debit = sum((a for kind, _acct, a in row.lines if kind == "JournalDebitLine"), Decimal(0))
            delta = wanted - debit
            for side in ("JournalDebitLine", "JournalCreditLine"):
                last = max(i for i, line in enumerate(row.lines) if line[0] == side)
                kind, account, value = row.lines[last]
                row.lines[last] = (kind, account, value + delta)
        row.edit_sequence = self._edit_sequence()
        row.time_modified = self._now()
        return row

    def duplicate_txn(self, txn_id: str) -> TxnRow:
        """The same transaction entered a second time (same RefNumber, date and lines)."""
        row = self.txns[txn_id]
        copy = TxnRow(
            txn_id=self._new_id(),
            txn_type=row.txn_type,
            edit_sequence=self._edit_sequence(),
            time_modified=self._now(),
            txn_date=row.txn_date,
            ref_number=row.ref_number,
            customer=row.customer,
            lines=list(row.lines),
            memo=row.memo,
            currency=row.currency,
        )
        self.txns[copy.txn_id] = copy
        return copy

    def sales_receipts(self) -> list[TxnRow]:
        return [t for t in self.txns.values() if t.txn_type == "SalesReceipt"]

    def credit_memos(self) -> list[TxnRow]:
        return [t for t in self.txns.values() if t.txn_type == "CreditMemo"]

    def customer_by_name(self, name: str) -> CustomerRow | None:
        return next((c for c in self.customers.values() if c.name.lower() == name.lower()), None)

    def item_by_name(self, name: str) -> ItemRow | None:
        return next((i for i in self.items.values() if i.name.lower() == name.lower()), None)

    # --- The Web Connector side ---------------------------------------------------------------------

    def host_response(self, owner_id: str) -> str:
        """The HostQuery/CompanyQuery/PreferencesQuery answers QBWC sends in strHCPResponse."""
        versions = "".join(_e("SupportedQBXMLVersion", v) for v in self.supported_versions)
        ext = ""
        if owner_id.lower() in self.file_ids:
            ext = (
                f"<DataExtRet>{_e('OwnerID', owner_id)}{_e('DataExtName', 'FileID')}"
                f"{_e('DataExtType', 'STR255TYPE')}{_e('DataExtValue', self.file_ids[owner_id.lower()])}</DataExtRet>"
            )
        return (
            '<?xml version="1.0" ?>\n<QBXML>\n<QBXMLMsgsRs>\n'
            '<HostQueryRs requestID="0" statusCode="0" statusSeverity="Info" statusMessage="Status OK">\n'
            f"<HostRet>{_e('ProductName', 'QuickBooks Pro 2014 (simulated)')}{_e('MajorVersion', 24)}"
            f"{_e('MinorVersion', 0)}{_e('Country', 'US')}{versions}</HostRet>\n</HostQueryRs>\n"
            '<CompanyQueryRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">\n'
            f"<CompanyRet>{_e('IsSampleCompany', 'false')}{_e('CompanyName', self.name)}{ext}</CompanyRet>\n"
            "</CompanyQueryRs>\n"
            '<PreferencesQueryRs requestID="2" statusCode="0" statusSeverity="Info" statusMessage="Status OK">\n'
            "<PreferencesRet><PurchasesAndVendorsPreferences><IsUsingInventory>true</IsUsingInventory>"
            "</PurchasesAndVendorsPreferences></PreferencesRet>\n</PreferencesQueryRs>\n</QBXMLMsgsRs>\n</QBXML>\n"
        )

    def register_file(self, owner_id: str, file_id: str) -> None:
        """QBWC stores the .qwc's FileID as a data extension on first contact."""
        self.file_ids.setdefault(owner_id.lower(), file_id.lower())

    # --- Request processing -----------------------------------------------------------------------

    def process(self, request_xml: str) -> str:
        """Answer one qbXML request message set, or raise SimulatedHResult like QuickBooks would."""
        self.requests_seen.append(request_xml)
        if self._hresults:
            raise SimulatedHResult(*self._hresults.pop(0))
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_pis=False)
        try:
            root = etree.fromstring(request_xml.encode("utf-8"), parser=parser)
        except etree.XMLSyntaxError:
            raise SimulatedHResult(*PARSE_ERROR) from None
        pi = root.getprevious()
        while pi is not None and not (isinstance(pi, etree._ProcessingInstruction) and pi.target == "qbxml"):
            pi = pi.getprevious()
        version = (pi.get("version") if pi is not None else None) or ""
        if root.tag != "QBXML" or version not in self.supported_versions:
            raise SimulatedHResult(*PARSE_ERROR)
        msgs = root.find("QBXMLMsgsRq")
        if msgs is None or msgs.get("onError") not in ("stopOnError", "continueOnError", "rollbackOnError"):
            raise SimulatedHResult(*PARSE_ERROR)
        answers = []
        for rq in msgs:
            if not rq.tag.endswith("Rq"):
                raise SimulatedHResult(*PARSE_ERROR)
            answers.append(self._answer(rq))
        response = (
            '<?xml version="1.0" ?>\n<QBXML>\n<QBXMLMsgsRs>\n' + "\n".join(answers) + "\n</QBXMLMsgsRs>\n</QBXML>\n"
        )
        self._take_time(response)
        return response

    def _take_time(self, response: str) -> None:
        if not self.latency and not self.latency_per_row:
            return
        rows = len(RET_CLOSE.findall(response)) if self.latency_per_row else 0
        seconds = self.latency + self.latency_per_row * rows
        if self.time_limit is not None and seconds > self.time_limit:
            time.sleep(self.time_limit)
            raise SimulatedTimeout(seconds, self.time_limit)
        time.sleep(seconds)

    def _answer(self, rq) -> str:
        kind = rq.tag[:-2]
        handler = getattr(self, f"_rq_{kind}", None)
        if handler is None:
            raise SimulatedHResult(*PARSE_ERROR)
        rid = rq.get("requestID")
        for index, (fail_kind, code, message) in enumerate(self._failures):
            if fail_kind in (None, kind):
                self._failures.pop(index)
                return self._rs(kind, rid, code, message)
        return handler(rq, rid)

    @staticmethod
    def _rs(kind: str, rid: str | None, code: int, message: str, body: str = "", **attrs) -> str:
        severity = "Info" if code in (0, 1) else "Warn" if code < 1000 else "Error"
        head = f"<{kind}Rs"
        if rid is not None:
            head += f" requestID={quoteattr(rid)}"
        head += f' statusCode="{code}" statusSeverity="{severity}" statusMessage={quoteattr(message)}'
        for key, value in attrs.items():
            head += f" {key}={quoteattr(str(value))}"
        if not body:
            return head + " />"
        return f"{head}>\n{body}</{kind}Rs>"

    # --- Queries ------------------------------------------------------------------------------------

    def _page(self, kind: str, rq, rid, rows: list, render) -> str:
        """Apply MaxReturned and iterators to an ordered row list."""
        mode = rq.get("iterator")
        max_text = rq.findtext("MaxReturned")
        max_returned = int(max_text) if max_text and max_text.isdigit() else None
        if max_returned is not None and max_returned < 1:
            raise SimulatedHResult(*PARSE_ERROR)
        attrs: dict = {}
        if mode == "Continue":
            iterator = self.iterators.get(rq.get("iteratorID", ""))
            if iterator is None or iterator.kind != kind:
                return self._rs(
                    kind, rid, 3120, f'Object "{rq.get("iteratorID", "")}" specified in the request cannot be found.'
                )
            rows = iterator.rows
            start = iterator.position
        elif mode == "Start":
            iterator_id = "{" + str(uuid.UUID(int=self.random.getrandbits(128))) + "}"
            iterator = Iterator_(kind, rows)
            self.iterators[iterator_id] = iterator
            start = 0
            attrs["iteratorID"] = iterator_id
        elif mode is None:
            iterator, start = None, 0
        else:
            raise SimulatedHResult(*PARSE_ERROR)
        end = len(rows) if max_returned is None else min(len(rows), start + max_returned)
        page = rows[start:end]
        if iterator is not None:
            iterator.position = end
            attrs["iteratorRemainingCount"] = len(rows) - end
            attrs.setdefault("iteratorID", rq.get("iteratorID", ""))
        if not page:
            return self._rs(kind, rid, 1, "A query request did not find a matching object in QuickBooks", **attrs)
        attrs["retCount"] = len(page)
        body = "".join(render(row) for row in page)
        return self._rs(kind, rid, 0, "Status OK", body, **attrs)

    @staticmethod
    def _local_bound(text: str | None, *, end: bool) -> str:
        """A From/To date as the PC's local wall-clock text. QuickBooks reads a date-time without offset
        as local time (QBWC.md §4.2); what it does with an offset is not documented, so the simulated
        company reads the wall-clock part only. A date alone covers the whole day. Not a qbXML
        date-time: the request does not parse (HRESULT 0x80040400)."""
        if text is None:
            return ""
        text = text.strip()
        if not QB_DATETIME.fullmatch(text):
            raise SimulatedHResult(*PARSE_ERROR)
        if len(text) == 10 or text[10] != "T":
            return text[:10] + ("T23:59:59" if end else "T00:00:00")
        return text[:19]

    def _modified_between(self, rows: Iterable, from_text: str | None, to_text: str | None) -> list:
        """Inclusive bounds on TimeModified, compared as local wall-clock times."""
        lo, hi = self._local_bound(from_text, end=False), self._local_bound(to_text, end=True)
        return [row for row in rows if (not lo or row.time_modified >= lo) and (not hi or row.time_modified <= hi)]

    def _list_query(self, kind: str, rq, rid, rows: list, render) -> str:
        _check_order(rq, LIST_QUERY_ORDER)
        ids = [e.text or "" for e in rq.findall("ListID")]
        names = [e.text or "" for e in rq.findall("FullName")]
        if (ids or names) and (rq.find("MaxReturned") is not None or rq.get("iterator")):
            raise SimulatedHResult(*PARSE_ERROR)  # IDs or filters, never both
        if ids or names:
            found, missing = [], []
            for wanted in ids:
                match = next((r for r in rows if r.list_id == wanted), None)
                (found.append(match) if match else missing.append(wanted))
            for wanted in names:
                match = next((r for r in rows if r.name.lower() == wanted.lower()), None)
                (found.append(match) if match else missing.append(wanted))
            if missing:
                message = (
                    "The query request has not been fully completed. There was a required element "
                    f'("{missing[0]}") that could not be found in QuickBooks.'
                )
                return self._rs(kind, rid, 500, message, "".join(render(r) for r in found))
            return self._rs(kind, rid, 0, "Status OK", "".join(render(r) for r in found), retCount=len(found))
        status = rq.findtext("ActiveStatus") or "ActiveOnly"
        if status == "ActiveOnly":
            rows = [r for r in rows if r.is_active]
        elif status == "InactiveOnly":
            rows = [r for r in rows if not r.is_active]
        rows = self._modified_between(rows, rq.findtext("FromModifiedDate"), rq.findtext("ToModifiedDate"))
        return self._page(kind, rq, rid, rows, render)

    def _render_customer(self, row: CustomerRow) -> str:
        return (
            f"<CustomerRet>{_e('ListID', row.list_id)}{_e('TimeCreated', self._stamp(row.time_modified))}"
            f"{_e('TimeModified', self._stamp(row.time_modified))}{_e('EditSequence', row.edit_sequence)}"
            f"{_e('Name', row.name)}{_e('FullName', row.name)}{_e('IsActive', str(row.is_active).lower())}"
            f"{_e('Sublevel', 0)}{_e('Email', row.email) if row.email else ''}</CustomerRet>\n"
        )

    def _render_item(self, row: ItemRow) -> str:
        text = (
            f"<{row.item_type}Ret>{_e('ListID', row.list_id)}{_e('TimeCreated', self._stamp(row.time_modified))}"
            f"{_e('TimeModified', self._stamp(row.time_modified))}{_e('EditSequence', row.edit_sequence)}"
            f"{_e('Name', row.name)}{_e('FullName', row.name)}{_e('IsActive', str(row.is_active).lower())}"
            f"{_e('Sublevel', 0)}"
        )
        if row.item_type == "ItemInventory":
            text += _e("SalesPrice", f"{row.price:.2f}")
            text += _e("QuantityOnHand", row.quantity_on_hand if row.quantity_on_hand is not None else 0)
        else:
            text += f"<SalesOrPurchase>{_e('Price', f'{row.price:.2f}')}</SalesOrPurchase>"
        return text + f"</{row.item_type}Ret>\n"

    def _rq_CustomerQuery(self, rq, rid):
        return self._list_query("CustomerQuery", rq, rid, list(self.customers.values()), self._render_customer)

    def _rq_ItemQuery(self, rq, rid):
        return self._list_query("ItemQuery", rq, rid, list(self.items.values()), self._render_item)

    def _rq_ItemInventoryQuery(self, rq, rid):
        rows = [i for i in self.items.values() if i.item_type == "ItemInventory"]
        return self._list_query("ItemInventoryQuery", rq, rid, rows, self._render_item)

    def _render_invoice(self, row: TxnRow, *, lines: bool = True) -> str:
        subtotal = sum((qty * rate for _id, _item, qty, rate in row.lines), Decimal(0))
        text = (
            f"<InvoiceRet>{_e('TxnID', row.txn_id)}{_e('TimeCreated', self._stamp(row.time_modified))}"
            f"{_e('TimeModified', self._stamp(row.time_modified))}{_e('EditSequence', row.edit_sequence)}"
            f"<CustomerRef>{_e('FullName', row.customer)}</CustomerRef>{_e('TxnDate', row.txn_date)}"
            f"{_e('RefNumber', row.ref_number)}{_e('Subtotal', f'{subtotal:.2f}')}"
            f"{_e('SalesTaxTotal', '0.00')}"
        )
        if row.currency:
            text += f"<CurrencyRef>{_e('FullName', row.currency)}</CurrencyRef>"
        if row.memo:
            text += _e("Memo", row.memo)
        if lines:
            for line_id, item, qty, rate in row.lines:
                text += (
                    f"<InvoiceLineRet>{_e('TxnLineID', line_id)}<ItemRef>{_e('FullName', item)}</ItemRef>"
                    f"{_e('Quantity', qty)}{_e('Rate', f'{rate:.2f}')}{_e('Amount', f'{qty * rate:.2f}')}"
                    "</InvoiceLineRet>"
                )
        return text + "</InvoiceRet>\n"

    def _rq_InvoiceQuery(self, rq, rid):
        _check_order(rq, TXN_QUERY_ORDER)
        with_lines = rq.findtext("IncludeLineItems") == "true"
        rows = [t for t in self.txns.values() if t.txn_type == "Invoice"]
        txn_ids = [e.text or "" for e in rq.findall("TxnID")]
        refs = [e.text or "" for e in rq.findall("RefNumber")]

        def render(row):
            return self._render_invoice(row, lines=with_lines)

        if txn_ids:
            found = [self.txns[t] for t in txn_ids if t in self.txns and self.txns[t].txn_type == "Invoice"]
            missing = [t for t in txn_ids if t not in self.txns]
            if missing:
                message = (
                    "The query request has not been fully completed. There was a required element "
                    f'("{missing[0]}") that could not be found in QuickBooks.'
                )
                return self._rs("InvoiceQuery", rid, 500, message, "".join(render(r) for r in found))
            return self._rs("InvoiceQuery", rid, 0, "Status OK", "".join(render(r) for r in found), retCount=len(found))
        if refs:
            found = [r for r in rows if r.ref_number in refs]
            if not found:
                return self._rs("InvoiceQuery", rid, 1, "A query request did not find a matching object in QuickBooks")
            return self._rs("InvoiceQuery", rid, 0, "Status OK", "".join(render(r) for r in found), retCount=len(found))
        mod = rq.find("ModifiedDateRangeFilter")
        if mod is not None:
            rows = self._modified_between(rows, mod.findtext("FromModifiedDate"), mod.findtext("ToModifiedDate"))
        rows = self._dated_between(rows, rq.find("TxnDateRangeFilter"), mod)
        return self._page("InvoiceQuery", rq, rid, rows, render)

    @staticmethod
    def _dated_between(rows: list, window, modified) -> list:
        """`TxnDateRangeFilter` (FromTxnDate/ToTxnDate, dates, both included). It is the alternative to
        `ModifiedDateRangeFilter` in the schema: a request with both does not parse."""
        if window is None:
            return rows
        if modified is not None:
            raise SimulatedHResult(*PARSE_ERROR)
        bounds = [window.findtext(tag) for tag in ("FromTxnDate", "ToTxnDate")]
        for bound in bounds:
            if bound is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", bound.strip()):
                raise SimulatedHResult(*PARSE_ERROR)
        lo, hi = (b.strip() if b else "" for b in bounds)
        return [row for row in rows if (not lo or row.txn_date >= lo) and (not hi or row.txn_date <= hi)]

    def _render_journal_entry(self, r: TxnRow) -> str:
        # JournalEntryRet carries its lines as JournalDebitLine / JournalCreditLine (no "Ret" suffix).
        lines = "".join(
            f"<{kind}><AccountRef>{_e('FullName', account)}</AccountRef>{_e('Amount', f'{amount:.2f}')}</{kind}>"
            for kind, account, amount in r.lines
        )
        currency = f"<CurrencyRef>{_e('FullName', r.currency)}</CurrencyRef>" if r.currency else ""
        return (
            f"<JournalEntryRet>{_e('TxnID', r.txn_id)}{_e('TimeCreated', self._stamp(r.time_modified))}"
            f"{_e('TimeModified', self._stamp(r.time_modified))}{_e('EditSequence', r.edit_sequence)}"
            f"{_e('TxnDate', r.txn_date)}{_e('RefNumber', r.ref_number)}{currency}{lines}</JournalEntryRet>\n"
        )

    def _rq_JournalEntryQuery(self, rq, rid):
        _check_order(rq, TXN_QUERY_ORDER)
        txn_ids = {e.text or "" for e in rq.findall("TxnID")}
        refs = {e.text or "" for e in rq.findall("RefNumber")}
        journals = [t for t in self.txns.values() if t.txn_type == "JournalEntry"]
        if not txn_ids and not refs:  # the filter set: MaxReturned, a date window, iterators
            rows = self._dated_between(journals, rq.find("TxnDateRangeFilter"), rq.find("ModifiedDateRangeFilter"))
            return self._page("JournalEntryQuery", rq, rid, rows, self._render_journal_entry)
        rows = [t for t in journals if t.txn_id in txn_ids or t.ref_number in refs]
        if not rows:
            return self._rs("JournalEntryQuery", rid, 1, "A query request did not find a matching object in QuickBooks")
        body = "".join(self._render_journal_entry(r) for r in rows)
        return self._rs("JournalEntryQuery", rid, 0, "Status OK", body, retCount=len(rows))

    def delete_txn(self, txn_id: str) -> None:
        """Another QuickBooks user deletes an invoice or a journal entry."""
        self.delete_invoice(txn_id)

    def _deleted(self, kind: str, rq, rid, type_tag: str, source: list[dict], render, allowed: frozenset) -> str:
        types = {e.text for e in rq.findall(type_tag)}
        if not types or not types <= allowed:
            raise SimulatedHResult(*PARSE_ERROR)  # a value outside the schema's enumeration
        rows = [d for d in source if d["type"] in types]
        window = rq.find("DeletedDateRangeFilter")
        if window is not None:
            lo = self._local_bound(window.findtext("FromDeletedDate"), end=False)
            hi = self._local_bound(window.findtext("ToDeletedDate"), end=True)
            rows = [d for d in rows if (not lo or d["deleted"] >= lo) and (not hi or d["deleted"] <= hi)]
        if not rows:
            return self._rs(kind, rid, 1, "A query request did not find a matching object in QuickBooks")
        return self._rs(kind, rid, 0, "Status OK", "".join(render(d) for d in rows), retCount=len(rows))

    def _rq_TxnDeletedQuery(self, rq, rid):
        def render(d):
            return (
                f"<TxnDeletedRet>{_e('TxnDelType', d['type'])}{_e('TxnID', d['txn_id'])}"
                f"{_e('TimeCreated', self._stamp(d['created'] or d['deleted']))}"
                f"{_e('TimeDeleted', self._stamp(d['deleted']))}{_e('RefNumber', d['ref'])}</TxnDeletedRet>\n"
            )

        return self._deleted("TxnDeletedQuery", rq, rid, "TxnDelType", self.deleted_txns, render, TXN_DEL_TYPES)

    def _rq_ListDeletedQuery(self, rq, rid):
        def render(d):
            return (
                f"<ListDeletedRet>{_e('ListDelType', d['type'])}{_e('ListID', d['list_id'])}"
                f"{_e('TimeCreated', self._stamp(d['deleted']))}{_e('TimeDeleted', self._stamp(d['deleted']))}"
                f"{_e('FullName', d['name'])}</ListDeletedRet>\n"
            )

        return self._deleted("ListDeletedQuery", rq, rid, "ListDelType", self.deleted_lists, render, LIST_DEL_TYPES)

    def delete_customer(self, list_id: str) -> None:
        row = self.customers.pop(list_id)
        self.deleted_lists.append({"type": "Customer", "list_id": list_id, "name": row.name, "deleted": self._now()})

    def delete_item(self, list_id: str) -> None:
        row = self.items.pop(list_id)
        self.deleted_lists.append({"type": row.item_type, "list_id": list_id, "name": row.name, "deleted": self._now()})

    # --- Writes -------------------------------------------------------------------------------------

    def _invalid_reference(self, kind: str, rid, what: str, name: str, txn: str) -> str:
        message = (
            f'There is an invalid reference to QuickBooks {what} "{name}" in the {txn}.  '
            "QuickBooks error message: Invalid argument.  The specified record does not exist in the list."
        )
        return self._rs(kind, rid, 3140, message)

    def _resolve_customer(self, ref) -> CustomerRow | None:
        list_id, full_name = ref.findtext("ListID"), ref.findtext("FullName")
        if list_id:
            return self.customers.get(list_id)
        return self.customer_by_name(full_name or "")

    def _too_long(self, kind: str, rid, body) -> str:
        """QuickBooks refuses a RefNumber over its field's max length (status 3070, "The string … in the
        field … is too long."), as any other over-long string field."""
        ref = body.findtext("RefNumber") or ""
        if len(ref) > REF_NUMBER_MAX:
            return self._rs(kind, rid, 3070, f'The string "{ref}" in the field "RefNumber" is too long.')
        return ""

    def _invoice_lines(self, kind: str, rid, body, line_tag: str):
        lines = []
        for line in body.findall(line_tag):
            _check_order(line, LINE_ORDER)
            item_ref = line.find("ItemRef")
            if item_ref is None:
                raise SimulatedHResult(*PARSE_ERROR)
            name = item_ref.findtext("FullName") or ""
            item = self.items.get(item_ref.findtext("ListID") or "") or self.item_by_name(name)
            if item is None:
                return None, self._invalid_reference(
                    kind, rid, "Item", name, kind.removesuffix("Add").removesuffix("Mod")
                )
            if line.find("Amount") is not None and line.find("Rate") is None and line.find("Quantity") is None:
                qty, rate = Decimal(1), Decimal(line.findtext("Amount") or "0")  # an Amount-only line
            else:
                qty = Decimal(line.findtext("Quantity") or "0")
                rate = Decimal(line.findtext("Rate") or "0")
            lines.append((self._new_id(), item.name, qty, rate))
        if not lines:
            raise SimulatedHResult(*PARSE_ERROR)
        return lines, None

    def _rq_InvoiceAdd(self, rq, rid):
        body = rq.find("InvoiceAdd")
        if body is None:
            raise SimulatedHResult(*PARSE_ERROR)
        _check_order(body, INVOICE_ORDER[2:-1])
        ref = body.find("CustomerRef")
        if ref is None:
            raise SimulatedHResult(*PARSE_ERROR)
        customer = self._resolve_customer(ref)
        if customer is None:
            name = ref.findtext("FullName") or ref.findtext("ListID") or ""
            return self._invalid_reference("InvoiceAdd", rid, "Customer", name, "Invoice")
        lines, error = self._invoice_lines("InvoiceAdd", rid, body, "InvoiceLineAdd")
        if error:
            return error
        row = TxnRow(
            txn_id=self._new_id(),
            txn_type="Invoice",
            edit_sequence=self._edit_sequence(),
            time_modified=self._now(),
            txn_date=body.findtext("TxnDate") or self._now()[:10],
            ref_number=body.findtext("RefNumber") or "",
            customer=customer.name,
            lines=lines,
            memo=body.findtext("Memo") or "",
        )
        self.txns[row.txn_id] = row
        self._move_stock(lines, out=True)
        return self._rs("InvoiceAdd", rid, 0, "Status OK", self._render_invoice(row))

    def _rq_InvoiceMod(self, rq, rid):
        body = rq.find("InvoiceMod")
        if body is None or body.find("TxnID") is None or body.find("EditSequence") is None:
            raise SimulatedHResult(*PARSE_ERROR)
        _check_order(body, [t for t in INVOICE_ORDER if t != "InvoiceLineAdd"])
        txn_id = body.findtext("TxnID") or ""
        row = self.txns.get(txn_id)
        if row is None or row.txn_type != "Invoice":
            message = (
                f'Object "{txn_id}" specified in the request cannot be found.  '
                "QuickBooks error message: Invalid argument.  The specified record does not exist in the list."
            )
            return self._rs("InvoiceMod", rid, 3120, message)
        sent = body.findtext("EditSequence") or ""
        if sent != row.edit_sequence:
            return self._rs("InvoiceMod", rid, 3200, f'The provided edit sequence "{sent}" is out-of-date.')
        ref = body.find("CustomerRef")
        if ref is not None:
            customer = self._resolve_customer(ref)
            if customer is None:
                return self._invalid_reference("InvoiceMod", rid, "Customer", ref.findtext("FullName") or "", "Invoice")
            row.customer = customer.name
        if body.find("InvoiceLineMod") is not None:
            lines, error = self._invoice_lines("InvoiceMod", rid, body, "InvoiceLineMod")
            if error:
                return error
            row.lines = lines
        for tag, attr in (("TxnDate", "txn_date"), ("RefNumber", "ref_number"), ("Memo", "memo")):
            if body.find(tag) is not None:
                setattr(row, attr, body.findtext(tag) or "")
        row.edit_sequence = self._edit_sequence()
        row.time_modified = self._now()
        return self._rs("InvoiceMod", rid, 0, "Status OK", self._render_invoice(row))

    def _rq_JournalEntryAdd(self, rq, rid):
        body = rq.find("JournalEntryAdd")
        if body is None:
            raise SimulatedHResult(*PARSE_ERROR)
        _check_order(body, JOURNAL_ORDER)
        lines = []
        for line in body:
            if line.tag not in ("JournalDebitLine", "JournalCreditLine"):
                continue
            _check_order(line, JOURNAL_LINE_ORDER)
            account = line.findtext("AccountRef/FullName") or ""
            if account not in self.accounts:
                return self._invalid_reference("JournalEntryAdd", rid, "Account", account, "JournalEntry")
            lines.append((line.tag, account, Decimal(line.findtext("Amount") or "0")))
        row = TxnRow(
            txn_id=self._new_id(),
            txn_type="JournalEntry",
            edit_sequence=self._edit_sequence(),
            time_modified=self._now(),
            txn_date=body.findtext("TxnDate") or "",
            ref_number=body.findtext("RefNumber") or "",
            lines=lines,
        )
        self.txns[row.txn_id] = row
        ret = (
            f"<JournalEntryRet>{_e('TxnID', row.txn_id)}{_e('TimeCreated', self._stamp(row.time_modified))}"
            f"{_e('TimeModified', self._stamp(row.time_modified))}{_e('EditSequence', row.edit_sequence)}"
            f"{_e('TxnDate', row.txn_date)}{_e('RefNumber', row.ref_number)}</JournalEntryRet>\n"
        )
        return self._rs("JournalEntryAdd", rid, 0, "Status OK", ret)

    def _rq_CustomerAdd(self, rq, rid):
        body = rq.find("CustomerAdd")
        name = body.findtext("Name") if body is not None else None
        if not name:
            raise SimulatedHResult(*PARSE_ERROR)
        if self.customer_by_name(name):
            return self._rs("CustomerAdd", rid, 3100, f'The name "{name}" of the list element is already in use.')
        row = self.add_customer(name, email=body.findtext("Email") or "")
        return self._rs("CustomerAdd", rid, 0, "Status OK", self._render_customer(row))

    # --- Sales receipts and credit memos -----------------------------------------------------------

    def _customer_or_error(self, kind: str, rid, body, txn: str):
        ref = body.find("CustomerRef")
        if ref is None:
            raise SimulatedHResult(*PARSE_ERROR)
        customer = self._resolve_customer(ref)
        if customer is None:
            name = ref.findtext("FullName") or ref.findtext("ListID") or ""
            return None, self._invalid_reference(kind, rid, "Customer", name, txn)
        return customer, ""

    def _add_txn(self, txn_type: str, body, customer: CustomerRow, lines: list, **extra) -> TxnRow:
        row = TxnRow(
            txn_id=self._new_id(),
            txn_type=txn_type,
            edit_sequence=self._edit_sequence(),
            time_modified=self._now(),
            txn_date=body.findtext("TxnDate") or self._now()[:10],
            ref_number=body.findtext("RefNumber") or "",
            customer=customer.name,
            lines=lines,
            memo=body.findtext("Memo") or "",
            **extra,
        )
        self.txns[row.txn_id] = row
        return row

    def _render_txn(self, row: TxnRow, *, lines: bool = True) -> str:
        """SalesReceiptRet / CreditMemoRet: identity, customer, RefNumber, TotalAmount, Memo, lines."""
        tag = row.txn_type
        text = (
            f"<{tag}Ret>{_e('TxnID', row.txn_id)}{_e('TimeCreated', self._stamp(row.time_modified))}"
            f"{_e('TimeModified', self._stamp(row.time_modified))}{_e('EditSequence', row.edit_sequence)}"
            f"<CustomerRef>{_e('FullName', row.customer)}</CustomerRef>{_e('TxnDate', row.txn_date)}"
            f"{_e('RefNumber', row.ref_number)}"
        )
        if row.payment_method:
            text += f"<PaymentMethodRef>{_e('FullName', row.payment_method)}</PaymentMethodRef>"
        text += _e("Subtotal", f"{row.total:.2f}") + _e("TotalAmount", f"{row.total:.2f}")
        if row.memo:
            text += _e("Memo", row.memo)
        if row.deposit_account:
            text += f"<DepositToAccountRef>{_e('FullName', row.deposit_account)}</DepositToAccountRef>"
        if lines:
            for line_id, item, qty, rate in row.lines:
                text += (
                    f"<{tag}LineRet>{_e('TxnLineID', line_id)}<ItemRef>{_e('FullName', item)}</ItemRef>"
                    f"{_e('Quantity', qty)}{_e('Rate', f'{rate:.2f}')}{_e('Amount', f'{qty * rate:.2f}')}"
                    f"</{tag}LineRet>"
                )
        return text + f"</{tag}Ret>\n"

    def _query_by_id(self, kind: str, txn_type: str, rq, rid) -> str:
        """SalesReceiptQuery / CreditMemoQuery by TxnID or RefNumber (what the flow asks)."""
        _check_order(rq, TXN_QUERY_ORDER)
        txn_ids = {e.text or "" for e in rq.findall("TxnID")}
        refs = {e.text or "" for e in rq.findall("RefNumber")}
        if not txn_ids and not refs:
            raise SimulatedHResult(*PARSE_ERROR)  # the simulated company answers ID queries only
        rows = [
            t for t in self.txns.values() if t.txn_type == txn_type and (t.txn_id in txn_ids or t.ref_number in refs)
        ]
        if not rows:
            return self._rs(kind, rid, 1, "A query request did not find a matching object in QuickBooks")
        with_lines = rq.findtext("IncludeLineItems") == "true"
        body = "".join(self._render_txn(r, lines=with_lines) for r in rows)
        return self._rs(kind, rid, 0, "Status OK", body, retCount=len(rows))

    def _rq_SalesReceiptQuery(self, rq, rid):
        return self._query_by_id("SalesReceiptQuery", "SalesReceipt", rq, rid)

    def _rq_CreditMemoQuery(self, rq, rid):
        return self._query_by_id("CreditMemoQuery", "CreditMemo", rq, rid)

    def _named_ref(self, kind: str, rid, body, tag: str, known: set[str], what: str, txn: str) -> tuple[str, str]:
        """(the FullName of an optional list reference, "") or ("", the 3140 answer when it is not in the list)."""
        name = body.findtext(f"{tag}/FullName") or ""
        if body.find(tag) is not None and name not in known:
            return "", self._invalid_reference(kind, rid, what, name, txn)
        return name, ""

    def _sale_add(self, kind: str, rq, rid, order: list[str], txn: str):
        """(the request body, its customer, None) of a SalesReceiptAdd or CreditMemoAdd, or
        (None, None, the answer QuickBooks gives): the element order checked, names not too long,
        the customer known."""
        body = rq.find(kind)
        if body is None:
            raise SimulatedHResult(*PARSE_ERROR)
        _check_order(body, order)
        too_long = self._too_long(kind, rid, body)
        if too_long:
            return None, None, too_long
        customer, error = self._customer_or_error(kind, rid, body, txn)
        return body, customer, error

    def _move_stock(self, lines, *, out: bool) -> None:
        """Goods sold leave stock (`out`); goods credited come back."""
        for _id, item_name, qty, _rate in lines:
            item = self.item_by_name(item_name)
            if item and item.quantity_on_hand is not None:
                item.quantity_on_hand += -qty if out else qty

    def _rq_SalesReceiptAdd(self, rq, rid):
        body, customer, error = self._sale_add("SalesReceiptAdd", rq, rid, SALES_RECEIPT_ORDER, "SalesReceipt")
        if error:
            return error
        method, error = self._named_ref(
            "SalesReceiptAdd", rid, body, "PaymentMethodRef", self.payment_methods, "PaymentMethod", "SalesReceipt"
        )
        if error:
            return error
        account, error = self._named_ref(
            "SalesReceiptAdd", rid, body, "DepositToAccountRef", self.accounts, "Account", "SalesReceipt"
        )
        if error:
            return error
        lines, error = self._invoice_lines("SalesReceiptAdd", rid, body, "SalesReceiptLineAdd")
        if error:
            return error
        row = self._add_txn(
            "SalesReceipt",
            body,
            customer,
            lines,
            payment_method=method,
            deposit_account=account or "Undeposited Funds",
        )
        self._move_stock(lines, out=True)
        return self._rs("SalesReceiptAdd", rid, 0, "Status OK", self._render_txn(row))

    def _rq_CreditMemoAdd(self, rq, rid):
        body, customer, error = self._sale_add("CreditMemoAdd", rq, rid, CREDIT_MEMO_ORDER, "CreditMemo")
        if error:
            return error
        lines, error = self._invoice_lines("CreditMemoAdd", rid, body, "CreditMemoLineAdd")
        if error:
            return error
        row = self._add_txn("CreditMemo", body, customer, lines)
        self._move_stock(lines, out=False)
        return self._rs("CreditMemoAdd", rid, 0, "Status OK", self._render_txn(row))

    # --- Payment methods and accounts (the sales receipt options' pick lists) -----------------------

    ACCOUNT_TYPES = {
        "Accounts Receivable": "AccountsReceivable",
        "Checking": "Bank",
        "Undeposited Funds": "OtherCurrentAsset",
        "Sales": "Income",
        "Shipping Income": "Income",
        "Cost of Goods Sold": "CostOfGoodsSold",
        "Sales Tax Payable": "OtherCurrentLiability",
    }

    def _named_list(self, kind: str, rq, rid, rows: list[tuple[str, str]], ret: str) -> str:
        """AccountQuery / PaymentMethodQuery with ActiveStatus only (unpaged: every active entry)."""
        _check_order(rq, ["ListID", "FullName", "MaxReturned", "ActiveStatus", "FromModifiedDate", "ToModifiedDate"])
        if rq.get("iterator"):
            raise SimulatedHResult(*PARSE_ERROR)  # neither list query is iterated here
        if not rows:
            return self._rs(kind, rid, 1, "A query request did not find a matching object in QuickBooks")
        body = ""
        for index, (name, extra) in enumerate(sorted(rows)):
            list_id = f"{index + 1:X}0000-1600000000"
            body += (
                f"<{ret}>{_e('ListID', list_id)}{_e('EditSequence', '1600000000')}{_e('Name', name)}"
                f"{_e('FullName', name)}{_e('IsActive', 'true')}{extra}</{ret}>\n"
            )
        return self._rs(kind, rid, 0, "Status OK", body, retCount=len(rows))

    def _rq_AccountQuery(self, rq, rid):
        rows = [(name, _e("AccountType", self.ACCOUNT_TYPES.get(name, "OtherCurrentAsset"))) for name in self.accounts]
        return self._named_list("AccountQuery", rq, rid, rows, "AccountRet")

    def _rq_PaymentMethodQuery(self, rq, rid):
        rows = [(name, _e("PaymentMethodType", "OtherPaymentMethod")) for name in self.payment_methods]
        return self._named_list("PaymentMethodQuery", rq, rid, rows, "PaymentMethodRet")
