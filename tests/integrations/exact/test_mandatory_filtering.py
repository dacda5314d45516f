"""Exact Online's mandatory filtering, `$select` rule and per-endpoint error block, in the sandbox
and in every read the client makes (EXACT.md §3.1, §5.3, §5.4)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests

from connector.redis import get_redis
from integrations.exact.client import ERROR_BLOCK_SECONDS, EndpointBlocked, ExactClient
from integrations.exact.sandbox import faults, state

pytestmark = pytest.mark.django_db(transaction=True)


def raw_get(connection, company, path: str, **params) -> requests.Response:
    """A read straight at the sandbox, as a careless client would make it."""
    base = f"{connection.settings['base_url']}/api/v1/{company.code}/"
    token = connection.credentials["access_token"]
    return requests.get(
        base + path,
        params=params,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=5,
    )


def message(response: requests.Response) -> str:
    return response.json()["error"]["message"]["value"]


def error_count(company, endpoint: str) -> int:
    return get_redis().zcard(f"sandbox:exact:{company.code}:errors:{endpoint}")


def test_unfiltered_reads_of_entities_with_a_sync_api_are_refused(exact_connection, company):
    for path in ("project/Projects", "logistics/Items", "financial/GLAccounts", "crm/Accounts"):
        refused = raw_get(exact_connection, company, path, **{"$select": "ID,Code"})
        assert refused.status_code == 400 and message(refused) == "A required filter is missing.", path
    filtered = raw_get(exact_connection, company, "project/Projects", **{"$select": "ID", "$filter": "Code eq 'P-WEB'"})
    assert filtered.status_code == 200 and len(filtered.json()["d"]["results"]) == 1
    # hrm/Costcenters has no sync API: no filter needed, but a $select is.
    assert raw_get(exact_connection, company, "hrm/Costcenters", **{"$select": "ID,Code"}).status_code == 200


def test_a_collection_read_names_its_fields_or_asks_for_one_row(exact_connection, company):
    refused = raw_get(exact_connection, company, "hrm/Costcenters")
    assert refused.status_code == 400
    assert message(refused) == "Please add a $select or a $top=1 statement to the query string."
    assert raw_get(exact_connection, company, "hrm/Costcenters", **{"$top": "1"}).status_code == 200
    # The sync API takes no $top=1 instead: $select is mandatory there.
    sync = raw_get(exact_connection, company, "sync/Project/Projects", **{"$filter": "Timestamp gt 1", "$top": "1"})
    assert sync.status_code == 400 and "$select" in message(sync)


def test_sync_reads_come_in_timestamp_order_with_the_timestamp(exact_connection, company):
    for n in range(3):
        state.put(company, "Projects", {"Code": f"P-{n}", "Description": f"Project {n}", "Type": 4})
    answer = raw_get(
        exact_connection,
        company,
        "sync/Project/Projects",
        **{"$select": "Timestamp,ID,Code", "$filter": "Timestamp gt 1"},
    )
    rows = answer.json()["d"]["results"]
    stamps = [row["Timestamp"] for row in rows]
    assert answer.status_code == 200 and len(rows) == 4 and stamps == sorted(stamps)
    newer = raw_get(
        exact_connection,
        company,
        "sync/Project/Projects",
        **{"$select": "Timestamp,Code", "$filter": f"Timestamp gt {stamps[1]}"},
    )
    assert [row["Code"] for row in newer.json()["d"]["results"]] == ["P-1", "P-2"]


def test_every_client_read_passes_the_strict_sandbox(exact_connection, company):
    """projects() read project/Projects unfiltered: Exact answers 400 and counts it toward the block."""
    state.put(company, "GLAccounts", {"Code": "9999", "Description": "Old", "Type": 110, "IsBlocked": True})
    client = ExactClient(exact_connection)
    projects = client.projects()
    assert [p["Code"] for p in projects] == ["P-WEB"]
    assert {g["Code"] for g in client.gl_accounts()}.isdisjoint({"9999"})
    assert client.items()[0]["Code"] == "MUG-01"
    assert client.cost_centers() and client.journals() and client.divisions()
    order = state.find(company, "SalesOrders", OrderNumber=1)
    since = datetime(2000, 1, 1, tzinfo=UTC)
    assert list(client.sales_orders_modified_since(since))
    assert client.sales_order(order["OrderID"]) and client.sales_order_lines(order["OrderID"])
    assert client.sales_order_lines_to_deliver(order["OrderID"])
    assert client.account(order["OrderedBy"]) and client.address(order["DeliveryAddress"])
    assert client.goods_deliveries_with_reference("SO 1") == []
    assert client.journal_entries_with_reference("SO 1") == []
    assert client.webhook_subscriptions() == []
    assert get_redis().keys(f"sandbox:exact:{company.code}:errors:*") == []


def test_ten_errors_in_an_hour_block_the_endpoint_and_only_that_endpoint(exact_connection, company):
    for _ in range(faults.ERROR_LIMIT):
        assert raw_get(exact_connection, company, "project/Projects", **{"$select": "ID"}).status_code == 400
    assert error_count(company, "project/Projects") == faults.ERROR_LIMIT
    blocked = raw_get(exact_connection, company, "project/Projects", **{"$select": "ID", "$filter": "Code eq 'x'"})
    assert blocked.status_code == 429 and message(blocked).startswith("API rate limit exceeded")
    assert "X-RateLimit-Minutely-Reset" not in blocked.headers and "X-RateLimit-Reset" not in blocked.headers
    other = raw_get(exact_connection, company, "hrm/Costcenters", **{"$select": "ID"})
    assert other.status_code == 200

    client = ExactClient(exact_connection)
    client.max_inline_retry_after = 0
    with pytest.raises(EndpointBlocked) as caught:
        client.list("project/Projects", select="ID", filter="Code eq 'P-WEB'")
    assert caught.value.retry_after >= ERROR_BLOCK_SECONDS and client.calls == 1
    # Not a rate limit: the company's shared minutely bucket stays open for its other endpoints.
    bucket = get_redis().hget(f"rl:exact:nl:{company.code}:min", "blocked")
    assert bucket is None or float(bucket) <= time.time()
    assert client.cost_centers()


def test_successes_and_server_errors_do_not_count(exact_connection, company, exact_base):
    client = ExactClient(exact_connection)
    client.projects()
    requests.post(
        f"{exact_base}/sandbox/exact/_control/faults", json={"division": company.code, "error_rate": 1.0}, timeout=5
    )
    raw_get(exact_connection, company, "hrm/Costcenters", **{"$select": "ID"})
    assert get_redis().keys(f"sandbox:exact:{company.code}:errors:*") == []
