"""Sandbox Exact writes for orders sent in as sales orders: POST `salesorder/SalesOrders` with its
lines inline, POST and DELETE `salesorder/SalesOrderLines` (EXACT.md §6.1-6.2; the fields follow
picqer's `SalesOrder.php` and `SalesOrderLine.php`, generated from Exact's reference pages).

A new order is open (Status 12, nothing delivered or invoiced), numbered after the highest order
number. `OrderedBy` must be a known account, every line a known `Item` and (when given) a known
`VATCode`; Exact works out each line's `AmountFC` as `Quantity` × `NetPrice` (or `UnitPrice`) to the
cent, and the header's totals from the lines. Lines are added and deleted only while the order is
open and, for a deleted line, nothing of it was delivered or invoiced. Anything else is refused with
Exact's error body (§6.12), like the invoice writes (invoices.py).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from integrations.exact.sandbox import state
from integrations.exact.sandbox.invoices import Refusal, _answer, _body, error
from integrations.exact.sandbox.models import SandboxExactDivision, SandboxExactEntity

STATUS_OPEN = 12
CENT = Decimal("0.01")
HEADER_FIELDS = {
    "OrderedBy",
    "DeliverTo",
    "InvoiceTo",
    "YourRef",
    "Description",
    "Remarks",
    "Currency",
    "OrderDate",
    "DeliveryDate",
    "ShippingMethod",
    "PaymentCondition",
    "WarehouseID",
    "SalesOrderLines",
}
LINE_FIELDS = {
    "Item",
    "Quantity",
    "NetPrice",
    "UnitPrice",
    "Discount",
    "VATCode",
    "Description",
    "Notes",
    "DeliveryDate",
}


def _number(n: int, line: dict, name: str, default=None) -> Decimal:
    try:
        value = Decimal(str(line.get(name, default)))
    except InvalidOperation:
        raise Refusal(400, f"Line {n}: {name} is not a number") from None
    if not value.is_finite():
        raise Refusal(400, f"Line {n}: {name} is not a number")
    return value


def _line(company: SandboxExactDivision, n: int, line, vat: dict[str, Decimal]) -> dict:
    """A sales-order line as Exact stores it: the item's code, the amounts it works out."""
    if not isinstance(line, dict):
        raise Refusal(400, f"Line {n}: not an object")
    unknown = sorted(set(line) - LINE_FIELDS)
    if unknown:
        raise Refusal(400, f"Line {n}: {unknown[0][:40]}: property does not exist or cannot be set")
    item = company.entities.filter(entity="Items", guid=str(line.get("Item") or "").lower()).first()
    if item is None:
        raise Refusal(400, f"Line {n}: Mandatory: Item")
    code = str(line.get("VATCode") or "")
    if code and code not in vat:
        raise Refusal(400, f"Line {n}: VAT code not found: {code[:10]}")
    quantity = _number(n, line, "Quantity", 1)
    if quantity == 0:
        raise Refusal(400, f"Line {n}: Quantity cannot be 0")
    price_field = "NetPrice" if "NetPrice" in line else "UnitPrice"
    price = _number(n, line, price_field, item.data.get("StandardSalesPrice") or 0)
    amount = (quantity * price).quantize(CENT, rounding=ROUND_HALF_UP)
    return {
        **{k: v for k, v in line.items() if k != "Item"},
        "Item": item.guid,
        "ItemCode": item.data.get("Code"),
        "ItemDescription": item.data.get("Description"),
        "Description": line.get("Description") or item.data.get("Description"),
        "Quantity": float(quantity),
        "NetPrice": float(price),
        "UnitPrice": float(price),
        "AmountFC": float(amount),
        "VATAmount": float((amount * vat.get(code, Decimal(0))).quantize(CENT, rounding=ROUND_HALF_UP)),
        "QuantityDelivered": 0.0,
        "QuantityInvoiced": 0.0,
    }


def _vat_rates(company: SandboxExactDivision) -> dict[str, Decimal]:
    rows = company.entities.filter(entity="VATCodes").values_list("data", flat=True)
    return {str(d.get("Code")): Decimal(str(d.get("Percentage") or 0)) for d in rows}


def _lines_of(company: SandboxExactDivision, order_id: str) -> list[SandboxExactEntity]:
    rows = company.entities.filter(entity="SalesOrderLines").order_by("id")
    return [r for r in rows if r.data.get("OrderID") == order_id]


def _totals(lines: list[dict]) -> dict:
    net = sum((Decimal(str(x["AmountFC"])) for x in lines), Decimal("0.00"))
    vat = sum((Decimal(str(x.get("VATAmount") or 0)) for x in lines), Decimal("0.00"))
    return {"AmountFCExclVat": float(net), "AmountFC": float(net + vat)}


