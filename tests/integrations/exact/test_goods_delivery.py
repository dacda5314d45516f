"""Goods deliveries for shipped quantities, only when the flow option `exact_create_goods_delivery`
is on (EXACT.md §6.10: a goods delivery moves stock, so it is the merchant's choice)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
import requests

from connector.canonical import LineItem
from connector.http import NeedsReview
from integrations.exact.adapter import ExactTarget
from integrations.exact.mapping import MappingError, goods_delivery_from_shipment
from integrations.exact.sandbox import state
from integrations.exact.sandbox.models import SandboxExactEntity
from tests.integrations.exact.test_adapter import options, shipment

pytestmark = pytest.mark.django_db(transaction=True)


def _mug(quantity) -> LineItem:
    return LineItem(sku="MUG-01", name="Blue mug", quantity=Decimal(quantity), unit_price=Decimal("12.50"))


def _deliveries(company) -> list[dict]:
    return [r.data for r in company.entities.filter(entity="GoodsDeliveries").order_by("id")]


def _order_lines(company, number) -> list[dict]:
    order_id = state.find(company, "SalesOrders", OrderNumber=number)["OrderID"]
    rows = company.entities.filter(entity="SalesOrderLines").order_by("id")
    return sorted((r.data for r in rows if r.data["OrderID"] == order_id), key=lambda d: d["LineNumber"])


def test_no_goods_delivery_unless_the_flow_asks(exact_connection, company):
    result = ExactTarget(exact_connection, options=options(company)).upsert(
        "cost_posting", replace(shipment(company), lines=(_mug(2),)), target_id=None
    )
    assert result.action == "created" and "goods_delivery" not in result.data
    assert _deliveries(company) == []
    assert all("QuantityDelivered" not in line for line in _order_lines(company, 1))


def test_shipped_quantities_become_one_goods_delivery_once(exact_connection, company):
    target = ExactTarget(exact_connection, options=options(company, exact_create_goods_delivery=True))
    first = replace(shipment(company), lines=(_mug(2),))
    result = target.upsert("cost_posting", first, target_id=None)
    assert result.data["goods_delivery_created"] is True
    [delivery] = _deliveries(company)
    assert delivery["TrackingNumber"] == "1Z1" and delivery["Description"].startswith("[SHIP-555]")
    [line] = [r.data for r in company.entities.filter(entity="GoodsDeliveryLines")]
    lines = _order_lines(company, 1)
    assert line["SalesOrderLineID"] == lines[0]["ID"] and line["QuantityDelivered"] == 2
    assert [x.get("QuantityDelivered") for x in lines] == [2, None]
    assert state.find(company, "SalesOrders", OrderNumber=1)["DeliveryStatus"] == 20  # partial

    # A retry after a crash (the entry exists): found by its tag, not delivered again.
    again = target.upsert("cost_posting", first, target_id=result.target_id)
    assert again.data["goods_delivery"] == delivery["DeliveryNumber"] and "goods_delivery_created" not in again.data
    assert len(_deliveries(company)) == 1

    # A second shipment without item lines ships what is still open: line 2's one mug.
    rest = replace(shipment(company), source_id="556", tracking_number="1Z2")
    target.upsert("cost_posting", rest, target_id=None)
    assert len(_deliveries(company)) == 2
    assert [x["QuantityDelivered"] for x in _order_lines(company, 1)] == [2, 1]
    assert state.find(company, "SalesOrders", OrderNumber=1)["DeliveryStatus"] == 21  # complete


def test_more_than_is_open_needs_review_and_delivers_nothing(exact_connection, company):
    target = ExactTarget(exact_connection, options=options(company, exact_create_goods_delivery=True))
    with pytest.raises(NeedsReview, match="ships 2 more of MUG-01"):
        target.upsert("cost_posting", replace(shipment(company), lines=(_mug(5),)), target_id=None)
    assert _deliveries(company) == []
    assert all("QuantityDelivered" not in line for line in _order_lines(company, 1))


def test_the_sandbox_refuses_what_exact_refuses(exact_connection, company):
    lines = _order_lines(company, 1)
    url = f"{state.host('nl')}/api/v1/{company.code}/salesorder/GoodsDeliveries"
    headers = {"Authorization": f"Bearer {exact_connection.credentials['access_token']}"}

    def post(body):
        answer = requests.post(url, json=body, headers=headers, timeout=10)
        return answer.status_code, answer.json().get("error", {}).get("message", {}).get("value", "")

    assert post({"GoodsDeliveryLines": []}) == (400, "Mandatory: GoodsDeliveryLines")
    too_many = {"GoodsDeliveryLines": [{"SalesOrderLineID": lines[0]["ID"], "QuantityDelivered": 3}]}
    assert post(too_many)[0] == 400 and "exceeds" in post(too_many)[1]
    unknown = {"GoodsDeliveryLines": [{"SalesOrderLineID": state.new_guid(), "QuantityDelivered": 1}]}
    assert post(unknown) == (400, "Line 1: Sales order line not found")
    extra = {"Bogus": 1, "GoodsDeliveryLines": [{"SalesOrderLineID": lines[0]["ID"], "QuantityDelivered": 1}]}
    assert post(extra)[0] == 400
    assert _deliveries(company) == [] and not SandboxExactEntity.objects.filter(entity="GoodsDeliveryLines").exists()


def test_mapping_splits_a_sku_over_its_open_lines_and_refuses_unknown_skus(company):
    order_lines = [
        {"ID": "b", "LineNumber": 2, "ItemCode": "MUG-01", "Quantity": 3, "QuantityDelivered": 0},
        {"ID": "a", "LineNumber": 1, "ItemCode": "MUG-01", "Quantity": 2, "QuantityDelivered": 1},
        {"ID": "c", "LineNumber": 3, "ItemCode": "CUP-02", "Quantity": 1, "QuantityDelivered": None},
    ]
    ship = replace(shipment(company), lines=(_mug(2), _mug(1)))
    body = goods_delivery_from_shipment(ship, order_lines, "[SHIP-555]")
    assert body["GoodsDeliveryLines"] == [
        {"SalesOrderLineID": "a", "QuantityDelivered": 1.0},
        {"SalesOrderLineID": "b", "QuantityDelivered": 2.0},
    ]
    assert body["TrackingNumber"] == "1Z1" and body["DeliveryDate"] == "2024-05-02T00:00:00"
    everything = goods_delivery_from_shipment(replace(ship, lines=()), order_lines, "[SHIP-555]")
    assert [x["QuantityDelivered"] for x in everything["GoodsDeliveryLines"]] == [1.0, 3.0, 1.0]
    with pytest.raises(MappingError, match="TEA-9"):
        goods_delivery_from_shipment(replace(ship, lines=(replace(_mug(1), sku="TEA-9"),)), order_lines, "t")
    done = [{**row, "QuantityDelivered": row["Quantity"]} for row in order_lines]
    with pytest.raises(MappingError, match="nothing left"):
        goods_delivery_from_shipment(replace(ship, lines=()), done, "t")


def test_flow_form_offers_the_write_back_choices_and_none_writes_no_tracking(exact_connection, company):
    from integrations.exact.forms import ExactShipStationOptionsForm

    base = {k: v for k, v in options(company).items() if k != "exact_project_cost_centers"}
    form = ExactShipStationOptionsForm(
        data={**base, "exact_tracking_field": "none", "exact_create_goods_delivery": "on"}
    )
    assert form.is_valid(), form.errors
    chosen = form.options()
    assert chosen["exact_tracking_field"] == "none" and chosen["exact_create_goods_delivery"] is True
    assert not ExactShipStationOptionsForm(data={**base, "exact_tracking_field": "Bogus"}).is_valid()
    default = ExactShipStationOptionsForm(data=base)
    assert default.is_valid() and default.options()["exact_create_goods_delivery"] is False

    result = ExactTarget(exact_connection, options={**options(company), **chosen}).upsert(
        "cost_posting", shipment(company), target_id=None
    )
    assert "tracking_written" not in result.data and result.data["goods_delivery_created"] is True
    assert state.find(company, "SalesOrders", OrderNumber=1)["Remarks"] == ""
    assert [x["QuantityDelivered"] for x in _order_lines(company, 1)] == [2, 1]


def test_the_exact_shipstation_preset_offers_the_goods_delivery_option():
    from connector.registry import get_preset
    from connector.web.forms import options_form_for

    form = options_form_for(get_preset("exact_shipstation"))
    assert "exact_create_goods_delivery" in form.fields and "exact_tracking_field" in form.fields


def test_each_exact_project_gets_a_cost_centre_picker():
    from connector.registry import get_preset
    from connector.web.forms import options_form_for

    lists = {
        "project": [("P1", "WEB Webshop"), ("P2", "B2B Wholesale")],
        "cost_center": [("CC100", "CC100 Default"), ("CC200", "CC200 Online")],
        "gl_account": [("G1", "4600 Shipping"), ("G2", "1600 Clearing")],
        "journal": [("90", "90 Memoriaal")],
    }
    data = {
        "exact_expense_gl_account": "G1",
        "exact_offset_gl_account": "G2",
        "exact_journal_code": "90",
        "project_cost_center__P1": "CC200",
        "project_cost_center__P2": "",
    }
    form = options_form_for(get_preset("exact_shipstation"), data, target_choices=lambda name: lists.get(name, []))
    assert "project_cost_center__P1" in form.fields and "project_cost_center__P2" in form.fields
    assert form.is_valid(), form.errors
    options = form.options()
    assert options["exact_project_cost_centers"] == {"P1": "CC200"}
    assert not any(k.startswith("project_cost_center__") for k in options)
