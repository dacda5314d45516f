"""Sandbox Exact REST API (OData v2 subset, EXACT.md §4-6): /sandbox/exact/<country>/api/v1/...

`{"d": ...}` envelopes, `$filter` (eq ne gt ge lt le, `and`, datetime'…', guid'…', '…', numbers,
true/false, `substringof('x',Field) eq true`), `$select`, `$top`, `$expand=SalesOrderLines`,
`$skiptoken` paging with an absolute `__next` (60 rows a page), `/Date(ms)/` values, 201 on POST,
Exact's error body, `X-RateLimit-*` headers in epoch milliseconds (only the minutely set on a
minutely 429), and the fault knobs of `faults.py`. `webhooks/WebhookSubscriptions` is webhooks.py.

Strict like Exact about queries (EXACT.md §5.3-5.4):
- Mandatory filtering (since July 2021): a collection read of a plain endpoint whose entity has a
  sync API, without `$filter`, is 400 "A required filter is missing." (the text Invantive reports as
  itgeneor330, forums.invantive.com "Coping with mandatory filtering on Exact Online"; older
  releases listed the fields, picqer/exact-php-client#591). Reads by key are not collection reads.
- `$select`: a collection read without `$select` (or `$top=1`) is 400 "Please add a $select or a
  $top=1 statement to the query string." (picqer README, Troubleshooting). Exact asks this of some
  entities; the sandbox asks it of all, and the sync API takes no `$top=1` instead.
- Sync endpoints `sync/<Service>/<Entity>`: rows in `Timestamp` order with their `Timestamp`, 1000
  a page, `$select` mandatory.
- The error limit: 400/401/403/404 answers are counted per endpoint, and after 10 in an hour the
  endpoint answers the block (faults.count_error / faults.endpoint_blocked). A 401 for an unknown
  token is not counted: without a user there is no API key and company to count it against.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integrations.exact.sandbox import faults, invoices, salesorders, state, webhooks
from integrations.exact.sandbox.models import SandboxExactDivision, SandboxExactEntity
from integrations.exact.sandbox.oauth import bearer_user, check_country

PAGE_SIZE = 60
SYNC_PAGE_SIZE = 1000
ENTITIES = {
    "salesorder/SalesOrders": "SalesOrders",
    "salesorder/SalesOrderLines": "SalesOrderLines",
    "crm/Accounts": "Accounts",
    "crm/Addresses": "Addresses",
    "logistics/Items": "Items",
    "financial/GLAccounts": "GLAccounts",
    "financial/Journals": "Journals",
    "hrm/Costcenters": "Costcenters",
    "project/Projects": "Projects",
    "generaljournalentry/GeneralJournalEntries": "GeneralJournalEntries",
    "generaljournalentry/GeneralJournalEntryLines": "GeneralJournalEntryLines",
    "salesorder/GoodsDeliveries": "GoodsDeliveries",
    "salesorder/GoodsDeliveryLines": "GoodsDeliveryLines",
    "salesinvoice/SalesInvoices": "SalesInvoices",
    "salesinvoice/SalesInvoiceLines": "SalesInvoiceLines",
    "vat/VATCodes": "VATCodes",
}
#: Sync endpoints and their entity sets (EXACT.md §5.4; picqer/exact-php-client's Sync* classes).
SYNC_ENTITIES = {
    "sync/SalesOrder/SalesOrderHeaders": "SalesOrders",
    "sync/SalesOrder/SalesOrderLines": "SalesOrderLines",
    "sync/SalesOrder/GoodsDeliveries": "GoodsDeliveries",
    "sync/SalesOrder/GoodsDeliveryLines": "GoodsDeliveryLines",
    "sync/CRM/Accounts": "Accounts",
    "sync/CRM/Addresses": "Addresses",
    "sync/Logistics/Items": "Items",
    "sync/Project/Projects": "Projects",
    "sync/Financial/GLAccounts": "GLAccounts",
}
#: Entity sets with a sync API: Exact refuses their plain collection reads without a `$filter`.
MANDATORY_FILTER = frozenset(SYNC_ENTITIES.values())
MISSING_FILTER = "A required filter is missing."
MISSING_SELECT = "Please add a $select or a $top=1 statement to the query string."
KEY_RE = re.compile(r"^(?P<set>[A-Za-z/]+?)(?:\(guid'(?P<key>[0-9a-fA-F-]{36})'\))?$")
LITERAL = r"(datetime'[^']*'|guid'[0-9a-fA-F-]{36}'|'(?:[^']|'')*'|true|false|null|-?\d+(?:\.\d+)?)"
CLAUSE_RE = re.compile(rf"^\s*(\w+)\s+(eq|ne|gt|ge|lt|le)\s+{LITERAL}\s*$")
SUBSTRING_RE = re.compile(r"^\s*substringof\('((?:[^']|'')*)',\s*(\w+)\)\s+eq\s+true\s*$")


def odata_error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": {"code": "", "message": {"lang": "", "value": message}}}, status=status)


class BadQuery(Exception):
    pass


class Refused(Exception):
    """Exact's error answer instead of doing the call; raised from deep in a write, answered by `api`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.response = odata_error(status, message)


