"""Team pages: members, invitations, accepting an invitation, switching organisation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.forms import InvitationForm
from accounts.models import Invitation, Membership
from connector.tenancy import SESSION_KEY, get_for_org_or_404


def _membership(request) -> Membership | None:
    if request.organization is None:
        return None
    return Membership.objects.filter(user=request.user, organization=request.organization).first()


@login_required
def team(request):
    membership = _membership(request)
    if membership is None:
        return redirect("dashboard")
    form = InvitationForm(request.POST or None, organization=request.organization)
    if request.method == "POST":
        if not membership.can_manage:
            return HttpResponseForbidden("Only owners and admins can invite teammates.")
        if form.is_valid():
            invitation = Invitation.objects.create(
                organization=request.organization,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=request.user,
            )
            link = request.build_absolute_uri(reverse("accept_invitation", args=[invitation.token]))
            send_mail(
                f"You are invited to {request.organization.name}",
                f"{request.user.email} invited you to {request.organization.name}.\n\n"
                f"Sign up or log in with {invitation.email}, then open:\n{link}\n",
                None,
                [invitation.email],
            )
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("team")
    context = {
        "form": form,
        "membership": membership,
        "members": Membership.objects.for_org(request.organization).select_related("user"),
        "invitations": Invitation.objects.for_org(request.organization).filter(accepted_at=None),
    }
    return render(request, "accounts/team.html", context)


@login_required
@require_POST
def revoke_invitation(request, pk: int):
    membership = _membership(request)
    if membership is None or not membership.can_manage:
        raise Http404
    invitation = get_for_org_or_404(Invitation, request.organization, pk=pk, accepted_at=None)
    invitation.delete()
    messages.info(request, f"Invitation to {invitation.email} withdrawn.")
    return redirect("team")


def accept_invitation(request, token: str):
    invitation = get_object_or_404(Invitation.objects.select_related("organization"), token=token)
    if not request.user.is_authenticated:
        messages.info(request, f"Sign up or log in as {invitation.email} to join {invitation.organization.name}.")
        return redirect(f"{reverse('account_signup')}?next={request.path}")
    email_matches = request.user.email.lower() == invitation.email.lower()
    if request.method == "POST" and invitation.is_pending and email_matches:
        try:
            with transaction.atomic():
                Membership.objects.get_or_create(
                    user=request.user, organization=invitation.organization, defaults={"role": invitation.role}
                )
                invitation.accepted_at = timezone.now()
                invitation.save(update_fields=["accepted_at"])
        except IntegrityError:
            pass  # a double click: the membership already exists
        request.session[SESSION_KEY] = invitation.organization_id
        messages.success(request, f"You joined {invitation.organization.name}.")
        return redirect("dashboard")
    return render(
        request, "accounts/accept_invitation.html", {"invitation": invitation, "email_matches": email_matches}
    )


@login_required
@require_POST
def switch_organization(request):
    try:
        wanted = int(request.POST.get("organization", ""))
    except ValueError:
        raise Http404 from None
    if not Membership.objects.filter(user=request.user, organization_id=wanted).exists():
        raise Http404
    request.session[SESSION_KEY] = wanted
    return redirect("dashboard")
