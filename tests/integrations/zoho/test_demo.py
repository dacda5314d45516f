"""The Zoho sandbox's provisioning (`manage.py demo` and the Try button): the organisation's own
sandbox Books organisation, connected without a web server, its tokens good at the Books API."""

from __future__ import annotations

from connector.models import Connection
from connector.registry import sandbox_of
from integrations.zoho.client import ZohoBooksClient
from integrations.zoho.sandbox.models import SandboxZohoOrg


def test_provisioning_connects_the_organisations_own_books(alice, zoho_base):
    provision = sandbox_of("zoho").provision
    facts = provision(alice.org, alice)
    connection = Connection.objects.get(organization=alice.org, system="zoho")
    assert connection.status == Connection.Status.ACTIVE
    assert connection.settings["organization_id"] == facts["organization_id"]
    books = SandboxZohoOrg.objects.get(organization_id=facts["organization_id"])
    assert books.user.organization == alice.org
    client = ZohoBooksClient(connection)
    try:
        assert facts["organization_id"] in [str(o["organization_id"]) for o in client.organizations()]
    finally:
        client.session.close()
    assert facts["connection"].startswith(f"#{connection.pk}")
    assert connection.credentials["refresh_token"] not in str(facts)
    again = provision(alice.org, alice)  # idempotent: the same login and connection, facts again
    assert again["organization_id"] == facts["organization_id"] and again["connection_id"] == connection.pk
    assert Connection.objects.filter(organization=alice.org, system="zoho").count() == 1