def _literal(text: str):
    if text.startswith("datetime'"):
        try:
            value = datetime.fromisoformat(text[9:-1])
        except ValueError as exc:
            raise BadQuery(f"Invalid datetime literal {text}") from exc
        return ("ms", int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp() * 1000))
    if text.startswith("guid'"):
        return ("guid", text[5:-1].lower())
    if text.startswith("'"):
        return ("str", text[1:-1].replace("''", "'"))
    if text in ("true", "false"):
        return ("bool", text == "true")
    if text == "null":
        return ("null", None)
    return ("num", Decimal(text))


def _comparable(kind: str, value):
    if value is None:
        return None
    if kind == "ms":
        match = re.match(r"^/Date\((-?\d+)", str(value))
        return int(match.group(1)) if match else None
    if kind == "guid":
        return str(value).lower()
    if kind == "num":
        return Decimal(str(value))
    return value


OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and a > b,
    "ge": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b,
    "le": lambda a, b: a is not None and a <= b,
}


def parse_filter(text: str):
    """A predicate over a row's data; raises BadQuery for anything outside the subset."""
    tests = []
    for clause in re.split(r"\s+and\s+", text.strip()) if text.strip() else []:
        sub = SUBSTRING_RE.match(clause)
        if sub:
            needle, field = sub.group(1).replace("''", "'").lower(), sub.group(2)
            tests.append(lambda row, n=needle, f=field: n in str(row.get(f) or "").lower())
            continue
        match = CLAUSE_RE.match(clause)
        if not match:
            raise BadQuery(f"Error parsing filter: {clause[:80]}")
        field, op, raw = match.groups()
        kind, value = _literal(raw)
        tests.append(lambda row, f=field, o=op, k=kind, v=value: OPS[o](_comparable(k, row.get(f)), v))
    return lambda row: all(t(row) for t in tests)


def _project(data: dict, select: list[str] | None) -> dict:
    out = {"__metadata": {"uri": "", "type": "Exact.Web.Api.Models"}}
    if select:
        out.update({name: data.get(name) for name in select})
    else:
        out.update(data)
    return out


def _limit_headers(response: HttpResponse, usage: faults.Usage, which: str = "both") -> HttpResponse:
    if which in ("both", "minutely"):
        response["X-RateLimit-Minutely-Limit"] = str(usage.minutely_limit)
        response["X-RateLimit-Minutely-Remaining"] = str(max(0, usage.minutely_limit - usage.minute_calls))
        response["X-RateLimit-Minutely-Reset"] = str(usage.minute_reset_ms)
    if which in ("both", "daily"):
        response["X-RateLimit-Limit"] = str(usage.daily_limit)
        response["X-RateLimit-Remaining"] = str(max(0, usage.daily_limit - usage.day_calls))
        response["X-RateLimit-Reset"] = str(usage.day_reset_ms)
    return response


@csrf_exempt
def me(request: HttpRequest, country: str) -> HttpResponse:
    check_country(country)
    user = bearer_user(request, country)
    if user is None:
        return odata_error(401, "Unauthorized")
    return JsonResponse(
        {
            "d": {
                "results": [
                    {
                        "__metadata": {"type": "Exact.Web.Api.System.Me"},
                        "CurrentDivision": user.current_division,
                        "UserID": f"00000000-0000-0000-0000-{user.pk:012d}",
                        "UserName": user.email,
                        "FullName": user.full_name,
                        "Email": user.email,
                        "LanguageCode": "en-GB",
                        "ServerTime": state.odate(datetime.now(UTC)),
                        "ServerUtcOffset": 0,
                    }
                ]
            }
        }
    )


