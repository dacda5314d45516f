"""Adapters against the sandbox: sales orders out; shipment costs posted once, balanced, reversed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from connector.canonical import OrderStatus, Shipment
from connector.http import NeedsReview, Permanent
from integrations.exact.adapter import ExactSource, ExactTarget
from integrations.exact.sandbox import state
from integrations.exact.sandbox.models import SandboxExactEntity

pytestmark = pytest.mark.django_db(transaction=True)


def options(company, **extra):
    gl = {row.data["Code"]: row.guid for row in company.entities.filter(entity="GLAccounts")}
    project = company.entities.get(entity="Projects").guid
    return {
        "exact_expense_gl_account": gl["4600"],
        "exact_offset_gl_account": gl["1600"],
        "exact_journal_code": "90",
        "exact_project_cost_centers": {project: "CC100"},
        **extra,
    }


def shipment(company, number=1, cost="9.99"):
    so = state.find(company, "SalesOrders", OrderNumber=number)
    return Shipment(
        source_id="555",
        order_id="1",
        order_number=str(number),
        ship_date=date(2024, 5, 2),
        carrier="ups",
        tracking_number="1Z1",
        shipping_cost=Decimal(cost),
        order_key=so["OrderID"],
    )


def test_source_lists_sales_orders_modified_since(exact_connection, company):
    source = ExactSource(exact_connection)
    now = datetime.now(UTC)
    changes = list(source.changes_since("order", now - timedelta(hours=1), now + timedelta(minutes=1)))
    assert sorted(c.ref for c in changes) == ["1", "2"]
    order = next(c.obj for c in changes if c.ref == "1")
    assert order.status == OrderStatus.OPEN and order.ship_to.street1 == "Damrak 70"
    assert [line.quantity for line in order.lines] == [Decimal("2"), Decimal("1")]
    assert not list(source.changes_since("order", now + timedelta(minutes=5), now + timedelta(minutes=6)))
    assert source.fetch("order", order.source_id).number == "1"


def test_cost_posting_is_balanced_found_and_reversed(exact_connection, company):
    target = ExactTarget(exact_connection, options=options(company))
    ship = shipment(company)
    assert target.find("cost_posting", ship) is None
    result = target.upsert("cost_posting", ship, target_id=None)
    assert result.action == "created"
    lines = [r.data for r in SandboxExactEntity.objects.filter(division=company, entity="GeneralJournalEntryLines")]
    assert sum(Decimal(str(line["AmountFC"])) for line in lines) == 0
    debits = [Decimal(str(line["AmountFC"])) for line in lines if line["AmountFC"] > 0]
    assert debits == [Decimal("6.66"), Decimal("3.33")] and all(line.get("CostCenter") == "CC100" for line in lines[:2])
    assert target.find("cost_posting", ship) == result.target_id
    reversed_ = target.cancel("cost_posting", ship, target_id=result.target_id)
    assert reversed_.action == "reversed" and reversed_.target_id != result.target_id
    assert target.cancel("cost_posting", ship, target_id=result.target_id).target_id == reversed_.target_id  # once
    assert SandboxExactEntity.objects.filter(division=company, entity="GeneralJournalEntries").count() == 2
    assert target.find("cost_posting", ship) == result.target_id


def test_cancel_without_a_target_id_reverses_only_a_posted_cost(exact_connection, company):
    """A void of a cost never posted is a no-op (a reversal would credit money never spent); one posted
    whose Link was lost (a crash after Exact's answer) is found by its tag and reversed."""
    target = ExactTarget(exact_connection, options=options(company))
    ship = shipment(company)
    entries = SandboxExactEntity.objects.filter(division=company, entity="GeneralJournalEntries")
    assert target.cancel("cost_posting", ship, target_id="").action == "skipped"
    assert entries.count() == 0
    posted = target.upsert("cost_posting", ship, target_id=None)
    reversed_ = target.cancel("cost_posting", ship, target_id="")
    assert reversed_.action == "reversed" and reversed_.data["reverses"] == posted.target_id
    assert entries.count() == 2


def test_unknown_gl_account_fails_visibly_and_posts_nothing(exact_connection, company):
    target = ExactTarget(
        exact_connection, options=options(company, exact_expense_gl_account="00000000-0000-4000-8000-000000000000")
    )
    with pytest.raises(Permanent) as caught:
        target.upsert("cost_posting", shipment(company), target_id=None)
    assert "GL account not found" in caught.value.message
    assert not SandboxExactEntity.objects.filter(division=company, entity="GeneralJournalEntries").exists()


def test_unmapped_project_needs_review(exact_connection, company):
    target = ExactTarget(exact_connection, options=options(company, exact_project_cost_centers={}))
    with pytest.raises(NeedsReview):
        target.upsert("cost_posting", shipment(company), target_id=None)


def test_choices_list_gl_accounts_cost_centres_projects(exact_connection, company):
    target = ExactTarget(exact_connection)
    assert any(label.startswith("4600") for _, label in target.choices("gl_account"))
    assert [code for code, _ in target.choices("cost_center")] == ["CC100", "CC200"]
    assert target.choices("journal")[0][0] == "90"
    assert len(target.choices("project")) == 1


def test_sandbox_provisioning_connects_the_organisations_own_company(alice, exact_base):
    from connector.models import Connection
    from connector.registry import sandbox_of
    from integrations.exact.sandbox.models import SandboxExactToken

    facts = sandbox_of("exact").provision(alice.org, alice)
    connection = Connection.objects.get(organization=alice.org, system="exact")
    assert facts["sales_orders"] == 2 and facts["division"] == connection.settings["division"]
    token = SandboxExactToken.objects.get(token=connection.credentials["access_token"])  # a live sandbox token
    assert token.user.current_division == facts["division"] and token.user.organization == alice.org
    assert connection.credentials["access_token"] not in str(facts)
    again = sandbox_of("exact").provision(alice.org, alice)  # idempotent: same company and connection
    assert again["division"] == facts["division"] and again["connection_id"] == connection.pk


def test_tracking_goes_to_the_chosen_order_field_once(exact_connection, company):
    """EXACT.md §6.10: sales orders have no tracking field; the flow picks Remarks/Description/YourRef."""
    target = ExactTarget(exact_connection, options=options(company))
    ship = shipment(company)
    result = target.upsert("cost_posting", ship, target_id=None)
    so = state.find(company, "SalesOrders", OrderNumber=1)
    assert so["Remarks"] == "Tracking: ups 1Z1" and result.data["tracking_written"] is True
    again = target.upsert("cost_posting", ship, target_id=result.target_id)  # a retry after a crash
    assert again.action == "unchanged" and "tracking_written" not in again.data
    assert state.find(company, "SalesOrders", OrderNumber=1)["Remarks"] == "Tracking: ups 1Z1"

    other = ExactTarget(exact_connection, options=options(company, exact_tracking_field="YourRef"))
    other.upsert("cost_posting", shipment(company, number=2), target_id=None)
    assert state.find(company, "SalesOrders", OrderNumber=2)["YourRef"] == "WEB-2 1Z1"  # appended, kept


def test_closed_order_keeps_its_fields_and_the_sandbox_refuses_bad_puts(exact_connection, company):
    from integrations.exact.client import ExactClient

    so = state.find(company, "SalesOrders", OrderNumber=1)
    state.put(company, "SalesOrders", {**so, "Status": 21}, guid=so["OrderID"])
    result = ExactTarget(exact_connection, options=options(company)).upsert(
        "cost_posting", shipment(company), target_id=None
    )
    assert "closed" in result.data["tracking"] and state.find(company, "SalesOrders", OrderNumber=1)["Remarks"] == ""
    client = ExactClient(exact_connection)
    open_so = state.find(company, "SalesOrders", OrderNumber=2)
    for body, message in (
        ({"OrderedBy": "00000000-0000-4000-8000-000000000000"}, "cannot be changed"),
        ({"TrackingNumber": "1Z"}, "does not exist"),
        ({"Remarks": 5}, "text value"),
    ):
        with pytest.raises(Permanent) as caught:
            client.update_sales_order(open_so["OrderID"], body)
        assert message in caught.value.message
    with pytest.raises(Permanent):
        client.update_sales_order(so["OrderID"], {"Remarks": "x"})  # closed
    assert state.find(company, "SalesOrders", OrderNumber=2)["Remarks"] == ""


def test_projects_are_mapped_by_code_and_unknown_codes_need_review(exact_connection, company):
    target = ExactTarget(exact_connection, options=options(company, exact_project_cost_centers={"P-WEB": "CC200"}))
    target.upsert("cost_posting", shipment(company), target_id=None)
    lines = [r.data for r in SandboxExactEntity.objects.filter(division=company, entity="GeneralJournalEntryLines")]
    assert [line.get("CostCenter") for line in lines] == ["CC200", "CC200", None]
    wrong = ExactTarget(exact_connection, options=options(company, exact_project_cost_centers={"P-NOPE": "CC200"}))
    with pytest.raises(NeedsReview) as caught:
        wrong.upsert("cost_posting", shipment(company, number=2), target_id=None)
    assert "P-NOPE" in caught.value.message
