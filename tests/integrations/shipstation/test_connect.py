"""Connecting: keys checked live, stored encrypted, webhooks subscribed, Repair, Disconnect, 401 later."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.urls import reverse

from connector.http import AuthExpired
from connector.models import Alert, Connection
from integrations.shipstation import connection as conn
from integrations.shipstation.sandbox.models import SandboxWebhook


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def _post(client, account, root, **overrides):
    data = {
        "label": "My ShipStation",
        "api_key": account.api_key,
        "api_secret": account.api_secret,
        "base_url": root,
        **overrides,
    }
    return client.post(reverse("shipstation_connect"), data)


def test_wrong_keys_show_a_form_error_and_save_nothing(logged_in, account, sandbox_root):
    response = _post(logged_in, account, sandbox_root, api_secret="not-the-secret")
    assert response.status_code == 200
    assert "did not accept this API key and secret" in response.content.decode()
    assert "not-the-secret" not in response.content.decode()
    assert not Connection.objects.exists()


def test_connect_stores_keys_encrypted_and_subscribes_webhooks(logged_in, account, sandbox_root, alice):
    response = _post(logged_in, account, sandbox_root)
    connection = Connection.objects.get(organization=alice.org, system="shipstation")
    assert response.status_code == 302 and response["Location"] == reverse(
        "shipstation_connection", args=[connection.pk]
    )
    assert connection.credentials == {"api_key": account.api_key, "api_secret": account.api_secret}
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM connector_connection WHERE id = %s", [connection.pk])
        raw = str(cursor.fetchone()[0])
    assert account.api_secret not in raw and account.api_key not in raw
    hooks = SandboxWebhook.objects.filter(account=account).order_by("event")
    assert [(h.event, h.target_url) for h in hooks] == [
        ("ORDER_NOTIFY", f"{sandbox_root.split('/sandbox')[0]}/hooks/shipstation/{connection.webhook_token}/"),
        ("SHIP_NOTIFY", f"{sandbox_root.split('/sandbox')[0]}/hooks/shipstation/{connection.webhook_token}/"),
    ]
    page = logged_in.get(reverse("shipstation_connection", args=[connection.pk])).content.decode()
    assert page.count("subscribed") >= 2 and account.api_secret not in page and account.api_key not in page


def test_repair_resubscribes_and_disconnect_unsubscribes(logged_in, account, sandbox_root, alice):
    _post(logged_in, account, sandbox_root)
    connection = Connection.objects.get(organization=alice.org)
    SandboxWebhook.objects.filter(account=account, event="SHIP_NOTIFY").delete()
    assert "missing" in logged_in.get(reverse("shipstation_connection", args=[connection.pk])).content.decode()
    logged_in.post(reverse("shipstation_repair", args=[connection.pk]))
    assert SandboxWebhook.objects.filter(account=account).count() == 2
    logged_in.post(reverse("shipstation_disconnect", args=[connection.pk]))
    assert not SandboxWebhook.objects.filter(account=account).exists()
    connection.refresh_from_db()
    assert connection.status == Connection.Status.DISABLED


def test_other_tenants_get_404(client, bob, account, sandbox_root, alice):
    client.force_login(alice)
    _post(client, account, sandbox_root)
    connection = Connection.objects.get(organization=alice.org)
    client.force_login(bob)
    assert client.get(reverse("shipstation_connection", args=[connection.pk])).status_code == 404
    assert client.post(reverse("shipstation_disconnect", args=[connection.pk])).status_code == 404
    assert SandboxWebhook.objects.filter(account=account).count() == 2


def test_a_later_401_marks_needs_reauth_and_raises_an_alert(account, sandbox_root, alice):
    connection = Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="SS",
        credentials={"api_key": account.api_key, "api_secret": "rotated-away"},
        settings={"base_url": sandbox_root},
    )
    with pytest.raises(AuthExpired):
        conn.webhook_states(connection, conn.client_for(connection))
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH
    alert = Alert.objects.get(organization=alice.org, key=f"reauth:{connection.pk}", resolved_at=None)
    assert "connect again" in alert.remediation and "rotated-away" not in alert.message + alert.remediation


def test_connect_page_requires_login(client):
    assert client.get(reverse("shipstation_connect")).status_code == 302
