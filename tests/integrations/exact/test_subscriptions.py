"""Exact webhook subscriptions (EXACT.md §7.1) and the sandbox's notifications (§7.2-7.3), end to end
over the live server: the sandbox checks callbacks through our real /hooks/exact/ view and delivers
signed notifications to it."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from connector import tasks
from connector.models import Connection, Delivery, Record
from integrations.exact import subscriptions
from integrations.exact.client import ExactClient
from integrations.exact.sandbox import state
from integrations.exact.sandbox import webhooks as sandbox_webhooks
from integrations.exact.sandbox.models import SandboxExactWebhookDelivery, SandboxExactWebhookSubscription
from integrations.exact.webhooks import verify
from tests.integrations.exact.conftest import make_connection
from tests.integrations.exact.test_oauth import connect
from tests.sandbox_session import member_of

pytestmark = pytest.mark.django_db(transaction=True)


def hook_url(base: str, connection: Connection) -> str:
    return f"{base}/hooks/exact/{connection.webhook_token}/"


def sandbox_subs(division) -> list[SandboxExactWebhookSubscription]:
    return list(SandboxExactWebhookSubscription.objects.filter(division=division).order_by("id"))


def test_sandbox_signature_known_answer():
    # printf '%s' '{"Topic":"SalesOrders","Key":"k"}' | openssl dgst -sha256 -hmac key  (upper-cased)
    body = sandbox_webhooks.signed({"Topic": "SalesOrders", "Key": "k"}, "key")
    assert body == (
        '{"Content":{"Topic":"SalesOrders","Key":"k"},'
        '"HashCode":"4FE0FC8914CB3948F0F763ABABAC884050829B8F9D784BC6F550ECC34F9F4136"}'
    )
    assert verify(body.encode(), "key") == {"Topic": "SalesOrders", "Key": "k"}


def test_picking_a_division_subscribes_and_replaces_the_previous_one(alice, alice_client, exact_base):
    _, (first, second) = state.create_company("nl", "owner@two.example", "Two BV", divisions=2, organization=alice.org)
    _, done = connect(alice_client, "nl", "owner@two.example")
    connection = Connection.objects.get(organization=alice.org, system="exact")
    assert done["Location"] == reverse("exact_pick_division", args=[connection.pk])
    # The current division is subscribed at once; Exact's empty-body check went through our view.
    (sub,) = sandbox_subs(first)
    assert sub.topic == "SalesOrders" and sub.callback_url == hook_url(exact_base, connection)
    assert connection.settings["webhooks"]["state"] == "subscribed"
    assert connection.settings["webhooks"]["subscriptions"][0]["id"] == sub.guid
    assert not Delivery.objects.exists()  # the check stores nothing

    alice_client.post(done["Location"], {"division": str(second.code)})
    connection.refresh_from_db()
    assert not sandbox_subs(first)  # the old company's subscription is gone
    (new,) = sandbox_subs(second)
    assert [s["id"] for s in connection.settings["webhooks"]["subscriptions"]] == [new.guid]
    assert connection.settings["webhooks"]["division"] == second.code

    page = alice_client.get(reverse("exact_connection", args=[connection.pk])).content.decode()
    assert "subscribed" in page and new.guid in page and "Subscribe again" in page


def test_a_failed_subscription_is_shown_and_can_be_repeated(
    alice, alice_client, exact_connection, company, monkeypatch
):
    real = subscriptions.callback_url
    monkeypatch.setattr(subscriptions, "callback_url", lambda c: real(c).replace(c.webhook_token, "not-ours"))
    outcome = subscriptions.subscribe(exact_connection)
    assert outcome["state"] == "failed" and "404" in outcome["message"]  # the callback check failed
    assert not sandbox_subs(company)
    exact_connection.refresh_from_db()
    assert exact_connection.settings["webhooks"]["state"] == "failed"  # kept for the connection page
    page = alice_client.get(reverse("exact_connection", args=[exact_connection.pk])).content.decode()
    assert "Subscribing to Exact Online" in page and "404" in page and "Subscribe again" in page

    monkeypatch.setattr(subscriptions, "callback_url", real)
    response = alice_client.post(reverse("exact_resubscribe", args=[exact_connection.pk]))
    assert response.status_code == 302
    exact_connection.refresh_from_db()
    assert exact_connection.settings["webhooks"]["state"] == "subscribed"
    assert [s.guid for s in sandbox_subs(company)] == [exact_connection.settings["webhooks"]["subscriptions"][0]["id"]]


def test_data_already_exists_means_already_subscribed(alice, bob, exact_connection, company, exact_base):
    first = subscriptions.subscribe(exact_connection)
    (sub,) = sandbox_subs(company)
    # Exact's own answer to a second subscription of the topic in the division.
    client = ExactClient(exact_connection)
    raw = client.session.post(
        client.base_url + "webhooks/WebhookSubscriptions",
        json={"Topic": "SalesOrders", "CallbackURL": hook_url(exact_base, exact_connection)},
        headers={
            "Authorization": f"Bearer {exact_connection.credentials['access_token']}",
            "Accept": "application/json",
        },
        timeout=10,
    )
    assert raw.status_code == 500
    assert raw.json() == {"error": {"code": "", "message": {"lang": "", "value": "Data already exists"}}}
    assert client.create_webhook_subscription("SalesOrders", hook_url(exact_base, exact_connection)) is None
    client.session.close()

    # We lost track of our id (e.g. a crash before saving): subscribing again finds it by listing.
    settings = dict(exact_connection.settings)
    settings.pop("webhooks")
    Connection.objects.filter(pk=exact_connection.pk).update(settings=settings)
    exact_connection.refresh_from_db()
    again = subscriptions.subscribe(exact_connection)
    assert again["state"] == "subscribed" and again["subscriptions"] == first["subscriptions"]
    assert sandbox_subs(company) == [sub]

    # Another connection to the same company: the topic is taken by another address; it is left alone.
    other = make_connection(bob.org, company)
    outcome = subscriptions.subscribe(other)
    assert outcome["state"] == "elsewhere" and outcome["subscriptions"] == []
    assert subscriptions.unsubscribe(other) == 0
    assert sandbox_subs(company) == [sub]


def test_no_subscription_for_plain_http_outside_the_sandbox(alice, alice_client, settings, monkeypatch):
    settings.PUBLIC_BASE_URL = "http://connector.example"
    settings.EXACT_USE_SANDBOX = False
    connection = Connection.objects.create(
        organization=alice.org,
        system="exact",
        label="Exact Online · Real BV",
        credentials={"access_token": "a", "refresh_token": "r", "expires_at": 9e9, "issued_at": 9e9 - 600},
        settings={"country": "nl", "base_url": "https://start.exactonline.nl", "division": 123456},
    )

    def no_calls(*args, **kwargs):
        raise AssertionError("Exact must not be called for a plain-http callback")

    monkeypatch.setattr(ExactClient, "request", no_calls)
    outcome = subscriptions.subscribe(connection)
    assert outcome["state"] == "not_https" and "HTTPS" in outcome["message"]
    connection.refresh_from_db()
    assert connection.settings["webhooks"]["state"] == "not_https"
    page = alice_client.get(reverse("exact_connection", args=[connection.pk])).content.decode()
    assert "only calls HTTPS addresses" in page and "catch-up poll" in page

    settings.PUBLIC_BASE_URL = "https://connector.example"  # https: we would ask Exact
    with pytest.raises(AssertionError):
        subscriptions.subscribe(connection)


def test_disconnect_deletes_our_subscription(alice_client, exact_connection, company):
    subscriptions.subscribe(exact_connection)
    assert len(sandbox_subs(company)) == 1
    response = alice_client.post(reverse("exact_disconnect", args=[exact_connection.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("connections")
    exact_connection.refresh_from_db()
    assert exact_connection.status == "disabled" and exact_connection.credentials == {}
    assert not sandbox_subs(company)
    assert "webhooks" not in exact_connection.settings


def test_disconnect_goes_through_when_unsubscribing_fails(alice_client, exact_connection, company, caplog):
    subscriptions.subscribe(exact_connection)
    company.faults = {"error_rate": 1.0}
    company.save(update_fields=["faults"])
    with caplog.at_level(logging.WARNING, logger="integrations.exact.subscriptions"):
        response = alice_client.post(reverse("exact_disconnect", args=[exact_connection.pk]))
    assert response.status_code == 302
    exact_connection.refresh_from_db()
    assert exact_connection.status == "disabled" and exact_connection.credentials == {}
    assert len(sandbox_subs(company)) == 1  # Exact kept it; logged, not blocking
    assert "not deleted" in caplog.text


@pytest.fixture
def inline_processing(inline_inbox, monkeypatch):
    """Deliveries are processed in the live server's thread; record syncs are only collected."""
    monkeypatch.setattr(tasks.process_delivery, "delay", lambda pk: tasks.process_delivery.apply(args=(pk,)))
    queued: list[int] = []
    monkeypatch.setattr(tasks.sync_record, "delay", lambda pk, **kw: queued.append(pk))
    return queued


