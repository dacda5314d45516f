"""V2 inventory updates: `POST /v2/inventory` (updateSKUStockLevels) and `GET /v2/inventory_locations`
(listInventoryLocations), through ShipStationV2Client against the sandbox over real HTTP.

Fidelity: request bodies and responses are validated with openapi-core / jsonschema against
shipstation-v2-openapi.yaml; error bodies against its `error_response_body`.
"""

from __future__ import annotations

import json

import jsonschema
import pytest
import requests
from openapi_core.testing import MockRequest, MockResponse

from connector.http import AuthExpired, Permanent, RateLimited
from integrations.shipstation.client import ShipStationV2Client
from integrations.shipstation.sandbox import v2_views
from integrations.shipstation.sandbox.models import SandboxProduct

from . import openapi_v2


def check_update(body: dict, status: int = 204, content: bytes = b"") -> None:
    """The request body is a valid updateSKUStockLevels body and a 204 is what the file declares."""
    request = MockRequest(
        "https://api.shipstation.com",
        "post",
        "/v2/inventory",
        headers={"API-Key": "key"},
        data=json.dumps(body),
        content_type="application/json",
    )
    openapi_v2.openapi().validate_request(request)
    openapi_v2.openapi().validate_response(request, MockResponse(content, status_code=status))


def locations_schema() -> dict:
    op = openapi_v2.raw_spec()["paths"]["/v2/inventory_locations"]["get"]
    return op["responses"]["200"]["content"]["application/json"]["schema"]


@pytest.fixture
def product(account):
    return SandboxProduct.objects.create(account=account, sku="WIDGET-1", name="Widget", on_hand=50, price="12.50")


def post(root: str, key: str, body) -> requests.Response:
    return requests.post(root + "/v2/inventory", headers={"API-Key": key}, json=body, timeout=10)


def test_adjust_sets_on_hand_and_answers_204(v2, account, product):
    location = v2_views.location_id(account)
    calls, bodies = [], []
    v2.on_call = calls.append
    send = v2.request
    v2.request = lambda method, path, **kw: (bodies.append(kw.get("json")), send(method, path, **kw))[1]
    v2.adjust_inventory("WIDGET-1", location, 38, reason="QuickBooks Desktop")
    product.refresh_from_db()
    assert product.on_hand == 38
    assert [(c.method, c.status) for c in calls] == [("POST", 204)]
    assert bodies == [
        {
            "transaction_type": "adjust",
            "inventory_location_id": location,
            "sku": "WIDGET-1",
            "quantity": 38,
            "reason": "QuickBooks Desktop",
        }
    ]
    check_update(bodies[0])  # what the client sent is a valid updateSKUStockLevels body
    (level,) = v2.list_inventory(sku="WIDGET-1")
    assert level["on_hand"] == 38 and level["available"] == 38 and level["inventory_location_id"] == location
    v2.adjust_inventory("WIDGET-1", location, 0)  # adjust to zero is allowed
    product.refresh_from_db()
    assert product.on_hand == 0


