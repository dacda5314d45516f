"""The sandbox's page of one general journal entry: where a record's "open in Exact Online" link goes
when the connection is a sandbox one (Exact's own web app knows nothing of sandbox entries).

GET /sandbox/exact/<country>/docs/<division>/journal/<entry id>/ shows the entry as the sandbox holds
it: number, journal, currency, reversal, and its lines. Only people whose organisation has a
connection to that sandbox division may see it; anyone else gets a 404.
"""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from connector.models import Connection
from integrations.exact.sandbox.models import SandboxExactEntity


@login_required
def journal_entry_page(request: HttpRequest, country: str, division: int, entry_id: str) -> HttpResponse:
    organization = getattr(request, "organization", None)
    owns = (
        organization is not None
        and Connection.objects.for_org(organization)
        .filter(system="exact", settings__division__in=[division, str(division)])
        .exists()
    )
    entry = (
        SandboxExactEntity.objects.select_related("division")
        .filter(division__code=division, entity="GeneralJournalEntries", guid=entry_id)
        .first()
        if owns
        else None
    )
    if entry is None:
        raise Http404("No such sandbox journal entry.")
    lines = [
        row.data
        for row in SandboxExactEntity.objects.filter(division=entry.division, entity="GeneralJournalEntryLines")
        if row.data.get("EntryID") == entry_id
    ]
    lines.sort(key=lambda line: line.get("LineNumber") or 0)
    context = {
        "entry": entry.data,
        "division": entry.division,
        "lines": [
            {
                "account": line.get("GLAccountCode") or line.get("GLAccount") or "",
                "description": line.get("Description") or "",
                "amount": line.get("AmountFC", ""),
                "cost_center": line.get("CostCenter") or "",
            }
            for line in lines
        ],
        "pretty": json.dumps({**entry.data, "lines": lines}, indent=2, sort_keys=True, ensure_ascii=False, default=str),
    }
    return render(request, "exact/sandbox_journal_entry.html", context)
