"""Sandbox Zoho Books API v3 under /sandbox/zoho/<region>/books/v3/ (DESIGN §9, ZOHO.md §2-5).

Strict like Zoho: the `Zoho-oauthtoken` header and `organization_id` on every call (except
/organizations), JSON bodies only (code 1038 otherwise), required fields, unknown ids, duplicate
invoice numbers (and reference numbers while the organisation's `unique_reference_numbers` knob is
on), unbalanced journals, void invoices that cannot be edited, 100 calls/minute/organisation with
429s and the daily plan limit. Error bodies are Zoho's `{code, message}`; only 1000 (internal error)
and 1002 (invoice does not exist) are documented codes, the others are this sandbox's stand-ins.
Response field types follow the OpenAPI files (e.g. invoice `total` and `shipping_charge` are strings
there, `sub_total` a number); `page_context` is an object as in the live API (ZOHO.md §8).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models.fields.json import KeyTextTransform
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from integrations.zoho import jsonutil
from integrations.zoho.sandbox import currencies, faults, state
from integrations.zoho.sandbox.models import SandboxZohoDocument, SandboxZohoOrg, SandboxZohoToken

CENT = Decimal("0.01")


class ZohoError(Exception):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _json(body: dict, status: int = 200, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(jsonutil.dumps(body), status=status, content_type="application/json;charset=UTF-8")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _money(value: Any, field: str) -> Decimal:
    if value is None or value == "":
        return Decimal("0")
    if isinstance(value, bool):
        raise ZohoError(400, 2, f"Invalid value passed for {field}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ZohoError(400, 2, f"Invalid value passed for {field}") from None
    if not amount.is_finite():
        raise ZohoError(400, 2, f"Invalid value passed for {field}")
    return amount


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _date(value: Any, field: str, *, required: bool = False) -> str:
    if value in (None, ""):
        if required:
            raise ZohoError(400, 4, f"{field} is required")
        return timezone.now().date().isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ZohoError(400, 2, f"Invalid value passed for {field}") from None


def _id(value: Any) -> str:
    return str(value) if value not in (None, "") else ""


# --- Request plumbing ---------------------------------------------------------------------------


class Call:
    def __init__(self, request: HttpRequest, org: SandboxZohoOrg | None, token: SandboxZohoToken):
        self.request = request
        self.org = org
        self.token = token
        self.query = request.GET
        self._body: Any = None

    @property
    def body(self) -> dict:
        """The request's JSON object: a JSON body, or Zoho's legacy form body `JSONString=<json>`
        (form-encoded, as Zoho's older examples and clients such as Weble/ZohoBooksApi still send
        it). Any other form body is Zoho's 1038 "JSON is not well formed" (ZOHO.md §2)."""
        if self._body is None:
            raw = self.request.body or b""
            content_type = self.request.content_type or ""
            form = QueryDict(raw) if content_type == "application/x-www-form-urlencoded" else None
            if form is not None and "JSONString" in form:  # POST and PUT alike
                raw = form["JSONString"].encode()
            elif "json" not in content_type:
                raise ZohoError(400, 1038, "JSON is not well formed")
            try:
                self._body = jsonutil.loads(raw) if raw else {}
            except ValueError:
                raise ZohoError(400, 1038, "JSON is not well formed") from None
            if not isinstance(self._body, dict):
                raise ZohoError(400, 1038, "JSON is not well formed")
        return self._body

    def docs(self, kind: str):
        return SandboxZohoDocument.objects.filter(org=self.org, kind=kind)

    def get(self, kind: str, object_id: str, missing: tuple[int, str]) -> SandboxZohoDocument:
        found = self.docs(kind).filter(object_id=object_id).first()
        if found is None:
            raise ZohoError(404 if kind == "invoice" else 400, *missing)
        return found

    def next_number(self, what: str, prefix: str) -> str:
        value = int(self.org.counters.get(what, 0)) + 1
        self.org.counters[what] = value
        self.org.save(update_fields=["counters"])
        return f"{prefix}{value:06d}"


def _authenticate(request: HttpRequest, region: str) -> SandboxZohoToken:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme != "Zoho-oauthtoken" or not value:
        raise ZohoError(401, 57, "You are not authorized to perform this operation")
    token = (
        SandboxZohoToken.objects.select_related("user")
        .filter(token=value.strip(), kind=SandboxZohoToken.Kind.ACCESS, revoked_at=None, user__region=region)
        .first()
    )
    if token is None or token.expires_at is None or token.expires_at <= timezone.now():
        raise ZohoError(401, 57, "You are not authorized to perform this operation")
    return token


def _org_for(request: HttpRequest, token: SandboxZohoToken) -> SandboxZohoOrg:
    wanted = request.GET.get("organization_id", "")
    org = SandboxZohoOrg.objects.filter(organization_id=wanted, user=token.user).first() if wanted else None
    if org is None:
        raise ZohoError(400, 6041, "This user is not associated with the CompanyID/CompanyName:" + wanted[:20] + ".")
    return org


