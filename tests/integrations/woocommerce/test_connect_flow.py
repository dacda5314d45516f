"""The app-key flow end to end against the sandbox store over real HTTP, plus the manual form,
the connection page, repair and disconnect. Secrets never reach pages, logs or events."""

import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connector import inbox
from connector.models import Connection, Delivery, Event
from integrations.woocommerce.models import WooAuthRequest
from integrations.woocommerce.sandbox.models import SandboxApiKey, SandboxDeliveryLog, SandboxStore, SandboxWebhook
from integrations.woocommerce.sandbox.store import create_order
from tests.sandbox_session import member_of


def start_connect(client, shop) -> str:
    response = client.post("/integrations/woocommerce/connect/", {"store_url": shop.url, "label": "My shop"})
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(shop.url + "/wc-auth/v1/authorize?")
    return location


def owner() -> requests.Session:
    """The store belongs to alice's organisation: its authorisation page needs her login."""
    return member_of(SandboxStore.objects.get(slug="shop-one").organization)


def approve(authorize_url: str) -> requests.Response:
    session = owner()
    page = session.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text
    nonce = re.search(r'name="wc_auth_nonce" value="([^"]+)"', page.text).group(1)
    action = re.search(r'action="([^"]*/authorize/approve)"', page.text).group(1)
    base = "{0.scheme}://{0.netloc}".format(urlsplit(authorize_url))
    return session.post(base + action, data={"wc_auth_nonce": nonce}, allow_redirects=False, timeout=30)


def test_app_key_flow_end_to_end(client, alice, shop, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(alice)
    authorize_url = start_connect(client, shop)
    params = parse_qs(urlsplit(authorize_url).query)
    assert params["scope"] == ["read_write"] and params["app_name"] == ["Connector"]
    assert params["callback_url"][0].endswith("/integrations/woocommerce/callback/")
    token = params["user_id"][0]
    assert len(token) >= 40 and WooAuthRequest.objects.get().token_hash != token  # stored hashed

    approved = approve(authorize_url)
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["Location"])
    assert parse_qs(back.query) == {"success": ["1"], "user_id": [token]}

    connection = Connection.objects.get(system="woocommerce")
    key = SandboxApiKey.objects.get(store=shop, description__startswith="Connector - API")
    assert connection.organization == alice.org and connection.label == "My shop"
    assert connection.credentials["consumer_key"] == key.consumer_key
    assert connection.settings["store_url"] == shop.url and connection.settings["query_string_auth"] is False

    hooks = SandboxWebhook.objects.filter(store=shop).order_by("topic")
    assert [h.topic for h in hooks] == ["customer.created", "order.created", "order.updated"]
    for hook in hooks:
        assert hook.secret == connection.webhook_secret and hook.status == "active"
        assert hook.delivery_url == f"{shop.url.split('/sandbox/')[0]}/hooks/woocommerce/{connection.webhook_token}/"
        assert hook.pending_delivery is False  # our receiver answered the creation ping with 200

    finished = client.get(back.path + "?" + back.query)
    assert finished.status_code == 302 and finished["Location"] == f"/integrations/woocommerce/{connection.pk}/"

    # A real order in the store arrives as a signed delivery.
    order = create_order(
        shop, {"status": "processing", "billing": {"email": "Zed@Example.com"}, "line_items": [{"sku": "WOO-HAT"}]}
    )
    delivery = Delivery.objects.get(connection=connection, topic="order.created")
    assert delivery.signature_valid is True and delivery.status == Delivery.Status.RECEIVED
    assert SandboxDeliveryLog.objects.get(topic="order.created").response_code == 200
    assert str(order.pk) in bytes(delivery.body).decode()

    page = client.get(f"/integrations/woocommerce/{connection.pk}/")
    html = page.content.decode()
    assert page.status_code == 200 and "HTTP Basic over HTTPS" in html and html.count('data-topic="') == 3

    # The user_id is single use: WooCommerce posting again (or an attacker replaying) is refused.
    replay = requests.post(
        shop.url.split("/sandbox/")[0] + "/integrations/woocommerce/callback/",
        json={
            "key_id": 1,
            "user_id": token,
            "consumer_key": "ck_x",
            "consumer_secret": "cs_x",
            "key_permissions": "read_write",
        },
        timeout=10,
    )
    assert replay.status_code == 403

    # Secrets never in pages, logs, events or stored delivery headers.
    secrets_ = [key.consumer_key, key.consumer_secret, connection.webhook_secret]
    texts = [html, caplog.text, str(list(Event.objects.values_list("message", "data")))]
    texts.append(str(list(Delivery.objects.values_list("headers", flat=True))))
    texts.append(client.get("/connections/").content.decode() if client.get("/connections/").status_code == 200 else "")
    for secret in secrets_:
        for text in texts:
            assert secret not in text
    assert Event.objects.filter(kind="api_call", connection=connection).exists()


