"""The Exact sandbox's writes refuse what Exact refuses, each with Exact's error body and words, and
write nothing when they refuse: general journal entries, goods deliveries, sales-order edits and
deletes, and the routing around them."""

from __future__ import annotations

import pytest
import requests

from connector.redis import get_redis
from integrations.exact.sandbox import state
from integrations.exact.sandbox.models import SandboxExactEntity

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def call(exact_connection, company):
    """One call to the company's API: (status, Exact's error message or the body). The error counter
    is reset first, so the ten-errors-an-hour block never hides the answer under test."""
    headers = {"Authorization": f"Bearer {exact_connection.credentials['access_token']}"}

    def send(method: str, path: str, body=None, raw: bytes | None = None):
        for key in get_redis().scan_iter(f"sandbox:exact:{company.code}:errors:*"):
            get_redis().delete(key)
        url = f"{state.host('nl')}/api/v1/{company.code}/{path}"
        answer = requests.request(method, url, json=body, data=raw, headers=headers, timeout=10)
        if answer.status_code == 204:
            return 204, None
        data = answer.json()
        if answer.status_code >= 400:
            return answer.status_code, data["error"]["message"]["value"]
        return answer.status_code, data["d"]

    return send


def _gl(company, code: str) -> str:
    return state.find(company, "GLAccounts", Code=code)["ID"]


def _entries(company) -> int:
    return SandboxExactEntity.objects.filter(division=company, entity__startswith="GeneralJournalEntr").count()


def test_journal_entries_are_balanced_lines_on_known_accounts(call, company):
    expense, offset = _gl(company, "4600"), _gl(company, "1600")
    project = state.find(company, "Projects", Code="P-WEB")["ID"]

    def line(**extra):
        return {"GLAccount": expense, "AmountFC": 10.5, **extra}

    def entry(*lines, code="90"):
        return {"JournalCode": code, "GeneralJournalEntryLines": list(lines)}

    path = "generaljournalentry/GeneralJournalEntries"
    refusals = [
        (None, b"{nope", "Invalid JSON in request body"),
        ([1], None, "Request body must be an object"),
        ({"GeneralJournalEntryLines": [line()]}, None, "Mandatory: JournalCode"),
        (entry(line(), code="70"), None, "Journal 70 is not a general journal"),
        (entry(), None, "Mandatory: GeneralJournalEntryLines"),
        (entry("x"), None, "Line 1: not an object"),
        (entry(line(), line(GLAccount=state.new_guid())), None, "Line 2: GL account not found: "),
        (entry(line(CostCenter="CC999")), None, "Line 1: Cost center not found: CC999"),
        (entry(line(Project=state.new_guid())), None, "Line 1: Project not found"),
        (entry(line(AmountFC="ten")), None, "Line 1: AmountFC is not a number"),
        (entry(line(AmountFC=1.005)), None, "Line 1: AmountFC has more than 2 decimals"),
        (entry(line(AmountFC="Infinity")), None, "Line 1: AmountFC has more than 2 decimals"),
        (entry(line(), line(GLAccount=offset, AmountFC=-10.49)), None, "The entry is not balanced: difference 0.01"),
    ]
    for body, raw, message in refusals:
        status, said = call("POST", path, body, raw)
        assert status == 400 and said.startswith(message), (body, said)
    assert _entries(company) == 0

    status, created = call(
        "POST", path, entry(line(CostCenter="CC100", Project=project), line(GLAccount=offset, AmountFC=-10.5))
    )
    assert status == 201 and created["EntryNumber"] == 90001 and created["Status"] == 20
    assert created["Currency"] == company.currency and created["Reversal"] is False
    assert [x["LineNumber"] for x in created["GeneralJournalEntryLines"]["results"]] == [1, 2]


def _order_line_ids(company, number: int) -> list[str]:
    order_id = state.find(company, "SalesOrders", OrderNumber=number)["OrderID"]
    rows = SandboxExactEntity.objects.filter(division=company, entity="SalesOrderLines").order_by("id")
    return [r.data["ID"] for r in rows if r.data["OrderID"] == order_id]