@csrf_exempt
def books_api(request: HttpRequest, region: str, path: str) -> HttpResponse:
    if region not in state.REGION_CODES:
        return _json({"code": 5, "message": "Invalid URL Passed"}, 404)
    headers: dict[str, str] = {}
    try:
        token = _authenticate(request, region)
        if path.strip("/") == "organizations":
            return _route(Call(request, None, token), path, headers)
        org = _org_for(request, token)
        minute, day, reset = faults.count_call(org)
        # Zoho's daily-quota headers on every organisation call, reset in seconds until the daily
        # reset (ZOHO.md §3; a real answer is quoted in github.com/Weble/ZohoBooksApi/issues/38:
        # X-Rate-Limit-Limit 7500, X-Rate-Limit-Reset 34881, X-Rate-Limit-Remaining 6775).
        headers = {
            "X-Rate-Limit-Limit": str(org.daily_limit),
            "X-Rate-Limit-Remaining": str(max(0, org.daily_limit - day)),
            "X-Rate-Limit-Reset": str(reset),
        }
        if day > org.daily_limit:
            return _json(faults.DAILY_LIMIT_BODY, 429, headers)
        knobs = org.faults or {}
        limited = dict(headers)
        if knobs.get("retry_after_seconds"):
            limited["Retry-After"] = str(int(knobs["retry_after_seconds"]))
        if minute > org.rate_limit_per_minute:
            return _json(faults.MINUTE_LIMIT_BODY, 429, limited)
        rng = faults.draw(org) if knobs else None
        if knobs.get("latency_ms"):
            time.sleep(int(knobs["latency_ms"]) / 1000)
        if rng is not None and rng.random() < float(knobs.get("rate_429", 0)):
            return _json(faults.MINUTE_LIMIT_BODY, 429, limited)
        if rng is not None and rng.random() < float(knobs.get("error_rate", 0)):
            return _json({"code": 1000, "message": "Internal error"}, 500, headers)
        hold = rng is not None and rng.random() < float(knobs.get("timeout_rate", 0))
        call = Call(request, org, token)
        _fail_by_reference(call, path, knobs)
        response = _route(call, path, headers)
        if hold:  # applied, but the caller gives up waiting: an unknown outcome
            time.sleep(float(knobs.get("timeout_seconds", 35)))
        return response
    except ZohoError as error:
        return _json({"code": error.code, "message": error.message}, error.status, headers)


def _fail_by_reference(call: Call, path: str, knobs: dict) -> None:
    refs = knobs.get("fail_reference_numbers") or []
    if refs and path.startswith("invoices") and call.request.method in ("POST", "PUT"):
        body = call.body if call.request.body else {}
        if str(body.get("reference_number", "")) in {str(r) for r in refs}:
            raise ZohoError(500, 1000, "Internal error")


Handler = Callable[..., dict]
ROUTES: list[tuple[re.Pattern, dict[str, Handler]]] = []


def route(pattern: str, **methods: Handler) -> None:
    ROUTES.append((re.compile(f"^{pattern}/?$"), methods))


def _route(call: Call, path: str, headers: dict) -> HttpResponse:
    for pattern, methods in ROUTES:
        match = pattern.match(path)
        if not match:
            continue
        handler = methods.get(call.request.method or "")
        if handler is None:
            return _json({"code": 37, "message": f"The HTTP method {call.request.method} is not allowed"}, 405, headers)
        if call.request.method in ("POST", "PUT", "DELETE") and call.org is not None:
            with transaction.atomic():
                # Serialise writes per organisation: numbering and uniqueness checks stay exact.
                call.org = SandboxZohoOrg.objects.select_for_update().get(pk=call.org.pk)
                status, body = handler(call, **match.groupdict())
        else:
            status, body = handler(call, **match.groupdict())
        return _json(body, status, headers)
    return _json({"code": 5, "message": "Invalid URL Passed"}, 404, headers)


def _page(call: Call, queryset, key: str, render: Callable[[SandboxZohoDocument], dict]) -> tuple[int, dict]:
    try:
        page = max(1, int(call.query.get("page", 1)))
        per_page = min(200, max(1, int(call.query.get("per_page", 200))))
    except ValueError:
        raise ZohoError(400, 2, "Invalid value passed for page") from None
    rows = list(queryset[(page - 1) * per_page : page * per_page + 1])
    context = {
        "page": page,
        "per_page": per_page,
        "has_more_page": len(rows) > per_page,
        "sort_column": "created_time",
        "sort_order": "D",
    }
    return 200, {"code": 0, "message": "success", key: [render(d) for d in rows[:per_page]], "page_context": context}


def _modified_since(call: Call, queryset):
    value = call.query.get("last_modified_time")
    if not value:
        return queryset
    try:
        from datetime import datetime

        since = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        raise ZohoError(400, 2, "Invalid value passed for last_modified_time") from None
    return queryset.filter(last_modified_time__gte=since)


def _save(doc: SandboxZohoDocument, data: dict) -> SandboxZohoDocument:
    now = timezone.now()
    data["last_modified_time"] = state.now_zoho(now)
    data.setdefault("created_time", state.now_zoho(now))
    doc.data = data
    doc.last_modified_time = now
    doc.save()
    return doc


# --- Organisations ------------------------------------------------------------------------------


def list_organizations(call: Call) -> tuple[int, dict]:
    orgs = SandboxZohoOrg.objects.filter(user=call.token.user).order_by("id")
    return 200, {
        "code": 0,
        "message": "success",
        "organizations": [
            {
                "organization_id": o.organization_id,
                "name": o.name,
                "is_default_org": o.is_default_org,
                "currency_code": o.currency_code,
                "time_zone": "UTC",
                "plan_name": "Premium",
            }
            for o in orgs
        ],
    }


route("organizations", GET=list_organizations)


