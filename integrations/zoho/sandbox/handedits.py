"""What a merchant does to a document by hand in Zoho Books' own screens: change its amount, delete
it, or enter a second one for the same order. Reconciliation tests produce "amount differs",
"missing" and "duplicated" with these, and the demo can show them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.utils import timezone

from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.models import SandboxZohoDocument

KINDS = ("invoice", "salesorder", "creditnote")


def set_total(doc: SandboxZohoDocument, total: str) -> SandboxZohoDocument:
    """A new total, reached the way a person would: the adjustment line takes the difference."""
    try:
        wanted = Decimal(str(total)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError("total must be an amount") from exc
    data = dict(doc.data)
    delta = wanted - Decimal(str(data.get("total", "0")))
    data["adjustment"] = str(Decimal(str(data.get("adjustment", "0"))) + delta)
    data["total"] = str(wanted)
    if "balance" in data:
        data["balance"] = str(Decimal(str(data["balance"])) + delta)
    return _save(doc, data)


def duplicate(doc: SandboxZohoDocument) -> SandboxZohoDocument:
    """A second document for the same order: same lines and reference, the next number."""
    org = doc.org
    count = int(org.counters.get(f"{doc.kind}_by_hand", 0)) + 1
    org.counters[f"{doc.kind}_by_hand"] = count
    org.save(update_fields=["counters"])
    copy = SandboxZohoDocument(org=org, kind=doc.kind, object_id=state.new_id())
    copy.number = f"{doc.number}-M{count}"[:100]
    copy.reference_number = doc.reference_number
    data = {**doc.data, f"{doc.kind}_id": copy.object_id, f"{doc.kind}_number": copy.number}
    return _save(copy, data)


def _save(doc: SandboxZohoDocument, data: dict) -> SandboxZohoDocument:
    now = timezone.now()
    data["last_modified_time"] = state.now_zoho(now)
    doc.data = data
    doc.last_modified_time = now
    doc.save()
    return doc