@csrf_exempt
def api(request: HttpRequest, country: str, division: str, path: str) -> HttpResponse:
    check_country(country)
    user = bearer_user(request, country)
    if user is None:
        return odata_error(401, "Unauthorized")
    company = SandboxExactDivision.objects.filter(code=int(division) if division.isdigit() else -1).first()
    if company is None or company.user_id != user.pk:
        return odata_error(403, "Forbidden: no access to this division")
    endpoint = _endpoint(path)
    blocked = faults.endpoint_blocked(company, endpoint)
    if blocked is not None:
        return blocked
    refusal, usage = faults.before_call(company)
    if refusal is not None:
        return refusal
    try:
        response = _dispatch(request, company, path)
    except BadQuery as exc:
        response = odata_error(400, str(exc))
    except Refused as exc:
        response = exc.response
    faults.count_error(company, endpoint, response.status_code)
    return _limit_headers(response, usage)


def _endpoint(path: str) -> str:
    """What Exact counts errors per: the entity set, without a key."""
    match = KEY_RE.match(path)
    return match.group("set") if match else path[:100]


def _query_refusal(request: HttpRequest, entity: str, *, sync: bool = False) -> HttpResponse | None:
    """Exact's answer to a collection read it will not run, or None."""
    if not sync and entity in MANDATORY_FILTER and not request.GET.get("$filter", "").strip():
        return odata_error(400, MISSING_FILTER)
    if _select(request) is None and (sync or request.GET.get("$top", "").strip() != "1"):
        return odata_error(400, MISSING_SELECT)
    return None


def _dispatch(request: HttpRequest, company: SandboxExactDivision, path: str) -> HttpResponse:
    """Route one call: divisions, webhook subscriptions, sync reads, the few writes, else plain reads."""
    if path == "system/Divisions":
        return _divisions(request, company)
    match = KEY_RE.match(path)
    entity_set, key = (match.group("set"), match.group("key")) if match else (None, None)
    if entity_set == "webhooks/WebhookSubscriptions":
        return webhooks.subscriptions(request, company, key, state.host(company.user.country))
    if entity_set in SYNC_ENTITIES and not key:
        if request.method != "GET":
            return odata_error(405, "Method not allowed")
        return _sync_read(request, company, SYNC_ENTITIES[entity_set])
    entity = ENTITIES.get(entity_set or "")
    if entity is None:
        return odata_error(404, f"Resource not found: {path[:80]}")
    write = WRITES.get((request.method or "", entity, bool(key)))
    if write is not None:
        return write(request, company, key)
    if request.method != "GET":
        return odata_error(405, "Method not allowed")
    return _read(request, company, entity, key)


def _divisions(request: HttpRequest, company: SandboxExactDivision) -> HttpResponse:
    """GET system/Divisions: the companies of the token's user."""
    refusal = _query_refusal(request, "Divisions")
    if refusal is not None:
        return refusal
    rows = [
        {"Code": d.code, "Description": d.description, "HID": d.code, "Customer": None, "Currency": d.currency}
        for d in company.user.divisions.order_by("code")
    ]
    return JsonResponse({"d": {"results": [_project(r, _select(request)) for r in rows]}})


def _read(request: HttpRequest, company: SandboxExactDivision, entity: str, key: str | None) -> HttpResponse:
    """GET of one row by key, or a page of a collection (held to Exact's query rules)."""
    rows = SandboxExactEntity.objects.filter(division=company, entity=entity).order_by("id")
    expand = request.GET.get("$expand", "")
    if key:
        row = rows.filter(guid=key.lower()).first() or rows.filter(guid=key).first()
        if row is None:
            return odata_error(404, "Not found")
        return JsonResponse({"d": _with_expand(company, row.data, expand, _select(request))})
    refusal = _query_refusal(request, entity)
    if refusal is not None:
        return refusal
    return _page(request, rows, PAGE_SIZE, lambda row: _with_expand(company, row.data, expand, _select(request)))


def _sync_read(request: HttpRequest, company: SandboxExactDivision, entity: str) -> HttpResponse:
    """GET sync/<Service>/<Entity>: every row with its `Timestamp`, oldest change first."""
    refusal = _query_refusal(request, entity, sync=True)
    if refusal is not None:
        return refusal
    rows = SandboxExactEntity.objects.filter(division=company, entity=entity).order_by("timestamp", "id")
    select = _select(request)
    return _page(
        request,
        rows,
        SYNC_PAGE_SIZE,
        lambda row: _project(_with_timestamp(row), select),
        cursor="timestamp",
        fields=_with_timestamp,
    )


