"""A ShipStation connection's client, webhooks and the 401 -> needs_reauth rule (DESIGN §5.3, §7)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from connector.http import AuthExpired, CallRecord
from connector.models import Connection, raise_alert, resolve_alerts
from integrations.shipstation.client import V1_BASE_URL, ShipStationClient

EVENTS = ("ORDER_NOTIFY", "SHIP_NOTIFY")


def sandbox_base_url() -> str:
    return settings.PUBLIC_BASE_URL + "/sandbox/shipstation"


def base_url_for(connection: Connection) -> str:
    """The vendor's host in production; a sandbox base only when sandboxes are on."""
    if settings.SANDBOX_ENABLED and connection.settings.get("base_url"):
        return connection.settings["base_url"]
    return V1_BASE_URL


def client_for(
    connection: Connection, *, on_call: Callable[[CallRecord], None] | None = None, **kwargs
) -> ShipStationClient:
    creds = connection.credentials or {}
    return ShipStationClient(
        base_url_for(connection),
        api_key=creds.get("api_key", ""),
        api_secret=creds.get("api_secret", ""),
        on_call=on_call,
        **kwargs,
    )


def reauth_alert_key(connection: Connection) -> str:
    return f"reauth:{connection.pk}"


def mark_needs_reauth(connection: Connection, error: AuthExpired) -> None:
    Connection.objects.filter(pk=connection.pk).update(
        status=Connection.Status.NEEDS_REAUTH, last_error=error.message[:500]
    )
    connection.status = Connection.Status.NEEDS_REAUTH
    raise_alert(
        connection.organization,
        reauth_alert_key(connection),
        f"ShipStation rejected the API key of “{connection.label}”.",
        remediation="Create a new API key and secret in ShipStation (Settings → Account → API Settings), "
        "then connect again on the Connections page.",
        level="error",
        connection=connection,
    )


@contextmanager
def reauth_on_401(connection: Connection) -> Iterator[None]:
    """Every caller of the client runs inside this: a 401 marks the connection and raises an Alert."""
    try:
        yield
    except AuthExpired as exc:
        mark_needs_reauth(connection, exc)
        raise


def mark_active(connection: Connection) -> None:
    resolve_alerts(connection.organization, reauth_alert_key(connection))


def webhook_url(connection: Connection) -> str:
    return settings.PUBLIC_BASE_URL + reverse("shipstation_webhook", args=[connection.webhook_token])


@dataclass(frozen=True)
class WebhookState:
    event: str
    webhook_id: int | None
    ok: bool


def webhook_states(connection: Connection, client: ShipStationClient) -> list[WebhookState]:
    url = webhook_url(connection)
    with reauth_on_401(connection):
        hooks = client.list_webhooks()
    ours = {h.get("HookType"): h for h in hooks if h.get("Url") == url and h.get("Active", True)}
    return [WebhookState(e, (ours.get(e) or {}).get("WebHookID"), e in ours) for e in EVENTS]


def ensure_webhooks(connection: Connection, client: ShipStationClient) -> list[WebhookState]:
    """Subscribe whatever of ORDER_NOTIFY and SHIP_NOTIFY is missing (connect and Repair)."""
    url = webhook_url(connection)
    states = []
    for state in webhook_states(connection, client):
        if state.ok:
            states.append(state)
            continue
        with reauth_on_401(connection):
            new_id = client.subscribe_webhook(url, state.event, friendly_name=f"Connector {state.event.lower()}")
        states.append(WebhookState(state.event, new_id, True))
    connection.settings = {**connection.settings, "webhook_ids": {s.event: s.webhook_id for s in states}}
    Connection.objects.filter(pk=connection.pk).update(settings=connection.settings)
    return states


def remove_webhooks(connection: Connection, client: ShipStationClient) -> int:
    removed = 0
    for state in webhook_states(connection, client):
        if state.ok and state.webhook_id:
            with reauth_on_401(connection):
                client.unsubscribe_webhook(state.webhook_id)
            removed += 1
    return removed