def test_wrong_user_id_is_refused_and_the_key_deleted(client, alice, bob, shop):
    client.force_login(alice)
    authorize_url = start_connect(client, shop)
    forged = re.sub(r"user_id=[^&]+", "user_id=guessed-value", authorize_url)
    refused = approve(forged)
    assert refused.status_code == 401 and "unable to send the consumer data" in refused.text
    assert not SandboxApiKey.objects.filter(description__startswith="Connector").exists()  # WooCommerce deleted it
    assert not Connection.objects.filter(system="woocommerce").exists()

    # Bob cannot finish Alice's authorisation from his own session either.
    token = parse_qs(urlsplit(authorize_url).query)["user_id"][0]
    client.force_login(bob)
    back = client.get(f"/integrations/woocommerce/return/?success=1&user_id={token}")
    assert back["Location"] == "/integrations/woocommerce/connect/"


def test_expired_token_and_read_only_scope_are_refused(client, alice, shop):
    client.force_login(alice)
    authorize_url = start_connect(client, shop)
    WooAuthRequest.objects.update(expires_at="2000-01-01T00:00:00Z")
    assert approve(authorize_url).status_code == 401

    read_only = start_connect(client, shop).replace("scope=read_write", "scope=read")
    assert approve(read_only).status_code == 401
    assert not Connection.objects.exists()
    assert "read/write" in WooAuthRequest.objects.order_by("-id").first().error


