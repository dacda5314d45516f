"""An organisation's own Exact Online sandbox (a login with one seeded company), on demand.

`provision` (used by `manage.py demo`, which runs with no web server) makes the login when the
organisation has none and connects its first division with tokens issued here, as the consent page
and the code exchange would have issued them. The Connect page's "Try with sandbox accounts"
button makes the login, then goes through the real consent page and callback over HTTP.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction

from connector.models import Connection
from connector.sandbox.pages import AccountCard, connected_with, home_view, provisioner, try_view
from integrations.exact.oauth import provider
from integrations.exact.sandbox import state
from integrations.exact.sandbox.models import SandboxExactDivision, SandboxExactUser
from integrations.exact.sandbox.oauth import issue

COUNTRY = "nl"
DEMO_ITEMS = (("SHIPPING", "Shipping"), ("REFUND", "Refund"))


def company_for(organization) -> SandboxExactDivision:
    """The organisation's first sandbox Exact division (and login), made the first time."""
    with transaction.atomic():
        user = SandboxExactUser.objects.for_org(organization).order_by("id").first()
        if user is not None and user.divisions.exists():
            return user.divisions.order_by("id").first()
        email = user.email if user else f"exact-{organization.pk}@sandbox.example"
        _user, divisions = state.create_company(
            user.country if user else COUNTRY, email, f"{organization.name} BV", organization=organization
        )
        for code, description in DEMO_ITEMS:  # what store-order flows charge shipping and credit refunds as
            state.put(divisions[0], "Items", {"Code": code, "Description": description, "IsSalesItem": True})
        return divisions[0]


def connect(organization, division: SandboxExactDivision) -> Connection:
    """The organisation's connection to `division`, made when missing."""
    existing = connected_with(organization, "exact", lambda c: (c.settings or {}).get("division") == division.code)
    if existing is not None:
        return existing
    country = division.user.country
    tokens = issue(division.user)
    now = time.time()
    return Connection.objects.create(
        organization=organization,
        system="exact",
        label=f"Exact Online · {division.description}"[:200],
        credentials={
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "token_type": "bearer",
            "expires_at": int(now) + int(tokens["expires_in"]),
            "issued_at": int(now),
        },
        settings={"country": country, "base_url": state.host(country), "division": division.code},
        external_account_id=str(division.code),
    )


def facts(division: SandboxExactDivision, connection: Connection | None = None) -> dict:
    country = division.user.country
    gl = {row.data["Code"]: row.guid for row in division.entities.filter(entity="GLAccounts")}
    out = {
        "exact_api": f"{state.host(country)}/api/v1/{division.code}/",
        "exact_login": division.user.email,
        "division": division.code,
        "sales_orders": division.entities.filter(entity="SalesOrders").count(),
        "expense_gl_account": gl.get("4600"),
        "offset_gl_account": gl.get("1600"),
        "journal_code": "90",
        "sales_journal": "70",
        "vat_code": "2",
        **{
            f"{code.lower()}_item": code
            for code, _ in DEMO_ITEMS
            if division.entities.filter(entity="Items", data__Code=code).exists()
        },
        "faults": f"POST {settings.PUBLIC_BASE_URL}/sandbox/exact/_control/faults",
    }
    if connection is not None:
        out["connection"] = f"#{connection.pk} {connection.label}"
        out["connection_id"] = connection.pk
    return out


provision = provisioner(company_for, connect, facts)


def _try(request):
    """Make the login, then connect it the way a merchant connects Exact: consent page, callback."""
    division = company_for(request.organization)
    return provider.begin(request, {"country": division.user.country})


try_view = try_view(_try)


def _card(division: SandboxExactDivision) -> AccountCard:
    shown = facts(division)
    return AccountCard(
        division.description,
        [
            ("Exact login", shown["exact_login"]),
            ("Country", division.user.country.upper()),
            ("Division", str(division.code)),
            ("API", shown["exact_api"]),
        ],
    )


def _divisions_of(organization):
    users = SandboxExactUser.objects.for_org(organization)
    return SandboxExactDivision.objects.filter(user__in=users).select_related("user").order_by("id")


home = home_view("exact", _divisions_of, _card, intro="Connect signs in on the sandbox's own consent page.")