@_answer
def post_sales_order(request: HttpRequest, company: SandboxExactDivision, key: str | None) -> HttpResponse:
    """POST salesorder/SalesOrders with its lines inline: open (Status 12), the next order number."""
    body = _body(request, HEADER_FIELDS)
    account = company.entities.filter(entity="Accounts", guid=str(body.get("OrderedBy") or "").lower()).first()
    if not body.get("OrderedBy"):
        raise Refusal(400, "Mandatory: OrderedBy")
    if account is None:
        raise Refusal(400, "OrderedBy: account not found")
    lines = body.get("SalesOrderLines")
    if not isinstance(lines, list) or not lines:
        raise Refusal(400, "Mandatory: SalesOrderLines")
    vat = _vat_rates(company)
    checked = [_line(company, n, line, vat) for n, line in enumerate(lines, start=1)]
    with transaction.atomic():
        numbers = company.entities.filter(entity="SalesOrders").values_list("data", flat=True)
        number = max((int(d.get("OrderNumber") or 0) for d in numbers), default=0) + 1
        order_id = state.new_guid()
        stored = [
            state.put(
                company, "SalesOrderLines", {**line, "OrderID": order_id, "OrderNumber": number, "LineNumber": n}
            ).data
            for n, line in enumerate(checked, start=1)
        ]
        header = {k: v for k, v in body.items() if k != "SalesOrderLines"}
        row = state.put(
            company,
            "SalesOrders",
            {
                **header,
                "OrderID": order_id,
                "OrderNumber": number,
                "OrderedByName": account.data.get("Name"),
                "DeliverTo": body.get("DeliverTo") or account.guid,
                "DeliverToName": account.data.get("Name"),
                "InvoiceTo": body.get("InvoiceTo") or account.guid,
                "Currency": body.get("Currency") or company.currency,
                "AmountDiscount": 0,
                "Status": STATUS_OPEN,
                "DeliveryStatus": STATUS_OPEN,
                "InvoiceStatus": STATUS_OPEN,
                "Created": state.odate(timezone.now()),
                **_totals(checked),
            },
            guid=order_id,
        )
    return JsonResponse({"d": {**row.data, "SalesOrderLines": {"results": stored}}}, status=201)


def _open_order(company: SandboxExactDivision, order_id: str) -> SandboxExactEntity:
    row = (
        SandboxExactEntity.objects.select_for_update()
        .filter(division=company, entity="SalesOrders", guid=order_id.lower())
        .first()
    )
    if row is None:
        raise Refusal(400, "OrderID: sales order not found")
    if row.data.get("Status") != STATUS_OPEN:
        raise Refusal(400, f"Sales order {row.data.get('OrderNumber')} is not open and cannot be changed")
    return row


def _retotal(company: SandboxExactDivision, order: SandboxExactEntity) -> None:
    lines = [r.data for r in _lines_of(company, order.guid)]
    state.put(company, "SalesOrders", {**order.data, **_totals(lines)}, guid=order.guid)


@_answer
def post_sales_order_line(request: HttpRequest, company: SandboxExactDivision, key: str | None) -> HttpResponse:
    """POST salesorder/SalesOrderLines: a line added to an open order (after its last line)."""
    body = _body(request, LINE_FIELDS | {"OrderID"})
    with transaction.atomic():
        order = _open_order(company, str(body.pop("OrderID", "") or ""))
        taken = [r.data.get("LineNumber") or 0 for r in _lines_of(company, order.guid)]
        n = max(taken, default=0) + 1
        line = _line(company, n, body, _vat_rates(company))
        number = order.data.get("OrderNumber")
        stored = state.put(
            company, "SalesOrderLines", {**line, "OrderID": order.guid, "OrderNumber": number, "LineNumber": n}
        ).data
        _retotal(company, order)
    return JsonResponse({"d": stored}, status=201)


@_answer
def delete_sales_order_line(request: HttpRequest, company: SandboxExactDivision, key: str | None) -> HttpResponse:
    """DELETE salesorder/SalesOrderLines(guid'…'): 204; an open order's line nothing was done with."""
    with transaction.atomic():
        row = company.entities.filter(entity="SalesOrderLines", guid=str(key).lower()).first()
        if row is None:
            return error(404, "Not found")
        order = _open_order(company, str(row.data.get("OrderID") or ""))
        if any(Decimal(str(row.data.get(f) or 0)) for f in ("QuantityDelivered", "QuantityInvoiced")):
            raise Refusal(
                400, f"Line {row.data.get('LineNumber')} has been delivered or invoiced and cannot be deleted"
            )
        row.delete()
        _retotal(company, order)
    return HttpResponse(status=204)
