"""Store refunds as Exact credit notes and orders as Exact sales orders, against the sandbox over real
HTTP: one credit note per refund however often it is retried, net of VAT so the credit with VAT is
the money returned; a refunded order that is cancelled keeps its invoice; sales orders created once,
found again after a lost answer, their lines replaced while open, an edit after delivery held, a
cancel deleting the open order; the sandbox refuses what Exact refuses."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests

from connector.canonical import Customer, LineItem, Order, OrderStatus, Refund
from connector.http import NeedsReview, Permanent
from connector.registry import Capability, get_preset, resolve_capability
from connector.web.forms import options_form_for
from integrations.exact.adapter import ExactTarget
from integrations.exact.refund_mapping import net_of_vat, refund_ref
from integrations.exact.sandbox import state
from integrations.exact.sandbox.models import SandboxExactEntity

pytestmark = pytest.mark.django_db(transaction=True)

OPTIONS = {
    "exact_sales_journal": "70",
    "exact_vat_code": "2",
    "exact_shipping_item": "SHIPPING",
    "exact_refund_item": "REFUND",
}
SALES_ORDERS = {**OPTIONS, "exact_document": "sales_order"}


def order(number="5001", **changes) -> Order:
    base = Order(
        number=number,
        source_id=f"wc-{number}",
        status=OrderStatus.OPEN,
        currency="EUR",
        order_date=datetime(2026, 5, 1, tzinfo=UTC),
        customer=Customer(key="jan@example.com", email="jan@example.com", name="Jan Jansen"),
        # Taxed at 21 %, the rate of the flow's VAT code "2": 2.10 on the line, 1.04 on shipping.
        lines=(
            LineItem(
                sku="MUG-01", name="Blue mug", quantity=Decimal("3"), unit_price=Decimal("3.33"), tax=Decimal("2.10")
            ),
        ),
        shipping=Decimal("4.95"),
        tax=Decimal("1.04"),
        total=Decimal("18.08"),
    )
    return dataclasses.replace(base, **changes)


def rows(company, entity: str, **match) -> list[dict]:
    found = [r.data for r in SandboxExactEntity.objects.filter(division=company, entity=entity).order_by("id")]
    return [r for r in found if all(r.get(k) == v for k, v in match.items())]


@pytest.fixture
def items(company):
    for code in ("SHIPPING", "REFUND"):
        state.put(company, "Items", {"Code": code, "Description": code.title()})


def test_net_of_vat_to_the_cent():
    assert net_of_vat(Decimal("12.10"), Decimal("0.21")) == Decimal("10.00")
    assert net_of_vat(Decimal("5.00"), Decimal("0")) == Decimal("5.00")
    assert refund_ref("1001", Refund("77", Decimal("1"))) == "RF-1001-77"


def test_each_refund_is_one_credit_note_never_twice(exact_connection, company, items):
    target = ExactTarget(exact_connection, options=dict(OPTIONS))
    created = target.upsert("invoice", order(), target_id=None)
    refunded = order(refunds=(Refund("71", Decimal("12.10"), "Damaged"),))
    first = target.upsert("invoice", refunded, target_id=created.target_id)
    assert first.action == "updated" and len(first.data["credit_notes"]) == 1
    (credit,) = rows(company, "SalesInvoices", YourRef="RF-5001-71")
    assert credit["Type"] == 8021 and credit["Journal"] == "70"
    assert credit["OrderedBy"] == rows(company, "SalesInvoices", YourRef="5001")[0]["OrderedBy"]
    (line,) = [x for x in rows(company, "SalesInvoiceLines") if x["InvoiceID"] == credit["InvoiceID"]]
    assert (line["ItemCode"], Decimal(str(line["AmountFC"])), line["VATCode"]) == ("REFUND", Decimal("-10.00"), "2")
    assert "Damaged" in credit["Description"]
    assert Decimal(str(credit["AmountFC"])) == Decimal("-12.10")  # with Exact's VAT: the money returned
    # A retry (the answer lost, a new worker) finds the credit note by its reference: nothing twice.
    again = ExactTarget(exact_connection, options=dict(OPTIONS))
    assert again.upsert("invoice", refunded, target_id=created.target_id).action == "unchanged"
    # A second refund is a second credit note; the first stays one.
    twice = order(refunds=(Refund("71", Decimal("12.10")), Refund("72", Decimal("2.42"))))
    assert again.upsert("invoice", twice, target_id=created.target_id).data["credit_notes"]
    assert len(rows(company, "SalesInvoices", YourRef="RF-5001-71")) == 1
    (second,) = rows(company, "SalesInvoices", YourRef="RF-5001-72")
    # Net -2.00 on the line; Exact adds its 21 % VAT, so the credit note returns the 2.42 refunded.
    assert Decimal(str(second["AmountFCExclVat"])) == Decimal("-2.00")
    assert Decimal(str(second["AmountFC"])) == Decimal("-2.42")
    summary = again.describe_result("invoice", twice, first)
    assert summary.extra and summary.extra[0].startswith("Credit note ")


def test_refunded_then_cancelled_order_credits_refunds_not_the_invoice(exact_connection, company, items):
    target = ExactTarget(exact_connection, options=dict(OPTIONS))
    created = target.upsert("invoice", order("5002"), target_id=None)
    refunded = order("5002", status=OrderStatus.CANCELLED, refunds=(Refund("81", Decimal("19.04")),))
    result = target.cancel("invoice", refunded, target_id=created.target_id)
    assert result.action == "updated" and result.target_id == created.target_id
    assert rows(company, "SalesInvoices", YourRef="CR-5002") == []  # never credited in full as well
    assert len(rows(company, "SalesInvoices", YourRef="RF-5002-81")) == 1
    assert target.cancel("invoice", refunded, target_id=created.target_id).action == "unchanged"
    assert len(rows(company, "SalesInvoices", YourRef="RF-5002-81")) == 1


def test_refund_without_a_refund_item_needs_review_and_writes_nothing(exact_connection, company, items):
    target = ExactTarget(exact_connection, options={**OPTIONS, "exact_refund_item": ""})
    created = target.upsert("invoice", order("5003"), target_id=None)
    with pytest.raises(NeedsReview) as caught:
        target.upsert("invoice", order("5003", refunds=(Refund("91", Decimal("1.21")),)), target_id=created.target_id)
    assert "refund" in caught.value.message and caught.value.remediation
    missing = ExactTarget(exact_connection, options={**OPTIONS, "exact_refund_item": "NOPE"})
    with pytest.raises(NeedsReview, match="NOPE"):
        missing.upsert("invoice", order("5003", refunds=(Refund("91", Decimal("1.21")),)), target_id=created.target_id)
    assert [r["Type"] for r in rows(company, "SalesInvoices")] == [8020]


def test_option_turns_orders_into_sales_orders():
    preset = get_preset("woocommerce_exact")
    invoice = Capability("order", "invoice")
    assert resolve_capability(preset, invoice, {}) == invoice
    assert resolve_capability(preset, invoice, {"exact_document": "sales_order"}).target_type == "sales_order"


def test_sales_order_created_once_edited_while_open_then_deleted(exact_connection, company, items):
    target = ExactTarget(exact_connection, options=dict(SALES_ORDERS))
    seeded = len(rows(company, "SalesOrders"))
    assert target.find("sales_order", order("6001")) is None
    created = target.upsert("sales_order", order("6001"), target_id=None)
    assert created.action == "created"
    (so,) = rows(company, "SalesOrders", YourRef="6001")
    assert so["Status"] == 12 and Decimal(str(so["AmountFCExclVat"])) == Decimal("14.94")
    lines = [x for x in rows(company, "SalesOrderLines") if x["OrderID"] == so["OrderID"]]
    assert [(x["ItemCode"], Decimal(str(x["AmountFC"])), x["VATCode"]) for x in lines] == [
        ("MUG-01", Decimal("9.99"), "2"),
        ("SHIPPING", Decimal("4.95"), "2"),
    ]
    assert target.describe_result("sales_order", order("6001"), created).label == "Sales order"
    # Lost answer: found by YourRef; unchanged writes nothing.
    again = ExactTarget(exact_connection, options=dict(SALES_ORDERS))
    assert again.find("sales_order", order("6001")) == created.target_id
    assert again.upsert("sales_order", order("6001"), target_id=created.target_id).action == "unchanged"
    # Edited while open: lines replaced, same order.
    edited = order(
        "6001", lines=(LineItem(sku="MUG-01", name="Blue mug", quantity=Decimal("4"), unit_price=Decimal("3.33")),)
    )
    assert again.upsert("sales_order", edited, target_id=created.target_id).action == "updated"
    (so,) = rows(company, "SalesOrders", YourRef="6001")
    assert Decimal(str(so["AmountFCExclVat"])) == Decimal("18.27")  # 4 x 3.33 + 4.95
    assert len(rows(company, "SalesOrders")) == seeded + 1
    # Cancelled while open: deleted in Exact; a retry finds it gone and is done.
    cancelled = dataclasses.replace(edited, status=OrderStatus.CANCELLED)
    assert again.cancel("sales_order", cancelled, target_id=created.target_id).action == "voided"
    assert rows(company, "SalesOrders", YourRef="6001") == []
    assert not [x for x in rows(company, "SalesOrderLines") if x["OrderID"] == created.target_id]
    assert again.cancel("sales_order", cancelled, target_id=created.target_id).action == "voided"


def test_sales_order_delivered_in_exact_holds_edits_and_cancels(exact_connection, company, items):
    target = ExactTarget(exact_connection, options=dict(SALES_ORDERS))
    created = target.upsert("sales_order", order("6002"), target_id=None)
    line = next(
        r
        for r in SandboxExactEntity.objects.filter(division=company, entity="SalesOrderLines")
        if r.data["OrderID"] == created.target_id
    )
    SandboxExactEntity.objects.filter(pk=line.pk).update(data={**line.data, "QuantityDelivered": 1.0})
    with pytest.raises(NeedsReview, match="delivered"):
        target.upsert("sales_order", order("6002", shipping=Decimal("0")), target_id=created.target_id)
    with pytest.raises(NeedsReview, match="delivered"):
        target.cancel("sales_order", order("6002", status=OrderStatus.CANCELLED), target_id=created.target_id)
    assert len(rows(company, "SalesOrders", YourRef="6002")) == 1
    assert len([x for x in rows(company, "SalesOrderLines") if x["OrderID"] == created.target_id]) == 2


def test_sales_order_missing_item_needs_review(exact_connection, company, items):
    target = ExactTarget(exact_connection, options=dict(SALES_ORDERS))
    bad = order("6003", lines=(LineItem(sku="NO-SUCH", name="?", quantity=Decimal("1"), unit_price=Decimal("1")),))
    with pytest.raises(NeedsReview, match="NO-SUCH"):
        target.upsert("sales_order", bad, target_id=None)
    assert rows(company, "SalesOrders", YourRef="6003") == []


def _api(exact_connection, company) -> tuple[str, dict]:
    base = f"{exact_connection.settings['base_url']}/api/v1/{company.code}/salesorder"
    return base, {"Authorization": f"Bearer {exact_connection.credentials['access_token']}"}


def test_sandbox_refuses_what_exact_refuses_on_sales_orders(exact_connection, company, items):
    base, auth = _api(exact_connection, company)
    account = state.find(company, "Accounts", Email="inkoop@devries.example")["ID"]
    item = state.find(company, "Items", Code="MUG-01")["ID"]
    cases = [
        ({"YourRef": "X", "SalesOrderLines": [{"Item": item}]}, "Mandatory: OrderedBy"),
        ({"OrderedBy": account}, "Mandatory: SalesOrderLines"),
        ({"OrderedBy": account, "SalesOrderLines": [{"Item": state.new_guid()}]}, "Mandatory: Item"),
        ({"OrderedBy": account, "SalesOrderLines": [{"Item": item, "AmountFC": 5}]}, "AmountFC"),
        ({"OrderedBy": account, "SalesOrderLines": [{"Item": item, "VATCode": "99"}]}, "VAT code not found"),
        ({"OrderedBy": account, "Bogus": 1, "SalesOrderLines": [{"Item": item}]}, "Bogus"),
    ]
    for body, words in cases:
        answer = requests.post(f"{base}/SalesOrders", json=body, headers=auth, timeout=10)
        assert answer.status_code == 400 and words in answer.json()["error"]["message"]["value"], body
    # A closed order (the seeded order 1, set complete) takes no new line.
    seeded = SandboxExactEntity.objects.get(division=company, entity="SalesOrders", data__OrderNumber=1)
    SandboxExactEntity.objects.filter(pk=seeded.pk).update(data={**seeded.data, "Status": 21})
    answer = requests.post(
        f"{base}/SalesOrderLines", json={"OrderID": seeded.guid, "Item": item, "Quantity": 1}, headers=auth, timeout=10
    )
    assert answer.status_code == 400 and "not open" in answer.json()["error"]["message"]["value"]
    with pytest.raises(Permanent):
        ExactTarget(
            exact_connection, options={**SALES_ORDERS, "exact_vat_code": "99", "exact_shipping_item": ""}
        ).upsert("sales_order", order("6004", shipping=Decimal("0")), target_id=None)


LISTS = {"sales_journal": [("70", "70 Verkoopboek")], "vat_code": [("2", "2 BTW hoog")]}


def _form(key: str, data: dict):
    return options_form_for(get_preset(key), data, target_choices=lambda n: LISTS.get(n, []))


def test_wizard_offers_invoices_or_sales_orders_and_the_refund_item():
    chosen = _form("woocommerce_exact", {**OPTIONS, "exact_document": "sales_order"})
    assert chosen.is_valid(), chosen.errors
    assert chosen.options()["exact_document"] == "sales_order" and chosen.options()["exact_refund_item"] == "REFUND"
    default = _form("woocommerce_exact", {"exact_sales_journal": "70", "exact_vat_code": "2"})
    assert default.is_valid() and default.options()["exact_document"] == "invoice"
    bogus = _form("woocommerce_exact", {**OPTIONS, "exact_document": "quotation"})
    assert not bogus.is_valid() and "exact_document" in bogus.errors
    no_journal = _form("woocommerce_exact", {"exact_vat_code": "2", "exact_document": "sales_order"})
    assert not no_journal.is_valid() and "exact_sales_journal" in no_journal.errors  # refunds credit in it
    # ShipStation sends no refunds: its form asks no refund item.
    assert "exact_refund_item" not in _form("shipstation_exact", {}).fields
    assert "exact_document" in _form("shipstation_exact", {}).fields


def test_an_order_invoiced_before_the_switch_gets_no_sales_order_too(exact_connection, company, items):
    ExactTarget(exact_connection, options=dict(OPTIONS)).upsert("invoice", order("6005"), target_id=None)
    switched = ExactTarget(exact_connection, options=dict(SALES_ORDERS))
    with pytest.raises(NeedsReview, match="already has an Exact sales invoice") as caught:
        switched.upsert("sales_order", order("6005"), target_id=None)
    assert caught.value.remediation
    assert rows(company, "SalesOrders", YourRef="6005") == []
