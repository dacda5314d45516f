"""The sandbox behaves like ShipStation V1 (auth, limits, paging, upsert, locks, webhooks, faults)."""

from __future__ import annotations

import base64

import pytest
import requests

from connector.models import Connection, Delivery
from integrations.shipstation import timeutil
from integrations.shipstation.sandbox import state
from integrations.shipstation.sandbox.delivery import current_base_url, deliver_pending
from integrations.shipstation.sandbox.models import (
    SandboxAccount,
    SandboxCustomer,
    SandboxOrder,
    SandboxWebhook,
    SandboxWebhookCall,
)

from .conftest import order_body


def _auth(account):
    return (account.api_key, account.api_secret)


def test_bad_keys_get_401_with_shipstation_body(sandbox_root, account):
    r = requests.get(sandbox_root + "/orders", auth=(account.api_key, "wrong"), timeout=5)
    assert r.status_code == 401 and r.json() == {"Message": "Authorization has been denied for this request."}
    assert requests.get(sandbox_root + "/orders", timeout=5).status_code == 401


def test_rate_limit_headers_and_real_429(sandbox_root, account):
    # Windows are clock-aligned: a day-long one cannot roll over between these four calls.
    SandboxAccount.objects.filter(pk=account.pk).update(rate_limit=3, rate_window_seconds=86400)
    seen = [requests.get(sandbox_root + "/accounts/listtags", auth=_auth(account), timeout=5) for _ in range(4)]
    assert [r.status_code for r in seen] == [200, 200, 200, 429]
    assert [r.headers["X-Rate-Limit-Remaining"] for r in seen] == ["2", "1", "0", "0"]
    assert seen[3].json() == {"message": "Too Many Requests"}
    assert seen[0].headers["X-Rate-Limit-Limit"] == "3"
    assert 1 <= int(seen[3].headers["X-Rate-Limit-Reset"]) <= 86400  # whole seconds, a countdown


def test_upsert_by_order_key_edits_bump_modify_date_and_customers_appear(sandbox_root, account):
    first = requests.post(
        sandbox_root + "/orders/createorder", json=order_body("1001"), auth=_auth(account), timeout=5
    ).json()
    again = requests.post(
        sandbox_root + "/orders/createorder",
        json=order_body("1001", internalNotes="edited"),
        auth=_auth(account),
        timeout=5,
    ).json()
    assert again["orderId"] == first["orderId"] and SandboxOrder.objects.filter(account=account).count() == 1
    assert timeutil.parse_pacific(again["modifyDate"]) > timeutil.parse_pacific(first["modifyDate"])
    assert again["internalNotes"] == "edited"
    assert first["modifyDate"].count(".") == 1 and len(first["modifyDate"].split(".")[1]) == 7  # 7 digits, no offset
    assert first["orderTotal"] == 27.05  # 2 x 10.50 + 5 shipping + 1.05 tax
    customer = SandboxCustomer.objects.get(account=account)
    assert customer.key == "buyer@example.com"
    listed = requests.get(sandbox_root + "/customers", auth=_auth(account), timeout=5).json()
    assert listed["total"] == 1 and listed["customers"][0]["email"] == "Buyer@Example.com"


def test_shipped_and_cancelled_orders_are_locked(sandbox_root, account):
    requests.post(
        sandbox_root + "/orders/createorder",
        json=order_body("2001", status="cancelled"),
        auth=_auth(account),
        timeout=5,
    )
    r = requests.post(sandbox_root + "/orders/createorder", json=order_body("2001"), auth=_auth(account), timeout=5)
    assert r.status_code == 400 and "locked" in r.json()["Message"]
    assert SandboxOrder.objects.get(order_number="2001").status == "cancelled"


def test_missing_required_fields_are_rejected_like_shipstation(sandbox_root, account):
    body = order_body("3001")
    del body["billTo"]
    r = requests.post(sandbox_root + "/orders/createorder", json=body, auth=_auth(account), timeout=5)
    assert r.status_code == 400 and r.json()["ModelState"] == {"apiOrder.billTo": ["The billTo field is required."]}
    r = requests.post(sandbox_root + "/orders/createorder", data=b"{nope", auth=_auth(account), timeout=5)
    assert r.status_code == 400 and "ModelState" in r.json()
    assert not SandboxOrder.objects.exists()


