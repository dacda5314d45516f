"""ZohoBooksTarget against the sandbox: effects asserted in the sandbox's own state."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connector.canonical import Customer, LineItem, Order, OrderStatus, Shipment, from_payload
from connector.http import NeedsReview, Permanent, Transient
from connector.models import Link
from connector.registry import get_system
from integrations.zoho.adapter import ZohoBooksTarget
from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.models import SandboxZohoDocument
from tests.integrations.zoho.conftest import set_faults

pytestmark = pytest.mark.django_db(transaction=True)
FIXTURES = Path(__file__).parent / "fixtures"


def fixture_order(**changes) -> Order:
    order = from_payload(Order, json.loads((FIXTURES / "order_1001.json").read_text()))
    return dataclasses.replace(order, **changes)


def invoices(org, reference):
    return list(SandboxZohoDocument.objects.filter(org=org, kind="invoice", reference_number=reference))


@pytest.fixture
def target(zoho_connection, sandbox_org):
    calls = []
    adapter = ZohoBooksTarget(
        zoho_connection,
        on_call=calls.append,
        options={
            "shipment_mode": "journal",
            "expense_account_id": state.account_id(sandbox_org, "Shipping Expense"),
            "offset_account_id": state.account_id(sandbox_org, "Petty Cash"),
        },
    )
    adapter.calls = calls
    yield adapter
    if adapter._client is not None:
        adapter._client.session.close()


def test_registered_as_the_zoho_target():
    assert get_system("zoho").target_adapter is ZohoBooksTarget
    assert get_system("zoho").connect_url_name == "zoho_connect"


def test_order_becomes_one_invoice_with_the_order_total(target, sandbox_org):
    order = fixture_order()
    assert target.find("invoice", order) is None
    result = target.upsert("invoice", order, target_id=None)
    assert result.action == "created"
    (invoice,) = invoices(sandbox_org, "1001")
    assert result.target_id == invoice.object_id
    assert Decimal(invoice.data["total"]) == order.total
    assert invoice.data["invoice_number"] == "1001"
    # A sandbox invoice opens on the sandbox's own page of it (Zoho's web app would answer 404).
    assert result.url.endswith(f"/sandbox/zoho/us/app/{sandbox_org.organization_id}/invoice/{invoice.object_id}/")
    contact = SandboxZohoDocument.objects.get(org=sandbox_org, kind="contact")
    assert contact.email == "ada@example.com" and invoice.data["customer_id"] == contact.object_id
    items = {d.name: d.data.get("sku") for d in SandboxZohoDocument.objects.filter(org=sandbox_org, kind="item")}
    assert items == {"Enamel mug": "MUG-1", "Sticker pack": ""}
    assert target.find("invoice", order) == invoice.object_id


def test_seen_again_the_same_invoice_is_updated_never_duplicated(target, zoho_connection, sandbox_org):
    first = target.upsert("invoice", fixture_order(), target_id=None)
    # An edit arrives while our Link was lost (crash after Zoho's 2xx): Zoho's unique number heals it.
    Link.objects.filter(connection=zoho_connection, object_type="invoice").delete()
    edited = fixture_order(shipping=Decimal("7.95"), total=Decimal("38.47"))
    again = target.upsert("invoice", edited, target_id=None)
    assert (again.action, again.target_id) == ("updated", first.target_id)
    (invoice,) = invoices(sandbox_org, "1001")
    assert Decimal(invoice.data["total"]) == Decimal("38.47") and invoice.data["shipping_charge"] == "7.95"


def test_search_by_reference_in_zoho_numbering_mode(target, sandbox_org):
    target.options["invoice_number_mode"] = "zoho"
    created = target.upsert("invoice", fixture_order(), target_id=None)
    assert invoices(sandbox_org, "1001")[0].data["invoice_number"].startswith("INV-")
    Link.objects.filter(object_type="invoice").delete()
    assert target.find("invoice", fixture_order()) == created.target_id


def test_cancelled_order_voids_its_invoice(target, sandbox_org):
    created = target.upsert("invoice", fixture_order(), target_id=None)
    cancelled = fixture_order(status=OrderStatus.CANCELLED)
    result = target.upsert("invoice", cancelled, target_id=created.target_id)
    assert result.action == "voided"
    assert invoices(sandbox_org, "1001")[0].data["status"] == "void"
    assert target.cancel("invoice", cancelled, target_id=created.target_id).action == "voided"  # idempotent


def test_steady_state_costs_one_call_per_order(target, sandbox_org):
    target.upsert("invoice", fixture_order(), target_id=None)  # learns the contact and items
    before = len(target.calls)
    for n in range(10):
        order = fixture_order(number=str(2000 + n))
        assert target.find("invoice", order) is None
        target.upsert("invoice", order, target_id=None)
    assert (len(target.calls) - before) / 10 <= 1.2
    assert SandboxZohoDocument.objects.filter(org=sandbox_org, kind="invoice").count() == 11


def test_an_unknown_sku_refreshes_the_item_map_once_then_creates(target, sandbox_org, zoho_connection):
    target.client.create_item({"name": "Teapot", "rate": Decimal("30"), "sku": "POT-1"})
    order = fixture_order(
        lines=(
            LineItem(sku="POT-1", name="Tea pot", quantity=Decimal("1"), unit_price=Decimal("30.00")),
            LineItem(sku="CUP-1", name="Cup", quantity=Decimal("2"), unit_price=Decimal("4.00")),
        ),
        total=Decimal("38.00"),
        tax=Decimal("0"),
        discount=Decimal("0"),
        shipping=Decimal("0"),
    )
    target.upsert("invoice", order, target_id=None)
    lines = invoices(sandbox_org, "1001")[0].data["line_items"]
    skus = {d.object_id: d.data["sku"] for d in SandboxZohoDocument.objects.filter(org=sandbox_org, kind="item")}
    assert [skus[line["item_id"]] for line in lines] == ["POT-1", "CUP-1"]
    linked = dict(
        Link.objects.filter(connection=zoho_connection, object_type="item").values_list("canonical_key", "external_id")
    )
    assert set(linked) == {"POT-1", "CUP-1"}


def test_an_item_deleted_in_zoho_is_resolved_again_not_a_failure_for_every_invoice(
    target, sandbox_org, zoho_connection
):
    """A linked item deleted in Zoho since: Zoho answers "Invalid value passed for item_id". The stale link
    goes and the item is resolved again (created here), for a new invoice and for an update alike."""
    pot = LineItem(sku="POT-1", name="Tea pot", quantity=Decimal("1"), unit_price=Decimal("30.00"))
    money = {"tax": Decimal("0"), "discount": Decimal("0"), "shipping": Decimal("0"), "total": Decimal("30.00")}
    first = target.upsert("invoice", fixture_order(lines=(pot,), **money), target_id=None)
    items = SandboxZohoDocument.objects.filter(org=sandbox_org, kind="item")
    stale = Link.objects.get(connection=zoho_connection, object_type="item", canonical_key="POT-1").external_id
    items.filter(object_id=stale).delete()  # the merchant deleted it in Zoho
    second = target.upsert("invoice", fixture_order(number="1002", lines=(pot,), **money), target_id=None)
    assert second.action == "created"
    fresh = Link.objects.get(connection=zoho_connection, object_type="item", canonical_key="POT-1").external_id
    assert fresh != stale and items.filter(object_id=fresh, data__sku="POT-1").exists()
    assert invoices(sandbox_org, "1002")[0].data["line_items"][0]["item_id"] == fresh
    items.filter(object_id=fresh).delete()  # again, now under an invoice we update
    again = ZohoBooksTarget(zoho_connection).upsert(
        "invoice", fixture_order(lines=(pot,), **money), target_id=first.target_id
    )
    assert again.action == "updated" and again.target_id == first.target_id
    assert invoices(sandbox_org, "1001")[0].data["line_items"][0]["item_id"] not in (stale, fresh)
    assert SandboxZohoDocument.objects.filter(org=sandbox_org, kind="invoice").count() == 2


def test_an_item_zoho_refuses_again_after_resolving_is_permanent(target, sandbox_org, monkeypatch):
    """Resolved once only: a second refusal reaches the engine as Zoho worded it."""
    pot = LineItem(sku="POT-1", name="Tea pot", quantity=Decimal("1"), unit_price=Decimal("30.00"))
    monkeypatch.setattr(ZohoBooksTarget, "resolve_items", lambda self, order: {"POT-1": "460000000099999"})
    with pytest.raises(Permanent, match="Invalid value passed for item_id"):
        target.upsert("invoice", fixture_order(lines=(pot,), total=Decimal("30.00")), target_id=None)
    assert invoices(sandbox_org, "1001") == []


def test_a_sku_clash_needs_review(target, sandbox_org):
    target.client.create_item({"name": "Enamel mug", "rate": 1, "sku": "OTHER"})
    target.client.create_item({"name": "Enamel mug (MUG-1)", "rate": 1, "sku": "OTHER-2"})
    with pytest.raises(NeedsReview):
        target.upsert("invoice", fixture_order(), target_id=None)
    assert invoices(sandbox_org, "1001") == []


def test_zoho_5xx_is_transient_and_loses_nothing(target, zoho_base, sandbox_org):
    target.upsert("invoice", fixture_order(), target_id=None)
    set_faults(zoho_base, sandbox_org, fail_reference_numbers=["1002"])
    with pytest.raises(Transient):
        target.upsert("invoice", fixture_order(number="1002"), target_id=None)
    assert invoices(sandbox_org, "1002") == []
    set_faults(zoho_base, sandbox_org, fail_reference_numbers=None)
    assert target.upsert("invoice", fixture_order(number="1002"), target_id=None).action == "created"
    assert len(invoices(sandbox_org, "1002")) == 1


def shipment(**changes) -> Shipment:
    base = Shipment(
        source_id="55",
        order_id="94113592",
        order_number="1001",
        ship_date=date(2026, 3, 2),
        carrier="ups",
        service="ground",
        tracking_number="1Z999",
        shipping_cost=Decimal("7.25"),
        insurance_cost=Decimal("1.10"),
        currency="USD",
    )
    return dataclasses.replace(base, **changes)


def journals(org):
    return list(SandboxZohoDocument.objects.filter(org=org, kind="journal").order_by("id"))


def balance(journal) -> Decimal:
    return sum(
        (Decimal(ln["amount"]) * (1 if ln["debit_or_credit"] == "debit" else -1) for ln in journal.data["line_items"]),
        Decimal("0"),
    )


def test_shipment_posts_a_balanced_journal_once_and_reverses_when_voided(target, sandbox_org):
    posted = target.upsert("cost_posting", shipment(), target_id=None)
    assert posted.action == "created" and f"/journal/{posted.target_id}/" in posted.url  # the sandbox's page
    assert target.upsert("cost_posting", shipment(), target_id=None).action == "unchanged"
    (journal,) = journals(sandbox_org)
    assert balance(journal) == 0 and Decimal(journal.data["total"]) == Decimal("8.35")
    assert journal.data["reference_number"] == "1001" and "1Z999" in journal.data["notes"]
    voided = shipment(voided=True, void_date=datetime(2026, 3, 3, tzinfo=UTC))
    assert target.cancel("cost_posting", voided, target_id=posted.target_id).action == "reversed"
    assert target.upsert("cost_posting", voided, target_id=posted.target_id).action == "unchanged"
    original, reversal = journals(sandbox_org)
    assert balance(reversal) == 0 and reversal.data["journal_date"] == "2026-03-03"
    assert [ln["debit_or_credit"] for ln in reversal.data["line_items"]] == ["credit", "credit", "debit"]


def test_a_lost_journal_link_is_found_again_by_reference(target, sandbox_org):
    target.upsert("cost_posting", shipment(), target_id=None)
    Link.objects.filter(object_type="journal").delete()
    assert target.find("cost_posting", shipment()) == journals(sandbox_org)[0].object_id
    assert len(journals(sandbox_org)) == 1


def test_journal_mode_without_accounts_needs_review(target, sandbox_org):
    target.options = {"shipment_mode": "journal"}
    with pytest.raises(NeedsReview):
        target.upsert("cost_posting", shipment(), target_id=None)
    assert journals(sandbox_org) == []


def test_comment_mode_comments_on_the_invoice_once(target, sandbox_org):
    target.options = {"shipment_mode": "comment"}
    with pytest.raises(Transient):  # the order's invoice is not there yet: retried later
        target.upsert("cost_posting", shipment(), target_id=None)
    invoice = target.upsert("invoice", fixture_order(), target_id=None)
    result = target.upsert("cost_posting", shipment(), target_id=None)
    assert result.target_id == invoice.target_id
    Link.objects.filter(object_type="invoice_comment").delete()
    assert target.upsert("cost_posting", shipment(), target_id=None).action == "unchanged"
    target.cancel("cost_posting", shipment(voided=True), target_id=result.target_id)
    comments = [c.data["description"] for c in SandboxZohoDocument.objects.filter(org=sandbox_org, kind="comment")]
    assert len(comments) == 2
    assert "ups ground" in comments[0] and "7.25" in comments[0] and "1Z999" in comments[0]
    assert "voided" in comments[1]


def test_contacts_created_then_updated_by_email(target, sandbox_org):
    customer = Customer(key="grace@example.com", email="grace@example.com", name="Grace Hopper")
    created = target.upsert("contact", customer, target_id=None)
    assert created.action == "created"
    Link.objects.filter(object_type="contact").delete()
    moved = dataclasses.replace(customer, company="Navy")
    assert target.find("contact", moved) == created.target_id
    assert target.upsert("contact", moved, target_id=None).action == "updated"
    (contact,) = SandboxZohoDocument.objects.filter(org=sandbox_org, kind="contact")
    assert contact.data["company_name"] == "Navy" and contact.email == "grace@example.com"


def test_two_customers_with_one_name_get_two_contacts(target, sandbox_org):
    target.upsert("contact", Customer(key="a@x.com", email="a@x.com", name="Sam Lee"), target_id=None)
    target.upsert("contact", Customer(key="b@x.com", email="b@x.com", name="Sam Lee"), target_id=None)
    names = sorted(SandboxZohoDocument.objects.filter(org=sandbox_org, kind="contact").values_list("name", flat=True))
    assert names == ["Sam Lee", "Sam Lee (b@x.com)"]


def test_unsupported_object_types_are_permanent(target):
    with pytest.raises(Permanent):
        target.upsert("stock_level", object(), target_id=None)


def test_an_item_created_by_a_racing_worker_is_taken_not_a_review(target, sandbox_org, monkeypatch):
    """Two workers syncing orders with the same new SKU: the loser's create is refused as a
    duplicate; it must pick up the winner's item (same SKU), not send the order to review."""
    real_create = target.client.create_item

    def create_after_a_rival(payload):
        real_create(dict(payload))  # the other worker got there first
        return real_create(payload)

    monkeypatch.setattr(target.client, "create_item", create_after_a_rival)
    order = fixture_order()
    target.upsert("invoice", order, target_id=None)  # no NeedsReview
    items = {d.object_id: d.data.get("sku") for d in SandboxZohoDocument.objects.filter(org=sandbox_org, kind="item")}
    assert len(items) == len({line.sku for line in order.lines})  # one item per SKU, the rival's
    lines = invoices(sandbox_org, "1001")[0].data["line_items"]
    assert [items[line["item_id"]] for line in lines] == [line.sku for line in order.lines]
