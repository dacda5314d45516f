"""Invitation takeover: an invitation belongs to whoever proves the invited mailbox, nobody else.

Before the fix anyone who registered the invitee's address (verification was off) saw the invitation
on their dashboard, with its token, and could accept it.
"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken, Invitation, Membership, Organization, Role
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def invitation(alice):
    return Invitation.objects.create(organization=alice.org, email="dave@example.com", invited_by=alice)


def _signup(client, email, org="Mallory Inc", url=None):
    data = {"email": email, "password1": PASSWORD, "password2": PASSWORD, "organization": org}
    return client.post(url or reverse("account_signup"), data)


def test_registering_the_invitees_address_first_gets_nothing(client, alice, invitation):
    response = _signup(client, "Dave@example.com")
    # Not signed in: the address must be verified first, and the mail goes to the real Dave.
    assert response["Location"] == reverse("account_email_verification_sent")
    assert client.get(reverse("dashboard")).status_code == 302
    mallory = get_user_model().objects.get(email__iexact="dave@example.com")
    assert [a.lower() for a in mail.outbox[-1].to] == ["dave@example.com"]

    # Even signed in (say verification were skipped), an unverified match neither lists nor accepts.
    client.force_login(mallory)
    dashboard = client.get(reverse("dashboard")).content.decode()
    assert invitation.token not in dashboard and "Alice Ltd" not in dashboard
    accept_url = reverse("accept_invitation", args=[invitation.token])
    assert client.post(accept_url).status_code == 403
    assert not Membership.objects.filter(user=mallory, organization=alice.org).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_account_email_string_alone_never_lists_invitations(client, alice, invitation):
    """The account's email field says dave@, but the verified address is another one."""
    user = get_user_model().objects.create_user(username="d2", email="dave@example.com", password=PASSWORD)
    EmailAddress.objects.create(user=user, email="other@example.com", verified=True, primary=True)
    EmailAddress.objects.create(user=user, email="dave@example.com", verified=False, primary=False)
    client.force_login(user)
    assert invitation.token not in client.get(reverse("dashboard")).content.decode()
    assert client.post(reverse("accept_invitation", args=[invitation.token])).status_code == 403
    assert not Membership.objects.filter(user=user, organization=alice.org).exists()


def test_a_verified_address_matches_case_insensitively(client, alice, invitation):
    user = get_user_model().objects.create_user(username="dave", email="DAVE@Example.COM", password=PASSWORD)
    EmailAddress.objects.create(user=user, email="DAVE@Example.COM", verified=True, primary=True)
    client.force_login(user)
    assert invitation.token in client.get(reverse("dashboard")).content.decode()
    assert client.post(reverse("accept_invitation", args=[invitation.token])).status_code == 302
    assert Membership.objects.get(user=user, organization=alice.org).role == Role.MEMBER


def test_signing_up_from_the_link_with_another_address_verifies_nothing(client, alice, invitation):
    response = client.get(reverse("accept_invitation", args=[invitation.token]))
    _signup(client, "mallory@example.com", url=response["Location"])
    mallory = get_user_model().objects.get(email="mallory@example.com")
    assert not EmailAddress.objects.get(user=mallory).verified
    assert not Membership.objects.filter(user=mallory, organization=alice.org).exists()
    # Their own organisation, named from the address since the invitation form asked for none.
    assert Membership.objects.get(user=mallory).organization.name == "Example"
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_an_expired_invitation_link_verifies_nothing(client, alice, invitation):
    Invitation.objects.filter(pk=invitation.pk).update(expires_at="2000-01-01T00:00:00Z")
    response = client.get(reverse("accept_invitation", args=[invitation.token]))
    _signup(client, "dave@example.com", url=response["Location"])
    dave = get_user_model().objects.get(email="dave@example.com")
    assert not EmailAddress.objects.get(user=dave).verified
    assert not Membership.objects.filter(user=dave, organization=alice.org).exists()


# --- Members and roles ---------------------------------------------------------------------------


def _member(org, email, role):
    user = get_user_model().objects.create_user(username=email.split("@")[0], email=email, password=PASSWORD)
    return Membership.objects.create(user=user, organization=org, role=role)


def _as(client, membership):
    client.force_login(membership.user)
    client.post(reverse("switch_organization"), {"organization": membership.organization_id})


def _role(client, target, role):
    return client.post(reverse("change_role"), {"member": target.pk, "role": role})


def _remove(client, target):
    return client.post(reverse("remove_member"), {"member": target.pk})


def test_the_last_owner_can_be_neither_removed_nor_demoted(client, alice):
    owner = Membership.objects.get(user=alice)
    _as(client, owner)
    assert _role(client, owner, Role.ADMIN).status_code == 403
    assert _remove(client, owner).status_code == 403
    owner.refresh_from_db()
    assert owner.role == Role.OWNER
    # With a second owner, stepping down works.
    second = _member(alice.org, "olga@example.com", Role.OWNER)
    assert _role(client, owner, Role.ADMIN).status_code == 302
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN
    _as(client, second)
    assert _remove(client, second).status_code == 403  # now the last owner


def test_admins_manage_members_but_not_owners(client, alice):
    admin = _member(alice.org, "ada@example.com", Role.ADMIN)
    member = _member(alice.org, "mo@example.com", Role.MEMBER)
    owner = Membership.objects.get(user=alice)
    _as(client, admin)
    assert _role(client, member, Role.OWNER).status_code == 403
    assert _role(client, owner, Role.MEMBER).status_code == 403
    assert _remove(client, owner).status_code == 403
    assert _role(client, member, Role.ADMIN).status_code == 302
    member.refresh_from_db()
    assert member.role == Role.ADMIN
    assert _remove(client, member).status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()


def test_members_cannot_change_the_team_but_can_leave(client, alice):
    member = _member(alice.org, "mo@example.com", Role.MEMBER)
    other = _member(alice.org, "max@example.com", Role.MEMBER)
    _as(client, member)
    assert _role(client, member, Role.OWNER).status_code == 403
    assert _role(client, other, Role.ADMIN).status_code == 403
    assert _remove(client, other).status_code == 403
    assert _remove(client, member).status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert Membership.objects.filter(pk=other.pk, role=Role.MEMBER).exists()


def test_removing_a_member_revokes_their_api_tokens_there(client, alice, bob):
    member = _member(alice.org, "mo@example.com", Role.MEMBER)
    token, key = ApiToken.issue(member.user, alice.org, "script")
    _as(client, Membership.objects.get(user=alice))
    assert _remove(client, member).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Client().get(reverse("record-list"), HTTP_AUTHORIZATION=f"Bearer {key}").status_code in (401, 403)


def test_another_organisations_membership_is_404(client, alice, bob):
    _as(client, Membership.objects.get(user=alice))
    bobs = Membership.objects.get(user=bob)
    assert _role(client, bobs, Role.MEMBER).status_code == 404
    assert _remove(client, bobs).status_code == 404
    assert Membership.objects.filter(pk=bobs.pk, role=Role.OWNER).exists()
    assert Organization.objects.count() == 2
