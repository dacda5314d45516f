"""What a merchant does to a document by hand in Zoho Books' own screens: change its amount, delete
it, or enter a second one for the same order. Reconciliation tests produce "amount differs",
"missing" and "duplicated" with these, and the demo can show them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.utils import timezone

from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.models import SandboxZohoDocument

KINDS = ("invoice", "salesorder", "creditnote", "journal")


def set_total(doc: SandboxZohoDocument, total: str) -> SandboxZohoDocument:
    """A new total, reached the way a person would: the adjustment line takes the difference."""
    try:
        wanted = Decimal(str(total)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError("total must be an amount") from exc
    data = dict(doc.data)
    delta = wanted - Decimal(str(data.get("total", "0")))
    if doc.kind == "journal":
        return _save(doc, _journal_total(data, wanted, delta))
    data["adjustment"] = str(Decimal(str(data.get("adjustment", "0"))) + delta)
    data["total"] = str(wanted)
    if "balance" in data:
        data["balance"] = str(Decimal(str(data["balance"])) + delta)
    return _save(doc, data)


def _journal_total(data: dict, wanted: Decimal, delta: Decimal) -> dict:
    """A journal edited by hand stays balanced (Books refuses one that is not): its last debit line and
    its last credit line each take the difference."""
    lines = [dict(line) for line in data.get("line_items", [])]
    for side in ("debit", "credit"):
        last = [line for line in lines if line.get("debit_or_credit") == side][-1:]
        for line in last:
            amount = Decimal(str(line["amount"])) + delta
            if amount <= 0:
                raise ValueError("total leaves a journal line without an amount")
            line["amount"] = str(amount)
    return {**data, "line_items": lines, "total": str(wanted)}


def duplicate(doc: SandboxZohoDocument) -> SandboxZohoDocument:
    """A second document for the same order: same lines and reference, the next number."""
    org = doc.org
    count = int(org.counters.get(f"{doc.kind}_by_hand", 0)) + 1
    org.counters[f"{doc.kind}_by_hand"] = count
    org.save(update_fields=["counters"])
    copy = SandboxZohoDocument(org=org, kind=doc.kind, object_id=state.new_id())
    copy.number = f"{doc.number}-M{count}"[:100]
    copy.reference_number = doc.reference_number
    number_field = "entry_number" if doc.kind == "journal" else f"{doc.kind}_number"
    data = {**doc.data, f"{doc.kind}_id": copy.object_id, number_field: copy.number}
    return _save(copy, data)


def _save(doc: SandboxZohoDocument, data: dict) -> SandboxZohoDocument:
    now = timezone.now()
    data["last_modified_time"] = state.now_zoho(now)
    doc.data = data
    doc.last_modified_time = now
    doc.save()
    return doc
