"""Signup, login/logout, invitations and organisation switching."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from accounts.adapter import default_organization_name
from accounts.models import Invitation, Membership, Organization, Role
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def signup(client, email="carol@example.com", org="Carol Trading", password=PASSWORD, password2=None):
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": password, "password2": password2 or password, "organization": org},
    )


def confirm_from_mail(client, message) -> None:
    """Open the confirmation link of a verification mail and press Confirm, as the person would."""
    link = re.search(r"https?://[^\s]+/accounts/confirm-email/[^\s]+/", message.body).group(0)
    path = link.split("testserver", 1)[-1]
    assert client.get(path).status_code == 200
    assert client.post(path).status_code == 302


def test_signup_creates_exactly_one_organisation_and_asks_to_verify_the_address(client):
    response = signup(client)
    assert response.status_code == 302 and response["Location"] == reverse("account_email_verification_sent")
    user = get_user_model().objects.get(email="carol@example.com")
    memberships = Membership.objects.filter(user=user)
    assert memberships.count() == 1
    assert memberships.get().role == Role.OWNER
    assert Organization.objects.count() == 1
    assert Organization.objects.get().name == "Carol Trading"
    # Not in until the address is proven.
    assert client.get(reverse("dashboard")).status_code == 302
    assert not EmailAddress.objects.get(user=user).verified
    assert len(mail.outbox) == 1
    confirm_from_mail(client, mail.outbox[0])
    assert EmailAddress.objects.get(user=user).verified
    page = client.get(reverse("dashboard"))
    assert page.status_code == 200
    assert b"Carol Trading" in page.content
    assert b"No connections yet" in page.content  # the empty state says what to do next


def test_signup_asks_for_the_organisation_name(client):
    response = signup(client, org="  ")
    assert response.status_code == 200
    assert b"Name your organisation" in response.content
    assert not get_user_model().objects.exists() and not Organization.objects.exists()


def test_default_organisation_name_is_derived_sensibly():
    assert default_organization_name("carol@carol-trading.co.uk") == "Carol Trading"
    assert default_organization_name("carol@gmail.com") == "My organisation"


def test_signup_form_errors_keep_what_was_typed(client):
    response = signup(client, password2="something else entirely 99")
    assert response.status_code == 200
    body = response.content.decode()
    assert "carol@example.com" in body  # kept
    assert "Carol Trading" in body  # kept
    assert "password" in body.lower() and "same password" in body.lower()
    assert not get_user_model().objects.exists()
    assert not Organization.objects.exists()


def test_duplicate_email_gets_no_second_organisation_and_no_hint(client, alice):
    response = signup(client, email="alice@example.com")
    # The same answer as a fresh signup (no enumeration); alice is told by mail instead.
    assert response.status_code == 302 and response["Location"] == reverse("account_email_verification_sent")
    assert Organization.objects.count() == 1  # only alice's
    assert get_user_model().objects.count() == 1
    assert mail.outbox[-1].to == ["alice@example.com"]


def test_login_and_logout(client, alice):
    response = client.post(reverse("account_login"), {"login": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200
    client.post(reverse("account_logout"))
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_wrong_password_shows_an_error(client, alice):
    response = client.post(reverse("account_login"), {"login": "alice@example.com", "password": "nope"})
    assert response.status_code == 200
    assert b"not correct" in response.content.lower() or b"incorrect" in response.content.lower()


def test_invitation_is_sent_then_accepted_by_signing_up_from_the_link(client, alice):
    client.force_login(alice)
    response = client.post(reverse("team"), {"email": "Dave@Example.com", "role": "member"})
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert invitation.email == "dave@example.com" and invitation.organization == alice.org
    assert len(mail.outbox) == 1 and invitation.token in mail.outbox[0].body
    client.logout()

    # The invitee opens the link and is sent to sign up, with the invited address filled in and
    # no organisation to name.
    accept_url = reverse("accept_invitation", args=[invitation.token])
    response = client.get(accept_url)
    assert response.status_code == 302 and reverse("account_signup") in response["Location"]
    form = client.get(response["Location"]).content.decode()
    assert 'value="dave@example.com"' in form and 'name="organization"' not in form
    response = client.post(
        response["Location"], {"email": "dave@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    # The link proved the mailbox: no verification mail, signed in, joined, no stray organisation.
    assert response.status_code == 302 and response["Location"] == accept_url
    dave = get_user_model().objects.get(email="dave@example.com")
    assert EmailAddress.objects.get(user=dave).verified
    assert list(Membership.objects.filter(user=dave).values_list("organization", "role")) == [
        (alice.org.pk, Role.MEMBER)
    ]
    assert Organization.objects.count() == 1
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    assert client.get(accept_url)["Location"] == reverse("dashboard")
    # The session now points at the organisation just joined.
    assert b"Alice Ltd" in client.get(reverse("dashboard")).content


def test_an_existing_user_accepts_after_logging_in(client, alice, bob):
    invitation = Invitation.objects.create(organization=alice.org, email="BOB@example.com", invited_by=alice)
    client.force_login(bob)
    accept_url = reverse("accept_invitation", args=[invitation.token])
    assert client.get(reverse("dashboard")).content.count(accept_url.encode()) == 1  # offered on the dashboard
    assert client.get(accept_url).status_code == 200
    assert client.post(accept_url).status_code == 302
    assert Membership.objects.filter(user=bob, organization=alice.org, role=Role.MEMBER).exists()
    assert Organization.objects.count() == 2


def test_invitation_cannot_be_accepted_by_another_email(client, alice, bob):
    invitation = Invitation.objects.create(organization=alice.org, email="dave@example.com", invited_by=alice)
    client.force_login(bob)
    client.post(reverse("accept_invitation", args=[invitation.token]))
    assert not Membership.objects.filter(user=bob, organization=alice.org).exists()


def test_members_cannot_invite(client, alice):
    member, _ = make_user("erin@example.com", "Erin's", role=Role.MEMBER)
    Membership.objects.create(user=member, organization=alice.org, role=Role.MEMBER)
    client.force_login(member)
    client.post("/organization/switch/", {"organization": alice.org.pk})
    response = client.post(reverse("team"), {"email": "x@example.com", "role": "member"})
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_switch_organisation(client, alice, bob):
    Membership.objects.create(user=alice, organization=bob.org, role=Role.MEMBER)
    client.force_login(alice)
    assert b"Bob GmbH" in client.get(reverse("dashboard")).content  # the switcher lists both
    client.post(reverse("switch_organization"), {"organization": bob.org.pk})
    page = client.get(reverse("team")).content.decode()
    assert "Team · Bob GmbH" in page


def test_switching_to_an_organisation_you_do_not_belong_to_is_404(client, alice, bob):
    client.force_login(alice)
    assert client.post(reverse("switch_organization"), {"organization": bob.org.pk}).status_code == 404
    assert client.post(reverse("switch_organization"), {"organization": "x"}).status_code == 404


def test_password_reset_answers_the_same_for_known_and_unknown_addresses(client, alice):
    known = client.post(reverse("account_reset_password"), {"email": "alice@example.com"})
    unknown = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("account_reset_password_done")
    # Only the mailbox owner learns which it was.
    assert [m.to for m in mail.outbox] == [["alice@example.com"], ["nobody@example.com"]]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body
    assert "/accounts/password/reset/key/" not in mail.outbox[1].body
