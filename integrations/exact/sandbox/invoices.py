"""Sandbox Exact writes for order → invoice flows: `crm/Accounts` and `salesinvoice/SalesInvoices`.

EXACT.md §6.3 gives the account fields (Name, Email, Status "C" customer). EXACT.md has no section on
sales invoices; this follows the shape Exact's entity docs give (picqer `SalesInvoice.php`,
`SalesInvoiceLine.php`): a header with `OrderedBy` (account), `Journal` (code of a sales journal,
Type 20, EXACT.md §6.11), `Type` (8020 invoice, 8021 credit note), `YourRef`, `Description`, and
`SalesInvoiceLines` posted inline, each naming an `Item` guid with `Quantity`, `AmountFC`, `VATCode`.
A new invoice is open (Status 20): lines can be added (POST `SalesInvoiceLines` with `InvoiceID`) and
deleted; one processed in Exact (Status 50) is final and every change is refused. Refusals use Exact's error body (§6.12).

VAT, as Exact computes it: a line's `AmountFC` is net ("For normal lines it's the amount excluding
VAT", picqer `SalesInvoiceLine.php`); Exact adds `VATAmountFC` from the percentage of the line's
`VATCode` (`VATPercentage`: "used for the default calculation of VAT amounts"), rounded per line to
the cent, half away from zero (as the sales orders of this sandbox do, salesorders.py), so a credit
note's negated lines carry the same VAT negated. The header sums them: `AmountFCExclVat` "the sum of
all lines, excluding VAT", `VATAmountFC` "Total VAT amount", `AmountFC` "the sum of all lines,
including VAT" (picqer `SalesInvoice.php`; Invantive's SalesInvoices column reference says the same).
A line without a VAT code carries no VAT here (Exact would take the item's; the sandbox items have none).
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse

from integrations.exact.sandbox import state
from integrations.exact.sandbox.models import SandboxExactDivision, SandboxExactEntity

SALES_JOURNAL_TYPE = 20
INVOICE_TYPES = (8020, 8021)  # sales invoice, sales credit note
STATUS_OPEN = 20
STATUS_PROCESSED = 50
ACCOUNT_FIELDS = {"Name", "Email", "Status", "Phone", "AddressLine1", "City", "Postcode", "Country", "Code"}
INVOICE_FIELDS = {
    "OrderedBy",
    "InvoiceTo",
    "Journal",
    "Type",
    "YourRef",
    "Description",
    "Currency",
    "InvoiceDate",
    "SalesInvoiceLines",
}
LINE_FIELDS = {"Item", "Quantity", "AmountFC", "UnitPrice", "VATCode", "Description"}
CENT = Decimal("0.01")


class Refusal(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": "", "message": {"lang": "", "value": message}}}, status=status)


def _body(request: HttpRequest, allowed: set[str]) -> dict:
    try:
        body = json.loads(request.body or b"")
    except ValueError:
        raise Refusal(400, "Invalid JSON in request body") from None
    if not isinstance(body, dict) or not body:
        raise Refusal(400, "Request body must be a non-empty object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise Refusal(400, f"{unknown[0][:40]}: property does not exist or cannot be set")
    return body


def _answer(handler):
    def view(request: HttpRequest, company: SandboxExactDivision, key: str | None) -> HttpResponse:
        try:
            return handler(request, company, key)
        except Refusal as exc:
            return error(exc.status, str(exc))

    return view


@_answer
def post_account(request: HttpRequest, company: SandboxExactDivision, key: str | None) -> HttpResponse:
    """POST crm/Accounts: `Name` is mandatory; `Code` is given out (18 characters, leading spaces)."""
    body = _body(request, ACCOUNT_FIELDS)
    if not str(body.get("Name") or "").strip():
        raise Refusal(400, "Mandatory: Name")
    if body.get("Status") not in (None, "A", "S", "P", "C"):
        raise Refusal(400, f"Status: invalid value {str(body['Status'])[:5]}")
    number = SandboxExactEntity.objects.filter(division=company, entity="Accounts").count() + 100
    row = state.put(company, "Accounts", {"Code": str(number).rjust(18), "Status": "A", **body})
    return JsonResponse({"d": row.data}, status=201)


def _money(n: int, line: dict, name: str) -> Decimal:
    try:
        amount = Decimal(str(line.get(name)))
    except InvalidOperation:
        raise Refusal(400, f"Line {n}: {name} is not a number") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise Refusal(400, f"Line {n}: {name} has more than 2 decimals")
    return amount


def _check_header(company: SandboxExactDivision, body: dict) -> None:
    if not body.get("OrderedBy"):
        raise Refusal(400, "Mandatory: OrderedBy")
    if not SandboxExactEntity.objects.filter(
        division=company, entity="Accounts", guid=str(body["OrderedBy"]).lower()
    ).exists():
        raise Refusal(400, "OrderedBy: account not found")
    journal = state.find(company, "Journals", Code=str(body.get("Journal") or ""))
    if not body.get("Journal"):
        raise Refusal(400, "Mandatory: Journal")
    if journal is None or journal.get("Type") != SALES_JOURNAL_TYPE:
        raise Refusal(400, f"Journal {str(body['Journal'])[:20]} is not a sales journal")
    if body.get("Type", 8020) not in INVOICE_TYPES:
        raise Refusal(400, "Type: invalid value")


def _vat_rates(company: SandboxExactDivision) -> dict[str, Decimal]:
    """The company's VAT codes and their percentages (a fraction: 0.21)."""
    rows = company.entities.filter(entity="VATCodes").values_list("data", flat=True)
    return {str(d.get("Code")): Decimal(str(d.get("Percentage") or 0)) for d in rows}


