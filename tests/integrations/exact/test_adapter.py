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


def test_demo_setup_connects_a_sandbox_company(alice, exact_base):
    from connector.models import Connection
    from integrations.exact.client import ExactClient
    from integrations.exact.demo import demo_setup

    facts = demo_setup(alice.org, alice)
    connection = Connection.objects.get(organization=alice.org, system="exact")
    assert facts["sales_orders"] == 2 and facts["division"] == connection.settings["division"]
    assert ExactClient(connection).me()["CurrentDivision"] == facts["division"]
    assert connection.credentials["access_token"] not in str(facts)
