"""What a bookkeeper does by hand in Exact Online's own screens: change a sales invoice's or a general
journal entry's amount, delete it, or enter it a second time. Reconciliation tests produce "amount
differs", "missing", "duplicated" and "extra" with these, and the demo can show them.

Exact never holds an unbalanced entry (EXACT.md §6.6), so an entry's new amount moves its last debit
line and its last credit line together; an invoice's new amount moves its last line."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import transaction

from integrations.exact.sandbox import state
from integrations.exact.sandbox.models import SandboxExactDivision, SandboxExactEntity

#: Entity set → (its lines' entity set, the key naming the header in a line, the number field).
EDITABLE = {
    "SalesInvoices": ("SalesInvoiceLines", "InvoiceID", "InvoiceNumber"),
    "GeneralJournalEntries": ("GeneralJournalEntryLines", "EntryID", "EntryNumber"),
}


def _amount(value) -> Decimal:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError("amount must be a number") from exc
    if amount <= 0:
        raise ValueError("amount must be above zero")
    return amount


def lines_of(header: SandboxExactEntity) -> list[SandboxExactEntity]:
    line_entity, key, _ = EDITABLE[header.entity]
    rows = SandboxExactEntity.objects.filter(division=header.division, entity=line_entity).order_by("id")
    return [row for row in rows if str(row.data.get(key, "")).lower() == header.guid.lower()]


@transaction.atomic
def set_amount(header: SandboxExactEntity, value) -> SandboxExactEntity:
    """An invoice's total including VAT (its sign kept: a credit note stays negative) or an entry's debit
    total. The invoice's last line takes the difference net, its VAT amount kept as entered (Exact
    lets a line's VATAmountFC be set by hand), so the header's net, VAT and total still add up."""
    wanted = _amount(value)
    lines = lines_of(header)
    if header.entity == "SalesInvoices":
        current = Decimal(str(header.data.get("AmountFC") or 0))
        sign = Decimal(-1) if current < 0 else Decimal(1)
        delta = wanted * sign - current
        _move(lines[-1], delta)
        net = Decimal(str(header.data.get("AmountFCExclVat", current))) + delta
        changed = {**header.data, "AmountFC": float(wanted * sign), "AmountFCExclVat": float(net)}
        return state.put(header.division, header.entity, changed, guid=header.guid)
    debit = sum((Decimal(str(r.data["AmountFC"])) for r in lines if Decimal(str(r.data["AmountFC"])) > 0), Decimal(0))
    delta = wanted - debit
    debits = [r for r in lines if Decimal(str(r.data["AmountFC"])) > 0]
    credits = [r for r in lines if Decimal(str(r.data["AmountFC"])) < 0]
    _move(debits[-1], delta)
    _move(credits[-1], -delta)
    return state.put(header.division, header.entity, header.data, guid=header.guid)


def _move(line: SandboxExactEntity, delta: Decimal) -> None:
    amount = Decimal(str(line.data["AmountFC"])) + delta
    if amount == 0:
        raise ValueError("that amount leaves a line at zero")
    state.put(line.division, line.entity, {**line.data, "AmountFC": float(amount)}, guid=line.guid)


@transaction.atomic
def delete(header: SandboxExactEntity) -> None:
    for line in lines_of(header):
        line.delete()
    header.delete()


@transaction.atomic
def duplicate(header: SandboxExactEntity) -> SandboxExactEntity:
    """The same document entered again: same lines, reference and date; a new key and the next number."""
    division: SandboxExactDivision = header.division
    line_entity, key, number_field = EDITABLE[header.entity]
    new_id = state.new_guid()
    for line in lines_of(header):
        state.put(division, line_entity, {**line.data, "ID": state.new_guid(), key: new_id})
    count = SandboxExactEntity.objects.filter(division=division, entity=header.entity).count()
    number = (90000 if header.entity == "GeneralJournalEntries" else 26000000) + count + 1
    return state.put(division, header.entity, {**header.data, key: new_id, number_field: number}, guid=new_id)