# --- Contacts -----------------------------------------------------------------------------------


def _contact_fields(call: Call, body: dict, doc: SandboxZohoDocument) -> dict:
    data = dict(doc.data or {})
    name = body.get("contact_name", data.get("contact_name"))
    if not name or not str(name).strip():
        raise ZohoError(400, 4, "Contact name is required")
    name = str(name).strip()
    if len(name) > 200:
        raise ZohoError(400, 2, "Invalid value passed for contact_name")
    clash = call.docs("contact").filter(name__iexact=name).exclude(pk=doc.pk).exists()
    if clash:
        raise ZohoError(400, 3062, f"The contact name {name} already exists. Please specify a different name.")
    persons = body.get("contact_persons", data.get("contact_persons", []))
    if not isinstance(persons, list) or not all(isinstance(p, dict) for p in persons):
        raise ZohoError(400, 2, "Invalid value passed for contact_persons")
    persons = [{**p, "contact_person_id": p.get("contact_person_id") or state.new_id()} for p in persons]
    if persons and not any(p.get("is_primary_contact") for p in persons):
        persons[0]["is_primary_contact"] = True
    for key in ("company_name", "contact_type", "customer_sub_type", "notes", "website"):
        if key in body:
            data[key] = str(body[key] or "")
    for key in ("billing_address", "shipping_address"):
        if key in body:
            if not isinstance(body[key], dict):
                raise ZohoError(400, 2, f"Invalid value passed for {key}")
            data[key] = {k: str(v) for k, v in body[key].items() if v is not None}
    data.update({"contact_id": doc.object_id, "contact_name": name, "contact_persons": persons, "status": "active"})
    data.setdefault("contact_type", "customer")
    data.update(_contact_currency(call, body, data))
    primary = next((p for p in persons if p.get("is_primary_contact")), {})
    data["email"] = str(primary.get("email") or "")
    doc.name, doc.email = name, data["email"].lower()
    return data


def _contact_currency(call: Call, body: dict, data: dict) -> dict:
    """A contact's one currency: `currency_id` when given (must be one of the organisation's)."""
    if "currency_id" in body:
        currency = currencies.currency_by_id(call.org, _id(body["currency_id"]))
        if currency is None:
            raise ZohoError(400, 2, "Invalid value passed for currency_id")
    elif data.get("currency_id"):
        return {}
    else:
        currency = currencies.base_currency(call.org)
    return {"currency_id": currency["currency_id"], "currency_code": currency["currency_code"]}


def create_contact(call: Call) -> tuple[int, dict]:
    doc = SandboxZohoDocument(org=call.org, kind="contact", object_id=state.new_id())
    _save(doc, _contact_fields(call, call.body, doc))
    return 201, {"code": 0, "message": "The contact has been created", "contact": doc.data}


def update_contact(call: Call, contact_id: str) -> tuple[int, dict]:
    doc = call.get("contact", contact_id, (1002, "Contact does not exist."))
    _save(doc, _contact_fields(call, call.body, doc))
    return 200, {"code": 0, "message": "Contact information has been saved.", "contact": doc.data}


def get_contact(call: Call, contact_id: str) -> tuple[int, dict]:
    doc = call.get("contact", contact_id, (1002, "Contact does not exist."))
    return 200, {"code": 0, "message": "success", "contact": doc.data}


def list_contacts(call: Call) -> tuple[int, dict]:
    qs = call.docs("contact")
    q = call.query
    if q.get("email"):
        qs = qs.filter(email=q["email"].lower())  # the primary contact person only (ZOHO.md §5)
    if q.get("contact_name"):
        qs = qs.filter(name__iexact=q["contact_name"])
    if q.get("search_text"):
        qs = qs.filter(name__icontains=q["search_text"]) | call.docs("contact").filter(
            email__icontains=q["search_text"]
        )
    keys = (
        "contact_id",
        "contact_name",
        "company_name",
        "contact_type",
        "status",
        "email",
        "currency_id",
        "currency_code",
        "last_modified_time",
    )
    return _page(call, qs.order_by("id"), "contacts", lambda d: {k: d.data.get(k, "") for k in keys})


route(r"contacts", GET=list_contacts, POST=create_contact)
route(r"contacts/(?P<contact_id>\d+)", GET=get_contact, PUT=update_contact)


# --- Items --------------------------------------------------------------------------------------


def _item_fields(call: Call, body: dict, doc: SandboxZohoDocument) -> dict:
    data = dict(doc.data or {})
    name = str(body.get("name", data.get("name", "")) or "").strip()
    if not name:
        raise ZohoError(400, 4, "Item name is required")
    if len(name) > 100:
        raise ZohoError(400, 2, "Invalid value passed for name")
    if "rate" not in body and "rate" not in data:
        raise ZohoError(400, 4, "Rate is required")
    rate = _money(body.get("rate", data.get("rate")), "rate")
    if call.docs("item").filter(name__iexact=name).exclude(pk=doc.pk).exists():
        raise ZohoError(400, 1001, f'The item "{name}" already exists.')
    sku = str(body.get("sku", data.get("sku", "")) or "")
    if sku and any(d.data.get("sku") == sku for d in call.docs("item").exclude(pk=doc.pk).only("data")):
        raise ZohoError(400, 1001, f"The SKU {sku} already exists. SKU should be unique throughout the product.")
    data.update(
        {
            "item_id": doc.object_id,
            "name": name,
            "rate": rate,
            "sku": sku,
            "description": str(body.get("description", data.get("description", "")) or ""),
            "product_type": str(body.get("product_type", data.get("product_type", "goods")) or "goods"),
            "status": "active",
        }
    )
    doc.name = name
    return data


