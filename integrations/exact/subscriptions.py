"""Our Exact webhook subscriptions (EXACT.md §7.1): subscribe on division choice, drop on disconnect.

- One topic, `SalesOrders`, called back at `{PUBLIC_BASE_URL}/hooks/exact/<webhook_token>/`.
- Exact only calls HTTPS callbacks; with a plain-http PUBLIC_BASE_URL (a local install) we do not
  ask, and the connection page says the catch-up poll is what brings orders over. The in-repo
  sandbox calls http too, so a connection whose host is our own sandbox subscribes anyway.
- Exact POSTs an empty body to the callback while creating the subscription; our webhook view
  answers 200 to it, so the connection must be saved (committed) before we subscribe.
- A second subscription to the same topic in the division is HTTP 500 "Data already exists":
  that is "already subscribed". We list to find it; only one calling our own URL counts as ours.
  One calling another address (another connection to the same company) is left alone, and never
  deleted by us.
- Subscribing never breaks connecting: the outcome (state, message, ids) is kept in
  `connection.settings["webhooks"]` and shown with a "Subscribe again" button. Changing division
  replaces the subscriptions of the previous one. Unsubscribing is best effort and only logs.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from connector.http import ApiError, Permanent
from connector.models import Connection

logger = logging.getLogger(__name__)

TOPIC = "SalesOrders"
SETTINGS_KEY = "webhooks"
DESCRIPTION = "Connector: sales orders"

SUBSCRIBED = "subscribed"  # ours, calling our URL
ELSEWHERE = "elsewhere"  # the topic is subscribed in this division, but not to our URL
NOT_HTTPS = "not_https"  # not asked: Exact refuses plain-http callbacks
FAILED = "failed"


def callback_url(connection: Connection) -> str:
    return settings.PUBLIC_BASE_URL + reverse("exact_webhook", args=[connection.webhook_token])


def talks_to_sandbox(connection: Connection) -> bool:
    """True when the connection's Exact host is this app's own sandbox (which accepts http)."""
    base = str((connection.settings or {}).get("base_url") or "")
    return base.startswith(f"{settings.PUBLIC_BASE_URL}/sandbox/exact/")


def status(connection: Connection) -> dict:
    return dict((connection.settings or {}).get(SETTINGS_KEY) or {})


def _client(connection: Connection, division):
    from integrations.exact.client import ExactClient

    return ExactClient(connection, division=division)


def _store(connection: Connection, outcome: dict | None) -> None:
    """Write only our key, on a fresh locked row: a token refresh may have changed other settings."""
    with transaction.atomic():
        locked = Connection.objects.select_for_update().for_org(connection.organization).get(pk=connection.pk)
        fresh = dict(locked.settings or {})
        if outcome is None:
            fresh.pop(SETTINGS_KEY, None)
        else:
            fresh[SETTINGS_KEY] = outcome
        locked.settings = fresh
        locked.save(update_fields=["settings", "updated_at"])
    connection.settings = dict(fresh)


def _delete_all(connection: Connection, subscriptions: list[dict]) -> int:
    """Delete the given subscriptions of ours (best effort); the number Exact deleted."""
    deleted = 0
    for sub in subscriptions:
        with _client(connection, sub.get("division")) as client:
            try:
                deleted += int(client.delete_webhook_subscription(str(sub.get("id") or "")))
            except ApiError as exc:
                logger.warning(
                    "exact webhook subscription %s of connection %s not deleted: %s",
                    sub.get("id"),
                    connection.pk,
                    exc.message,
                )
    return deleted


def _outcome(state: str, division, message: str, subscriptions: list[dict] | None = None, **extra) -> dict:
    return {
        "state": state,
        "division": division,
        "topic": TOPIC,
        "message": message,
        "subscriptions": subscriptions or [],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }


def subscribe(connection: Connection) -> dict:
    """Subscribe the connection's division to `SalesOrders`; the stored outcome. Never raises ApiError."""
    division = (connection.settings or {}).get("division")
    url = callback_url(connection)
    previous = status(connection).get("subscriptions") or []
    # Another division chosen (or our URL changed): the old subscriptions would call us for a company
    # this connection no longer reads, and the division check of the webhook view would refuse them.
    stale = [s for s in previous if s.get("division") != division or s.get("callback") != url]
    kept = [s for s in previous if s not in stale]
    if stale:
        _delete_all(connection, stale)
    if not division:
        outcome = _outcome(FAILED, None, "No Exact company (division) is chosen yet.")
    elif not url.startswith("https://") and not talks_to_sandbox(connection):
        outcome = _outcome(
            NOT_HTTPS,
            division,
            "Exact Online only calls HTTPS addresses and this server's address is "
            f"{settings.PUBLIC_BASE_URL}. Changes arrive with the regular catch-up poll instead.",
            kept,
        )
    else:
        outcome = _create(connection, division, url, kept)
    _store(connection, outcome)
    return outcome


def _create(connection: Connection, division, url: str, kept: list[dict]) -> dict:
    with _client(connection, division) as client:
        try:
            created = client.create_webhook_subscription(TOPIC, url, DESCRIPTION)
            if created is not None:
                sub = {"id": str(created["ID"]), "division": division, "topic": TOPIC, "callback": url}
                return _outcome(SUBSCRIBED, division, "Exact Online sends sales-order changes as they happen.", [sub])
            # "Data already exists": find the one that is there.
            existing = [s for s in client.webhook_subscriptions() if str(s.get("Topic", "")).lower() == TOPIC.lower()]
        except ApiError as exc:
            logger.warning("exact webhook subscription failed for connection %s: %s", connection.pk, exc.message)
            return _outcome(FAILED, division, f"Subscribing to Exact Online's webhooks failed: {exc.message}", kept)
    ours = next((s for s in existing if s.get("CallbackURL") == url), None)
    if ours is not None:
        sub = {"id": str(ours["ID"]), "division": division, "topic": TOPIC, "callback": url}
        return _outcome(SUBSCRIBED, division, "Exact Online sends sales-order changes as they happen.", [sub])
    message = (
        "Exact Online already sends this company's sales-order changes to another address (another "
        "connection, or another Exact user of the company). Changes arrive with the regular catch-up "
        "poll; remove that subscription in Exact and press Subscribe again to receive them here."
    )
    return _outcome(ELSEWHERE, division, message, kept)


def unsubscribe(connection: Connection) -> int:
    """Delete our subscriptions (best effort, failures logged) and forget them; the number deleted."""
    subscriptions = status(connection).get("subscriptions") or []
    deleted = _delete_all(connection, subscriptions) if subscriptions else 0
    if status(connection):
        _store(connection, None)
    return deleted


def on_disconnecting(sender, *, connection: Connection, **kwargs) -> None:
    """`connector.oauth.disconnecting` receiver: delete our subscriptions (EXACT.md §7.1) while the
    tokens still work. Best effort: the provider logs a failure and disconnects anyway."""
    unsubscribe(connection)


def rotate_webhooks(connection: Connection, previous_token: str) -> str:
    """Registry hook after the webhook address changed: `subscribe` deletes our subscriptions whose
    callback is no longer our URL (the old address) and subscribes the new one. Exact signs with the
    app's webhook secret, not a per-connection one, so there is no secret to renew."""
    outcome = subscribe(connection)
    if outcome["state"] == FAILED:
        raise Permanent(outcome["message"])
    return outcome["message"]