def test_paging_and_modify_date_filter(sandbox_root, account):
    for n in range(5):
        requests.post(sandbox_root + "/orders/createorder", json=order_body(f"P{n}"), auth=_auth(account), timeout=5)
    page = requests.get(
        sandbox_root + "/orders", params={"pageSize": 2, "page": 3}, auth=_auth(account), timeout=5
    ).json()
    assert (page["total"], page["page"], page["pages"], len(page["orders"])) == (5, 3, 3, 1)
    assert (
        requests.get(sandbox_root + "/orders", params={"pageSize": 501}, auth=_auth(account), timeout=5).status_code
        == 400
    )
    from datetime import timedelta

    third = SandboxOrder.objects.get(order_number="P2")
    SandboxOrder.objects.filter(order_number__in=["P0", "P1"]).update(
        modify_date=third.modify_date - timedelta(hours=2)
    )
    start = timeutil.to_filter(third.modify_date - timedelta(seconds=1))
    later = requests.get(
        sandbox_root + "/orders", params={"modifyDateStart": start}, auth=_auth(account), timeout=5
    ).json()
    assert {o["orderNumber"] for o in later["orders"]} >= {"P3", "P4"} and "P0" not in {
        o["orderNumber"] for o in later["orders"]
    }


def test_webhooks_really_post_pointers_order_notify_only_for_new_orders(sandbox_root, account, alice):
    account.auto_deliver_webhooks = False
    account.save()
    connection = Connection.objects.create(
        organization=alice.org, system="shipstation", label="SS", settings={"base_url": sandbox_root}
    )
    hook_url = sandbox_root.replace("/sandbox/shipstation", f"/hooks/shipstation/{connection.webhook_token}/")
    for event in ("ORDER_NOTIFY", "SHIP_NOTIFY"):
        r = requests.post(
            sandbox_root + "/webhooks/subscribe",
            json={"target_url": hook_url, "event": event},
            auth=_auth(account),
            timeout=5,
        )
        assert r.status_code == 201 and r.json()["id"]
    created = requests.post(
        sandbox_root + "/orders/createorder", json=order_body("W1"), auth=_auth(account), timeout=5
    ).json()
    requests.post(
        sandbox_root + "/orders/createorder", json=order_body("W1", internalNotes="x"), auth=_auth(account), timeout=5
    )
    requests.post(
        sandbox_root + "/orders/createorder",
        json=order_body("W2", status="awaiting_payment"),
        auth=_auth(account),
        timeout=5,
    )
    calls = deliver_pending()
    assert [c.body["resource_type"] for c in calls] == ["ORDER_NOTIFY"]  # not the edit, not awaiting_payment
    # V1 pointers name the sandbox under its other loopback name, as ShipStation names ssapi6 and the like.
    alias_root = sandbox_root.replace("://localhost:", "://127.0.0.1:")
    assert alias_root != sandbox_root
    assert calls[0].body["resource_url"].startswith(alias_root + "/orders?storeID=") and calls[0].response_status == 200
    label = requests.post(
        sandbox_root + "/orders/createlabelfororder",
        json={
            "orderId": created["orderId"],
            "carrierCode": "fedex",
            "serviceCode": "fedex_2day",
            "shipDate": "2024-03-02",
        },
        auth=_auth(account),
        timeout=5,
    ).json()
    assert label["shipmentCost"] > 0 and label["trackingNumber"]
    ship_calls = deliver_pending()
    assert [c.body["resource_type"] for c in ship_calls] == ["SHIP_NOTIFY"]
    deliveries = Delivery.objects.filter(connection=connection).order_by("id")
    assert [d.topic for d in deliveries] == ["ORDER_NOTIFY", "SHIP_NOTIFY"]
    followed = requests.get(ship_calls[0].body["resource_url"], auth=_auth(account), timeout=5).json()
    assert followed["shipments"][0]["trackingNumber"] == label["trackingNumber"]
    assert SandboxOrder.objects.get(pk=created["orderId"]).status == "shipped"
    # a void changes the shipment and sends nothing
    requests.post(
        sandbox_root + "/shipments/voidlabel", json={"shipmentId": label["shipmentId"]}, auth=_auth(account), timeout=5
    )
    assert deliver_pending() == []
    voided = requests.get(
        sandbox_root + "/shipments", params={"voidDateStart": "2000-01-01 00:00:00"}, auth=_auth(account), timeout=5
    ).json()
    assert voided["shipments"][0]["voided"] is True and voided["shipments"][0]["voidDate"]


