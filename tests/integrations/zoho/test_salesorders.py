"""Sales-order mode of the Zoho target ("sales_order"), against the sandbox: effects asserted in its state."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import pytest

from connector.adapters import WriteContext
from connector.canonical import LineItem, Order, OrderStatus, from_payload
from connector.http import NeedsReview
from connector.models import Event, Link
from integrations.zoho.adapter import ZohoBooksTarget
from integrations.zoho.salesorders import InvalidSku, MissingContact, NoProducts
from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.models import SandboxZohoDocument
from tests.conftest import make_record

pytestmark = pytest.mark.django_db(transaction=True)
FIXTURES = Path(__file__).parent / "fixtures"


def order(**changes) -> Order:
    base = from_payload(Order, json.loads((FIXTURES / "order_2001_salesorder.json").read_text()))
    return dataclasses.replace(base, **changes)


def sales_orders(org, reference="2001"):
    return list(SandboxZohoDocument.objects.filter(org=org, kind="salesorder", reference_number=reference))


def docs(org, kind):
    return SandboxZohoDocument.objects.filter(org=org, kind=kind)


@pytest.fixture
def target(zoho_connection):
    adapter = ZohoBooksTarget(zoho_connection, options={"document": "sales_order"})
    yield adapter
    if adapter._client is not None:
        adapter._client.session.close()


def test_order_becomes_a_sales_order_to_the_cent(target, sandbox_org):
    result = target.upsert("sales_order", order(), target_id=None)
    assert result.action == "created" and result.data["stage"] == "submitted"
    (so,) = sales_orders(sandbox_org)
    assert so.object_id == result.target_id
    assert Decimal(so.data["total"]) == Decimal("41.81")
    assert so.data["notes"] == "Leave at the door"
    assert [line["description"] for line in so.data["line_items"]] == ["Blue enamel mug, 350 ml", "Cap"]
    assert {d.data["sku"] for d in docs(sandbox_org, "item")} == {"MUG-1", "CAP-9"}  # unknown SKUs created
    contact = docs(sandbox_org, "contact").get()
    assert contact.email == "grace@example.com" and so.data["customer_id"] == contact.object_id
    # Internal notes are a comment on the sales order, never on the customer's document.
    (comment,) = docs(sandbox_org, "so_comment")
    assert "VIP customer" in comment.data["description"] and "VIP" not in so.data["notes"]
    target.upsert("sales_order", order(), target_id=result.target_id)
    assert docs(sandbox_org, "so_comment").count() == 1


def test_item_id_override_skips_the_lookup_and_tax_id_keeps_the_total(target, sandbox_org):
    item = target.client.create_item({"name": "Special mug", "rate": 1})
    tax_id = docs(sandbox_org, "tax").get(name="Sales Tax").object_id
    lines = (
        LineItem(
            sku="MUG-1",
            name="Enamel mug",
            quantity=Decimal("2"),
            unit_price=Decimal("12.50"),
            metadata={"zohobooks_item_id": item["item_id"], "tax_id": tax_id},
        ),
        LineItem(sku="CAP-9", name="Cap", quantity=Decimal("1"), unit_price=Decimal("9.99")),
    )
    result = target.upsert("sales_order", order(lines=lines), target_id=None)
    (so,) = sales_orders(sandbox_org)
    assert so.data["line_items"][0]["item_id"] == item["item_id"]
    assert so.data["line_items"][0]["tax_id"] == tax_id and Decimal(so.data["tax_total"]) == Decimal("2.06")
    assert Decimal(so.data["total"]) == Decimal("41.81") == Decimal(result.data["total"])
    assert not docs(sandbox_org, "item").filter(data__sku="MUG-1").exists()  # no lookup, no create


def test_missing_contact_fails_with_a_remediation_when_creating_is_off(target, sandbox_org):
    target.options["create_contact_if_missing"] = False
    with pytest.raises(MissingContact) as failed:
        target.upsert("sales_order", order(), target_id=None)
    assert (
        "grace@example.com" in failed.value.remediation and "Create a contact in Zoho Books" in failed.value.remediation
    )
    assert not sales_orders(sandbox_org) and not docs(sandbox_org, "contact").exists()
    target.client.create_contact(
        {"contact_name": "G. Hopper", "contact_persons": [{"email": "grace@example.com", "is_primary_contact": True}]}
    )
    assert target.upsert("sales_order", order(), target_id=None).action == "created"
    assert docs(sandbox_org, "contact").count() == 1


def test_unknown_sku_fails_when_creating_items_is_off(target, sandbox_org):
    target.options["create_missing_items"] = False
    target.client.create_item({"name": "Enamel mug", "rate": 12.5, "sku": "MUG-1"})
    with pytest.raises(InvalidSku) as failed:
        target.upsert("sales_order", order(), target_id=None)
    assert failed.value.skus == ["CAP-9"] and "CAP-9" in str(failed.value)
    assert docs(sandbox_org, "item").count() == 1 and not sales_orders(sandbox_org)


def test_an_order_without_products_is_not_submitted(target, sandbox_org):
    empty = order(lines=(LineItem(sku="X", name="X", quantity=Decimal("0"), unit_price=Decimal("1")),))
    with pytest.raises(NoProducts):
        target.upsert("sales_order", empty, target_id=None)
    assert not sales_orders(sandbox_org)


def test_updated_until_fulfilled_then_left_alone(target, sandbox_org):
    created = target.upsert("sales_order", order(), target_id=None)
    edited = order(shipping=Decimal("6.95"), total=Decimal("43.81"))
    assert target.upsert("sales_order", edited, target_id=created.target_id).action == "updated"
    assert Decimal(sales_orders(sandbox_org)[0].data["total"]) == Decimal("43.81")
    state.set_sales_order(sandbox_org, created.target_id, status="fulfilled")
    later = target.upsert("sales_order", order(shipping=Decimal("9.95"), total=Decimal("46.81")), target_id=None)
    assert later.action == "unchanged" and "fulfilled" in later.data["reason"]
    assert Decimal(sales_orders(sandbox_org)[0].data["total"]) == Decimal("43.81")


def test_lost_link_is_healed_by_reference_number(target, sandbox_org, zoho_connection):
    created = target.upsert("sales_order", order(), target_id=None)
    Link.objects.filter(connection=zoho_connection, object_type="sales_order").delete()
    assert target.find("sales_order", order()) == created.target_id
    assert target.upsert("sales_order", order(), target_id=None).target_id == created.target_id
    assert len(sales_orders(sandbox_org)) == 1


def test_cancel_voids_and_a_void_in_zoho_is_canceled_in_zoho(target, sandbox_org):
    created = target.upsert("sales_order", order(), target_id=None)
    voided = target.cancel("sales_order", order(status=OrderStatus.CANCELLED), target_id=created.target_id)
    assert voided.action == "voided" and sales_orders(sandbox_org)[0].data["status"] == "void"
    assert (
        target.upsert("sales_order", order(status=OrderStatus.CANCELLED), target_id=created.target_id).action
        == "voided"
    )
    # Voided in Zoho by a person: the next store edit is not sent, and says why.
    other = target.upsert("sales_order", order(number="2002"), target_id=None)
    state.set_sales_order(sandbox_org, other.target_id, status="void")
    result = target.upsert("sales_order", order(number="2002", notes="changed"), target_id=other.target_id)
    assert (
        result.action == "skipped" and result.data["canceled_in_zoho"] and "Canceled in Zoho" in result.data["reason"]
    )
    assert sales_orders(sandbox_org, "2002")[0].data["notes"] == "Leave at the door"


def test_before_submit_rules_change_the_order_and_hold(target, sandbox_org, alice):
    from tests.conftest import make_flow

    flow = make_flow(alice.org)
    record = make_record(flow, "2001")
    context = WriteContext(record=record)  # the rules record their events on the engine's record
    target.options["rules"] = [
        {
            "name": "Gift",
            "event": "before_submit",
            "when": [{"field": "sku", "op": "matches", "value": "CAP-*"}],
            "actions": [{"type": "note", "text": "Contains a cap"}],
        },
        {
            "name": "Big",
            "event": "before_submit",
            "when": [{"field": "total", "op": "gt", "value": "100"}],
            "actions": [{"type": "hold"}],
        },
    ]
    target.upsert("sales_order", order(), target_id=None, context=context)
    assert sales_orders(sandbox_org)[0].data["notes"] == "Leave at the door\nContains a cap"
    fired = Event.objects.filter(record=record, data__rule="Gift")
    assert fired.count() == 1 and "before submit" in fired.get().message.lower()
    with pytest.raises(NeedsReview):
        target.upsert(
            "sales_order",
            order(number="2003", total=Decimal("141.81"), shipping=Decimal("104.95")),
            target_id=None,
            context=context,
        )
    assert not sales_orders(sandbox_org, "2003")


def test_strict_sandbox_refuses_unknown_custom_fields_and_keeps_values_on_update(target, sandbox_org):
    fields = state.add_tracking_fields(sandbox_org)
    created = target.upsert("sales_order", order(), target_id=None)
    client = target.client
    with pytest.raises(Exception, match="custom_fields"):
        client.update_sales_order(created.target_id, {"custom_fields": [{"customfield_id": "1", "value": "x"}]})
    client.update_sales_order(
        created.target_id, {"custom_fields": [{"customfield_id": fields[0]["customfield_id"], "value": "1Z9"}]}
    )
    target.upsert("sales_order", order(notes="edited"), target_id=created.target_id)  # body without custom_fields
    (so,) = sales_orders(sandbox_org)
    assert [(f["api_name"], f["value"]) for f in so.data["custom_fields"]] == [("cf_tracking_number", "1Z9")]
    assert so.data["notes"] == "edited"