def _with_timestamp(row: SandboxExactEntity) -> dict:
    return {**row.data, "Timestamp": row.timestamp}


def _page(
    request: HttpRequest, rows, page_size: int, render, *, cursor: str = "id", fields=lambda row: row.data
) -> HttpResponse:
    """One page of a collection read: `$filter` (over `fields(row)`) and `$top` applied, an absolute
    `__next` with a `$skiptoken` (the last row's `cursor` column) when more rows match."""
    predicate = parse_filter(request.GET.get("$filter", ""))
    top = int(request.GET["$top"]) if request.GET.get("$top", "").isdigit() else None
    skip_after = request.GET.get("$skiptoken", "")
    if skip_after:
        rows = rows.filter(**{f"{cursor}__gt": int(skip_after)}) if skip_after.isdigit() else rows.none()
    limit = min(top or page_size, page_size)
    picked: list[SandboxExactEntity] = []
    more = False
    for row in rows.iterator():
        if predicate(fields(row)):
            if len(picked) == limit:
                more = top is None or top > limit
                break
            picked.append(row)
    d: dict = {"results": [render(row) for row in picked]}
    if more:
        query = {k: v for k, v in request.GET.items() if k != "$skiptoken"}
        query["$skiptoken"] = str(getattr(picked[-1], cursor))
        d["__next"] = f"{settings.PUBLIC_BASE_URL}{request.path}?{urlencode(query)}"
    return JsonResponse({"d": d})


def _select(request: HttpRequest) -> list[str] | None:
    value = request.GET.get("$select", "")
    return [s.strip() for s in value.split(",") if s.strip()] or None


def _with_expand(company, data: dict, expand: str, select: list[str] | None) -> dict:
    out = _project(data, select)
    if expand == "SalesOrderLines" and "OrderID" in data:
        lines = SandboxExactEntity.objects.filter(division=company, entity="SalesOrderLines").order_by("id")
        out["SalesOrderLines"] = {
            "results": [_project(r.data, None) for r in lines if r.data.get("OrderID") == data["OrderID"]]
        }
    return out


def _json_object(request: HttpRequest, *, non_empty: bool = False) -> dict:
    """The request's JSON body, which must be an object (a non-empty one for `non_empty`)."""
    try:
        body = json.loads(request.body or b"")
    except ValueError:
        raise Refused(400, "Invalid JSON in request body") from None
    if non_empty and (not isinstance(body, dict) or not body):
        raise Refused(400, "Request body must be a non-empty object")
    if not isinstance(body, dict):
        raise Refused(400, "Request body must be an object")
    return body


def _mandatory_lines(body: dict, name: str) -> list:
    lines = body.get(name)
    if not isinstance(lines, list) or not lines:
        raise Refused(400, f"Mandatory: {name}")
    return lines


def _post_journal_entry(request: HttpRequest, company: SandboxExactDivision, key: str | None = None) -> HttpResponse:
    """POST generaljournalentry/GeneralJournalEntries: a balanced entry in a general journal (type 90)."""
    body = _json_object(request)
    _check_general_journal(company, body)
    lines = _mandatory_lines(body, "GeneralJournalEntryLines")
    _check_journal_lines(company, lines)
    with transaction.atomic():
        entry, stored_lines = _store_journal_entry(company, body, lines)
    return JsonResponse({"d": {**entry.data, "GeneralJournalEntryLines": {"results": stored_lines}}}, status=201)


def _check_general_journal(company: SandboxExactDivision, body: dict) -> None:
    journal = state.find(company, "Journals", Code=str(body.get("JournalCode") or ""))
    if not body.get("JournalCode"):
        raise Refused(400, "Mandatory: JournalCode")
    if journal is None or journal.get("Type") != 90:
        raise Refused(400, f"Journal {str(body.get('JournalCode'))[:20]} is not a general journal")