def _item_out(doc: SandboxZohoDocument) -> dict:
    return {**doc.data, "rate": Decimal(str(doc.data.get("rate", "0")))}


def _store_item(doc: SandboxZohoDocument, data: dict) -> None:
    _save(doc, {**data, "rate": str(data["rate"])})


def create_item(call: Call) -> tuple[int, dict]:
    doc = SandboxZohoDocument(org=call.org, kind="item", object_id=state.new_id())
    _store_item(doc, _item_fields(call, call.body, doc))
    return 201, {"code": 0, "message": "The item has been added.", "item": _item_out(doc)}


def update_item(call: Call, item_id: str) -> tuple[int, dict]:
    doc = call.get("item", item_id, (1001, "Item does not exist."))
    _store_item(doc, _item_fields(call, call.body, doc))
    return 200, {"code": 0, "message": "The item details have been saved.", "item": _item_out(doc)}


def get_item(call: Call, item_id: str) -> tuple[int, dict]:
    doc = call.get("item", item_id, (1001, "Item does not exist."))
    return 200, {"code": 0, "message": "success", "item": _item_out(doc)}


def list_items(call: Call) -> tuple[int, dict]:
    qs = call.docs("item")
    if call.query.get("name"):
        qs = qs.filter(name__iexact=call.query["name"])
    if call.query.get("search_text"):
        qs = qs.filter(name__icontains=call.query["search_text"])
    return _page(call, qs.order_by("id"), "items", _item_out)


route(r"items", GET=list_items, POST=create_item)
route(r"items/(?P<item_id>\d+)", GET=get_item, PUT=update_item)


# --- Invoices and sales orders ------------------------------------------------------------------


def _taxes(call: Call) -> dict[str, Decimal]:
    return {d.object_id: Decimal(str(d.data["tax_percentage"])) for d in call.docs("tax")}


def _document_fields(call: Call, body: dict, doc: SandboxZohoDocument, kind: str) -> dict:
    """Shared validation and arithmetic of invoices and sales orders."""
    data = dict(doc.data or {})
    customer_id = _id(body.get("customer_id", data.get("customer_id")))
    if not customer_id:
        raise ZohoError(400, 4, "Please select a customer")
    customer = call.docs("contact").filter(object_id=customer_id).first()
    if customer is None:
        raise ZohoError(400, 2, "Invalid value passed for customer_id")
    lines = body.get("line_items", data.get("line_items"))
    if not isinstance(lines, list) or not lines:
        raise ZohoError(400, 4, "Please add at least one line item")
    taxes = _taxes(call)
    out_lines, sub_total, tax_total = [], Decimal("0"), Decimal("0")
    for position, line in enumerate(lines, start=1):
        if not isinstance(line, dict):
            raise ZohoError(400, 2, "Invalid value passed for line_items")
        item_id = _id(line.get("item_id"))
        if not item_id:
            raise ZohoError(400, 4, "Please select an item for each line item")  # OAS: item_id is required
        item = call.docs("item").filter(object_id=item_id).first()
        if item is None:
            raise ZohoError(400, 2, "Invalid value passed for item_id")
        rate = _money(line.get("rate", item.data.get("rate")), "rate")
        quantity = _money(line.get("quantity", 1), "quantity")
        if quantity <= 0:
            raise ZohoError(400, 2, "Invalid value passed for quantity")
        line_discount = _money(line.get("discount", 0), "discount")
        item_total = _cents(rate * quantity - line_discount)
        tax_id = _id(line.get("tax_id"))
        if tax_id and tax_id not in taxes:
            raise ZohoError(400, 2, "Invalid value passed for tax_id")
        if tax_id:
            tax_total += _cents(item_total * taxes[tax_id] / 100)
        sub_total += item_total
        out_lines.append(
            {
                "line_item_id": _id(line.get("line_item_id")) or state.new_id(),
                "item_id": item_id,
                "name": str(line.get("name") or item.data.get("name", "")),
                "description": str(line.get("description") or ""),
                "item_order": position,
                "rate": str(rate),
                "quantity": str(quantity),
                "discount": str(line_discount),
                "tax_id": tax_id,
                "item_total": str(item_total),
            }
        )
    discount_value = body.get("discount", data.get("discount", 0))
    if isinstance(discount_value, str) and discount_value.strip().endswith("%"):
        discount = _cents(sub_total * _money(discount_value.strip()[:-1], "discount") / 100)
    else:
        discount = _cents(_money(discount_value, "discount"))
    shipping = _cents(_money(body.get("shipping_charge", data.get("shipping_charge", 0)), "shipping_charge"))
    adjustment = _cents(_money(body.get("adjustment", data.get("adjustment", 0)), "adjustment"))
    total = sub_total - discount + shipping + adjustment + tax_total
    custom_fields = body.get("custom_fields", data.get("custom_fields", []))
    if not isinstance(custom_fields, list):
        raise ZohoError(400, 2, "Invalid value passed for custom_fields")
    if kind == "salesorder" and "custom_fields" in body:
        custom_fields = _merge_custom_fields(call, kind, data.get("custom_fields", []), custom_fields)
    data.update(
        {
            "customer_id": customer_id,
            "customer_name": customer.name,
            "reference_number": str(body.get("reference_number", data.get("reference_number", "")) or ""),
            "date": _date(body.get("date", data.get("date")), "date"),
            "line_items": out_lines,
            "sub_total": str(sub_total),
            "tax_total": str(tax_total),
            "discount": str(discount),
            "shipping_charge": str(shipping),
            "adjustment": str(adjustment),
            "adjustment_description": str(body.get("adjustment_description", data.get("adjustment_description", ""))),
            "total": str(total),
            # A document takes its customer's currency (Zoho: one currency per contact).
            "currency_code": customer.data.get("currency_code") or call.org.currency_code,
            "currency_id": customer.data.get("currency_id", ""),
            "exchange_rate": str(_money(body.get("exchange_rate", data.get("exchange_rate", 1)), "exchange_rate")),
            "notes": str(body.get("notes", data.get("notes", "")) or ""),
            "custom_fields": custom_fields,
        }
    )
    if kind == "invoice":
        data["balance"] = str(total)
    return data


