"""Invitations: who may see and accept one.

An invitation is accepted only by a signed-in user with a *verified* address equal to the invited
one (case-insensitive); a matching but unverified address counts for nothing, so nobody can claim an
invitation by registering the invitee's address first. Opening the mailed link proves the mailbox,
so signing up from it verifies that one address (AccountAdapter.is_email_verified), joins the
organisation at once and creates no organisation of the newcomer's own. Signing up from it with
any other address verifies nothing.
"""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Invitation, Membership

SESSION_KEY = "invitation_token"


def verified_emails(user) -> set[str]:
    return {e.lower() for e in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)}


def pending_for(user) -> QuerySet[Invitation]:
    """Open invitations to one of the user's verified addresses (never by the account's email string)."""
    emails = verified_emails(user)
    if not emails:
        return Invitation.objects.none()
    query = Invitation.objects.filter(accepted_at=None, expires_at__gt=timezone.now())
    matching = [i.pk for i in query.only("pk", "email") if i.email.lower() in emails]
    return Invitation.objects.filter(pk__in=matching).select_related("organization")


def can_accept(user, invitation: Invitation) -> bool:
    return invitation.is_pending and invitation.email.lower() in verified_emails(user)


def remember(request, invitation: Invitation) -> None:
    """An anonymous visitor opened the mailed link: signup pre-fills that address and, if it is the
    one signed up with, counts it as verified (AccountAdapter.is_email_verified)."""
    request.session[SESSION_KEY] = invitation.token


def from_session(request) -> Invitation | None:
    token = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if not token:
        return None
    invitation = Invitation.objects.select_related("organization").filter(token=token).first()
    return invitation if invitation is not None and invitation.is_pending else None


def accept(invitation: Invitation, user) -> Membership:
    """Join the organisation with the invited role; a second accept (double click) changes nothing."""
    try:
        with transaction.atomic():
            membership, _ = Membership.objects.get_or_create(
                user=user, organization=invitation.organization, defaults={"role": invitation.role}
            )
            Invitation.objects.filter(pk=invitation.pk, accepted_at=None).update(accepted_at=timezone.now())
    except IntegrityError:
        membership = Membership.objects.get(user=user, organization=invitation.organization)
    return membership
