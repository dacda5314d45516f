"""`manage.py demo`: a sandbox Exact company with sales orders, connected in-process (no web server)."""

from __future__ import annotations

import time

from django.conf import settings

from connector.models import Connection


def demo_setup(organization, user) -> dict:
    from integrations.exact.sandbox import state
    from integrations.exact.sandbox.oauth import issue

    email = f"exact-{organization.pk}@demo.sandbox.example"
    sandbox_user, divisions = state.create_company("nl", email, f"{organization.name} BV")
    division = divisions[0]
    tokens = issue(sandbox_user)  # what the consent + code exchange would have produced
    connection = Connection.objects.create(
        organization=organization,
        system="exact",
        label=f"Exact Online · {division.description}",
        credentials={
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "token_type": "bearer",
            "expires_at": int(time.time()) + int(tokens["expires_in"]),
            "issued_at": int(time.time()),
        },
        settings={"country": "nl", "base_url": state.host("nl"), "division": division.code},
        external_account_id=str(division.code),
    )
    gl = {row.data["Code"]: row.guid for row in division.entities.filter(entity="GLAccounts")}
    return {
        "exact_api": f"{state.host('nl')}/api/v1/{division.code}/",
        "exact_login": email,
        "division": division.code,
        "sales_orders": division.entities.filter(entity="SalesOrders").count(),
        "expense_gl_account": gl.get("4600"),
        "offset_gl_account": gl.get("1600"),
        "journal_code": "90",
        "connection": f"#{connection.pk} {connection.label}",
        "faults": f"POST {settings.PUBLIC_BASE_URL}/sandbox/exact/_control/faults",
    }