@dataclass(frozen=True)
class _Ledger:
    """What a journal line may name in this company: GL account ids, cost centre codes, project ids."""

    gl_accounts: frozenset[str]
    cost_centers: frozenset[str]
    projects: frozenset[str]

    @classmethod
    def of(cls, company: SandboxExactDivision) -> _Ledger:
        def entities(entity: str):
            return SandboxExactEntity.objects.filter(division=company, entity=entity)

        return cls(
            gl_accounts=frozenset(g.lower() for g in entities("GLAccounts").values_list("guid", flat=True)),
            cost_centers=frozenset(d.get("Code") for d in entities("Costcenters").values_list("data", flat=True)),
            projects=frozenset(entities("Projects").values_list("guid", flat=True)),
        )


def _check_journal_lines(company: SandboxExactDivision, lines: list) -> None:
    """Every line names known accounts, cost centres and projects, with an amount to the cent; the
    amounts add up to zero."""
    ledger = _Ledger.of(company)
    total = sum((_journal_line_amount(n, line, ledger) for n, line in enumerate(lines, start=1)), Decimal("0"))
    if total != 0:
        raise Refused(400, f"The entry is not balanced: difference {total}")


def _journal_line_amount(n: int, line, ledger: _Ledger) -> Decimal:
    if not isinstance(line, dict):
        raise Refused(400, f"Line {n}: not an object")
    if str(line.get("GLAccount") or "").lower() not in ledger.gl_accounts:
        raise Refused(400, f"Line {n}: GL account not found: {str(line.get('GLAccount'))[:40]}")
    if line.get("CostCenter") and line["CostCenter"] not in ledger.cost_centers:
        raise Refused(400, f"Line {n}: Cost center not found: {str(line['CostCenter'])[:20]}")
    if line.get("Project") and line["Project"] not in ledger.projects:
        raise Refused(400, f"Line {n}: Project not found")
    try:
        state.entry_date(line.get("Date"))
    except ValueError:
        raise Refused(400, f"Line {n}: Date is not a valid date") from None
    try:
        amount = Decimal(str(line.get("AmountFC")))
    except InvalidOperation:
        raise Refused(400, f"Line {n}: AmountFC is not a number") from None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise Refused(400, f"Line {n}: AmountFC has more than 2 decimals")
    return amount


def _store_journal_entry(company: SandboxExactDivision, body: dict, lines: list) -> tuple[SandboxExactEntity, list]:
    """The entry (numbered 90001 up) and its lines, as stored."""
    number = SandboxExactEntity.objects.filter(division=company, entity="GeneralJournalEntries").count() + 1
    entry_id = state.new_guid()
    stored_lines = [
        state.put(
            company,
            "GeneralJournalEntryLines",
            {**line, "Date": state.entry_date(line.get("Date")), "EntryID": entry_id, "LineNumber": n},
        ).data
        for n, line in enumerate(lines, start=1)
    ]
    entry = state.put(
        company,
        "GeneralJournalEntries",
        {
            "EntryID": entry_id,
            "EntryNumber": 90000 + number,
            "JournalCode": body["JournalCode"],
            "Currency": body.get("Currency") or company.currency,
            "Reversal": bool(body.get("Reversal")),
            "Status": 20,
            "Type": 90,
        },
        guid=entry_id,
    )
    return entry, stored_lines


#: Header fields a PUT may change in this sandbox; `OrderedBy` cannot change once created (EXACT.md §6.1).
EDITABLE_ORDER_FIELDS = {"Description", "YourRef", "Remarks", "DeliveryDate", "DeliveryAddress", "ShippingMethod"}
READ_ONLY_ORDER_FIELDS = {"OrderID", "OrderNumber", "OrderedBy", "Division", "Created", "Modified", "AmountFC"}


def _put_sales_order(request: HttpRequest, company: SandboxExactDivision, key: str) -> HttpResponse:
    """PUT salesorder/SalesOrders(guid'…'): 204 without a body; only an open order can be edited."""
    body = _json_object(request, non_empty=True)
    with transaction.atomic():
        row = (
            SandboxExactEntity.objects.select_for_update()
            .filter(division=company, entity="SalesOrders", guid=key.lower())
            .first()
        )
        if row is None:
            return odata_error(404, "Not found")
        current = row.data
        for name, value in body.items():
            if name in READ_ONLY_ORDER_FIELDS and value != current.get(name):
                return odata_error(400, f"{name}: this field cannot be changed")
            if name not in EDITABLE_ORDER_FIELDS and name not in READ_ONLY_ORDER_FIELDS:
                return odata_error(400, f"{name}: property does not exist or cannot be updated")
            if value is not None and not isinstance(value, str) and name != "DeliveryDate":
                return odata_error(400, f"{name}: a text value is expected")
        if current.get("Status") in (21, 45):
            return odata_error(400, f"Sales order {current.get('OrderNumber')} is closed and cannot be changed")
        state.put(company, "SalesOrders", {**current, **body}, guid=row.guid)
    return HttpResponse(status=204)


