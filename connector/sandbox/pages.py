"""The pieces every sandbox's landing page and "Try with sandbox accounts" button share.

`/sandbox/<system>/` shows the signed-in organisation's sandbox accounts with their keys and
pages; `POST /sandbox/<system>/_try` (the button on the system's Connect page) makes that
organisation's sandbox account and connects it through the system's usual path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_POST

from accounts.permissions import require_admin
from connector.models import Connection
from connector.registry import get_system
from connector.sandbox.access import page_view


@dataclass
class AccountCard:
    """One sandbox account as its landing page shows it."""

    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)  # (label, value): keys, ids, URLs
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url)


def render_home(
    request: HttpRequest, system_key: str, cards: Iterable[AccountCard], *, intro: str = ""
) -> HttpResponse:
    system = get_system(system_key)
    return render(
        request,
        "sandbox/home.html",
        {"system": system, "cards": list(cards), "intro": intro, "try_url_name": f"{system_key}_sandbox_try"},
    )


def try_view(connect: Callable[[HttpRequest], HttpResponse]) -> Callable:
    """The Connect page's "Try with sandbox accounts" button: owners and admins, POST only.

    `connect(request)` makes the organisation's sandbox account when it has none and connects it
    (or starts the system's consent flow); it answers the response to send."""
    return require_admin(require_POST(connect))


def connected_with(organization, system: str, matches: Callable[[Connection], bool]) -> Connection | None:
    """The organisation's live connection of `system` whose credentials/settings satisfy `matches`
    (credentials are encrypted at rest, so the comparison runs here, not in SQL)."""
    for connection in Connection.objects.for_org(organization).filter(system=system).order_by("-id"):
        if connection.status != Connection.Status.DISABLED and matches(connection):
            return connection
    return None


def done(request: HttpRequest, connection: Connection, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect(get_system(connection.system).connection_url_name, pk=connection.pk)


def provisioner(
    account_for: Callable[[Any], Any], connect: Callable[[Any, Any], Connection], facts: Callable[..., dict]
) -> Callable[[Any, Any], dict]:
    """A sandbox's `provision(organization, user)`: the organisation's account (made the first
    time), connected, described by `facts(account, connection)`."""

    def provision(organization, user) -> dict:
        account = account_for(organization)
        return facts(account, connect(organization, account))

    return provision


def connect_try_view(
    account_for: Callable[[Any], Any], connect: Callable[[Any, Any], Connection], message: str
) -> Callable:
    """The Try button of a sandbox connected with keys (no consent page): make, connect, say so."""

    def connect_now(request: HttpRequest) -> HttpResponse:
        account = account_for(request.organization)
        return done(request, connect(request.organization, account), message)

    return try_view(connect_now)


def home_view(
    system_key: str, accounts: Callable[[Any], Iterable], card: Callable[[Any], AccountCard], *, intro: str = ""
) -> Callable:
    """`/sandbox/<system>/`: a card per account of `accounts(organization)`, for a signed-in member."""

    @page_view
    def home(request: HttpRequest) -> HttpResponse:
        return render_home(request, system_key, [card(a) for a in accounts(request.organization)], intro=intro)

    return home


def landing_urls(system_key: str, home: Callable, try_button: Callable) -> list[URLPattern]:
    """The landing page and Try button every sandbox mounts, under the names the registry expects."""
    return [
        path("", home, name=f"{system_key}_sandbox"),
        path("_try", try_button, name=f"{system_key}_sandbox_try"),
    ]
