"""Orders into Exact as sales invoices, against the sandbox over real HTTP: created once and found
again after a lost answer, customers found by email or created, missing items held for review,
money to the cent, a change after invoicing held, a cancel credited once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connector.canonical import Address, Customer, LineItem, Order, OrderStatus
from connector.http import NeedsReview, Permanent
from integrations.exact.adapter import ExactTarget
from integrations.exact.sandbox import state
from integrations.exact.sandbox.models import SandboxExactEntity

pytestmark = pytest.mark.django_db(transaction=True)

OPTIONS = {"exact_sales_journal": "70", "exact_vat_code": "2", "exact_shipping_item": "SHIPPING"}


def order(number="1001", email="jan@example.com", sku="MUG-01", **changes) -> Order:
    base = Order(
        number=number,
        source_id=f"ss-{number}",
        status=OrderStatus.OPEN,
        currency="EUR",
        order_date=datetime(2026, 5, 1, tzinfo=UTC),
        customer=Customer(key=email, email=email, name="Jan Jansen"),
        bill_to=Address(name="Jan Jansen", street1="Dam 1", city="Amsterdam", postal_code="1012", country="NL"),
        lines=(
            LineItem(sku=sku, name="Blue mug", quantity=Decimal("3"), unit_price=Decimal("3.33")),
            LineItem(sku="MUG-01", name="Blue mug", quantity=Decimal("1"), unit_price=Decimal("0.10")),
        ),
        shipping=Decimal("4.95"),
    )
    return dataclasses.replace(base, **changes)


def rows(company, entity: str) -> list[dict]:
    return [r.data for r in SandboxExactEntity.objects.filter(division=company, entity=entity).order_by("id")]


@pytest.fixture
def target(exact_connection, company) -> ExactTarget:
    state.put(company, "Items", {"Code": "SHIPPING", "Description": "Shipping"})
    return ExactTarget(exact_connection, options=dict(OPTIONS))


def test_invoice_created_once_to_the_cent_and_found_after_a_lost_answer(target, company):
    assert target.find("invoice", order()) is None
    first = target.upsert("invoice", order(), target_id=None)
    assert first.action == "created"
    (invoice,) = rows(company, "SalesInvoices")
    assert invoice["YourRef"] == "1001" and invoice["Journal"] == "70" and invoice["Type"] == 8020
    lines = rows(company, "SalesInvoiceLines")
    assert [(line["ItemCode"], Decimal(str(line["AmountFC"]))) for line in lines] == [
        ("MUG-01", Decimal("9.99")),
        ("MUG-01", Decimal("0.10")),
        ("SHIPPING", Decimal("4.95")),
    ]
    assert {line["VATCode"] for line in lines} == {"2"}
    assert Decimal(str(invoice["AmountFC"])) == Decimal("15.04")
    assert first.data["total"] == "15.04"
    # The answer was lost: a new adapter finds the invoice by the order number; nothing is written twice.
    again = ExactTarget(target.connection, options=dict(OPTIONS))
    found = again.find("invoice", order())
    assert found == first.target_id
    assert again.upsert("invoice", order(), target_id=found).action == "unchanged"
    assert len(rows(company, "SalesInvoices")) == 1
    summary = again.describe_result("invoice", order(), first)
    assert (summary.label, summary.number, summary.total) == ("Sales invoice", str(invoice["InvoiceNumber"]), "15.04")


def test_customer_created_with_email_then_reused(target, company):
    target.upsert("invoice", order("2001"), target_id=None)
    target.upsert("invoice", order("2002"), target_id=None)
    created = [a for a in rows(company, "Accounts") if a.get("Email") == "jan@example.com"]
    assert len(created) == 1
    assert created[0]["Name"] == "Jan Jansen" and created[0]["Status"] == "C"
    assert {i["OrderedBy"] for i in rows(company, "SalesInvoices")} == {created[0]["ID"]}


def test_existing_customer_matched_by_email(target, company):
    seeded = state.find(company, "Accounts", Email="inkoop@devries.example")
    before = len(rows(company, "Accounts"))
    target.upsert("invoice", order("3001", email="inkoop@devries.example"), target_id=None)
    assert len(rows(company, "Accounts")) == before
    assert rows(company, "SalesInvoices")[0]["OrderedBy"] == seeded["ID"]


def test_missing_item_needs_review_and_is_never_created(target, company):
    items = len(rows(company, "Items"))
    with pytest.raises(NeedsReview) as caught:
        target.upsert("invoice", order("4001", sku="NO-SUCH"), target_id=None)
    assert "NO-SUCH" in caught.value.message and caught.value.remediation
    assert len(rows(company, "Items")) == items
    assert rows(company, "SalesInvoices") == []


def test_shipping_without_a_shipping_item_needs_review(exact_connection, company):
    target = ExactTarget(exact_connection, options={**OPTIONS, "exact_shipping_item": ""})
    with pytest.raises(NeedsReview, match="shipping item"):
        target.upsert("invoice", order("4101"), target_id=None)
    assert target.upsert("invoice", order("4102", shipping=Decimal("0")), target_id=None).action == "created"


def test_missing_options_need_review(exact_connection, company):
    with pytest.raises(NeedsReview, match="sales journal"):
        ExactTarget(exact_connection, options={}).upsert("invoice", order(), target_id=None)


def test_exact_refusal_is_permanent_with_its_words(exact_connection, company):
    target = ExactTarget(exact_connection, options={**OPTIONS, "exact_vat_code": "99", "exact_shipping_item": ""})
    with pytest.raises(Permanent, match="VAT code not found"):
        target.upsert("invoice", order("4201", shipping=Decimal("0")), target_id=None)


def test_an_edited_order_after_invoicing_needs_review(target, company):
    first = target.upsert("invoice", order("5001"), target_id=None)
    SandboxExactEntity.objects.filter(guid=first.target_id).update(
        data={**rows(company, "SalesInvoices")[0], "Status": 50}
    )
    edited = order(
        "5001", lines=(LineItem(sku="MUG-01", name="Blue mug", quantity=Decimal("4"), unit_price=Decimal("3.33")),)
    )
    with pytest.raises(NeedsReview, match="processed"):
        target.upsert("invoice", edited, target_id=first.target_id)
    assert len(rows(company, "SalesInvoices")) == 1


def test_cancel_credits_the_invoice_once(target, company):
    first = target.upsert("invoice", order("6001"), target_id=None)
    cancelled = order("6001", status=OrderStatus.CANCELLED)
    credit = target.cancel("invoice", cancelled, target_id=first.target_id)
    assert credit.action == "reversed" and credit.target_id != first.target_id
    again = ExactTarget(target.connection, options=dict(OPTIONS)).cancel(
        "invoice", cancelled, target_id=first.target_id
    )
    assert again.target_id == credit.target_id
    notes = [i for i in rows(company, "SalesInvoices") if i["Type"] == 8021]
    assert len(notes) == 1 and notes[0]["YourRef"] == "CR-6001"
    assert Decimal(str(notes[0]["AmountFC"])) == Decimal("-15.04")
    assert target.find("invoice", order("6001")) == first.target_id  # the credit is not the invoice
    summary = target.describe_result("invoice", cancelled, credit)
    assert (summary.label, summary.status) == ("Credit note", "credited")


def test_cancel_of_an_order_never_invoiced_writes_nothing(target, company):
    result = target.cancel("invoice", order("7001", status=OrderStatus.CANCELLED), target_id="")
    assert result.action == "skipped"
    assert rows(company, "SalesInvoices") == []


def test_pick_lists_come_from_exact(target):
    assert [code for code, _ in target.choices("sales_journal")] == ["70"]
    assert sorted(code for code, _ in target.choices("vat_code")) == ["0", "1", "2"]


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"OrderedBy": None}, "Mandatory: OrderedBy"),
        ({"Journal": "90"}, "is not a sales journal"),
        ({"SalesInvoiceLines": []}, "Mandatory: SalesInvoiceLines"),
        ({"Colour": "red"}, "Colour: property does not exist"),
        ({"line": {"AmountFC": 1.005}}, "more than 2 decimals"),
        ({"line": {"Item": "00000000-0000-4000-8000-000000000000"}}, "Mandatory: Item"),
    ],
)
def test_sandbox_refuses_invoices_exact_refuses(exact_connection, company, change, refusal):
    from integrations.exact.client import ExactClient

    account = state.find(company, "Accounts", Email="inkoop@devries.example")["ID"]
    item = state.find(company, "Items", Code="MUG-01")["ID"]
    line = {"Item": item, "Quantity": 1, "AmountFC": 1.0, "VATCode": "2", **change.pop("line", {})}
    body = {"OrderedBy": account, "Journal": "70", "YourRef": "X1", "SalesInvoiceLines": [line], **change}
    with pytest.raises(Permanent, match=refusal):
        ExactClient(exact_connection).create_sales_invoice(body)
    assert rows(company, "SalesInvoices") == []


def test_sandbox_account_needs_a_name(exact_connection, company):
    from integrations.exact.client import ExactClient

    with pytest.raises(Permanent, match="Mandatory: Name"):
        ExactClient(exact_connection).create_account({"Email": "x@example.com", "Status": "C"})


def test_two_workers_invoicing_a_new_customer_at_once_create_one_account(target, company):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection as db

    def write(number: str) -> str:
        try:
            adapter = ExactTarget(target.connection, options=dict(OPTIONS))
            return adapter.upsert("invoice", order(number, email="twice@example.com"), target_id=None).action
        finally:
            db.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        actions = list(pool.map(write, ["8001", "8002", "8003", "8004"]))
    assert actions == ["created"] * 4
    assert len([a for a in rows(company, "Accounts") if a.get("Email") == "twice@example.com"]) == 1


def test_an_edited_order_replaces_the_lines_of_its_open_invoice(target, company):
    first = target.upsert("invoice", order("5101"), target_id=None)
    edited = order(
        "5101",
        shipping=Decimal("0"),
        lines=(LineItem(sku="MUG-01", name="Blue mug", quantity=Decimal("4"), unit_price=Decimal("3.33")),),
    )
    again = ExactTarget(target.connection, options=dict(OPTIONS))
    result = again.upsert("invoice", edited, target_id=first.target_id)
    assert (result.action, result.target_id, result.data["total"]) == ("updated", first.target_id, "13.32")
    (invoice,) = rows(company, "SalesInvoices")
    assert Decimal(str(invoice["AmountFC"])) == Decimal("13.32")
    lines = rows(company, "SalesInvoiceLines")
    assert [(line["Quantity"], Decimal(str(line["AmountFC"]))) for line in lines] == [(4.0, Decimal("13.32"))]
    assert again.upsert("invoice", edited, target_id=first.target_id).action == "unchanged"


def test_sandbox_refuses_line_changes_on_a_processed_invoice(target, company):
    from integrations.exact.client import ExactClient

    first = target.upsert("invoice", order("5201"), target_id=None)
    row = SandboxExactEntity.objects.get(guid=first.target_id)
    SandboxExactEntity.objects.filter(pk=row.pk).update(data={**row.data, "Status": 50})
    client = ExactClient(target.connection)
    (line, *_) = client.sales_invoice_lines(first.target_id)
    with pytest.raises(Permanent, match="has been processed and cannot be changed"):
        client.delete_sales_invoice_line(line["ID"])
    item = state.find(company, "Items", Code="MUG-01")["ID"]
    with pytest.raises(Permanent, match="has been processed and cannot be changed"):
        client.add_sales_invoice_line(first.target_id, {"Item": item, "Quantity": 1, "AmountFC": 1.0})
    assert len(rows(company, "SalesInvoiceLines")) == 3