def test_webhooks_are_delivered_in_background_after_commit(sandbox_root, account, alice):
    connection = Connection.objects.create(organization=alice.org, system="shipstation", label="SS")
    hook_url = sandbox_root.replace("/sandbox/shipstation", f"/hooks/shipstation/{connection.webhook_token}/")
    SandboxWebhook.objects.create(account=account, event="ORDER_NOTIFY", target_url=hook_url)
    requests.post(sandbox_root + "/orders/createorder", json=order_body("BG1"), auth=_auth(account), timeout=5)
    import time

    for _ in range(100):
        if SandboxWebhookCall.objects.filter(status="sent").exists():
            break
        time.sleep(0.05)
    assert Delivery.objects.filter(connection=connection, topic="ORDER_NOTIFY").count() == 1


def test_fault_knobs_are_set_through_the_control_endpoint_and_seedable(sandbox_root, account):
    SandboxAccount.objects.filter(pk=account.pk).update(rate_limit=1000)  # only the injected 429s count here
    r = requests.post(
        sandbox_root + "/_control/faults", json={"fault_5xx_rate": 1.0, "seed": 3}, auth=_auth(account), timeout=5
    )
    assert r.status_code == 200 and r.json()["fault_5xx_rate"] == 1.0
    r = requests.get(sandbox_root + "/orders", auth=_auth(account), timeout=5)
    assert r.status_code == 500 and r.json() == {"Message": "An error has occurred."}
    requests.post(
        sandbox_root + "/_control/faults",
        json={"fault_5xx_rate": 0, "fault_429_rate": 0.5},
        auth=_auth(account),
        timeout=5,
    )

    def run():
        from connector.redis import get_redis

        get_redis().delete(f"sandbox:shipstation:dice:{account.pk}")
        return [
            requests.get(sandbox_root + "/accounts/listtags", auth=_auth(account), timeout=5).status_code
            for _ in range(12)
        ]

    first = run()
    assert run() == first and 429 in first and 200 in first  # same seed, same faults
    bad = requests.post(sandbox_root + "/_control/faults", json={"fault_5xx_rate": 7}, auth=_auth(account), timeout=5)
    assert bad.status_code == 400
    assert requests.post(sandbox_root + "/_control/faults", json={}, timeout=5).status_code == 401


def test_createorders_reports_errors_per_order(sandbox_root, account):
    broken = order_body("B2")
    del broken["shipTo"]
    r = requests.post(
        sandbox_root + "/orders/createorders", json=[order_body("B1"), broken], auth=_auth(account), timeout=5
    ).json()
    assert r["hasErrors"] is True
    assert [x["success"] for x in r["results"]] == [True, False] and "shipTo" in r["results"][1]["errorMessage"]
    assert list(SandboxOrder.objects.values_list("order_number", flat=True)) == ["B1"]
    too_many = [order_body(f"M{i}") for i in range(101)]
    assert (
        requests.post(sandbox_root + "/orders/createorders", json=too_many, auth=_auth(account), timeout=5).status_code
        == 400
    )


@pytest.mark.parametrize("header", ["Basic !!!", "Bearer x", "Basic " + base64.b64encode(b"nokey").decode()])
def test_garbled_auth_is_401(sandbox_root, account, header):
    assert requests.get(sandbox_root + "/orders", headers={"Authorization": header}, timeout=5).status_code == 401


def test_the_served_base_url_does_not_outlive_its_request(client, account, settings):
    """Pointers name the host the API client used, only while that request is served. The Django test
    client serves on the test's own thread; a root left behind there named a server of an earlier
    test in the pointers of later sandbox work on that thread (seen as a V2 delivery test that failed
    only after other tests had run)."""
    settings.PUBLIC_BASE_URL = "http://localhost:8000"  # nothing is sent: deliveries stay pending
    account.auto_deliver_webhooks = False
    account.save()
    SandboxWebhook.objects.create(account=account, event="ORDER_NOTIFY", target_url="http://localhost:8000/hooks/x/")
    basic = base64.b64encode(f"{account.api_key}:{account.api_secret}".encode()).decode()
    served = client.post(
        "/sandbox/shipstation/orders/createorder",
        data=order_body("T1"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert served.status_code == 200
    assert current_base_url() is None
    state.upsert_order(account, order_body("T2"), notify=True)  # sandbox work outside any request
    first, second = (call.body["resource_url"] for call in SandboxWebhookCall.objects.order_by("id"))
    assert first.startswith("http://testserver/sandbox/shipstation/orders?")
    assert second.startswith("http://127.0.0.1:8000/sandbox/shipstation/orders?")  # PUBLIC_BASE_URL's alias
