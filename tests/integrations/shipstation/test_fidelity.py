"""Fidelity: the client's requests and the sandbox's responses checked against V1-OAS.

Requests go through openapi-core against the (in-memory cleaned) V1 description. Its response
schemas are empty, so responses are checked with jsonschema against shapes derived from the
vendor's own examples: every key ShipStation shows must be there, with the same JSON type.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import jsonschema
import pytest
import requests
from openapi_core.contrib.requests import RequestsOpenAPIRequest

from integrations.shipstation import mapping
from integrations.shipstation.sandbox.models import SandboxOrder

from . import openapi_v1
from .conftest import fixture, order_body


def _as_vendor(prepared: requests.PreparedRequest) -> requests.PreparedRequest:
    parts = urlsplit(prepared.url)
    path = parts.path.split("/sandbox/shipstation", 1)[-1]
    vendor = prepared.copy()
    vendor.url = urlunsplit(("https", "ssapi.shipstation.com", path, parts.query, ""))
    return vendor


def test_client_requests_match_the_v1_description(ss, account):
    sent: list[requests.PreparedRequest] = []
    send = ss.session.send

    def spy(prepared, **kwargs):
        sent.append(prepared)
        return send(prepared, **kwargs)

    ss.session.send = spy
    order = mapping.order_from_shipstation({**fixture("order_spec_example.json"), "orderKey": "fid-1"})
    created = ss.create_order(mapping.order_to_shipstation(order))
    ss.create_orders([order_body("F2")])
    list(ss.list_orders(modified_since=datetime.now(UTC) - timedelta(hours=1), modified_until=datetime.now(UTC)))
    for field in ("createDate", "shipDate", "voidDate"):
        list(ss.list_shipments(date_field=field, since=datetime.now(UTC) - timedelta(days=1)))
    list(ss.list_customers())
    ss.get_order(created["orderId"])
    ss.mark_as_shipped(created["orderId"], carrier_code="usps", ship_date="2024-03-02", tracking_number="1Z")
    ss.subscribe_webhook("https://example.com/hooks/x/", "ORDER_NOTIFY", friendly_name="t")
    ss.list_webhooks()
    ss.list_stores()
    api = openapi_v1.openapi()
    assert len(sent) >= 12
    for prepared in sent:
        api.validate_request(RequestsOpenAPIRequest(_as_vendor(prepared)))


def test_openapi_core_really_rejects_wrong_requests():
    api = openapi_v1.openapi()
    bad = requests.Request("GET", "https://ssapi.shipstation.com/orders", params={"sortBy": "Nonsense"}).prepare()
    with pytest.raises(Exception, match="sortBy"):
        api.validate_request(RequestsOpenAPIRequest(bad))


def _check(body, path: str, method: str = "get"):
    jsonschema.validate(body, openapi_v1.shape(openapi_v1.example(path, method)))


def test_sandbox_responses_have_the_shapes_of_shipstations_examples(ss, account):
    created = ss.create_order(order_body("S1", customerNotes="n", internalNotes="i"))
    _check(created, "/orders/createorder", "post")
    _check(ss.get_order(created["orderId"]), "/orders/{orderId}")
    _check(ss.request_json("GET", "orders"), "/orders")
    _check(ss.request_json("POST", "orders/createorders", json=[order_body("S2")]), "/orders/createorders", "post")
    label = ss.request_json(
        "POST",
        "orders/createlabelfororder",
        json={
            "orderId": created["orderId"],
            "carrierCode": "fedex",
            "serviceCode": "fedex_2day",
            "shipDate": "2024-03-02",
        },
    )
    _check(label, "/orders/createlabelfororder", "post")
    _check(ss.request_json("GET", "shipments", params={"includeShipmentItems": "true"}), "/shipments")
    _check(
        ss.request_json("POST", "shipments/voidlabel", json={"shipmentId": label["shipmentId"]}),
        "/shipments/voidlabel",
        "post",
    )
    customers = ss.request_json("GET", "customers")
    _check(customers, "/customers")
    _check(ss.get_customer(customers["customers"][0]["customerId"]), "/customers/{customerId}")
    _check(ss.request_json("GET", "products"), "/products")
    _check({"id": ss.subscribe_webhook("https://example.com/h/", "SHIP_NOTIFY")}, "/webhooks/subscribe", "post")
    _check(ss.request_json("GET", "webhooks"), "/webhooks")
    _check(ss.list_stores(), "/stores")
    _check(ss.list_tags(), "/accounts/listtags")
    other = ss.create_order(order_body("S3"))
    _check(
        ss.mark_as_shipped(other["orderId"], carrier_code="usps", ship_date="2024-03-02"),
        "/orders/markasshipped",
        "post",
    )
    assert SandboxOrder.objects.get(pk=other["orderId"]).status == "shipped"


def test_shape_check_catches_a_friendlier_api():
    example = openapi_v1.example("/orders/{orderId}", "get")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in example.items() if k != "modifyDate"}, openapi_v1.shape(example))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**example, "orderTotal": "194.43"}, openapi_v1.shape(example))
