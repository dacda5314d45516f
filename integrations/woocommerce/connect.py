"""Connecting a store: verify keys live, save them encrypted, register / repair / delete webhooks.

No database transaction is held across a call to the store: the store's webhook creation pings
our own receiver, which must already see the committed Connection.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import requests
from django.conf import settings
from django.db import transaction
from django.urls import reverse

from connector.http import ApiError, AuthExpired, CallRecord
from connector.models import Connection, Event, raise_alert, resolve_alerts
from connector.netguard import guarded_session

from .auth import is_sandbox_store, new_webhook_secret, normalize_store_url
from .client import WEBHOOK_TOPICS, WooCommerceClient, WooNotFound

logger = logging.getLogger(__name__)


# One answer for every failure to reach or verify a store, whatever the cause (refused, closed
# port, timeout, TLS, an address we refuse, a site that is not WooCommerce): a different answer per
# cause would make the connect form a port scanner. The far side's body is never shown.
UNREACHABLE = "We could not reach a WooCommerce store at that address."
UNREACHABLE_HINT = (
    "Check the address (the site's home page, on HTTPS), that the site is online and that WooCommerce "
    "is active with pretty permalinks on."
)
INDEX_MAX_BYTES = 2_000_000  # a WordPress REST index of a store with many plugins is a few hundred KB
INDEX_TIMEOUT = (5.0, 15.0)


class KeyCheckFailed(Exception):
    """The keys did not work; `message` is what the merchant sees (never the keys)."""

    def __init__(self, message: str, remediation: str = ""):
        super().__init__(message)
        self.message = message
        self.remediation = remediation


@dataclass(frozen=True)
class VerifiedKeys:
    store_url: str
    consumer_key: str
    consumer_secret: str
    query_string_auth: bool


def call_logger(organization, connection: Connection | None = None):
    """An `on_call` sink that writes each store call as an Event (URLs already redacted)."""

    def record(call: CallRecord) -> None:
        Event.objects.create(
            organization=organization,
            connection=connection,
            kind=Event.Kind.API_CALL,
            message=f"{call.method} {call.url} -> {call.status or call.error}",
            data={"method": call.method, "url": call.url, "status": call.status, "ms": call.ms, "error": call.error},
        )

    return record


def verify_keys(store_url: str, consumer_key: str, consumer_secret: str, *, on_call=None) -> VerifiedKeys:
    """A live read with Basic auth, then with query-string keys if the store never saw the header."""
    store_url = normalize_store_url(store_url)
    if not consumer_key.startswith("ck_") or not consumer_secret.startswith("cs_"):
        raise KeyCheckFailed(
            "Those are not WooCommerce REST keys: the consumer key starts with ck_ and the secret with cs_.",
            "Copy both from WooCommerce → Settings → Advanced → REST API.",
        )
    last_error: ApiError | None = None
    for query_string_auth in (False, True):
        client = WooCommerceClient(
            store_url, consumer_key, consumer_secret, query_string_auth=query_string_auth, on_call=on_call
        )
        try:
            client.check_access()
        except AuthExpired as exc:
            last_error = exc
            if exc.vendor_code == "woocommerce_rest_cannot_view" and not query_string_auth:
                continue  # Anonymous: a proxy may have dropped Authorization. Try query-string keys.
            break
        except ApiError:
            raise KeyCheckFailed(UNREACHABLE, UNREACHABLE_HINT) from None
        return VerifiedKeys(store_url, consumer_key, consumer_secret, query_string_auth)
    assert last_error is not None
    if not (last_error.vendor_code or "").startswith("woocommerce_rest_"):
        # A 401/403 that is not WooCommerce's own refusal: something else answered.
        raise KeyCheckFailed(UNREACHABLE, UNREACHABLE_HINT)
    raise KeyCheckFailed("The store refused the keys.", last_error.remediation)


def store_error_text(exc: ApiError) -> str:
    """What a tenant is told about a failed store call: our words and the HTTP status, never the
    store's own body (which may be anything the far side chose to send)."""
    if isinstance(exc, AuthExpired):
        return f"The store refused our key (HTTP {exc.status or '?'}). {exc.remediation}".strip()
    if exc.status:
        return f"The store answered with an error (HTTP {exc.status})."
    return UNREACHABLE