def test_deny_and_http_callback_refused(client, alice, shop):
    client.force_login(alice)
    authorize_url = start_connect(client, shop)
    page = owner().get(authorize_url, timeout=10)
    deny = re.search(r'id="deny" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert "success=0" in deny
    response = client.get(urlsplit(deny).path + "?" + urlsplit(deny).query, follow=True)
    assert "not approved" in response.content.decode()
    insecure = re.sub(r"callback_url=[^&]+", "callback_url=http%3A%2F%2Fapp.example.com%2Fcb", authorize_url)
    assert "needs to be over SSL" in owner().get(insecure, timeout=10).text


def test_manual_keys_form(client, alice, shop):
    client.force_login(alice)
    bad = client.post(
        "/integrations/woocommerce/connect/keys/",
        {"store_url": shop.url, "consumer_key": "ck_nope", "consumer_secret": "cs_nope"},
    )
    body = bad.content.decode()
    # Our words, not the store's body ("Consumer key is invalid." stays on the far side).
    assert bad.status_code == 200 and "The store refused the keys." in body and "cs_nope" not in body
    assert "Consumer key is invalid" not in body
    assert not Connection.objects.exists()
    good = client.post(
        "/integrations/woocommerce/connect/keys/",
        {"store_url": shop.url, "consumer_key": shop.key.consumer_key, "consumer_secret": shop.key.consumer_secret},
    )
    connection = Connection.objects.get()
    assert good["Location"] == f"/integrations/woocommerce/{connection.pk}/"
    assert SandboxWebhook.objects.filter(store=shop).count() == 3
    insecure = client.post(
        "/integrations/woocommerce/connect/keys/",
        {"store_url": "http://shop.example.com", "consumer_key": "ck_a", "consumer_secret": "cs_b"},
    )
    assert "HTTPS" in insecure.content.decode()


def test_manual_form_falls_back_to_query_string_keys(client, alice, shop):
    shop.faults = {"strip_authorization": True}
    shop.save()
    client.force_login(alice)
    client.post(
        "/integrations/woocommerce/connect/keys/",
        {"store_url": shop.url, "consumer_key": shop.key.consumer_key, "consumer_secret": shop.key.consumer_secret},
    )
    connection = Connection.objects.get()
    assert connection.settings["query_string_auth"] is True
    page = client.get(f"/integrations/woocommerce/{connection.pk}/").content.decode()
    assert "Keys in the query string" in page
    for event in Event.objects.filter(kind="api_call"):
        assert shop.key.consumer_secret not in str(event.data) and shop.key.consumer_key not in event.message


@pytest.fixture
def connected(client, alice, shop):
    client.force_login(alice)
    client.post(
        "/integrations/woocommerce/connect/keys/",
        {"store_url": shop.url, "consumer_key": shop.key.consumer_key, "consumer_secret": shop.key.consumer_secret},
    )
    return Connection.objects.get()


def test_webhook_disabled_after_repeated_failures_then_repaired(client, connected, shop):
    from integrations.woocommerce.connect import repair_webhooks

    # Our receiver starts refusing (wrong secret): every delivery fails with 401.
    Connection.objects.filter(pk=connected.pk).update(webhook_secret="rotated-elsewhere")
    inbox._hook_cache.clear()  # the receive path's 10-second connection cache would accept the old secret
    for _ in range(7):
        create_order(shop, {"billing": {"email": "a@example.com"}, "line_items": [{"sku": "WOO-TEE"}]})
    hook = SandboxWebhook.objects.get(store=shop, topic="order.created")
    assert hook.status == "disabled"  # the 7th consecutive failure disables it (WOO.md §1.5)
    assert SandboxDeliveryLog.objects.filter(webhook=hook, ping=False).count() == 7  # never retried

    page = client.get(f"/integrations/woocommerce/{connected.pk}/").content.decode()
    assert 'data-topic="order.created">disabled' in page
    connected.refresh_from_db()
    client.post(f"/integrations/woocommerce/{connected.pk}/repair/")
    hook.refresh_from_db()
    assert hook.status == "active" and hook.failure_count == 0
    assert "webhooks_repaired_at" in Connection.objects.get(pk=connected.pk).settings
    assert repair_webhooks(Connection.objects.get(pk=connected.pk)) == dict.fromkeys(
        ("order.created", "order.updated", "customer.created"), "ok"
    )


def test_disconnect_deletes_our_webhooks(client, connected, shop):
    response = client.post(f"/integrations/woocommerce/{connected.pk}/disconnect/")
    assert response.status_code == 302
    assert not SandboxWebhook.objects.filter(store=shop).exists()
    connected.refresh_from_db()
    assert connected.status == Connection.Status.DISABLED and connected.credentials == {}


def test_other_tenants_cannot_see_or_repair(client, connected, bob):
    client.force_login(bob)
    assert client.get(f"/integrations/woocommerce/{connected.pk}/").status_code == 404
    assert client.post(f"/integrations/woocommerce/{connected.pk}/repair/").status_code == 404
    assert client.post(f"/integrations/woocommerce/{connected.pk}/disconnect/").status_code == 404


def test_pages_need_login(client, db):
    assert client.get("/integrations/woocommerce/connect/").status_code == 302
    assert client.get("/integrations/woocommerce/return/").status_code == 302


def test_scheduled_repair_task_reenables_and_flags_dead_keys(connected, shop):
    from connector.models import Alert
    from integrations.woocommerce.tasks import repair_connection_webhooks

    SandboxWebhook.objects.filter(store=shop, topic="order.updated").update(status="disabled")
    SandboxWebhook.objects.filter(store=shop, topic="customer.created").delete()
    done = repair_connection_webhooks(connected.pk)
    assert done == {"order.created": "ok", "order.updated": "reactivated", "customer.created": "created"}
    assert set(SandboxWebhook.objects.filter(store=shop).values_list("status", flat=True)) == {"active"}

    SandboxApiKey.objects.filter(store=shop).update(consumer_secret="cs_revoked")
    assert repair_connection_webhooks(connected.pk) is None
    connected.refresh_from_db()
    assert connected.status == Connection.Status.NEEDS_REAUTH
    assert Alert.objects.filter(organization=connected.organization, resolved_at=None).exists()


def test_sandbox_order_page_places_and_edits_orders(client, alice, shop):
    from integrations.woocommerce.sandbox.models import SandboxOrder

    client.force_login(alice)
    page = f"/sandbox/woocommerce/{shop.slug}/admin/orders/"
    assert client.get(page).status_code == 200
    client.post(page, {"email": "p@example.com", "name": "Pat Doe", "sku": "WOO-MUG", "quantity": "2", "shipping": "3"})
    order = SandboxOrder.objects.get(store=shop)
    assert order.data["billing"]["email"] == "p@example.com" and order.data["total"] == "22.00"  # 17 + 3 + 10 % tax
    client.post(page, {"order_id": order.pk, "status": "cancelled", "add_sku": "WOO-HAT"})
    order.refresh_from_db()
    assert order.status == "cancelled" and len(order.data["line_items"]) == 2
    bad = client.post(page, {"email": "p@example.com", "sku": "NOPE"})
    assert bad.status_code == 400 and "Product ID provided is invalid" in bad.content.decode()
    total = order.data["total"]
    client.post(page, {"refund_order_id": order.pk, "amount": total, "reason": "Broken"})
    order.refresh_from_db()
    assert order.status == "refunded" and order.data["refunds"][0]["total"] == f"-{total}"
    too_much = client.post(page, {"refund_order_id": order.pk, "amount": "1.00"})
    assert too_much.status_code == 400 and "Invalid refund amount" in too_much.content.decode()
