"""Webhook addresses can be rotated: the old one answers 404, the new one works, and the vendor's webhooks
are re-registered at it (checked in each vendor's sandbox, over real HTTP on the live server).

Who may: owners and admins, on the connection page and through the API; members may not, and another
organisation's connection is a 404. Systems without webhooks (QuickBooks Web Connector, Zoho Books)
have nothing to rotate.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.models import Membership, Organization, Role
from connector import inbox
from connector.models import Connection, Delivery, Event
from integrations.shipstation import connection as shipstation
from integrations.shipstation.sandbox.delivery import deliver_pending
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxWebhook
from tests.conftest import PASSWORD
from tests.integrations.shipstation.conftest import order_body

pytestmark = pytest.mark.django_db(transaction=True)

ROTATE = "rotate_webhook_token"
POINTER = json.dumps(
    {"resource_url": "https://ssapi.shipstation.com/orders?importBatch=1", "resource_type": "ORDER_NOTIFY"}
)


@pytest.fixture
def base(live_server, settings) -> str:
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


@pytest.fixture
def ss_account(base) -> SandboxAccount:
    return SandboxAccount.objects.create(
        name="Rotating store",
        seed=5,
        auto_deliver_webhooks=False,
        organization=Organization.objects.create(name="Owner"),
    )


@pytest.fixture
def ss_connection(alice, ss_account, base) -> Connection:
    conn = Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="ShipStation",
        credentials={"api_key": ss_account.api_key, "api_secret": ss_account.api_secret},
        settings={"base_url": base + "/sandbox/shipstation"},
    )
    shipstation.ensure_for(conn)
    return conn


def hook_path(system: str, token: str) -> str:
    return f"/hooks/{system}/{token}/"


def post_shipstation(client, token: str):
    return client.post(hook_path("shipstation", token), data=POINTER, content_type="application/json")


def test_shipstation_rotation_from_the_connection_page(alice_client, ss_connection, ss_account, base):
    old = ss_connection.webhook_token
    old_url = base + hook_path("shipstation", old)
    assert post_shipstation(alice_client, old).status_code == 200
    assert set(SandboxWebhook.objects.filter(account=ss_account).values_list("target_url", flat=True)) == {old_url}

    page = alice_client.get(reverse("shipstation_connection", args=[ss_connection.pk])).content.decode()
    assert "Rotate webhook address" in page and reverse(ROTATE, args=[ss_connection.pk]) in page

    response = alice_client.post(reverse(ROTATE, args=[ss_connection.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("shipstation_connection", args=[ss_connection.pk])
    assert "New webhook address in use" in response.content.decode()
    ss_connection.refresh_from_db()
    new = ss_connection.webhook_token
    assert new != old and len(new) >= 32
    assert old not in response.content.decode()

    # The old address is gone, the new one answers.
    assert post_shipstation(alice_client, old).status_code == 404
    assert post_shipstation(alice_client, new).status_code == 200
    # ShipStation (the sandbox) now calls only the new address, for both events.
    hooks = SandboxWebhook.objects.filter(account=ss_account, active=True)
    assert sorted(hooks.values_list("event", flat=True)) == ["ORDER_NOTIFY", "SHIP_NOTIFY"]
    assert set(hooks.values_list("target_url", flat=True)) == {base + hook_path("shipstation", new)}
    # ... and what it sends arrives there.
    shipstation.client_for(ss_connection).create_orders([order_body("ROT-1")])
    (call,) = deliver_pending()
    assert call.response_status == 200 and call.webhook.target_url.endswith(hook_path("shipstation", new))
    assert Delivery.objects.filter(connection=ss_connection, topic="ORDER_NOTIFY").count() == 3
    # The timeline says who rotated, never the token.
    event = Event.objects.filter(connection=ss_connection, message__startswith="Webhook address rotated").get()
    assert "alice@example.com" in event.message and old not in event.message and new not in event.message


def test_shipstation_v2_rotation_replaces_the_v2_webhooks(alice_client, ss_account, alice, base):
    conn = Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="ShipStation V2",
        credentials={"v2_api_key": ss_account.v2_api_key},
        settings={"base_url": base + "/sandbox/shipstation", "api_version": "v2"},
    )
    shipstation.ensure_for(conn)
    old_url = shipstation.webhook_url(conn)
    response = alice_client.post(f"/api/v1/connections/{conn.pk}/rotate-webhook-token/")
    assert response.status_code == 200, response.content
    assert response.json()["reregistered"] is True
    conn.refresh_from_db()
    hooks = SandboxWebhook.objects.filter(account=ss_account, api_version="v2")
    assert set(hooks.values_list("target_url", flat=True)) == {shipstation.webhook_url(conn)} != {old_url}
    assert hooks.count() == len(shipstation.V2_EVENTS)


def test_api_rotation_roles_and_tenancy(client, alice, bob, ss_connection):
    old = ss_connection.webhook_token
    url = f"/api/v1/connections/{ss_connection.pk}/rotate-webhook-token/"
    # A member of the organisation may look but not rotate.
    member = get_user_model().objects.create_user(username="mia", email="mia@example.com", password=PASSWORD)
    Membership.objects.create(user=member, organization=alice.org, role=Role.MEMBER)
    client.force_login(member)
    assert client.post(url).status_code == 403
    page = client.get(reverse("shipstation_connection", args=[ss_connection.pk]))
    assert page.status_code == 200 and "Rotate webhook address" not in page.content.decode()
    assert client.post(reverse(ROTATE, args=[ss_connection.pk])).status_code == 403
    # Another organisation's owner: 404, as for an id that does not exist.
    client.force_login(bob)
    assert client.post(url).status_code == 404
    assert client.post(reverse(ROTATE, args=[ss_connection.pk])).status_code == 404
    ss_connection.refresh_from_db()
    assert ss_connection.webhook_token == old
    # The owner may.
    client.force_login(alice)
    response = client.post(url)
    assert response.status_code == 200 and response.json()["connection"]["id"] == ss_connection.pk
    assert "webhook_token" not in response.json()["connection"]
    ss_connection.refresh_from_db()
    assert ss_connection.webhook_token != old


def test_systems_without_webhooks_and_disconnected_connections_have_nothing_to_rotate(alice_client, alice):
    qbwc = Connection.objects.create(organization=alice.org, system="qbdesktop", label="QuickBooks")
    zoho = Connection.objects.create(organization=alice.org, system="zoho", label="Books")
    gone = Connection.objects.create(
        organization=alice.org, system="shipstation", label="Old", status=Connection.Status.DISABLED
    )
    for conn in (qbwc, zoho, gone):
        token = conn.webhook_token
        response = alice_client.post(f"/api/v1/connections/{conn.pk}/rotate-webhook-token/")
        assert response.status_code == 409 and response.json()["detail"]
        conn.refresh_from_db()
        assert conn.webhook_token == token


def test_vendor_failure_keeps_the_new_token_and_says_press_repair(alice_client, ss_connection, ss_account):
    old = ss_connection.webhook_token
    SandboxAccount.objects.filter(pk=ss_account.pk).update(api_secret="changed-in-shipstation")
    response = alice_client.post(f"/api/v1/connections/{ss_connection.pk}/rotate-webhook-token/")
    assert response.status_code == 200
    body = response.json()
    assert body["reregistered"] is False and "Repair" in body["message"]
    assert post_shipstation(alice_client, old).status_code == 404


# --- WooCommerce: new address and a new signing secret ------------------------------------------


@pytest.fixture
def shop(base):
    from integrations.woocommerce.sandbox.views import create_store

    store = create_store(
        "rot-shop",
        name="Rot Shop",
        currency="USD",
        tax_rate="0.1",
        organization=Organization.objects.create(name="Owner"),
    )
    store.url = f"{base}/sandbox/woocommerce/{store.slug}"
    store.key = store.keys.first()
    return store


def test_woocommerce_rotation_moves_the_store_webhooks_with_a_new_secret(alice_client, shop, base):
    from integrations.woocommerce.auth import sign
    from integrations.woocommerce.sandbox.models import SandboxWebhook as WooWebhook
    from integrations.woocommerce.sandbox.store import create_order

    alice_client.post(
        "/integrations/woocommerce/connect/keys/",
        {"store_url": shop.url, "consumer_key": shop.key.consumer_key, "consumer_secret": shop.key.consumer_secret},
    )
    conn = Connection.objects.get(system="woocommerce")
    old, old_secret = conn.webhook_token, conn.webhook_secret
    # A first (badly signed) delivery puts the old token into the receive path's connection cache.
    first = alice_client.post(hook_path("woocommerce", old), data=b"{}", content_type="application/json")
    assert first.status_code == 401

    response = alice_client.post(reverse(ROTATE, args=[conn.pk]))
    assert response.status_code == 302
    conn.refresh_from_db()
    assert conn.webhook_token != old and conn.webhook_secret and conn.webhook_secret != old_secret
    hooks = WooWebhook.objects.filter(store=shop)
    assert hooks.count() == 3
    assert set(hooks.values_list("delivery_url", flat=True)) == {base + hook_path("woocommerce", conn.webhook_token)}
    assert set(hooks.values_list("secret", flat=True)) == {conn.webhook_secret}
    # Old address: 404 at once, even though this process had it cached; a delivery signed with the
    # old secret is no good at the new one.
    signed_old = {"HTTP_X_WC_WEBHOOK_SIGNATURE": sign(b"{}", old_secret), "HTTP_X_WC_WEBHOOK_TOPIC": "order.created"}
    assert (
        alice_client.post(hook_path("woocommerce", old), data=b"{}", content_type="application/json", **signed_old)
    ).status_code == 404
    assert (
        alice_client.post(
            hook_path("woocommerce", conn.webhook_token), data=b"{}", content_type="application/json", **signed_old
        )
    ).status_code == 401
    # The store's next delivery reaches the new address and verifies.
    inbox._hook_cache.clear()
    create_order(shop, {"billing": {"email": "rot@example.com"}, "line_items": [{"sku": "WOO-TEE"}]})
    assert Delivery.objects.filter(connection=conn, topic="order.created", signature_valid=True).exists()


# --- Exact Online: the subscription follows the address -------------------------------------------


def test_exact_rotation_resubscribes_at_the_new_address(alice, alice_client, base):
    from integrations.exact.sandbox import state
    from integrations.exact.sandbox.models import SandboxExactWebhookSubscription
    from integrations.exact.subscriptions import callback_url, subscribe
    from tests.integrations.exact.conftest import make_connection

    _, divisions = state.create_company("nl", "owner@rot.example", "Rot BV", organization=alice.org)
    conn = make_connection(alice.org, divisions[0])
    subscribe(conn)
    old_url = callback_url(conn)
    assert list(SandboxExactWebhookSubscription.objects.values_list("callback_url", flat=True)) == [old_url]

    response = alice_client.post(f"/api/v1/connections/{conn.pk}/rotate-webhook-token/")
    assert response.status_code == 200 and response.json()["reregistered"] is True, response.content
    conn.refresh_from_db()
    (sub,) = SandboxExactWebhookSubscription.objects.all()
    assert sub.callback_url == callback_url(conn) != old_url
    assert conn.settings["webhooks"]["subscriptions"][0]["callback"] == callback_url(conn)
    assert alice_client.post(old_url.removeprefix(base), data=b"", content_type="application/json").status_code == 404
