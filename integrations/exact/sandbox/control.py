"""Sandbox control endpoints: fault knobs and sandbox companies (tests, demo, benchmarks).

All need a signed-in member and act only on the sandbox users and divisions of their organisation
(another tenant's division or login answers 404, like an unknown one).

POST /sandbox/exact/_control/faults     {"division": 123456, "error_rate": 0.1, ...}
POST /sandbox/exact/_control/companies  {"country": "nl", "email": "...", "name": "...", "divisions": 1}
GET  /sandbox/exact/_control/users/<country>/<email>  → token-endpoint counters (refusals by reason)
POST /sandbox/exact/_control/webhooks/retry  {"all": true}  → resend failed webhook deliveries now
GET  /sandbox/exact/_control/webhooks/<division>  → the division's subscriptions and deliveries
POST   /sandbox/exact/_control/divisions/<division>/documents/<entity>/<guid>  {"amount": "12.00"} | {"duplicate": true}
DELETE /sandbox/exact/_control/divisions/<division>/documents/<entity>/<guid>
    → a sales invoice or general journal entry edited, entered twice or deleted by hand (handedits.py)
"""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connector.sandbox.access import control_view
from integrations.exact.sandbox import faults, handedits, state, webhooks
from integrations.exact.sandbox.models import SandboxExactDivision, SandboxExactEntity, SandboxExactUser


def _own_divisions(request: HttpRequest):
    """The divisions of the signed-in organisation's sandbox Exact users."""
    return SandboxExactDivision.objects.filter(user__in=SandboxExactUser.objects.for_org(request.organization))


def _body(request: HttpRequest) -> dict | None:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@control_view
@require_POST
def fault_knobs(request: HttpRequest) -> JsonResponse:
    body = _body(request)
    if body is None:
        return JsonResponse({"error": "body must be a JSON object"}, status=400)
    division = (
        _own_divisions(request)
        .filter(code=body.get("division") if isinstance(body.get("division"), int) else -1)
        .first()
    )
    if division is None:
        return JsonResponse({"error": "unknown division"}, status=404)
    errors = faults.apply(division, body)
    if errors:
        return JsonResponse({"error": "invalid knobs", "fields": errors}, status=400)
    return JsonResponse({"division": division.code, "faults": division.faults})


@control_view
@require_POST
def create_company(request: HttpRequest) -> JsonResponse:
    body = _body(request)
    if body is None or body.get("country") not in state.COUNTRY_CODES or not body.get("email"):
        return JsonResponse({"error": f"need country (one of {', '.join(state.COUNTRY_CODES)}) and email"}, status=400)
    if SandboxExactUser.objects.filter(country=body["country"], email=str(body["email"])).exclude(
        organization=request.organization
    ):
        return JsonResponse({"error": "that sandbox login belongs to another organisation"}, status=409)
    user, divisions = state.create_company(
        body["country"],
        str(body["email"]),
        str(body.get("name") or "Sandbox BV"),
        divisions=int(body.get("divisions") or 1),
        organization=request.organization,
    )
    return JsonResponse({"email": user.email, "divisions": [d.code for d in divisions]}, status=201)


@control_view
@require_GET
def user_counters(request: HttpRequest, country: str, email: str) -> JsonResponse:
    user = SandboxExactUser.objects.for_org(request.organization).filter(country=country, email=email).first()
    if user is None:
        return JsonResponse({"error": "unknown user"}, status=404)
    return JsonResponse({"email": user.email, "counters": user.counters})


@control_view
@require_POST
def retry_webhooks(request: HttpRequest) -> JsonResponse:
    """Exact retries failed notifications over ~34 h; here the due ones (or all, with "all") go now."""
    body = _body(request)
    if body is None:
        return JsonResponse({"error": "body must be a JSON object"}, status=400)
    sent = webhooks.retry_due(everything=bool(body.get("all")), divisions=_own_divisions(request))
    return JsonResponse({"sent": sent})


@control_view
@require_GET
def webhook_log(request: HttpRequest, division: int) -> JsonResponse:
    company = _own_divisions(request).filter(code=division).first()
    if company is None:
        return JsonResponse({"error": "unknown division"}, status=404)
    subs = company.webhook_subscriptions.order_by("id")
    return JsonResponse(
        {
            "subscriptions": [
                {
                    "id": s.guid,
                    "topic": s.topic,
                    "callback": s.callback_url,
                    "deliveries": [
                        {
                            "status": d.status,
                            "attempts": d.attempts,
                            "response_code": d.response_code,
                            "error": d.error,
                            "delivered": d.delivered,
                            "gave_up": d.gave_up,
                            "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
                            "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
                        }
                        for d in s.deliveries.order_by("id")
                    ],
                }
                for s in subs
            ]
        }
    )


@control_view
@require_http_methods(["POST", "DELETE"])
def hand_edit(request: HttpRequest, division: int, entity: str, guid: str) -> JsonResponse:
    company = _own_divisions(request).filter(code=division).first()
    header = None
    if company is not None and entity in handedits.EDITABLE:
        header = SandboxExactEntity.objects.filter(division=company, entity=entity, guid=guid.lower()).first()
    if header is None:
        return JsonResponse({"error": "unknown division or document"}, status=404)
    if request.method == "DELETE":
        handedits.delete(header)
        return JsonResponse({"deleted": guid})
    body = _body(request)
    if body is None or not (body.get("duplicate") or "amount" in body):
        return JsonResponse({"error": 'body must be {"amount": "..."} or {"duplicate": true}'}, status=400)
    try:
        row = handedits.duplicate(header) if body.get("duplicate") else handedits.set_amount(header, body["amount"])
    except ValueError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"d": row.data})