def check_store(store_url: str) -> None:
    """Before sending a browser to `<store>/wc-auth/v1/authorize`: is it reachable, and WooCommerce?

    `GET <store>/wp-json/` is WordPress's public REST index (WP_REST_Server::get_index() in WordPress
    core, wp-includes/rest-api/class-wp-rest-server.php): JSON with `namespaces`, which lists `wc/v3`
    when WooCommerce's REST API is active. It goes through the same validated, pinned path as every
    store call (connector.netguard); redirects are not followed. Raises KeyCheckFailed(UNREACHABLE).
    """
    store_url = normalize_store_url(store_url)
    session = requests.Session() if is_sandbox_store(store_url) else guarded_session()
    try:
        with (
            session,
            session.get(
                store_url + "/wp-json/",
                headers={"Accept": "application/json"},
                timeout=INDEX_TIMEOUT,
                allow_redirects=False,
                stream=True,
            ) as response,
        ):
            body = response.raw.read(INDEX_MAX_BYTES + 1, decode_content=True)
            ok = response.status_code == 200 and len(body) <= INDEX_MAX_BYTES
            index = json.loads(body) if ok else None
    except (requests.RequestException, ValueError, OSError):
        index = None
    namespaces = index.get("namespaces") if isinstance(index, dict) else None
    if not isinstance(namespaces, list) or "wc/v3" not in namespaces:
        logger.info("store check failed for a WooCommerce connect attempt")
        raise KeyCheckFailed(UNREACHABLE, UNREACHABLE_HINT)


def save_connection(organization, keys: VerifiedKeys, *, label: str = "", key_id=None) -> Connection:
    """Create the store's connection, or refresh the keys of this organisation's existing one."""
    with transaction.atomic():
        existing = [
            c
            for c in Connection.objects.for_org(organization).filter(system="woocommerce")
            if (c.settings or {}).get("store_url") == keys.store_url
        ]
        connection = existing[0] if existing else Connection(organization=organization, system="woocommerce")
        connection.label = label or connection.label or keys.store_url.split("://", 1)[1]
        connection.credentials = {
            "consumer_key": keys.consumer_key,
            "consumer_secret": keys.consumer_secret,
            **({"key_id": key_id} if key_id is not None else {}),
        }
        connection.settings = {
            **(connection.settings or {}),
            "store_url": keys.store_url,
            "query_string_auth": keys.query_string_auth,
        }
        if keys.store_url.startswith("http://") or "/sandbox/woocommerce/" in keys.store_url:
            connection.settings["base_url"] = keys.store_url  # sandbox mode only (auth.normalize_store_url)
        if not connection.webhook_secret:
            connection.webhook_secret = new_webhook_secret()
        connection.status = Connection.Status.ACTIVE
        connection.last_error = ""
        connection.save()
    resolve_alerts(organization, f"woocommerce-reauth:{connection.pk}")
    return connection


def delivery_url(connection: Connection) -> str:
    return settings.PUBLIC_BASE_URL + reverse("woocommerce_webhook", args=[connection.webhook_token])


def client_for(connection: Connection) -> WooCommerceClient:
    return WooCommerceClient.for_connection(connection, on_call=call_logger(connection.organization, connection))


def register_webhooks(connection: Connection) -> dict:
    """Create our three webhooks with the connection's secret; returns {topic: webhook id}."""
    client = client_for(connection)
    url = delivery_url(connection)
    ours = {h["topic"]: h for h in client.list_webhooks() if h.get("delivery_url") == url}
    ids = {}
    for topic in WEBHOOK_TOPICS:
        hook = ours.get(topic)
        if hook is None:
            hook = client.create_webhook(
                name=f"Connector: {topic}", topic=topic, delivery_url=url, secret=connection.webhook_secret
            )
        elif hook.get("status") != "active":
            hook = client.update_webhook(hook["id"], status="active", secret=connection.webhook_secret)
        ids[topic] = hook["id"]
    Connection.objects.filter(pk=connection.pk).update(settings={**connection.settings, "webhooks": ids})
    connection.settings = {**connection.settings, "webhooks": ids}
    return ids


def rotate_webhooks(connection: Connection, previous_token: str) -> str:
    """Registry hook after the webhook address changed: a new signing secret, and our webhooks in the
    store moved to the new address with it. `PUT /webhooks/<id>` takes `delivery_url` and `secret`
    (WooCommerce core, WC_REST_Webhooks_V1_Controller::update_item); a topic still missing is created."""
    old_url = settings.PUBLIC_BASE_URL + reverse("woocommerce_webhook", args=[previous_token])
    connection.webhook_secret = new_webhook_secret()
    connection.save(update_fields=["webhook_secret", "updated_at"])
    client = client_for(connection)
    url = delivery_url(connection)
    moved = 0
    for hook in client.list_webhooks():
        if hook.get("delivery_url") == old_url:
            client.update_webhook(hook["id"], delivery_url=url, secret=connection.webhook_secret, status="active")
            moved += 1
    register_webhooks(connection)
    return f"{moved} store webhook(s) moved to it with a new signing secret."


