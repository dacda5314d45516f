"""`manage.py demo`: a sandbox Zoho organisation, connected through the same consent page a user sees."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.test import Client
from django.urls import reverse

from connector.models import Connection


def _local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def connect_through_consent(client: Client, region: str, email: str) -> Connection | None:
    """Drive Connect → consent (Accept as `email`) → callback with a logged-in django.test.Client."""
    started = client.post(reverse("zoho_connect"), {"region": region})
    consent_url = started["Location"]
    consent = dict(parse_qsl(urlsplit(consent_url).query))
    answered = client.post(_local(consent_url), {**consent, "decision": "accept", "email": email})
    done = client.get(_local(answered["Location"]))
    if done.status_code not in (301, 302):
        return None
    return Connection.objects.filter(system="zoho").order_by("-id").first()


def demo_setup(organization, user) -> dict:
    from integrations.zoho.sandbox import state
    from integrations.zoho.sandbox.inprocess import serve_in_process

    email = f"books-{organization.pk}@demo.sandbox.example"
    sandbox_org = state.create_org("us", email, f"{organization.name} Books")
    host = urlsplit(settings.PUBLIC_BASE_URL).netloc
    client = Client(HTTP_HOST=host)
    client.force_login(user)
    with serve_in_process():
        connection = connect_through_consent(client, "us", email)
    connected = connection is not None and connection.organization_id == organization.pk
    return {
        "consent_page": f"{state.accounts_server('us')}/oauth/v2/auth",
        "books_api": f"{state.api_domain('us')}/books/v3/",
        "zoho_login": email,
        "organization_id": sandbox_org.organization_id,
        "expense_account_id": state.account_id(sandbox_org, "Shipping Expense"),
        "offset_account_id": state.account_id(sandbox_org, "Petty Cash"),
        "connection": f"#{connection.pk} {connection.label} ({connection.status})" if connected else "not connected",
        "faults": f"POST {settings.PUBLIC_BASE_URL}/sandbox/zoho/_control/faults",
    }
