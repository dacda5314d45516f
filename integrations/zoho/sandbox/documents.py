"""The sandbox's stand-in for Books' document pages: where a record's "open in Zoho Books" link goes
when the connection is a sandbox one (the sandbox's ids mean nothing to Zoho's own web app).

GET /sandbox/zoho/<region>/app/<organization_id>/<kind>/<object_id>/ shows the document as the
sandbox holds it: number, status, totals, lines and the full JSON. Only people whose organisation
owns a connection to that sandbox Books organisation may see it; anyone else gets a 404.
"""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from connector.models import Connection
from integrations.zoho.sandbox.models import SandboxZohoDocument

KINDS = {"invoice", "journal", "contact", "salesorder", "creditnote"}


@login_required
def document_page(request: HttpRequest, region: str, organization_id: str, kind: str, object_id: str) -> HttpResponse:
    org_of_request = getattr(request, "organization", None)
    owns = (
        org_of_request is not None
        and Connection.objects.for_org(org_of_request)
        .filter(system="zoho", settings__organization_id=organization_id)
        .exists()
    )
    doc = (
        SandboxZohoDocument.objects.select_related("org__user")
        .filter(org__organization_id=organization_id, kind=kind, object_id=object_id)
        .first()
        if owns and kind in KINDS
        else None
    )
    if doc is None:
        raise Http404("No such sandbox document.")
    data = doc.data or {}
    context = {
        "doc": doc,
        "kind": kind,
        "data": data,
        "date": data.get("date") or data.get("journal_date") or "",
        "lines": [_line(line) for line in data.get("line_items") or [] if isinstance(line, dict)],
        "pretty": json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str),
    }
    return render(request, "zoho/sandbox_document.html", context)


def _line(line: dict) -> dict:
    """An invoice line (item, quantity, rate) or a journal line (account, amount, debit/credit)."""
    return {
        "what": line.get("name")
        or line.get("account_name")
        or line.get("description")
        or line.get("item_id")
        or line.get("account_id")
        or "",
        "quantity": line.get("quantity", ""),
        "amount": line.get("rate", line.get("amount", "")),
        "side": line.get("debit_or_credit", ""),
    }