def _delete_sales_order(company: SandboxExactDivision, key: str) -> HttpResponse:
    """DELETE salesorder/SalesOrders(guid'…'): 204; an order with deliveries or a closed one stays."""
    row = SandboxExactEntity.objects.filter(division=company, entity="SalesOrders", guid=key.lower()).first()
    if row is None:
        return odata_error(404, "Not found")
    if row.data.get("Status") in (21, 45) or row.data.get("DeliveryStatus") in (20, 21):
        return odata_error(400, f"Sales order {row.data.get('OrderNumber')} has been processed and cannot be deleted")
    state.delete_sales_order(company, row.guid)
    return HttpResponse(status=204)


#: What a goods delivery POST may carry (EXACT.md §6.10); anything else is refused like Exact does.
GOODS_DELIVERY_FIELDS = {
    "Description",
    "Remarks",
    "TrackingNumber",
    "DeliveryDate",
    "ShippingMethod",
    "Warehouse",
    "DeliveryAddress",
    "GoodsDeliveryLines",
}


def _post_goods_delivery(request: HttpRequest, company: SandboxExactDivision, key: str | None = None) -> HttpResponse:
    """POST salesorder/GoodsDeliveries: ship sales-order lines (EXACT.md §6.10). Moves the lines'
    `QuantityDelivered` and the order's `DeliveryStatus` (20 partial, 21 complete); refuses unknown
    lines, quantities above what is still to deliver, cancelled orders and mixed delivery accounts."""
    body = _json_object(request)
    unknown = sorted(set(body) - GOODS_DELIVERY_FIELDS)
    if unknown:
        raise Refused(400, f"{unknown[0][:40]}: property does not exist or cannot be set")
    lines = _mandatory_lines(body, "GoodsDeliveryLines")
    with transaction.atomic():
        so_lines = {
            r.guid.lower(): r
            for r in SandboxExactEntity.objects.select_for_update().filter(division=company, entity="SalesOrderLines")
        }
        orders = _orders_to_deliver(company, lines, so_lines)
        accounts = {o.data.get("DeliverTo") for o in orders.values()}
        if len(accounts) > 1:
            raise Refused(400, "All lines of a goods delivery must be for the same delivery account")
        number = SandboxExactEntity.objects.filter(division=company, entity="GoodsDeliveries").count() + 1
        entry_id = state.new_guid()
        stored = [_deliver_line(company, entry_id, n, line, so_lines, body) for n, line in enumerate(lines, start=1)]
        _update_delivery_status(company, orders, so_lines)
        header = state.put(
            company,
            "GoodsDeliveries",
            {
                "EntryID": entry_id,
                "DeliveryNumber": number,
                "DeliveryAccount": accounts.pop(),
                "DeliveryDate": body.get("DeliveryDate"),
                "Description": str(body.get("Description") or "")[:60],
                "Remarks": body.get("Remarks"),
                "TrackingNumber": body.get("TrackingNumber"),
                "ShippingMethod": body.get("ShippingMethod"),
            },
            guid=entry_id,
        )
    return JsonResponse({"d": {**header.data, "GoodsDeliveryLines": {"results": stored}}}, status=201)


def _decimal(value) -> Decimal:
    return Decimal(str(value or 0))


def _orders_to_deliver(company: SandboxExactDivision, lines: list, so_lines: dict) -> dict[str, SandboxExactEntity]:
    """The sales orders the delivery lines belong to, by id, once every line is known, positive, of an
    order not cancelled, and within what its sales-order line still has to deliver (lines naming the
    same sales-order line add up)."""
    orders: dict[str, SandboxExactEntity] = {}
    taken: dict[str, Decimal] = {}
    for n, line in enumerate(lines, start=1):
        row, quantity = _delivery_line(n, line, so_lines)
        order_id = row.data["OrderID"]
        if order_id not in orders:
            orders[order_id] = SandboxExactEntity.objects.get(division=company, entity="SalesOrders", guid=order_id)
        if orders[order_id].data.get("Status") == 45:
            raise Refused(400, f"Sales order {orders[order_id].data.get('OrderNumber')} is cancelled")
        open_quantity = _decimal(row.data.get("Quantity")) - _decimal(row.data.get("QuantityDelivered"))
        taken[row.guid] = taken.get(row.guid, Decimal(0)) + quantity
        if taken[row.guid] > open_quantity:
            raise Refused(400, f"Line {n}: the quantity delivered exceeds the quantity still to deliver")
    return orders