# Types as in the OpenAPI files (they differ between invoices and sales orders); the rest stay strings.
_NUMBER_FIELDS = {
    "invoice": ("sub_total", "tax_total", "discount", "adjustment", "exchange_rate"),
    "salesorder": ("sub_total", "tax_total", "adjustment", "shipping_charge", "total", "exchange_rate"),
    "creditnote": ("sub_total", "tax_total", "total", "balance", "exchange_rate"),
}


def _doc_out(doc: SandboxZohoDocument) -> dict:
    data = dict(doc.data)
    for key in _NUMBER_FIELDS.get(doc.kind, ()):
        if key in data:
            data[key] = Decimal(data[key])
    data["line_items"] = [
        {
            **line,
            "rate": Decimal(line["rate"]),
            "quantity": Decimal(line["quantity"]),
            "discount": Decimal(line["discount"]),
            "item_total": Decimal(line["item_total"]),
        }
        for line in data.get("line_items", [])
    ]
    return data


def _unique_numbers(call: Call, kind: str, doc: SandboxZohoDocument, number: str, reference: str) -> None:
    label = "Invoice" if kind == "invoice" else "Sales Order"
    others = call.docs(kind).exclude(pk=doc.pk)
    if number and others.filter(number=number).exists():
        raise ZohoError(400, 1001, f'{label} "{number}" already exists. Please specify a different number.')
    if reference and call.org.unique_reference_numbers and others.filter(reference_number=reference).exists():
        raise ZohoError(400, 1001, f'{label} with reference number "{reference}" already exists.')


def _create_document(call: Call, kind: str, prefix: str) -> SandboxZohoDocument:
    body = call.body
    doc = SandboxZohoDocument(org=call.org, kind=kind, object_id=state.new_id())
    number_field = f"{kind}_number"
    if str(call.query.get("ignore_auto_number_generation", "")).lower() == "true":
        number = str(body.get(number_field) or "").strip()
        if not number:
            raise ZohoError(400, 4, f"Please enter the {kind.replace('salesorder', 'sales order')} number")
    else:
        number = ""
    data = _document_fields(call, body, doc, kind)
    _unique_numbers(call, kind, doc, number, data["reference_number"])
    number = number or call.next_number(kind, prefix)
    data.update({f"{kind}_id": doc.object_id, number_field: number, "status": "draft"})
    doc.number, doc.reference_number = number, data["reference_number"]
    _save(doc, data)
    return doc


def _update_document(call: Call, kind: str, object_id: str, missing: tuple[int, str]) -> SandboxZohoDocument:
    doc = call.get(kind, object_id, missing)
    if doc.data.get("status") == "void":
        raise ZohoError(400, 4, f"Void {kind.replace('salesorder', 'sales order')}s cannot be edited.")
    body = call.body
    data = _document_fields(call, body, doc, kind)
    number = str(body.get(f"{kind}_number") or doc.number)
    _unique_numbers(call, kind, doc, number, data["reference_number"])
    data[f"{kind}_number"] = number
    doc.number, doc.reference_number = number, data["reference_number"]
    _save(doc, data)
    return doc


def _list_documents(call: Call, kind: str, key: str) -> tuple[int, dict]:
    qs = _modified_since(call, call.docs(kind))
    q = call.query
    if q.get(f"{kind}_number"):
        qs = qs.filter(number=q[f"{kind}_number"])
    if q.get("reference_number"):
        qs = qs.filter(reference_number=q["reference_number"])
    if q.get("customer_id"):
        qs = qs.filter(data__customer_id=q["customer_id"])
    if q.get("status"):
        qs = qs.filter(data__status=q["status"])
    if q.get("search_text"):
        text = q["search_text"]
        qs = qs.filter(number__icontains=text) | qs.filter(reference_number__icontains=text)
    qs = _dated(qs, q)
    keys = (
        f"{kind}_id",
        f"{kind}_number",
        "reference_number",
        "customer_id",
        "customer_name",
        "status",
        "date",
        "total",
        "currency_code",
        "created_time",
        "last_modified_time",
    )
    if kind == "salesorder":  # the list rows carry custom fields and the shipment status (OAS)
        keys = (*keys, "custom_fields", "shipped_status")
    return _page(call, qs.order_by("-id"), key, lambda d: {k: _doc_out(d).get(k, "") for k in keys})


