"""`manage.py demo`: a sandbox Zoho organisation connected through the consent page, in-process."""

from __future__ import annotations

import pytest

from connector.models import Connection
from integrations.zoho.demo import demo_setup
from integrations.zoho.sandbox.models import SandboxZohoGrant, SandboxZohoOrg


@pytest.mark.django_db
def test_demo_setup_connects_through_the_consent_page(alice):
    facts = demo_setup(alice.org, alice)
    connection = Connection.objects.get(organization=alice.org, system="zoho")
    assert connection.status == Connection.Status.ACTIVE
    assert connection.settings["organization_id"] == facts["organization_id"]
    assert SandboxZohoOrg.objects.filter(organization_id=facts["organization_id"]).exists()
    assert SandboxZohoGrant.objects.get().used_at is not None  # a real authorisation code was exchanged
    assert facts["connection"].startswith(f"#{connection.pk}")
    assert connection.credentials["refresh_token"] not in str(facts)
