"""Connecting with a V2 API key: checked live, V2 webhooks subscribed, listed, repaired, removed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connector.models import Connection
from integrations.shipstation.sandbox.models import SandboxWebhook


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def _post(client, root, **fields):
    return client.post(reverse("shipstation_connect"), {"label": "SS V2", "base_url": root, **fields})


def test_wrong_v2_key_is_a_form_error_and_saves_nothing(logged_in, account, sandbox_root):
    response = _post(logged_in, sandbox_root, v2_api_key="not-the-key")
    page = response.content.decode()
    assert response.status_code == 200 and "did not accept this V2 API key" in page and "not-the-key" not in page
    assert not Connection.objects.exists() and not SandboxWebhook.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [({}, "Enter a V1 API key and secret, or a V2 API key"), ({"api_key": "k"}, "needs both the API key")],
)
def test_incomplete_keys_are_form_errors(logged_in, account, sandbox_root, fields, message):
    response = _post(logged_in, sandbox_root, **fields)
    assert message in response.content.decode() and not Connection.objects.exists()


def test_v2_connect_subscribe_list_repair_disconnect(logged_in, account, sandbox_root, alice):
    response = _post(logged_in, sandbox_root, v2_api_key=account.v2_api_key)
    connection = Connection.objects.get(organization=alice.org, system="shipstation")
    assert response.status_code == 302
    assert connection.credentials == {"v2_api_key": account.v2_api_key}
    assert connection.settings["api_version"] == "v2"
    url = f"{sandbox_root.split('/sandbox')[0]}/hooks/shipstation/{connection.webhook_token}/"
    hooks = SandboxWebhook.objects.filter(account=account).order_by("event")
    assert [(h.api_version, h.event, h.target_url) for h in hooks] == [
        ("v2", "label_created_v2", url),
        ("v2", "shipment_created_v2", url),
    ]
    assert set(connection.settings["webhook_ids"].values()) == {f"se-{h.pk}" for h in hooks}

    detail = reverse("shipstation_connection", args=[connection.pk])
    page = logged_in.get(detail).content.decode()
    assert page.count("subscribed") >= 2 and "RSA-signed" in page and account.v2_api_key not in page

    SandboxWebhook.objects.filter(event="label_created_v2").delete()
    assert "missing" in logged_in.get(detail).content.decode()
    logged_in.post(reverse("shipstation_repair", args=[connection.pk]))
    assert SandboxWebhook.objects.filter(account=account, api_version="v2").count() == 2

    logged_in.post(reverse("shipstation_disconnect", args=[connection.pk]))
    assert not SandboxWebhook.objects.filter(account=account).exists()
    connection.refresh_from_db()
    assert connection.status == Connection.Status.DISABLED


def test_v1_with_a_v2_key_checks_both_and_keeps_v1_webhooks(logged_in, account, sandbox_root, alice):
    bad = _post(logged_in, sandbox_root, api_key=account.api_key, api_secret=account.api_secret, v2_api_key="wrong")
    assert "did not accept this V2 API key" in bad.content.decode() and not Connection.objects.exists()
    _post(
        logged_in,
        sandbox_root,
        api_key=account.api_key,
        api_secret=account.api_secret,
        v2_api_key=account.v2_api_key,
    )
    connection = Connection.objects.get(organization=alice.org)
    assert connection.settings["api_version"] == "v1"
    assert sorted(SandboxWebhook.objects.values_list("api_version", "event")) == [
        ("v1", "ORDER_NOTIFY"),
        ("v1", "SHIP_NOTIFY"),
    ]