def _dated(qs, query):
    """`date_start`/`date_end` (YYYY-MM-DD, both included) on the document's date, as Books lists do."""
    bounds = {"date_start": "gte", "date_end": "lte"}
    wanted = {lookup: _date(query[name], name) for name, lookup in bounds.items() if query.get(name)}
    if not wanted:
        return qs
    qs = qs.annotate(doc_date=KeyTextTransform("date", "data"))
    return qs.filter(**{f"doc_date__{lookup}": value for lookup, value in wanted.items()})


MISSING_INVOICE = (1002, "Invoice does not exist.")  # documented (ZOHO.md §2)
MISSING_SALESORDER = (1002, "Sales Order does not exist.")


def create_invoice(call: Call) -> tuple[int, dict]:
    doc = _create_document(call, "invoice", "INV-")
    return 201, {"code": 0, "message": "The invoice has been created.", "invoice": _doc_out(doc)}


def update_invoice(call: Call, invoice_id: str) -> tuple[int, dict]:
    doc = _update_document(call, "invoice", invoice_id, MISSING_INVOICE)
    return 200, {"code": 0, "message": "Invoice information has been updated.", "invoice": _doc_out(doc)}


def get_invoice(call: Call, invoice_id: str) -> tuple[int, dict]:
    doc = call.get("invoice", invoice_id, MISSING_INVOICE)
    return 200, {"code": 0, "message": "success", "invoice": _doc_out(doc)}


def list_invoices(call: Call) -> tuple[int, dict]:
    return _list_documents(call, "invoice", "invoices")


def void_invoice(call: Call, invoice_id: str) -> tuple[int, dict]:
    doc = call.get("invoice", invoice_id, MISSING_INVOICE)
    if doc.data.get("status") == "void":
        raise ZohoError(400, 4, "The invoice has already been voided.")
    _save(doc, {**doc.data, "status": "void", "balance": "0"})
    return 200, {"code": 0, "message": "Invoice status has been changed to Void."}


def add_invoice_comment(call: Call, invoice_id: str) -> tuple[int, dict]:
    call.get("invoice", invoice_id, MISSING_INVOICE)
    description = str(call.body.get("description") or "").strip()
    if not description:
        raise ZohoError(400, 4, "Comment description is required")
    comment_id = state.new_id()
    SandboxZohoDocument.objects.create(
        org=call.org,
        kind="comment",
        object_id=comment_id,
        parent_id=invoice_id,
        data={
            "comment_id": comment_id,
            "invoice_id": invoice_id,
            "description": description,
            "commented_by": call.token.user.email,
            "comment_type": "internal",
            "date": timezone.now().date().isoformat(),
            "show_comment_to_clients": bool(call.body.get("show_comment_to_clients", False)),
        },
    )
    return 200, {"code": 0, "message": "Comments added."}


def list_invoice_comments(call: Call, invoice_id: str) -> tuple[int, dict]:
    call.get("invoice", invoice_id, MISSING_INVOICE)
    comments = [d.data for d in call.docs("comment").filter(parent_id=invoice_id).order_by("id")]
    return 200, {"code": 0, "message": "success", "comments": comments}


route(r"invoices", GET=list_invoices, POST=create_invoice)
route(r"invoices/(?P<invoice_id>\d+)", GET=get_invoice, PUT=update_invoice)
route(r"invoices/(?P<invoice_id>\d+)/status/void", POST=void_invoice)
route(r"invoices/(?P<invoice_id>\d+)/comments", GET=list_invoice_comments, POST=add_invoice_comment)


def create_salesorder(call: Call) -> tuple[int, dict]:
    doc = _create_document(call, "salesorder", "SO-")
    return 201, {"code": 0, "message": "Sales Order Created Successfully.", "salesorder": _doc_out(doc)}


def update_salesorder(call: Call, salesorder_id: str) -> tuple[int, dict]:
    doc = _update_document(call, "salesorder", salesorder_id, MISSING_SALESORDER)
    return 200, {"code": 0, "message": "Sales Order has been updated.", "salesorder": _doc_out(doc)}


def get_salesorder(call: Call, salesorder_id: str) -> tuple[int, dict]:
    doc = call.get("salesorder", salesorder_id, MISSING_SALESORDER)
    return 200, {"code": 0, "message": "success", "salesorder": _doc_out(doc)}


def list_salesorders(call: Call) -> tuple[int, dict]:
    return _list_documents(call, "salesorder", "salesorders")


def void_salesorder(call: Call, salesorder_id: str) -> tuple[int, dict]:
    doc = call.get("salesorder", salesorder_id, MISSING_SALESORDER)
    reason = str(call.body.get("reason") or "") if call.request.body else ""
    if len(reason) > 500:  # OAS: reason, maximum length 500
        raise ZohoError(400, 2, "Invalid value passed for reason")
    _save(doc, {**doc.data, "status": "void", "void_reason": reason})
    return 201, {"code": 0, "message": "Sales Order status has been changed to Void."}


def open_salesorder(call: Call, salesorder_id: str) -> tuple[int, dict]:
    doc = call.get("salesorder", salesorder_id, MISSING_SALESORDER)
    if doc.data.get("status") != "draft":
        raise ZohoError(400, 4, "Only draft sales orders can be marked as open.")
    _save(doc, {**doc.data, "status": "open"})
    return 201, {"code": 0, "message": "Sales Order status has been changed to Open."}


