"""allauth adapter: a new account gets its own Organization and an owner Membership, or joins the
organisation whose invitation it signed up from."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.db import transaction

from accounts import invitations
from accounts.models import Membership, Organization, Role
from connector.clientip import client_ip
from connector.tenancy import SESSION_KEY


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        # allauth's login/signup/reset rate limits count the same client as every other throttle.
        return client_ip(request)

    def is_email_verified(self, request, email: str) -> bool:
        """An address is verified at signup when the signup came from an invitation mailed to it
        (opening the link proved the mailbox). Only that one address: allauth's own "stashed verified
        email" would verify it for whatever address the visitor types, so it is not used."""
        email = (email or "").lower()
        if email and getattr(request, "invitation_verified_email", None) == email:
            return True
        invitation = invitations.from_session(request)
        return invitation is not None and invitation.email.lower() == email

    def save_user(self, request, user, form, commit=True):
        with transaction.atomic():
            user = super().save_user(request, user, form, commit=commit)
            if commit:
                invitation = invitations.from_session(request)
                if invitation is not None and invitation.email.lower() == user.email.lower():
                    # Signed up from the mailed link with the invited address: join, no own organisation.
                    request.invitation_verified_email = invitation.email.lower()
                    invitations.accept(invitation, user)
                    request.session.pop(invitations.SESSION_KEY, None)
                    request.session[SESSION_KEY] = invitation.organization_id
                    return user
                name = (form.cleaned_data.get("organization") or "").strip() or default_organization_name(user.email)
                organization = Organization.objects.create(name=name[:200])
                Membership.objects.create(user=user, organization=organization, role=Role.OWNER)
                request.session[SESSION_KEY] = organization.pk
        return user


# Addresses at these say nothing about the company, so they do not name an organisation.
WEBMAIL_DOMAINS = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "icloud.com",
        "me.com",
        "yahoo.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "yandex.com",
    ]
)


def default_organization_name(email: str) -> str:
    """A name when none was given: "Acme" for someone@acme.co.uk, else "My organisation" (renamable)."""
    domain = email.rpartition("@")[2].lower()
    label = domain.split(".")[0] if domain else ""
    if not label or domain in WEBMAIL_DOMAINS:
        return "My organisation"
    return label.replace("-", " ").title()