def test_sandbox_order_changes_arrive_as_verified_deliveries_and_records(
    exact_connection, company, flow, inline_processing, exact_base
):
    subscriptions.subscribe(exact_connection)
    so = state.find(company, "SalesOrders", OrderNumber=2)
    state.put(company, "SalesOrders", {**so, "Remarks": "gift wrap"}, guid=so["OrderID"])

    delivery = Delivery.objects.get()
    assert delivery.signature_valid and delivery.status == "processed" and delivery.topic == "SalesOrders"
    content = verify(bytes(delivery.body), sandbox_webhooks.app_secret())
    assert content["Action"] == "Update" and content["Key"] == so["OrderID"] and content["Division"] == company.code
    assert list(content) == [
        "Topic",
        "ClientId",
        "Division",
        "Action",
        "Key",
        "ExactOnlineEndpoint",
        "EventCreatedOn",
    ]
    assert content["ExactOnlineEndpoint"].startswith(f"{exact_base}/sandbox/exact/nl/api/v1/{company.code}/")
    record = Record.objects.get(flow=flow, object_type="order", source_ref="2")
    assert record.source_payload["notes"] == "gift wrap" and inline_processing == [record.pk]
    assert SandboxExactWebhookDelivery.objects.get().delivered

    # A deleted order (through Exact's API) notifies "Delete": stored and processed, no record.
    client = ExactClient(exact_connection)
    client.request("DELETE", f"salesorder/SalesOrders(guid'{so['OrderID']}')")
    client.session.close()
    latest = Delivery.objects.order_by("-id").first()
    assert latest.status == "processed" and b'"Action":"Delete"' in bytes(latest.body)
    assert Record.objects.filter(flow=flow).count() == 1


