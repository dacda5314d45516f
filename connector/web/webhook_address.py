"""POST /connections/<pk>/rotate-webhook-token/: the connection page's "Rotate webhook address" button.

Owners and admins only (accounts.permissions); another organisation's connection is a 404. The work
is connector.webhook_tokens.rotate_webhook_token, shared with the REST API.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.permissions import require_admin
from connector.models import Connection
from connector.registry import RegistryError, get_system
from connector.tenancy import get_for_org_or_404
from connector.webhook_tokens import NotRotatable, rotate_webhook_token


@require_admin
@require_POST
def rotate_webhook_token_view(request, pk: int):
    connection = get_for_org_or_404(Connection, request.organization, pk=pk)
    try:
        rotation = rotate_webhook_token(connection, user=request.user)
    except NotRotatable as exc:
        messages.error(request, str(exc))
    else:
        (messages.success if rotation.reregistered else messages.error)(request, rotation.message)
    return redirect(connection_page(connection))


def connection_page(connection: Connection) -> str:
    try:
        name = get_system(connection.system).connection_url_name
    except RegistryError:
        name = ""
    return reverse(name, args=[connection.pk]) if name else reverse("connections")