def test_goods_deliveries_refuse_what_cannot_ship(call, company):
    first, second = _order_line_ids(company, 1)
    (other,) = _order_line_ids(company, 2)
    path = "salesorder/GoodsDeliveries"

    def ship(*pairs, **extra):
        return {"GoodsDeliveryLines": [{"SalesOrderLineID": i, "QuantityDelivered": q} for i, q in pairs], **extra}

    refusals = [
        (ship((first, 1), Bogus=1), "Bogus: property does not exist or cannot be set"),
        ({"Description": "x"}, "Mandatory: GoodsDeliveryLines"),
        ({"GoodsDeliveryLines": ["x"]}, "Line 1: not an object"),
        (ship((first, 1), (state.new_guid(), 1)), "Line 2: Sales order line not found"),
        (ship((first, "two")), "Line 1: QuantityDelivered is not a number"),
        (ship((first, 0)), "Line 1: QuantityDelivered must be more than 0"),
        (ship((first, 2), (first, 1)), "Line 2: the quantity delivered exceeds the quantity still to deliver"),
    ]
    for body, message in refusals:
        assert call("POST", path, body) == (400, message)
    order_two = SandboxExactEntity.objects.get(division=company, entity="SalesOrders", data__OrderNumber=2)
    order_two.data = {**order_two.data, "DeliverTo": state.new_guid()}
    order_two.save()
    assert call("POST", path, ship((first, 1), (other, 1))) == (
        400,
        "All lines of a goods delivery must be for the same delivery account",
    )
    order_two.data = {**order_two.data, "Status": 45}
    order_two.save()
    assert call("POST", path, ship((other, 1))) == (400, "Sales order 2 is cancelled")
    assert not SandboxExactEntity.objects.filter(division=company, entity__startswith="GoodsDeliver").exists()

    status, delivery = call("POST", path, ship((first, 2), (second, 1), TrackingNumber="1Z9", Description="d" * 70))
    assert status == 201 and delivery["DeliveryNumber"] == 1 and delivery["Description"] == "d" * 60
    assert [x["QuantityDelivered"] for x in delivery["GoodsDeliveryLines"]["results"]] == [2.0, 1.0]
    assert state.find(company, "SalesOrders", OrderNumber=1)["DeliveryStatus"] == 21


def test_sales_orders_are_edited_and_deleted_by_key_only(call, company):
    order = state.find(company, "SalesOrders", OrderNumber=2)
    by_key = f"salesorder/SalesOrders(guid'{order['OrderID']}')"
    assert call("PUT", by_key, raw=b"[") == (400, "Invalid JSON in request body")
    assert call("PUT", by_key, {}) == (400, "Request body must be a non-empty object")
    assert call("PUT", by_key, {"OrderNumber": 99}) == (400, "OrderNumber: this field cannot be changed")
    assert call("PUT", by_key, {"Remarks": "Ring twice"}) == (204, None)
    assert state.find(company, "SalesOrders", OrderNumber=2)["Remarks"] == "Ring twice"
    assert call("PUT", "salesorder/SalesOrders", {"Remarks": "x"}) == (405, "Method not allowed")
    assert call("POST", by_key, {"Remarks": "x"}) == (405, "Method not allowed")
    assert call("DELETE", f"salesorder/SalesOrders(guid'{state.new_guid()}')") == (404, "Not found")
    assert call("DELETE", by_key) == (204, None)
    assert state.find(company, "SalesOrders", OrderNumber=2) is None


def test_routing_of_unknown_paths_sync_writes_and_divisions(call, company):
    assert call("GET", "nothing/Here") == (404, "Resource not found: nothing/Here")
    assert call("POST", "sync/CRM/Accounts", {}) == (405, "Method not allowed")
    status, divisions = call("GET", "system/Divisions?$select=Code")
    assert status == 200 and [d["Code"] for d in divisions["results"]] == [company.code]
    status, row = call("GET", f"crm/Accounts(guid'{state.find(company, 'Accounts', Name='De Vries BV')['ID']}')")
    assert status == 200 and row["Name"] == "De Vries BV"
