"""An organisation's own Zoho Books sandbox (a Zoho login with one Books organisation), on demand.

`provision` (used by `manage.py demo`, which runs with no web server) makes the login when the
organisation has none and connects it with tokens issued here, as the consent page and the code
exchange would have issued them. The Connect page's "Try with sandbox accounts" button makes the
login, then goes through the real consent page and callback over HTTP like any Zoho connection.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from connector.models import Connection
from connector.sandbox.access import page_view
from connector.sandbox.pages import AccountCard, connected_with, render_home, try_view
from integrations.zoho.oauth import BOOKS_SCOPES, client_id, connect_redirect
from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.models import SandboxZohoOrg, SandboxZohoToken, SandboxZohoUser

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
    refresh = SandboxZohoToken.objects.create(
        token="1000." + secrets.token_hex(24),
        kind="refresh",
        user=user,
        client_id=client_id(),
        scope=scope,
        grant_type="authorization_code",
    )
    access = SandboxZohoToken.objects.create(
        token="1000." + secrets.token_hex(24),
        kind="access",
        user=user,
        parent=refresh,
        client_id=client_id(),
        scope=scope,
        grant_type="authorization_code",
        expires_at=timezone.now() + timedelta(seconds=TOKEN_SECONDS),
    )
    return access.token, refresh.token


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


def provision(organization, user) -> dict:
    books = books_for(organization)
    return facts(books, connect(organization, books))


def _try(request):
    """Make the login, then connect it the way a merchant connects Zoho: consent page, callback."""
    books = books_for(request.organization)
    return connect_redirect(request, books.user.region, None)


try_view = try_view(_try)


@page_view
def home(request):
    cards = []
    users = SandboxZohoUser.objects.for_org(request.organization)
    for books in SandboxZohoOrg.objects.filter(user__in=users).select_related("user").order_by("id"):
        shown = facts(books)
        cards.append(
            AccountCard(
                books.name,
                [
                    ("Zoho login", shown["zoho_login"]),
                    ("Data centre", books.user.region.upper()),
                    ("Organization ID", shown["organization_id"]),
                    ("Books API", shown["books_api"]),
                ],
                [("Sales orders", shown["sales_orders_page"])],
            )
        )
    return render_home(request, "zoho", cards, intro="Connect signs in on the sandbox's own consent page.")
