"""/api/docs/ loads Swagger UI from our own static files (drf-spectacular-sidecar), never from a CDN.

A page that pulls its script from a third-party host runs that host's code with the session of a
logged-in merchant; drf-spectacular's default points at cdn.jsdelivr.net.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def _references(html: str) -> list[str]:
    return _REFERENCE.findall(html)


def test_the_docs_page_references_no_external_host(alice_client):
    response = alice_client.get(reverse("api-docs"))
    assert response.status_code == 200
    html = response.content.decode()
    script = alice_client.get(reverse("api-docs") + "?script=").content.decode()
    for text in (html, script):
        assert "cdn." not in text and "jsdelivr" not in text and "unpkg" not in text
        assert not re.search(r"""["'](?:https?:)?//""", text), re.findall(r"""["'](?:https?:)?//[^"']+""", text)
    references = _references(html)
    assert any(ref.endswith("swagger-ui-bundle.js") for ref in references), references
    for ref in references:
        assert ref.startswith("/"), ref  # same origin, a path only


def test_every_asset_the_docs_page_loads_is_served_by_us(alice_client):
    html = alice_client.get(reverse("api-docs")).content.decode()
    for ref in _references(html):
        response = alice_client.get(ref)
        assert response.status_code == 200, ref
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert body, ref