def update_salesorder_customfields(call: Call, salesorder_id: str) -> tuple[int, dict]:
    """PUT /salesorder/{id}/customfields (singular path, as in the OAS): body is the array of fields
    (the OAS); `{"custom_fields": [...]}` is accepted too, as client libraries send it."""
    doc = call.get("salesorder", salesorder_id, MISSING_SALESORDER)
    if doc.data.get("status") == "void":
        raise ZohoError(400, 4, "Void sales orders cannot be edited.")
    try:
        body = jsonutil.loads(call.request.body or b"null")
    except ValueError:
        raise ZohoError(400, 1038, "JSON is not well formed") from None
    fields = body.get("custom_fields") if isinstance(body, dict) else body
    if not isinstance(fields, list):
        raise ZohoError(400, 2, "Invalid value passed for custom_fields")
    merged = _merge_custom_fields(call, "salesorder", doc.data.get("custom_fields", []), fields)
    _save(doc, {**doc.data, "custom_fields": merged})
    return 200, {"code": 0, "message": "Custom Fields Updated Successfully"}


def list_salesorder_comments(call: Call, salesorder_id: str) -> tuple[int, dict]:
    call.get("salesorder", salesorder_id, MISSING_SALESORDER)
    comments = [d.data for d in call.docs("so_comment").filter(parent_id=salesorder_id).order_by("id")]
    return 200, {"code": 0, "message": "success", "comments": comments}


def add_salesorder_comment(call: Call, salesorder_id: str) -> tuple[int, dict]:
    call.get("salesorder", salesorder_id, MISSING_SALESORDER)
    description = str(call.body.get("description") or "").strip()
    if not description:
        raise ZohoError(400, 4, "Comment description is required")
    comment_id = state.new_id()
    data = {
        "comment_id": comment_id,
        "salesorder_id": salesorder_id,
        "description": description,
        "commented_by": call.token.user.email,
        "comment_type": "internal",
        "date": timezone.now().date().isoformat(),
    }
    SandboxZohoDocument.objects.create(
        org=call.org, kind="so_comment", object_id=comment_id, parent_id=salesorder_id, data=data
    )
    return 201, {"code": 0, "message": "Comments added.", "comment": data}


route(r"salesorders", GET=list_salesorders, POST=create_salesorder)
route(r"salesorders/(?P<salesorder_id>\d+)", GET=get_salesorder, PUT=update_salesorder)
route(r"salesorders/(?P<salesorder_id>\d+)/status/void", POST=void_salesorder)
route(r"salesorders/(?P<salesorder_id>\d+)/status/open", POST=open_salesorder)
route(r"salesorder/(?P<salesorder_id>\d+)/customfields", PUT=update_salesorder_customfields)
route(r"salesorders/(?P<salesorder_id>\d+)/comments", GET=list_salesorder_comments, POST=add_salesorder_comment)


# --- Custom fields ------------------------------------------------------------------------------
# Definitions are not in the saved OAS: `GET /settings/fields?entity=salesorder` answers
# `{"fields": [{field_id, customfield_id, label, api_name, placeholder, data_type, is_active}]}`, as
# third-party code calling the live API reads it (search: "settings/fields?entity=salesorder").


def _definitions(call: Call, entity: str) -> list[dict]:
    return [d.data for d in call.docs("customfield").filter(parent_id=entity).order_by("id")]


def _merge_custom_fields(call: Call, kind: str, current: list, wanted: list) -> list[dict]:
    """Values by `customfield_id` or `api_name` must name a defined, active field (else Zoho's 400);
    a value by `label` alone names the field of that label. Given values replace, the others stay."""
    defined = {d["customfield_id"]: d for d in _definitions(call, kind) if d.get("is_active", True)}
    by_api = {d["api_name"]: d for d in defined.values()}
    by_label = {d["label"].lower(): d for d in defined.values()}
    out = {str(f.get("customfield_id") or f.get("label")): dict(f) for f in current if isinstance(f, dict)}
    for entry in wanted:
        if not isinstance(entry, dict) or "value" not in entry:
            raise ZohoError(400, 2, "Invalid value passed for custom_fields")
        if entry.get("customfield_id") not in (None, ""):
            definition = defined.get(str(entry["customfield_id"]))
        elif entry.get("api_name"):
            definition = by_api.get(str(entry["api_name"]))
        elif entry.get("label"):
            definition = by_label.get(str(entry["label"]).lower())
            if definition is None:  # unverified live behaviour: kept as sent
                out[str(entry["label"])] = {"label": str(entry["label"]), "value": entry["value"]}
                continue
        else:
            definition = None
        if definition is None:
            raise ZohoError(400, 2, "Invalid value passed for custom_fields")
        value = "" if entry["value"] is None else str(entry["value"])
        if len(value) > 255:
            raise ZohoError(400, 2, f"Invalid value passed for {definition['label']}")
        out[definition["customfield_id"]] = {
            "customfield_id": definition["customfield_id"],
            "label": definition["label"],
            "api_name": definition["api_name"],
            "placeholder": definition["api_name"],
            "data_type": definition["data_type"],
            "value": value,
        }
    # Zoho lists only fields that hold a value on the document.
    return [f for f in out.values() if str(f.get("value", "")) != ""]


def list_fields(call: Call) -> tuple[int, dict]:
    entity = call.query.get("entity", "")
    if entity not in ("salesorder", "invoice", "contact", "item"):
        raise ZohoError(400, 2, "Invalid value passed for entity")
    return 200, {"code": 0, "message": "success", "fields": _definitions(call, entity)}


