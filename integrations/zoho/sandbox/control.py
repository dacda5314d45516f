"""Sandbox control endpoints (tests, demo, benchmarks): fault knobs and sandbox organisations.

All need a signed-in member and act only on the sandbox organisations of their organisation
(another tenant's organization_id answers 404, like an unknown one).

POST /sandbox/zoho/_control/faults   {"organization_id": "...", "error_rate": 0.1, "rate_429": 0.05, ...}
GET  /sandbox/zoho/_control/faults?organization_id=...
POST /sandbox/zoho/_control/orgs     {"region": "us", "email": "...", "name": "..."} → the new organisation
GET  /sandbox/zoho/_control/orgs/<organization_id>/stats   → calls today and documents by kind
POST/DELETE /sandbox/zoho/_control/orgs/<organization_id>/documents/<kind>/<object_id>   → a hand edit
"""

from __future__ import annotations

import json

from django.db.models import Count
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connector.sandbox.access import control_view
from integrations.zoho.sandbox import faults, handedits, state
from integrations.zoho.sandbox.models import SandboxZohoOrg, SandboxZohoUser


def _body(request: HttpRequest) -> dict | None:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _own_orgs(request: HttpRequest):
    """The sandbox Books organisations of the signed-in organisation's sandbox Zoho users."""
    return SandboxZohoOrg.objects.filter(user__in=SandboxZohoUser.objects.for_org(request.organization))


def _describe(org: SandboxZohoOrg) -> dict:
    return {
        "organization_id": org.organization_id,
        "name": org.name,
        "region": org.user.region,
        "email": org.user.email,
        "faults": org.faults,
        "rate_limit_per_minute": org.rate_limit_per_minute,
        "daily_limit": org.daily_limit,
        "unique_reference_numbers": org.unique_reference_numbers,
    }


@control_view
@require_http_methods(["GET", "POST"])
def fault_knobs(request: HttpRequest) -> JsonResponse:
    body = _body(request) if request.method == "POST" else dict(request.GET.items())
    if body is None:
        return JsonResponse({"error": "body must be a JSON object"}, status=400)
    org = _own_orgs(request).select_related("user").filter(organization_id=str(body.get("organization_id"))).first()
    if org is None:
        return JsonResponse({"error": "unknown organization_id"}, status=404)
    if request.method == "POST":
        errors = faults.apply_settings(org, body)
        if errors:
            return JsonResponse({"error": "invalid knobs", "fields": errors}, status=400)
    return JsonResponse(_describe(org))


@control_view
@require_POST
def create_org(request: HttpRequest) -> JsonResponse:
    body = _body(request)
    if body is None or body.get("region") not in state.REGION_CODES or not body.get("email"):
        return JsonResponse({"error": f"need region (one of {', '.join(state.REGION_CODES)}) and email"}, status=400)
    email = str(body["email"]).lower()
    if SandboxZohoUser.objects.filter(region=body["region"], email=email).exclude(organization=request.organization):
        return JsonResponse({"error": "that sandbox login belongs to another organisation"}, status=409)
    org = state.create_org(body["region"], email, str(body.get("name") or ""), organization=request.organization)
    return JsonResponse(_describe(org), status=201)


@control_view
@require_GET
def org_stats(request: HttpRequest, organization_id: str) -> JsonResponse:
    org = _own_orgs(request).select_related("user").filter(organization_id=organization_id).first()
    if org is None:
        return JsonResponse({"error": "unknown organization_id"}, status=404)
    kinds = dict(org.documents.values_list("kind").annotate(n=Count("id")).values_list("kind", "n"))
    return JsonResponse({**_describe(org), "calls_today": faults.total_calls(org), "documents": kinds})


@control_view
@require_POST
def custom_fields(request: HttpRequest, organization_id: str) -> JsonResponse:
    """POST {"entity": "salesorder", "label": "Carrier", "api_name": "cf_carrier"}, or {"tracking_fields": true}
    for the three fields the sales-order pull-back reads."""
    org = _own_orgs(request).filter(organization_id=organization_id).first()
    body = _body(request)
    if org is None:
        return JsonResponse({"error": "unknown organization_id"}, status=404)
    if body is None:
        return JsonResponse({"error": "body must be a JSON object"}, status=400)
    if body.get("tracking_fields"):
        return JsonResponse({"fields": state.add_tracking_fields(org)}, status=201)
    if body.get("entity") not in ("salesorder", "invoice") or not str(body.get("label") or "").strip():
        return JsonResponse({"error": "need entity (salesorder or invoice) and label"}, status=400)
    field = state.add_custom_field(org, body["entity"], str(body["label"]).strip(), str(body.get("api_name") or ""))
    return JsonResponse(field, status=201)


