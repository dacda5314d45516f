"""Refunds become Zoho credit notes, once each, never by voiding a refunded sale."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import pytest

from connector.canonical import Order, OrderStatus, Refund, from_payload
from connector.models import Link
from integrations.zoho.adapter import ZohoBooksTarget
from integrations.zoho.sandbox.models import SandboxZohoDocument

pytestmark = pytest.mark.django_db(transaction=True)
FIXTURES = Path(__file__).parent / "fixtures"


def order(**changes) -> Order:
    base = from_payload(Order, json.loads((FIXTURES / "order_1001.json").read_text()))
    return dataclasses.replace(base, **changes)


def docs(org, kind: str, **filters) -> list[SandboxZohoDocument]:
    return list(SandboxZohoDocument.objects.filter(org=org, kind=kind, **filters).order_by("id"))


@pytest.fixture
def target(zoho_connection):
    adapter = ZohoBooksTarget(zoho_connection)
    yield adapter
    if adapter._client is not None:
        adapter._client.session.close()


def test_a_partial_refund_is_one_credit_note_of_the_refunded_amount(target, sandbox_org):
    target.upsert("invoice", order(), target_id=None)
    refund = Refund("726", Decimal("4.50"), "Chipped mug")
    result = target.upsert("invoice", order(refunds=(refund,)), target_id=None)
    assert result.action == "updated" and result.data["credit_notes"] == ["CN-1001-726"]
    (note,) = docs(sandbox_org, "creditnote")
    (invoice,) = docs(sandbox_org, "invoice")
    assert Decimal(note.data["total"]) == Decimal("4.50") and note.data["status"] == "open"
    assert note.data["reference_number"] == "1001" and note.data["customer_id"] == invoice.data["customer_id"]
    assert "Chipped mug" in note.data["notes"] and "invoice 1001" in note.data["notes"]
    assert invoice.data["status"] != "void" and Decimal(invoice.data["total"]) == order().total

    # Seen again (every later order.updated carries the same refunds): nothing more is credited.
    again = target.upsert("invoice", order(refunds=(refund,)), target_id=None)
    assert "credit_notes" not in again.data
    # A second refund adds one credit note; a lost Link is healed by Zoho's unique number.
    Link.objects.filter(object_type="creditnote").delete()
    second = Refund("727", Decimal("1.00"))
    target.upsert("invoice", order(refunds=(second, refund)), target_id=None)
    assert [n.number for n in docs(sandbox_org, "creditnote")] == ["CN-1001-726", "CN-1001-727"]


def test_a_refunded_order_is_credited_in_full_not_voided(target, sandbox_org):
    created = target.upsert("invoice", order(), target_id=None)
    refunded = order(status=OrderStatus.CANCELLED, refunds=(Refund("800", order().total, "Returned"),))
    result = target.cancel("invoice", refunded, target_id=created.target_id)
    (invoice,) = docs(sandbox_org, "invoice")
    (note,) = docs(sandbox_org, "creditnote")
    assert invoice.data["status"] != "void" and Decimal(note.data["total"]) == order().total
    assert result.target_id == invoice.object_id and result.data["credit_notes"] == ["CN-1001-800"]
    # A cancellation without any refund still voids, as before.
    other = target.upsert("invoice", order(number="1002"), target_id=None)
    target.cancel("invoice", order(number="1002", status=OrderStatus.CANCELLED), target_id=other.target_id)
    assert docs(sandbox_org, "invoice", reference_number="1002")[0].data["status"] == "void"


def test_sandbox_refuses_a_second_credit_note_with_the_same_number(target, sandbox_org):
    from integrations.zoho.client import Duplicate

    target.upsert("invoice", order(refunds=(Refund("9", Decimal("2.00")),)), target_id=None)
    (note,) = docs(sandbox_org, "creditnote")
    with pytest.raises(Duplicate) as refused:
        target.client.create_credit_note(
            {"customer_id": note.data["customer_id"], "date": "2026-11-23", "line_items": note.data["line_items"]},
            creditnote_number=note.number,
        )
    assert refused.value.vendor_code == 12018
    assert target.client.find_credit_notes(creditnote_number=note.number)[0]["creditnote_id"] == note.object_id
