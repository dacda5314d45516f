"""The V2 sandbox: API-Key auth, inventory paging, environment webhooks, the 200/min limit, JWKS.

Fidelity: responses are validated with openapi-core against shipstation-v2-openapi.yaml (see
openapi_v2.py for the in-memory adjustments); 401/429 bodies with jsonschema against the file's
`error_response_body`.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import requests
from openapi_core.testing import MockRequest, MockResponse

from connector.http import AuthExpired, Permanent, RateLimited, Transient
from integrations.shipstation.client import ShipStationV2Client
from integrations.shipstation.sandbox.models import SandboxProduct, SandboxSigningKey, SandboxWebhook
from integrations.shipstation.signing import public_key_from_jwk

from . import openapi_v2


def vendor_check(response: requests.Response) -> None:
    """Validate a sandbox response as if api.shipstation.com had sent it."""
    path = urlsplit(response.request.url).path.removeprefix("/sandbox/shipstation")
    query = dict(p.split("=", 1) for p in (urlsplit(response.request.url).query or "").split("&") if p)
    request = MockRequest("https://api.shipstation.com", response.request.method.lower(), path, args=query)
    openapi_v2.openapi().validate_response(
        request,
        MockResponse(response.content, status_code=response.status_code, content_type="application/json"),
    )


def _get(root, path, key, **kw):
    return requests.get(root + path, headers={"API-Key": key}, timeout=10, **kw)


def test_wrong_or_missing_key_is_401_with_a_v2_error_body(sandbox_root, account):
    for headers in ({"API-Key": "nope"}, {}, {"Authorization": "Basic " + "eA=="}):
        response = requests.get(sandbox_root + "/v2/environment/webhooks", headers=headers, timeout=10)
        assert response.status_code == 401
        body = response.json()
        openapi_v2.validate_error_body(body)
        assert body["errors"][0]["error_code"] == "unauthorized"
    # header names are case-insensitive (V2-OAS securitySchemes.api_keys: `api-key`)
    assert _get(sandbox_root, "/v2/environment/webhooks", account.v2_api_key).status_code == 200
    ok = requests.get(sandbox_root + "/v2/inventory", headers={"api-key": account.v2_api_key}, timeout=10)
    assert ok.status_code == 200


def test_inventory_pages_through_next_links(v2, account, sandbox_root):
    for i in range(30):
        SandboxProduct.objects.create(account=account, sku=f"SKU-{i:02}", on_hand=i)
    calls = []
    v2.on_call = calls.append
    levels = list(v2.list_inventory())
    assert [row["sku"] for row in levels] == [f"SKU-{i:02}" for i in range(30)]
    assert levels[7]["on_hand"] == 7 and len(calls) == 2  # default page size 25 (§B3)
    first = _get(sandbox_root, "/v2/inventory", account.v2_api_key)
    vendor_check(first)
    body = first.json()
    assert (body["total"], body["page"], body["pages"], body["links"]["prev"]) == (30, 1, 2, {})
    last = requests.get(body["links"]["next"]["href"], headers={"API-Key": account.v2_api_key}, timeout=10)
    vendor_check(last)
    assert last.json()["links"]["next"] == {} and len(last.json()["inventory"]) == 5
    assert [r["sku"] for r in v2.list_inventory(sku="SKU-03")] == ["SKU-03"]


def test_inventory_rejects_bad_paging(sandbox_root, account):
    response = _get(sandbox_root, "/v2/inventory", account.v2_api_key, params={"limit": "0"})
    assert response.status_code == 400
    openapi_v2.validate_error_body(response.json())


def test_webhooks_create_list_get_delete(v2, account, sandbox_root):
    created = v2.create_webhook("http://127.0.0.1/hook/", "label_created_v2")
    assert created["webhook_id"].startswith("se-") and created["event"] == "label_created_v2"
    hook = SandboxWebhook.objects.get(account=account)
    assert (hook.api_version, hook.event, hook.target_url) == ("v2", "label_created_v2", "http://127.0.0.1/hook/")
    listed = _get(sandbox_root, "/v2/environment/webhooks", account.v2_api_key)
    vendor_check(listed)
    assert listed.json() == [created] == v2.list_webhooks()
    one = _get(sandbox_root, f"/v2/environment/webhooks/{created['webhook_id']}", account.v2_api_key)
    vendor_check(one)
    v2.delete_webhook(created["webhook_id"])
    assert not SandboxWebhook.objects.exists()
    with pytest.raises(Permanent) as missing:
        v2.delete_webhook(created["webhook_id"])
    assert missing.value.status == 404


def test_webhook_create_is_strict(v2, account, sandbox_root):
    post = lambda body: requests.post(  # noqa: E731
        sandbox_root + "/v2/environment/webhooks", json=body, headers={"API-Key": account.v2_api_key}, timeout=10
    )
    for body in (
        {"event": "ORDER_NOTIFY", "url": "http://127.0.0.1/"},  # a V1 event name
        {"event": "track", "url": "not a url"},
        {"event": "track", "url": "http://127.0.0.1/", "surprise": 1},
        {"event": "track", "url": "http://127.0.0.1/", "headers": [{"key": "a"}]},
    ):
        response = post(body)
        assert response.status_code == 400, body
        openapi_v2.validate_error_body(response.json())
    assert post({"event": "track", "url": "http://127.0.0.1/"}).status_code == 200
    conflict = post({"event": "track", "url": "http://127.0.0.1/other"})
    assert conflict.status_code == 409 and conflict.json()["errors"][0]["error_code"] == "webhook_event_type_conflict"
    assert SandboxWebhook.objects.filter(account=account).count() == 1
    with pytest.raises(Permanent, match="already exists"):
        v2.create_webhook("http://127.0.0.1/x", "track")


def test_rate_limit_is_per_v2_key_with_retry_after(v2, account, sandbox_root):
    assert account.v2_rate_limit == 200  # §B2
    control = requests.post(
        sandbox_root + "/_control/faults",
        json={"v2_rate_limit": 3, "rate_window_seconds": 3600},  # a long window: no boundary mid-test
        headers={"API-Key": account.v2_api_key},
        timeout=10,
    )
    assert control.status_code == 200 and control.json()["v2_rate_limit"] == 3
    statuses = [_get(sandbox_root, "/v2/inventory", account.v2_api_key) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    limited = statuses[-1]
    assert 1 <= int(limited.headers["Retry-After"]) <= 3600
    assert "X-Rate-Limit-Limit" not in limited.headers  # V2 declares none (§B2)
    openapi_v2.validate_error_body(limited.json())
    assert limited.json()["errors"][0]["error_code"] == "rate_limit_exceeded"
    v2.max_429_retries = 0
    with pytest.raises(RateLimited) as exc:
        v2.list_webhooks()
    assert abs(exc.value.retry_after - int(limited.headers["Retry-After"])) <= 1  # Retry-After is obeyed
    # V1 calls of the same account have their own 40/min window
    basic = requests.get(sandbox_root + "/stores", auth=(account.api_key, account.api_secret), timeout=10)
    assert basic.status_code == 200


def test_5xx_knob_gives_an_empty_500(v2, account, sandbox_root):
    requests.post(
        sandbox_root + "/_control/faults",
        json={"fault_5xx_rate": 1.0},
        headers={"API-Key": account.v2_api_key},
        timeout=10,
    )
    response = _get(sandbox_root, "/v2/inventory", account.v2_api_key)
    assert response.status_code == 500 and response.content == b""  # V2-OAS ServerError
    with pytest.raises(Transient):
        v2.list_webhooks()


def test_wrong_key_in_the_client_is_auth_expired(sandbox_root, account):
    with pytest.raises(AuthExpired, match="unauthorized"):
        ShipStationV2Client(sandbox_root, api_key="wrong").list_webhooks()


def test_jwks_key_pair_is_made_once_and_is_usable(sandbox_root, account):
    first = requests.get(sandbox_root + "/v2/jwks", timeout=10).json()
    second = requests.get(sandbox_root + "/v2/jwks", timeout=10).json()
    assert first == second and len(first["keys"]) == 1 and SandboxSigningKey.objects.count() == 1
    jwk = first["keys"][0]
    assert jwk["kty"] == "RSA" and "d" not in jwk and "private" not in json.dumps(first)
    assert public_key_from_jwk(jwk).key_size == 2048


def test_openapi_check_catches_a_friendlier_api():
    """The validator really rejects shapes ShipStation would not send."""
    request = MockRequest("https://api.shipstation.com", "get", "/v2/environment/webhooks")
    bad = [{"webhook_id": 12, "url": "https://x/", "event": "label_created_v2", "extra": True}]
    with pytest.raises(Exception, match="not valid"):
        openapi_v2.openapi().validate_response(
            request, MockResponse(json.dumps(bad).encode(), status_code=200, content_type="application/json")
        )


def test_client_requests_match_the_v2_description(v2, account):
    """What the V2 client sends (path, API-Key, create body) is what the V2 file describes."""
    sent = []
    real_send = v2.session.send

    def spy(prepared, **kwargs):
        sent.append(prepared)
        return real_send(prepared, **kwargs)

    v2.session.send = spy
    created = v2.create_webhook("http://127.0.0.1/hook/", "shipment_created_v2")
    v2.list_webhooks()
    v2.delete_webhook(created["webhook_id"])
    list(v2.list_inventory(sku="X"))
    assert len(sent) == 4
    for prepared in sent:
        split = urlsplit(prepared.url)
        request = MockRequest(
            "https://api.shipstation.com",
            prepared.method.lower(),
            split.path.removeprefix("/sandbox/shipstation"),
            args=dict(p.split("=", 1) for p in split.query.split("&") if p),
            headers={k.lower(): v for k, v in prepared.headers.items()},
            data=prepared.body or None,
            content_type=prepared.headers.get("Content-Type", "application/json"),
        )
        openapi_v2.openapi().validate_request(request)
    wrong = MockRequest(
        "https://api.shipstation.com",
        "post",
        "/v2/environment/webhooks",
        headers={"api-key": "k"},
        data=json.dumps({"event": "ORDER_NOTIFY", "url": "https://x/"}),
        content_type="application/json",
    )
    with pytest.raises(Exception, match="not valid"):
        openapi_v2.openapi().validate_request(wrong)