@control_view
@require_http_methods(["GET", "POST"])
def sales_orders_page(request: HttpRequest, organization_id: str):
    """A page for the demo: a person fills the tracking fields of a sales order, or fulfils or voids it,
    as they would in Zoho's UI. POST (form or JSON): salesorder_id, tracking_number, carrier,
    shipping_method, status."""
    from django.shortcuts import render

    org = _own_orgs(request).filter(organization_id=organization_id).first()
    if org is None:
        return JsonResponse({"error": "unknown organization_id"}, status=404)
    error = ""
    if request.method == "POST":
        body = _body(request) if request.content_type == "application/json" else request.POST.dict()
        if body is None:
            return JsonResponse({"error": "body must be a JSON object"}, status=400)
        if body.get("tracking_fields") and not state.documents(org, "customfield").filter(parent_id="salesorder"):
            state.add_tracking_fields(org)  # the page's "create the fields" button, for the demo
            body = {}
        values = {k: str(body[k]) for k in ("tracking_number", "carrier", "shipping_method") if body.get(k)}
        status = str(body.get("status") or "")
        if status not in ("", "open", "fulfilled", "void"):
            error = "status must be open, fulfilled or void"
        elif not body.get("salesorder_id"):
            pass  # nothing to change (e.g. the fields were just created)
        else:
            try:
                doc = state.set_sales_order(org, str(body.get("salesorder_id") or ""), status=status, **values)
            except (KeyError, state.SandboxZohoDocument.DoesNotExist) as exc:
                error = str(exc) if isinstance(exc, KeyError) else "unknown salesorder_id"
            else:
                if request.content_type == "application/json":
                    return JsonResponse(doc.data)
        if error and request.content_type == "application/json":
            return JsonResponse({"error": error}, status=400)
    orders = state.documents(org, "salesorder").order_by("-id")[:50]
    rows = []
    for doc in orders:
        values = {f.get("api_name", f.get("label")): f.get("value") for f in doc.data.get("custom_fields", [])}
        rows.append(
            {
                "doc": doc,
                "tracking": values.get("cf_tracking_number", ""),
                "carrier": values.get("cf_carrier", ""),
                "method": values.get("cf_shipping_method", ""),
            }
        )
    fields = state.documents(org, "customfield").filter(parent_id="salesorder").count()
    return render(
        request,
        "zoho/sandbox_sales_orders.html",
        {"org": org, "rows": rows, "error": error, "has_fields": fields >= 3},
        status=400 if error else 200,
    )


@control_view
@require_http_methods(["POST", "DELETE"])
def document_by_hand(request: HttpRequest, organization_id: str, kind: str, object_id: str) -> JsonResponse:
    """A merchant's own edit in Books: POST {"total": "12.00"} changes the amount (the adjustment takes
    the difference), POST {"duplicate": true} enters a second document for the same order, DELETE
    deletes it. Answers the document as it now is (or the copy)."""
    org = _own_orgs(request).filter(organization_id=organization_id).first()
    doc = None
    if org is not None and kind in handedits.KINDS:
        doc = state.documents(org, kind).filter(object_id=object_id).first()
    if doc is None:
        return JsonResponse({"error": "unknown organization_id or document"}, status=404)
    if request.method == "DELETE":
        doc.delete()
        return JsonResponse({"deleted": object_id})
    body = _body(request)
    if body is None or not (body.get("duplicate") or "total" in body):
        return JsonResponse({"error": 'body must be {"total": "..."} or {"duplicate": true}'}, status=400)
    try:
        doc = handedits.duplicate(doc) if body.get("duplicate") else handedits.set_total(doc, body["total"])
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"object_id": doc.object_id, "number": doc.number, **doc.data}, status=200)
