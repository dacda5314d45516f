"""The API's record list (/api/v1/records/) pages one organisation's records by id, newest first
(connector/web/api/views.py `KeysetPagination`): on PostgreSQL every page is a range of
`record_org_id_idx`, in list order, however many records the tenant or the table holds."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connector.models import Record
from tests.conftest import make_flow, make_record
from tests.connector.test_audit_scale import analyze, plan_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenants(alice, bob):
    """A tenant among bigger ones (its records a few percent of the table, interleaved with theirs,
    as on a shared database), and fresh statistics. A newest-id walk of the whole table that skips
    other tenants' rows would cost the planner more than the tenant's own index there."""
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's query plans")
    flows = {org.pk: make_flow(org) for org in (alice.org, bob.org)}
    for round_ in range(4):
        Record.objects.bulk_create(
            Record(organization=bob.org, flow=flows[bob.org.pk], object_type="order", source_id=f"{round_}-{i}")
            for i in range(1000)
        )
        for i in range(30):
            make_record(flows[alice.org.pk], f"{round_}-{i}", search_text=f"buyer{i}@shop.example")
    analyze()


def api_list_query(client, params: dict) -> tuple[str, dict]:
    """The SQL of the API's record page (the one statement ordering records by id)."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/records/", params)
        assert response.status_code == 200, response.content
    pages = [q["sql"] for q in captured.captured_queries if "connector_record" in q["sql"] and "ORDER BY" in q["sql"]]
    assert len(pages) == 1, pages
    assert '"connector_record"."id" DESC' in pages[0], pages[0]
    return pages[0], response.json()


def test_each_api_page_is_a_range_of_the_tenants_id_index(alice_client, alice, tenants):
    sql, first = api_list_query(alice_client, {})
    plan = plan_of(sql)
    assert "record_org_id_idx" in plan and "Sort" not in plan, plan
    mine = list(Record.objects.for_org(alice.org).order_by("-id").values_list("id", flat=True))
    assert [r["id"] for r in first["results"]] == mine[:50]
    cursor = first["next"].split("cursor=")[1]
    sql, second = api_list_query(alice_client, {"cursor": cursor})
    plan = plan_of(sql)
    condition = next(line for line in plan.splitlines() if "Index Cond" in line)
    # Starts at the cursor inside the tenant's range rather than walking it from the newest row.
    assert "record_org_id_idx" in plan and "organization_id" in condition and "id <" in condition, plan
    assert [r["id"] for r in second["results"]] == mine[50:100]