def _delivery_line(n: int, line, so_lines: dict) -> tuple[SandboxExactEntity, Decimal]:
    """A delivery line's sales-order line and its quantity (more than 0)."""
    if not isinstance(line, dict):
        raise Refused(400, f"Line {n}: not an object")
    row = so_lines.get(str(line.get("SalesOrderLineID") or "").lower())
    if row is None:
        raise Refused(400, f"Line {n}: Sales order line not found")
    try:
        quantity = Decimal(str(line.get("QuantityDelivered")))
    except InvalidOperation:
        raise Refused(400, f"Line {n}: QuantityDelivered is not a number") from None
    if not quantity.is_finite() or quantity <= 0:
        raise Refused(400, f"Line {n}: QuantityDelivered must be more than 0")
    return row, quantity


def _deliver_line(company: SandboxExactDivision, entry_id: str, n: int, line: dict, so_lines: dict, body: dict) -> dict:
    """Move the sales-order line's `QuantityDelivered` on and store the delivery line; its stored data."""
    row = so_lines[str(line["SalesOrderLineID"]).lower()]
    quantity = Decimal(str(line["QuantityDelivered"]))
    delivered = _decimal(row.data.get("QuantityDelivered")) + quantity
    state.put(company, "SalesOrderLines", {**row.data, "QuantityDelivered": float(delivered)}, guid=row.guid)
    row.data["QuantityDelivered"] = float(delivered)
    return state.put(
        company,
        "GoodsDeliveryLines",
        {
            "EntryID": entry_id,
            "LineNumber": n,
            "SalesOrderLineID": row.guid,
            "SalesOrderNumber": row.data.get("OrderNumber"),
            "SalesOrderLineNumber": row.data.get("LineNumber"),
            "ItemCode": row.data.get("ItemCode"),
            "QuantityOrdered": row.data.get("Quantity"),
            "QuantityDelivered": float(quantity),
            "TrackingNumber": body.get("TrackingNumber"),
        },
    ).data


def _update_delivery_status(
    company: SandboxExactDivision, orders: dict[str, SandboxExactEntity], so_lines: dict
) -> None:
    """Each order's `DeliveryStatus`: 21 once every line is delivered in full, else 20 (partly)."""
    for order_id, order in orders.items():
        rows = [r.data for r in so_lines.values() if r.data.get("OrderID") == order_id]
        complete = all(_decimal(r.get("QuantityDelivered")) >= _decimal(r.get("Quantity")) for r in rows)
        state.put(company, "SalesOrders", {**order.data, "DeliveryStatus": 21 if complete else 20}, guid=order.guid)


#: The writes the sandbox takes: (method, entity set, addressed by key) → handler(request, company, key).
WRITES: dict[tuple[str, str, bool], Callable[[HttpRequest, SandboxExactDivision, str | None], HttpResponse]] = {
    ("POST", "GeneralJournalEntries", False): _post_journal_entry,
    ("POST", "GoodsDeliveries", False): _post_goods_delivery,
    ("POST", "Accounts", False): invoices.post_account,
    ("POST", "SalesInvoices", False): invoices.post_sales_invoice,
    ("POST", "SalesInvoiceLines", False): invoices.post_sales_invoice_line,
    ("DELETE", "SalesInvoiceLines", True): invoices.delete_sales_invoice_line,
    ("POST", "SalesOrders", False): salesorders.post_sales_order,
    ("POST", "SalesOrderLines", False): salesorders.post_sales_order_line,
    ("DELETE", "SalesOrderLines", True): salesorders.delete_sales_order_line,
    ("PUT", "SalesOrders", True): lambda request, company, key: _put_sales_order(request, company, key or ""),
    ("DELETE", "SalesOrders", True): lambda request, company, key: _delete_sales_order(company, key or ""),
}