def webhook_status(connection: Connection) -> list[dict]:
    """Our webhooks as the store reports them: topic, id, status (or "missing")."""
    client = client_for(connection)
    url = delivery_url(connection)
    found = {h["topic"]: h for h in client.list_webhooks() if h.get("delivery_url") == url}
    return [
        {
            "topic": t,
            "id": found[t]["id"] if t in found else None,
            "status": found[t]["status"] if t in found else "missing",
        }
        for t in WEBHOOK_TOPICS
    ]


def repair_webhooks(connection: Connection) -> dict:
    """Re-enable disabled or paused webhooks and re-create missing ones; returns what was done.

    WooCommerce disables a webhook after repeated failed deliveries and never retries a delivery
    (WOO.md §1.4-1.5), so after a repair the flows fed by this store poll at once (`backfill`):
    orders modified since each flow's cursor, which covers the whole time the webhook was off.
    A re-enabled webhook gets our secret again: a secret changed in the store is the usual reason
    for the failures (every delivery answered 401). Records `settings["webhooks_repaired_at"]`.
    """
    client = client_for(connection)
    url = delivery_url(connection)
    found = {h["topic"]: h for h in client.list_webhooks() if h.get("delivery_url") == url}
    done: dict[str, str] = {}
    ids = dict((connection.settings or {}).get("webhooks") or {})
    for topic in WEBHOOK_TOPICS:
        hook = found.get(topic)
        if hook is None:
            hook = client.create_webhook(
                name=f"Connector: {topic}", topic=topic, delivery_url=url, secret=connection.webhook_secret
            )
            done[topic] = "created"
        elif hook.get("status") != "active":
            hook = client.update_webhook(hook["id"], status="active", secret=connection.webhook_secret)
            done[topic] = "reactivated"
        else:
            done[topic] = "ok"
        ids[topic] = hook["id"]
    changed = any(v != "ok" for v in done.values())
    new_settings = {**(connection.settings or {}), "webhooks": ids}
    if changed:
        from django.utils import timezone

        new_settings["webhooks_repaired_at"] = timezone.now().isoformat()
        Event.objects.create(
            organization=connection.organization,
            connection=connection,
            kind=Event.Kind.ALERT,
            message="WooCommerce webhooks repaired: " + ", ".join(f"{t} {a}" for t, a in done.items() if a != "ok"),
            data=done,
        )
    Connection.objects.filter(pk=connection.pk).update(settings=new_settings)
    connection.settings = new_settings
    resolve_alerts(connection.organization, f"woocommerce-webhooks:{connection.pk}")
    if changed:
        backfill(connection)
    return done


def backfill(connection: Connection) -> list[int]:
    """Queue a poll of every enabled flow fed by this store (after commit); returns their ids.

    The poll reads orders modified since the flow's cursor (minus the engine's overlap), so
    whatever the store could not deliver while a webhook was off is picked up now; versions we
    already synced are recognised as unchanged and cost no write.
    """
    from connector.models import Flow
    from connector.tasks import poll_flow

    flow_ids = list(Flow.objects.filter(source=connection, enabled=True).values_list("pk", flat=True))
    for flow_id in flow_ids:
        transaction.on_commit(lambda fid=flow_id: poll_flow.delay(fid))
    return flow_ids


def delete_webhooks(connection: Connection) -> int:
    """Delete our webhooks from the store (those we registered, and any pointing at our URL)."""
    client = client_for(connection)
    url = delivery_url(connection)
    ids = set((connection.settings or {}).get("webhooks", {}).values())
    try:
        ids |= {h["id"] for h in client.list_webhooks() if h.get("delivery_url") == url}
    except ApiError as exc:
        logger.warning("could not list webhooks on disconnect: %s", exc.message, extra={"connection_id": connection.pk})
    deleted = 0
    for hook_id in ids:
        try:
            client.delete_webhook(hook_id)
            deleted += 1
        except WooNotFound:
            continue
    return deleted


def mark_needs_reauth(connection: Connection, error: ApiError) -> None:
    Connection.objects.filter(pk=connection.pk).update(
        status=Connection.Status.NEEDS_REAUTH, last_error=store_error_text(error)[:2000]
    )
    raise_alert(
        connection.organization,
        f"woocommerce-reauth:{connection.pk}",
        f"WooCommerce store {connection.label} refused our key (HTTP {error.status or '?'}).",
        remediation=error.remediation or "Reconnect the store on the Connections page.",
        level="error",
        connection=connection,
    )
