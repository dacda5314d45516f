"""A ShipStation connection's client, webhooks and the 401 -> needs_reauth rule (DESIGN §5.3, §7)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from connector.http import AuthExpired, CallRecord, loopback_alias, origin_of
from connector.models import Connection, raise_alert, resolve_alerts
from integrations.shipstation.client import V1_BASE_URL, V2_BASE_URL, ShipStationClient, ShipStationV2Client
from integrations.shipstation.signing import PRODUCTION_JWKS_URL, JwksCache

EVENTS = ("ORDER_NOTIFY", "SHIP_NOTIFY")
# The V2 equivalents (SHIPSTATION.md §B4): "On New Order Created" and a label being created.
V2_EVENTS = ("shipment_created_v2", "label_created_v2")


def sandbox_base_url() -> str:
    return settings.PUBLIC_BASE_URL + "/sandbox/shipstation"


def base_url_for(connection: Connection) -> str:
    """The vendor's host in production; a sandbox base only when sandboxes are on."""
    if settings.SANDBOX_ENABLED and connection.settings.get("base_url"):
        return connection.settings["base_url"]
    return V1_BASE_URL


def api_version(connection: Connection) -> str:
    """ "v1" (key + secret, unsigned webhooks) or "v2" (API-Key only, RSA-signed webhooks).

    A V1 connection may also hold a V2 key for V2-only features (inventory); its webhooks stay V1.
    """
    version = connection.settings.get("api_version")
    if version in ("v1", "v2"):
        return version
    creds = connection.credentials or {}
    return "v2" if creds.get("v2_api_key") and not creds.get("api_key") else "v1"


def v2_base_url_for(connection: Connection) -> str:
    """The sandbox serves V2 under the same root (`<root>/v2/...`), as api.shipstation.com does."""
    if settings.SANDBOX_ENABLED and connection.settings.get("base_url"):
        return connection.settings["base_url"]
    return V2_BASE_URL


def jwks_url_for(connection: Connection) -> str:
    """The one place V2 signing keys come from: ShipEngine's JWKS, or the sandbox's in sandbox mode."""
    if settings.SANDBOX_ENABLED and connection.settings.get("base_url"):
        return connection.settings["base_url"].rstrip("/") + "/v2/jwks"
    return PRODUCTION_JWKS_URL


def jwks_for(connection: Connection) -> JwksCache:
    return JwksCache(jwks_url_for(connection))


def v2_client_for(
    connection: Connection, *, on_call: Callable[[CallRecord], None] | None = None, **kwargs
) -> ShipStationV2Client:
    return ShipStationV2Client(
        v2_base_url_for(connection),
        api_key=(connection.credentials or {}).get("v2_api_key", ""),
        on_call=on_call,
        **kwargs,
    )


def pointer_aliases(connection: Connection) -> tuple[str, ...]:
    """Sandbox mode only: the ONE other loopback name (`localhost` <-> `127.0.0.1`) under which the
    sandbox hands out webhook pointers, as ShipStation does on its numbered API hosts. A production
    connection's other hosts are ShipStation's own allow-list (client.V1_POINTER_HOST)."""
    if not (settings.SANDBOX_ENABLED and connection.settings.get("base_url")):
        return ()
    alias = loopback_alias(origin_of(connection.settings["base_url"]).host)
    return (alias,) if alias else ()


def client_for(
    connection: Connection, *, on_call: Callable[[CallRecord], None] | None = None, **kwargs
) -> ShipStationClient:
    creds = connection.credentials or {}
    kwargs.setdefault("per_minute", (connection.settings or {}).get("rate_limit_per_minute"))
    return ShipStationClient(
        base_url_for(connection),
        api_key=creds.get("api_key", ""),
        api_secret=creds.get("api_secret", ""),
        on_call=on_call,
        alias_hosts=pointer_aliases(connection),
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
    return _hook_url(connection.webhook_token)


def _hook_url(token: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("shipstation_webhook", args=[token])


@dataclass(frozen=True)
class WebhookState:
    event: str
    webhook_id: int | str | None  # V1: integer WebHookID; V2: "se-..." webhook_id
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


# --- V2 webhooks (`/v2/environment/webhooks`) ---------------------------------------------------


def v2_webhook_states(connection: Connection, client: ShipStationV2Client) -> list[WebhookState]:
    url = webhook_url(connection)
    with reauth_on_401(connection):
        hooks = client.list_webhooks()
    ours = {h.get("event"): h for h in hooks if isinstance(h, dict) and h.get("url") == url}
    return [WebhookState(e, (ours.get(e) or {}).get("webhook_id"), e in ours) for e in V2_EVENTS]


def ensure_v2_webhooks(connection: Connection, client: ShipStationV2Client) -> list[WebhookState]:
    url = webhook_url(connection)
    states = []
    for state in v2_webhook_states(connection, client):
        if not state.ok:
            with reauth_on_401(connection):
                created = client.create_webhook(url, state.event)
            state = WebhookState(state.event, created.get("webhook_id"), True)
        states.append(state)
    connection.settings = {**connection.settings, "webhook_ids": {s.event: s.webhook_id for s in states}}
    Connection.objects.filter(pk=connection.pk).update(settings=connection.settings)
    return states


def remove_v2_webhooks(connection: Connection, client: ShipStationV2Client) -> int:
    removed = 0
    for state in v2_webhook_states(connection, client):
        if state.ok and state.webhook_id:
            with reauth_on_401(connection):
                client.delete_webhook(str(state.webhook_id))
            removed += 1
    return removed


# --- Either version: what the views call ---------------------------------------------------------


def states_for(connection: Connection) -> list[WebhookState]:
    if api_version(connection) == "v2":
        return v2_webhook_states(connection, v2_client_for(connection))
    return webhook_states(connection, client_for(connection))


def ensure_for(connection: Connection) -> list[WebhookState]:
    if api_version(connection) == "v2":
        return ensure_v2_webhooks(connection, v2_client_for(connection))
    return ensure_webhooks(connection, client_for(connection))


def remove_for(connection: Connection) -> int:
    if api_version(connection) == "v2":
        return remove_v2_webhooks(connection, v2_client_for(connection))
    return remove_webhooks(connection, client_for(connection))


def rotate_webhooks(connection: Connection, previous_token: str) -> str:
    """Registry hook after the webhook address changed. V1: subscribe our events at the new address
    first (so nothing is missed for longer than needed), then unsubscribe ours at the old one. V2:
    move ours to the new address. V1 webhooks carry no secret; V2 deliveries are signed with
    ShipStation's keys, so there is no secret to renew."""
    old_url = _hook_url(previous_token)
    if api_version(connection) == "v2":
        # V2 takes one URL per event: our webhooks are moved (PUT url), then any missing one created.
        v2 = v2_client_for(connection)
        with reauth_on_401(connection):
            stale = [h for h in v2.list_webhooks() if isinstance(h, dict) and h.get("url") == old_url]
            for hook in stale:
                v2.update_webhook_url(str(hook.get("webhook_id") or ""), webhook_url(connection))
        states = ensure_v2_webhooks(connection, v2)
        done = f"{len(stale)} webhook(s) moved there"
    else:
        v1 = client_for(connection)
        states = ensure_webhooks(connection, v1)
        with reauth_on_401(connection):
            stale = [h for h in v1.list_webhooks() if h.get("Url") == old_url]
            for hook in stale:
                v1.unsubscribe_webhook(hook["WebHookID"])
        done = f"{len(stale)} webhook(s) at the old address removed"
    return f"ShipStation calls it for {', '.join(s.event for s in states)}; {done}."
