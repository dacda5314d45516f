"""Roles: members see and replay; only owners and admins touch credentials and connections."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from accounts.models import Membership, Role
from accounts.permissions import IsOrganizationAdmin
from connector.models import Connection
from connector.web.api.permissions import IsOrganizationMember
from integrations.qbdesktop.auth import create_user
from integrations.qbdesktop.models import QBWCUser
from tests.conftest import PASSWORD, make_flow, make_record

pytestmark = pytest.mark.django_db


def _teammate(org, email: str, role: str):
    user = get_user_model().objects.create_user(username=email.split("@")[0], email=email, password=PASSWORD)
    Membership.objects.create(user=user, organization=org, role=role)
    return user


@pytest.fixture
def member(alice):
    return _teammate(alice.org, "mallory@example.com", Role.MEMBER)


@pytest.fixture
def connections(alice):
    made = {}
    for system in ("shipstation", "woocommerce", "zoho", "exact", "qbdesktop"):
        made[system] = Connection.objects.create(
            organization=alice.org, system=system, label=system, credentials={"api_key": "k-secret"}
        )
    create_user(made["qbdesktop"])
    return made


ADMIN_ONLY_POSTS = [
    ("shipstation_connect", None),
    ("shipstation_repair", "shipstation"),
    ("shipstation_disconnect", "shipstation"),
    ("woocommerce_connect", None),
    ("woocommerce_connect_manual", None),
    ("woocommerce_repair", "woocommerce"),
    ("woocommerce_disconnect", "woocommerce"),
    ("zoho_connect", None),
    ("zoho_pick_organization", "zoho"),
    ("zoho_disconnect", "zoho"),
    ("exact_connect", None),
    ("exact_pick_division", "exact"),
    ("exact_resubscribe", "exact"),
    ("exact_disconnect", "exact"),
    ("qbdesktop_connect", None),
    ("qbdesktop_regenerate", "qbdesktop"),
]


@pytest.mark.parametrize("name,system", ADMIN_ONLY_POSTS)
def test_members_cannot_change_connections_or_credentials(client, member, connections, name, system):
    client.force_login(member)
    args = [connections[system].pk] if system else []
    before = {c.pk: (c.status, c.credentials, c.settings) for c in Connection.objects.all()}
    response = client.post(reverse(name, args=args), {"label": "x", "api_key": "k", "api_secret": "s"})
    assert response.status_code == 403
    assert b"Only owners and admins" in response.content
    after = {c.pk: (c.status, c.credentials, c.settings) for c in Connection.objects.all()}
    assert after == before


@pytest.mark.parametrize("name", ["zoho_callback", "exact_callback", "woocommerce_return"])
def test_members_cannot_complete_a_connect(client, member, name):
    client.force_login(member)
    assert client.get(reverse(name), {"code": "c", "state": "s"}).status_code == 403
    assert not Connection.objects.exists()


def test_qbwc_password_regenerated_by_an_admin_not_by_a_member(client, alice, member, connections):
    connection = connections["qbdesktop"]
    old_hash = QBWCUser.objects.get(connection=connection).password_hash
    client.force_login(member)
    assert client.post(reverse("qbdesktop_regenerate", args=[connection.pk])).status_code == 403
    assert QBWCUser.objects.get(connection=connection).password_hash == old_hash

    admin = _teammate(alice.org, "ada@example.com", Role.ADMIN)
    client.force_login(admin)
    assert client.post(reverse("qbdesktop_regenerate", args=[connection.pk])).status_code == 200
    assert QBWCUser.objects.get(connection=connection).password_hash != old_hash


def test_members_can_view_and_replay(client, alice, member, connections):
    client.force_login(member)
    assert client.get(reverse("qbdesktop_detail", args=[connections["qbdesktop"].pk])).status_code == 200
    assert client.get(reverse("connections")).status_code == 200
    record = make_record(make_flow(alice.org), "A-1")
    response = client.post(reverse("record_replay", args=[record.pk]))
    assert response.status_code == 302


def test_a_role_in_another_organisation_does_not_count(client, alice, bob, connections):
    """bob owns his own organisation, but is only a member of alice's: alice's connections stay shut."""
    Membership.objects.create(user=bob, organization=alice.org, role=Role.MEMBER)
    client.force_login(bob)
    client.post(reverse("switch_organization"), {"organization": alice.org.pk})
    shipstation = connections["shipstation"]
    assert client.post(reverse("shipstation_disconnect", args=[shipstation.pk])).status_code == 403
    shipstation.refresh_from_db()
    assert shipstation.status == Connection.Status.ACTIVE


class _AdminOnly(APIView):
    permission_classes = [IsOrganizationMember, IsOrganizationAdmin]

    def post(self, request):
        from rest_framework.response import Response

        return Response({"ok": True})


@pytest.mark.parametrize("role,expected", [(Role.OWNER, 200), (Role.ADMIN, 200), (Role.MEMBER, 403)])
def test_api_admin_permission(alice, role, expected):
    user = alice if role == Role.OWNER else _teammate(alice.org, f"{role}@example.com", role)
    request = APIRequestFactory().post("/api/v1/x/")
    force_authenticate(request, user=user)
    assert _AdminOnly.as_view()(request).status_code == expected
