"""Fidelity: the client's requests and the sandbox's responses checked against V1-OAS, and real V1
webhook bodies (public material, cited below) replayed through our webhook code.

Requests go through openapi-core against the (in-memory cleaned) V1 description. Its response
schemas are empty, so responses are checked with jsonschema against shapes derived from the
vendor's own examples: every key ShipStation shows must be there, with the same JSON type.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit, urlunsplit

import jsonschema
import pytest
import requests
from django.urls import reverse
from openapi_core.contrib.requests import RequestsOpenAPIRequest

from connector.http import RefusedURL
from connector.models import Connection, Delivery
from integrations.shipstation import mapping, webhooks
from integrations.shipstation.client import V1_BASE_URL, ShipStationClient
from integrations.shipstation.connection import client_for
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxOrder, SandboxWebhookCall

from . import openapi_v1
from .conftest import fixture, order_body


def _as_vendor(prepared: requests.PreparedRequest) -> requests.PreparedRequest:
    parts = urlsplit(prepared.url)
    path = parts.path.split("/sandbox/shipstation", 1)[-1]
    vendor = prepared.copy()
    vendor.url = urlunsplit(("https", "ssapi.shipstation.com", path, parts.query, ""))
    return vendor


def _hook_url(ss) -> str:
    """A receiver on the live server: the sandbox delivers only there (never to the internet)."""
    return ss.base_url.replace("/sandbox/shipstation/", "/hooks/shipstation/fidelity/")


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
    ss.subscribe_webhook(_hook_url(ss), "ORDER_NOTIFY", friendly_name="t")
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
    _check({"id": ss.subscribe_webhook(_hook_url(ss), "SHIP_NOTIFY")}, "/webhooks/subscribe", "post")
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


# --- Real V1 webhook bodies ------------------------------------------------------------------------
# ShipStation documents only the model (https://www.shipstation.com/docs/api/models/webhook/:
# `resource_url`, 200-character limit, fetched with the API's Basic credentials, and `resource_type`),
# never an example body. These are bodies that reached real endpoints, copied from public code:
# - ORDER_NOTIFY: github.com/mijogu/shipstation-utility-wp-plugin, `shipstation-utility.http`
#   @ 31edbcf822c5c8089d656260173d19bb3ae89ce7 ("Receive New Order"), byte for byte including its spacing;
# - SHIP_NOTIFY on ssapi6: github.com/metactical/metactical (MIT), `metactical/api/shipstation.py`
#   @ a121bf65ee7f99adb61089048a6211c83772d128, the body its `test()` replays;
# - SHIP_NOTIFY on ssapi11: github.com/integration-os/connections, `sources/catalog/shipStation/config.json`
#   @ 532c36ccb35877d80d285dd3381ae97923f7ef39 (`eventSchema`), serialised compactly.
# Each names a numbered API host (ssapi6, ssapi11), not the documented `ssapi.shipstation.com`.
REAL_V1_BODIES = {
    "order_notify_ssapi6": (
        b'{\n    "resource_url" : "https://ssapi6.shipstation.com/orders?storeID=385230&importBatch='
        b'7804a3fa-cf0f-4bd1-88b5-baeb76740496",\n    "resource_type" : "ORDER_NOTIFY"\n}'
    ),
    "ship_notify_ssapi6": (
        b'{"resource_url": "https://ssapi6.shipstation.com/shipments?batchId=190671332&includeShipmentItems=False",'
        b' "resource_type": "SHIP_NOTIFY" }'
    ),
    "ship_notify_ssapi11": (
        b'{"resource_url":"https://ssapi11.shipstation.com/shipments?batchId=123456789&includeShipmentItems=False",'
        b'"resource_type":"SHIP_NOTIFY"}'
    ),
}


def _real(name: str) -> tuple[str, str]:
    data = json.loads(REAL_V1_BODIES[name])
    return data["resource_type"], data["resource_url"]


@pytest.mark.parametrize("name", sorted(REAL_V1_BODIES))
def test_real_v1_bodies_parse_as_pointers(name):
    assert webhooks.parse_pointer(REAL_V1_BODIES[name]) == _real(name)


def test_real_v1_bodies_are_stored_as_deliveries_with_their_exact_bytes(client, alice):
    connection = Connection.objects.create(organization=alice.org, system="shipstation", label="SS")
    url = reverse("shipstation_webhook", args=[connection.webhook_token])
    for name, body in REAL_V1_BODIES.items():
        response = client.post(url, data=body, content_type="application/json")
        assert response.status_code == 200 and response.json()["duplicate"] is False, name
    stored = {bytes(d.body): d for d in Delivery.objects.filter(connection=connection)}
    assert set(stored) == set(REAL_V1_BODIES.values())
    for name, body in REAL_V1_BODIES.items():
        assert (stored[body].topic, stored[body].status) == (_real(name)[0], Delivery.Status.RECEIVED)


@pytest.mark.parametrize("name", sorted(REAL_V1_BODIES))
def test_real_pointers_are_followed_on_our_own_api_host(name):
    """A production V1 connection follows ShipStation's numbered hosts, rebuilt on ssapi.shipstation.com
    (no request is sent here: check_pointer only decides the URL)."""
    client = ShipStationClient(V1_BASE_URL, api_key="k", api_secret="s")
    _, resource_url = _real(name)
    parts = urlsplit(resource_url)
    # A shipments pointer is followed with its items (a shipment without lines reads as all shipped).
    query = parts.query.replace("includeShipmentItems=False", "includeShipmentItems=true")
    assert client.check_pointer(resource_url) == f"{V1_BASE_URL}{parts.path}?{query}"


@pytest.mark.parametrize(
    ("query", "followed"),
    [
        ("batchId=1&includeShipmentItems=False", "batchId=1&includeShipmentItems=true"),
        ("INCLUDESHIPMENTITEMS=false&batchId=1&x=%20y", "batchId=1&x=%20y&includeShipmentItems=true"),
        ("batchId=1", "batchId=1&includeShipmentItems=true"),
        ("", "includeShipmentItems=true"),
    ],
)
def test_a_shipments_pointer_always_asks_for_the_items(query, followed):
    client = ShipStationClient(V1_BASE_URL, api_key="k", api_secret="s")
    pointer = "https://ssapi6.shipstation.com/shipments" + (f"?{query}" if query else "")
    assert client.check_pointer(pointer) == f"{V1_BASE_URL}/shipments?{followed}"
    orders = "https://ssapi6.shipstation.com/orders?includeShipmentItems=False"
    assert client.check_pointer(orders) == f"{V1_BASE_URL}/orders?includeShipmentItems=False"  # not a shipments list
    with pytest.raises(RefusedURL):  # the host guard comes first
        client.check_pointer("https://attacker.example/shipments?includeShipmentItems=False")


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def test_sandbox_pointers_have_the_shape_of_real_ones(ss, account, alice):
    """What the sandbox sends carries every query parameter the real bodies carry, on the same path,
    and names its host differently from the one the client called (as ssapi6 vs ssapi)."""
    SandboxAccount.objects.filter(pk=account.pk).update(auto_deliver_webhooks=False)
    for event in ("ORDER_NOTIFY", "SHIP_NOTIFY"):
        ss.subscribe_webhook(_hook_url(ss), event)
    created = ss.create_order(order_body("R1"))
    ss.request_json(
        "POST",
        "orders/createlabelfororder",
        json={
            "orderId": created["orderId"],
            "carrierCode": "usps",
            "serviceCode": "usps_priority_mail",
            "shipDate": "2024-03-02",
        },
    )
    sent = {c.body["resource_type"]: c.body["resource_url"] for c in SandboxWebhookCall.objects.all()}
    for name in REAL_V1_BODIES:
        resource_type, real_url = _real(name)
        ours = sent[resource_type]
        assert urlsplit(ours).path.rsplit("/", 1)[-1] == urlsplit(real_url).path.rsplit("/", 1)[-1], name
        assert set(_query(real_url)) <= set(_query(ours)), name
        assert urlsplit(ours).hostname != urlsplit(ss.base_url).hostname, name
    assert _query(sent["SHIP_NOTIFY"])["includeShipmentItems"] == ["False"]
    # ...and a connection's client follows them there, as it follows ssapi6 on ssapi.
    connection = Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="SS",
        credentials={"api_key": account.api_key, "api_secret": account.api_secret},
        settings={"base_url": ss.base_url},
    )
    client = client_for(connection)
    assert [o["orderNumber"] for o in client.follow(sent["ORDER_NOTIFY"])] == ["R1"]
    assert [s["orderNumber"] for s in client.follow(sent["SHIP_NOTIFY"])] == ["R1"]