def line_vat(amount: Decimal, percentage: Decimal) -> Decimal:
    """A line's VAT: its net amount times the VAT code's percentage, to the cent, half away from zero."""
    return (amount * percentage).quantize(CENT, rounding=ROUND_HALF_UP)


def _check_line(company: SandboxExactDivision, n: int, line, vat_codes: dict[str, Decimal]) -> dict:
    """One invoice line as stored: a known item, a quantity, an amount to the cent, a known VAT code,
    and the VAT Exact computes from that code."""
    if not isinstance(line, dict):
        raise Refusal(400, f"Line {n}: not an object")
    unknown = sorted(set(line) - LINE_FIELDS)
    if unknown:
        raise Refusal(400, f"Line {n}: {unknown[0][:40]}: property does not exist or cannot be set")
    item = SandboxExactEntity.objects.filter(
        division=company, entity="Items", guid=str(line.get("Item") or "").lower()
    ).first()
    if item is None:
        raise Refusal(400, f"Line {n}: Mandatory: Item")
    if line.get("VATCode") and str(line["VATCode"]) not in vat_codes:
        raise Refusal(400, f"Line {n}: VAT code not found: {str(line['VATCode'])[:10]}")
    amount = _money(n, line, "AmountFC")
    quantity = _money(n, {"Quantity": line.get("Quantity", 1)}, "Quantity")
    percentage = vat_codes.get(str(line.get("VATCode") or ""), Decimal("0"))
    return {
        **line,
        "ItemCode": item.data.get("Code"),
        "Quantity": float(quantity),
        "AmountFC": float(amount),
        "VATPercentage": float(percentage),
        "VATAmountFC": float(line_vat(amount, percentage)),
        "LineNumber": n,
    }


def invoice_totals(lines: list[dict]) -> dict:
    """The header's amounts from its lines: net, VAT, and the total including VAT."""
    net = sum((Decimal(str(line["AmountFC"])) for line in lines), Decimal("0.00"))
    vat = sum((Decimal(str(line.get("VATAmountFC") or 0)) for line in lines), Decimal("0.00"))
    return {"AmountFCExclVat": float(net), "VATAmountFC": float(vat), "AmountFC": float(net + vat)}