route(r"settings/fields", GET=list_fields)


# --- Journals, chart of accounts, taxes ---------------------------------------------------------


def create_journal(call: Call) -> tuple[int, dict]:
    body = call.body
    journal_date = _date(body.get("journal_date"), "journal_date", required=True)
    lines = body.get("line_items")
    if not isinstance(lines, list) or len(lines) < 2:
        raise ZohoError(400, 4, "A journal entry needs at least one debit and one credit line")
    accounts = {d.object_id for d in call.docs("account")}
    debit = credit = Decimal("0")
    out_lines = []
    for line in lines:
        if not isinstance(line, dict):
            raise ZohoError(400, 2, "Invalid value passed for line_items")
        if _id(line.get("account_id")) not in accounts:
            raise ZohoError(400, 2, "Invalid value passed for account_id")
        side = line.get("debit_or_credit")
        if side not in ("debit", "credit"):
            raise ZohoError(400, 2, "Invalid value passed for debit_or_credit")
        if "amount" not in line:
            raise ZohoError(400, 4, "Amount is required")
        amount = _cents(_money(line.get("amount"), "amount"))
        if amount <= 0:
            raise ZohoError(400, 2, "Invalid value passed for amount")
        debit, credit = (debit + amount, credit) if side == "debit" else (debit, credit + amount)
        out_lines.append(
            {
                "line_id": state.new_id(),
                "account_id": _id(line["account_id"]),
                "debit_or_credit": side,
                "amount": str(amount),
                "description": str(line.get("description") or ""),
            }
        )
    if debit != credit:
        raise ZohoError(400, 4, "Please ensure that the debits and credits are equal.")
    doc = SandboxZohoDocument(org=call.org, kind="journal", object_id=state.new_id())
    number = call.next_number("journal", "")
    data = {
        "journal_id": doc.object_id,
        "entry_number": number,
        "reference_number": str(body.get("reference_number") or ""),
        "notes": str(body.get("notes") or ""),
        "journal_date": journal_date,
        "journal_type": str(body.get("journal_type") or "both"),
        "status": str(body.get("status") or "published"),
        "currency_code": call.org.currency_code,
        "line_items": out_lines,
        "total": str(debit),
    }
    doc.number, doc.reference_number = number, data["reference_number"]
    _save(doc, data)
    return 201, {"code": 0, "message": "The journal entry has been created.", "journal": _journal_out(doc)}


def _journal_out(doc: SandboxZohoDocument) -> dict:
    data = dict(doc.data)
    data["total"] = Decimal(data["total"])
    data["line_items"] = [{**line, "amount": Decimal(line["amount"])} for line in data["line_items"]]
    return data


def get_journal(call: Call, journal_id: str) -> tuple[int, dict]:
    doc = call.get("journal", journal_id, (1001, "Journal does not exist."))
    return 200, {"code": 0, "message": "success", "journal": _journal_out(doc)}


def delete_journal(call: Call, journal_id: str) -> tuple[int, dict]:
    call.get("journal", journal_id, (1001, "Journal does not exist.")).delete()
    return 200, {"code": 0, "message": "The journal has been deleted."}


def list_journals(call: Call) -> tuple[int, dict]:
    qs = _modified_since(call, call.docs("journal"))
    if call.query.get("reference_number"):
        qs = qs.filter(reference_number=call.query["reference_number"])
    if call.query.get("entry_number"):
        qs = qs.filter(number=call.query["entry_number"])
    return _page(call, _journal_dated(qs, call.query).order_by("-id"), "journals", _journal_out)


def _journal_dated(qs, query):
    """`date_start`/`date_end` on the journal date (journals.yml: "Search journals by journal date")."""
    bounds = {"date_start": "gte", "date_end": "lte"}
    wanted = {lookup: _date(query[name], name) for name, lookup in bounds.items() if query.get(name)}
    if not wanted:
        return qs
    qs = qs.annotate(doc_date=KeyTextTransform("journal_date", "data"))
    return qs.filter(**{f"doc_date__{lookup}": value for lookup, value in wanted.items()})


route(r"journals", GET=list_journals, POST=create_journal)
route(r"journals/(?P<journal_id>\d+)", GET=get_journal, DELETE=delete_journal)


def list_accounts(call: Call) -> tuple[int, dict]:
    qs = call.docs("account")
    kind = call.query.get("filter_by", "AccountType.All").removeprefix("AccountType.").lower()
    if kind not in ("all", "active", "inactive"):
        qs = qs.filter(data__account_type=kind)
    return _page(call, qs.order_by("id"), "chartofaccounts", lambda d: d.data)


def list_taxes(call: Call) -> tuple[int, dict]:
    return _page(
        call,
        call.docs("tax").order_by("id"),
        "taxes",
        lambda d: {**d.data, "tax_percentage": Decimal(d.data["tax_percentage"])},
    )


route(r"chartofaccounts", GET=list_accounts)
route(r"settings/taxes", GET=list_taxes)


def list_currencies(call: Call) -> tuple[int, dict]:
    return 200, {"code": 0, "message": "success", "currencies": currencies.currencies(call.org)}


route(r"settings/currencies", GET=list_currencies)

# Resources kept in their own modules register their routes on import (after ROUTES exists).
from integrations.zoho.sandbox import creditnotes  # noqa: E402, F401
