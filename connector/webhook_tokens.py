"""Rotating a connection's webhook address (DESIGN §7).

The URL token in `/hooks/<system>/<token>/` is the only thing that names a connection to an unsigned
sender (ShipStation V1), so a leaked address must be replaceable. Rotation:

1. gives the connection a new `webhook_token` under its row lock; the old address answers 404 from
   then on (this process forgets its cached lookup at once; other web processes within
   `inbox.HOOK_CACHE_SECONDS`);
2. asks the system's own `SystemInfo.rotate_webhooks(connection, previous_token)` hook to point the
   vendor's webhooks at the new address (a system that signs deliveries with a per-connection secret
   makes a new one there too) and to remove those at the old address. Core names no vendor.

When the vendor cannot be reached the new token stays (the leaked address must stop working) and the
merchant is told to press Repair, which subscribes the missing webhooks at the current address.
Neither token is ever logged, put in an Event or shown here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from connector.http import ApiError
from connector.inbox import forget_hook_token
from connector.models import Connection, Event, new_webhook_token
from connector.registry import RegistryError, get_system


class NotRotatable(Exception):
    """This connection has no webhook address to rotate (its system receives no webhooks, or it is
    disconnected). The message is for the merchant."""


@dataclass(frozen=True)
class Rotation:
    reregistered: bool  # the vendor now calls the new address
    message: str


def rotation_unavailable(connection: Connection) -> str:
    """Why the connection's webhook address cannot be rotated, or "" when it can."""
    try:
        info = get_system(connection.system)
    except RegistryError:
        return "This connection's system is not installed."
    if info.rotate_webhooks is None:
        return f"{info.name} sends no webhooks to this app, so there is no webhook address to rotate."
    if connection.status == Connection.Status.DISABLED:
        return "This connection is disconnected: its webhook address already answers nothing."
    return ""


def rotate_webhook_token(connection: Connection, *, user=None) -> Rotation:
    """Give `connection` a new webhook address and re-register the vendor's webhooks at it."""
    why_not = rotation_unavailable(connection)
    if why_not:
        raise NotRotatable(why_not)
    info = get_system(connection.system)
    with transaction.atomic():
        locked = Connection.objects.select_for_update().for_org(connection.organization).get(pk=connection.pk)
        previous = locked.webhook_token
        locked.webhook_token = new_webhook_token()
        locked.save(update_fields=["webhook_token", "updated_at"])
    forget_hook_token(previous)
    connection.refresh_from_db()
    try:
        done = info.rotate_webhooks(connection, previous)
        rotation = Rotation(True, f"New webhook address in use; {done}")
    except ApiError as exc:
        rotation = Rotation(
            False,
            f"New webhook address in use, but {info.name} could not be updated: {exc.message} "
            "Press Repair on this page to subscribe the webhooks at the new address.",
        )
    who = f" by {user.email}" if user is not None and getattr(user, "email", "") else ""
    Event.objects.create(
        organization=connection.organization,
        connection=connection,
        kind=Event.Kind.ALERT,
        message=f"Webhook address rotated{who}. {rotation.message}",
        data={"reregistered": rotation.reregistered},
    )
    return rotation
