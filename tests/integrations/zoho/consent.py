"""Connect Zoho Books the way a merchant does, with a logged-in django.test.Client: Connect → the
sandbox's consent page (Accept as `email`) → callback. The code exchange goes over HTTP to the
sandbox, so PUBLIC_BASE_URL must be a live server."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from django.test import Client
from django.urls import reverse

from connector.models import Connection


def _local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def connect_through_consent(client: Client, region: str, email: str) -> Connection | None:
    started = client.post(reverse("zoho_connect"), {"region": region})
    consent_url = started["Location"]
    consent = dict(parse_qsl(urlsplit(consent_url).query))
    answered = client.post(_local(consent_url), {**consent, "decision": "accept", "email": email})
    done = client.get(_local(answered["Location"]))
    if done.status_code not in (301, 302):
        return None
    return Connection.objects.filter(system="zoho").order_by("-id").first()