def test_increment_decrement_and_modify(v2, account, product, sandbox_root):
    location = v2_views.location_id(account)
    v2.adjust_inventory("WIDGET-1", location, 5, transaction_type="increment")
    v2.adjust_inventory("WIDGET-1", location, 15, transaction_type="decrement")
    product.refresh_from_db()
    assert product.on_hand == 40
    modify = {
        "transaction_type": "modify",
        "inventory_location_id": location,
        "sku": "WIDGET-1",
        "quantity": 0,
        "new_cost": {"amount": 9.75, "currency": "USD"},
    }
    check_update(modify)
    assert post(sandbox_root, account.v2_api_key, modify).status_code == 204
    product.refresh_from_db()
    assert product.on_hand == 40 and str(product.price) == "9.75"
    too_many = {"transaction_type": "decrement", "inventory_location_id": location, "sku": "WIDGET-1", "quantity": 41}
    response = post(sandbox_root, account.v2_api_key, too_many)
    assert response.status_code == 400
    openapi_v2.validate_error_body(response.json())
    assert response.json()["errors"][0]["error_type"] == "business_rules"
    product.refresh_from_db()
    assert product.on_hand == 40  # nothing taken


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"transaction_type": None}, "field_value_required"),
        ({"sku": ""}, "field_value_required"),
        ({"quantity": None}, "field_value_required"),
        ({"inventory_location_id": None}, "field_value_required"),
        ({"transaction_type": "set"}, "invalid_field_value"),
        ({"quantity": 1.5}, "invalid_field_value"),
        ({"quantity": "3"}, "invalid_field_value"),
        ({"quantity": True}, "invalid_field_value"),
        ({"quantity": -1}, "invalid_field_value"),
        ({"condition": "broken"}, "invalid_field_value"),
        ({"warehouse": "x"}, "invalid_field_value"),
        ({"sku": "NOPE-9"}, "invalid_identifier"),
        ({"inventory_location_id": "se-999999"}, "invalid_identifier"),
    ],
)
def test_bad_updates_are_400_with_a_v2_error_body(sandbox_root, account, product, change, code):
    body = {"transaction_type": "adjust", "inventory_location_id": v2_views.location_id(account), "sku": "WIDGET-1"}
    body["quantity"] = 7
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = post(sandbox_root, account.v2_api_key, body)
    assert response.status_code == 400
    openapi_v2.validate_error_body(response.json())
    assert response.json()["errors"][0]["error_code"] == code
    product.refresh_from_db()
    assert product.on_hand == 50


def test_empty_or_non_json_bodies_are_refused(sandbox_root, account, product):
    for data in (b"", b"{not json", b"[1, 2]"):
        response = requests.post(
            sandbox_root + "/v2/inventory",
            headers={"API-Key": account.v2_api_key, "Content-Type": "application/json"},
            data=data,
            timeout=10,
        )
        assert response.status_code == 400
        openapi_v2.validate_error_body(response.json())


def test_client_errors_are_typed(v2, account, product, sandbox_root):
    with pytest.raises(Permanent, match="SKU 'NOPE-9' was not found"):
        v2.adjust_inventory("NOPE-9", v2_views.location_id(account), 1)
    with pytest.raises(ValueError):
        v2.adjust_inventory("WIDGET-1", v2_views.location_id(account), -3)
    with pytest.raises(ValueError):
        v2.adjust_inventory("WIDGET-1", v2_views.location_id(account), 2, transaction_type="modify")
    stranger = ShipStationV2Client(sandbox_root, api_key="not-a-key")
    with pytest.raises(AuthExpired):
        stranger.adjust_inventory("WIDGET-1", v2_views.location_id(account), 1)
    product.refresh_from_db()
    assert product.on_hand == 50


def test_updates_count_towards_the_v2_rate_limit(v2, account, product):
    account.v2_rate_limit, account.rate_window_seconds = 2, 86400  # a day-long window: no rollover mid-test
    account.save()
    location = v2_views.location_id(account)
    v2.adjust_inventory("WIDGET-1", location, 10)
    v2.adjust_inventory("WIDGET-1", location, 11)
    v2.max_429_retries = 0
    with pytest.raises(RateLimited) as exc:
        v2.adjust_inventory("WIDGET-1", location, 12)
    assert exc.value.retry_after >= 1
    product.refresh_from_db()
    assert product.on_hand == 11


def test_inventory_locations_list_the_accounts_location(v2, account, sandbox_root):
    (location,) = v2.list_inventory_locations()
    assert location["inventory_location_id"] == v2_views.location_id(account)
    assert location["inventory_warehouse_id"] == v2_views.warehouse_id(account)
    assert v2.list_inventory_location_ids() == [v2_views.location_id(account)]
    body = requests.get(
        sandbox_root + "/v2/inventory_locations", headers={"API-Key": account.v2_api_key}, timeout=10
    ).json()
    jsonschema.Draft202012Validator(locations_schema()).validate(body)
    assert body["links"]["next"] == {} and body["total"] == 1
    refused = requests.get(sandbox_root + "/v2/inventory_locations", headers={"API-Key": "nope"}, timeout=10)
    assert refused.status_code == 401
    openapi_v2.validate_error_body(refused.json())
