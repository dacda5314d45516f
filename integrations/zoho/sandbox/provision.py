"""An organisation's own Zoho Books sandbox (a Zoho login with one Books organisation), on demand.

`provision` (used by `manage.py demo`, which runs with no web server) makes the login when the
organisation has none and connects it with tokens issued here, as the consent page and the code
exchange would have issued them. The Connect page's "Try with sandbox accounts" button makes the
login, then goes through the real consent page and callback over HTTP like any Zoho connection.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from connector.models import Connection
from connector.sandbox.pages import AccountCard, connected_with, home_view, provisioner, try_view
from integrations.zoho.oauth import BOOKS_SCOPES, client_id, connect_redirect
from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.accounts import issue_access, issue_refresh
from integrations.zoho.sandbox.models import SandboxZohoOrg, SandboxZohoUser

REGION = "us"
TOKEN_SECONDS = 3600


def books_for(organization) -> SandboxZohoOrg:
    """The organisation's sandbox Books organisation (and Zoho login), made the first time."""
    with transaction.atomic():
        user = SandboxZohoUser.objects.for_org(organization).order_by("id").first()
        if user is not None and user.orgs.exists():
            return user.orgs.order_by("id").first()
        email = user.email if user else f"books-{organization.pk}@sandbox.example"
        return state.create_org(
            user.region if user else REGION, email, f"{organization.name} Books", organization=organization
        )


def issue_tokens(user: SandboxZohoUser) -> tuple[str, str]:
    """An access and a refresh token, as the token endpoint issues them for an accepted consent."""
    scope = ",".join(BOOKS_SCOPES)
    refresh = issue_refresh(user, client_id(), scope)
    return issue_access(user, client_id(), scope, "authorization_code", parent=refresh).token, refresh.token


def connect(organization, books: SandboxZohoOrg) -> Connection:
    """The organisation's connection to `books`, made when missing."""
    existing = connected_with(
        organization, "zoho", lambda c: (c.settings or {}).get("organization_id") == books.organization_id
    )
    if existing is not None:
        return existing
    access, refresh = issue_tokens(books.user)
    region = books.user.region
    now = int(time.time())
    return Connection.objects.create(
        organization=organization,
        system="zoho",
        label=f"Zoho Books · {books.name}"[:200],
        credentials={
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_at": now + TOKEN_SECONDS,
        },
        settings={
            "region": region,
            "accounts_server": state.accounts_server(region),
            "api_domain": state.api_domain(region),
            "organization_id": books.organization_id,
            "organization_name": books.name,
            "currency_code": books.currency_code,
        },
        external_account_id=books.organization_id,
    )


def facts(books: SandboxZohoOrg, connection: Connection | None = None) -> dict:
    region = books.user.region
    out = {
        "consent_page": f"{state.accounts_server(region)}/oauth/v2/auth",
        "books_api": f"{state.api_domain(region)}/books/v3/",
        "zoho_login": books.user.email,
        "organization_id": books.organization_id,
        "expense_account_id": state.account_id(books, "Shipping Expense"),
        "offset_account_id": state.account_id(books, "Petty Cash"),
        "sales_orders_page": settings.PUBLIC_BASE_URL
        + reverse("zoho_sandbox_salesorders", args=[books.organization_id]),
        "faults": f"POST {settings.PUBLIC_BASE_URL}/sandbox/zoho/_control/faults",
    }
    if connection is not None:
        out["connection"] = f"#{connection.pk} {connection.label} ({connection.status})"
        out["connection_id"] = connection.pk
    return out


provision = provisioner(books_for, connect, facts)


def _try(request):
    """Make the login, then connect it the way a merchant connects Zoho: consent page, callback."""
    books = books_for(request.organization)
    return connect_redirect(request, books.user.region, None)


try_view = try_view(_try)


def _card(books: SandboxZohoOrg) -> AccountCard:
    shown = facts(books)
    return AccountCard(
        books.name,
        [
            ("Zoho login", shown["zoho_login"]),
            ("Data centre", books.user.region.upper()),
            ("Organization ID", shown["organization_id"]),
            ("Books API", shown["books_api"]),
        ],
        [("Sales orders", shown["sales_orders_page"])],
    )


def _books_of(organization):
    users = SandboxZohoUser.objects.for_org(organization)
    return SandboxZohoOrg.objects.filter(user__in=users).select_related("user").order_by("id")


home = home_view("zoho", _books_of, _card, intro="Connect signs in on the sandbox's own consent page.")