def test_forged_hashcode_is_rejected_and_exact_retries_then_gives_up(
    exact_connection, company, flow, inline_processing, monkeypatch
):
    subscriptions.subscribe(exact_connection)
    monkeypatch.setattr(sandbox_webhooks, "app_secret", lambda: "not-the-app-secret")
    so = state.find(company, "SalesOrders", OrderNumber=1)
    state.put(company, "SalesOrders", {**so, "Remarks": "forged"}, guid=so["OrderID"])

    rejected = Delivery.objects.get()
    assert rejected.status == "rejected" and not rejected.signature_valid and "HashCode" in rejected.error
    assert not Record.objects.exists()
    sent = SandboxExactWebhookDelivery.objects.get()
    assert (sent.attempts, sent.response_code, sent.delivered) == (1, 401, False)
    assert timedelta(minutes=1) < sent.next_attempt_at - timezone.now() <= timedelta(minutes=2)

    assert sandbox_webhooks.retry_due() == 0  # not due yet
    answer = member_of(exact_connection.organization).post(
        f"{exact_connection.settings['base_url'].split('/sandbox/')[0]}/sandbox/exact/_control/webhooks/retry",
        json={"all": True},
        timeout=10,
    )
    assert answer.json() == {"sent": 1}
    sent.refresh_from_db()
    assert sent.attempts == 2 and sent.next_attempt_at - timezone.now() > timedelta(minutes=3)
    while sandbox_webhooks.retry_due(everything=True):
        pass
    sent.refresh_from_db()
    assert sent.gave_up and sent.attempts == 1 + sandbox_webhooks.MAX_RETRIES
    assert Delivery.objects.filter(status="rejected").count() == sent.attempts
    assert not Record.objects.exists()


def test_sandbox_subscription_endpoint_rules(exact_connection, company, exact_base):
    client = ExactClient(exact_connection)
    bad_topic = client.session.post(
        client.base_url + "webhooks/WebhookSubscriptions",
        json={"Topic": "Nope", "CallbackURL": hook_url(exact_base, exact_connection)},
        headers={"Authorization": f"Bearer {exact_connection.credentials['access_token']}"},
        timeout=10,
    )
    assert bad_topic.status_code == 400
    unreachable = client.session.post(
        client.base_url + "webhooks/WebhookSubscriptions",
        json={"Topic": "SalesOrders", "CallbackURL": f"{exact_base}/hooks/exact/unknown/"},
        headers={"Authorization": f"Bearer {exact_connection.credentials['access_token']}"},
        timeout=10,
    )
    assert unreachable.status_code == 400 and "404" in unreachable.json()["error"]["message"]["value"]
    created = client.create_webhook_subscription("SalesOrders", hook_url(exact_base, exact_connection), "test")
    assert created["Topic"] == "SalesOrders" and created["Division"] == company.code
    listed = client.webhook_subscriptions()
    assert [s["ID"] for s in listed] == [created["ID"]] and listed[0]["Description"] == "test"
    assert client.delete_webhook_subscription(created["ID"]) is True
    assert client.delete_webhook_subscription(created["ID"]) is False  # 404: already gone
    assert client.webhook_subscriptions() == []
    client.session.close()
