"""`{% rotate_webhook_button connection %}`: the connection page's "Rotate webhook address" button.

Shown to owners and admins of the organisation, for connections whose system receives webhooks
(`SystemInfo.rotate_webhooks`) and that are not disconnected; renders nothing otherwise.
"""

from __future__ import annotations

from django import template

from accounts.permissions import is_admin
from connector.webhook_tokens import rotation_unavailable

register = template.Library()


@register.inclusion_tag("connector/_rotate_webhook.html", takes_context=True)
def rotate_webhook_button(context, connection) -> dict:
    request = context.get("request")
    shown = request is not None and is_admin(request) and not rotation_unavailable(connection)
    return {"shown": shown, "connection": connection, "csrf_token": context.get("csrf_token")}