@_answer
def post_sales_invoice(request: HttpRequest, company: SandboxExactDivision, key: str | None) -> HttpResponse:
    """POST salesinvoice/SalesInvoices with its lines inline; numbered 26000001 up, open (Status 20)."""
    body = _body(request, INVOICE_FIELDS)
    _check_header(company, body)
    try:
        invoice_date = state.entry_date(body.get("InvoiceDate"))
    except ValueError:
        raise Refusal(400, "InvoiceDate: invalid date") from None
    lines = body.get("SalesInvoiceLines")
    if not isinstance(lines, list) or not lines:
        raise Refusal(400, "Mandatory: SalesInvoiceLines")
    vat_codes = _vat_rates(company)
    checked = [_check_line(company, n, line, vat_codes) for n, line in enumerate(lines, start=1)]
    with transaction.atomic():
        number = SandboxExactEntity.objects.filter(division=company, entity="SalesInvoices").count() + 1
        invoice_id = state.new_guid()
        stored = [state.put(company, "SalesInvoiceLines", {**line, "InvoiceID": invoice_id}).data for line in checked]
        header = {k: v for k, v in body.items() if k != "SalesInvoiceLines"}
        row = state.put(
            company,
            "SalesInvoices",
            {
                **header,
                "InvoiceID": invoice_id,
                "InvoiceNumber": 26000000 + number,
                "InvoiceDate": invoice_date,
                "Type": body.get("Type", 8020),
                "Currency": body.get("Currency") or company.currency,
                **invoice_totals(checked),
                "Status": STATUS_OPEN,
            },
            guid=invoice_id,
        )
    return JsonResponse({"d": {**row.data, "SalesInvoiceLines": {"results": stored}}}, status=201)


def _open_invoice(company: SandboxExactDivision, invoice_id: str) -> SandboxExactEntity:
    """The invoice a line change names, locked; a processed one is final (refused like Exact)."""
    row = (
        SandboxExactEntity.objects.select_for_update()
        .filter(division=company, entity="SalesInvoices", guid=invoice_id.lower())
        .first()
    )
    if row is None:
        raise Refusal(400, "InvoiceID: invoice not found")
    if row.data.get("Status") == STATUS_PROCESSED:
        raise Refusal(400, f"Invoice {row.data.get('InvoiceNumber')} has been processed and cannot be changed")
    return row


def _retotal(company: SandboxExactDivision, invoice: SandboxExactEntity) -> None:
    lines = [
        r.data for r in company.entities.filter(entity="SalesInvoiceLines") if r.data.get("InvoiceID") == invoice.guid
    ]
    state.put(company, "SalesInvoices", {**invoice.data, **invoice_totals(lines)}, guid=invoice.guid)


@_answer
def post_sales_invoice_line(request: HttpRequest, company: SandboxExactDivision, key: str | None) -> HttpResponse:
    """POST salesinvoice/SalesInvoiceLines: a line added to an open invoice (after its last line)."""
    body = _body(request, LINE_FIELDS | {"InvoiceID"})
    vat_codes = _vat_rates(company)
    with transaction.atomic():
        invoice = _open_invoice(company, str(body.pop("InvoiceID", "") or ""))
        numbers = [
            r.data.get("LineNumber") or 0
            for r in company.entities.filter(entity="SalesInvoiceLines")
            if r.data.get("InvoiceID") == invoice.guid
        ]
        line = _check_line(company, max(numbers, default=0) + 1, body, vat_codes)
        stored = state.put(company, "SalesInvoiceLines", {**line, "InvoiceID": invoice.guid}).data
        _retotal(company, invoice)
    return JsonResponse({"d": stored}, status=201)


@_answer
def delete_sales_invoice_line(request: HttpRequest, company: SandboxExactDivision, key: str | None) -> HttpResponse:
    """DELETE salesinvoice/SalesInvoiceLines(guid'…'): 204; only while the invoice is open."""
    with transaction.atomic():
        row = company.entities.filter(entity="SalesInvoiceLines", guid=str(key).lower()).first()
        if row is None:
            return error(404, "Not found")
        invoice = _open_invoice(company, str(row.data.get("InvoiceID") or ""))
        row.delete()
        _retotal(company, invoice)
    return HttpResponse(status=204)
