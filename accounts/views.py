"""Settings pages (organisation, members and invitations, API tokens, notifications, time zone),
accepting an invitation, switching organisation and unsubscribing from failure mails."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import invitations, notifications
from accounts.forms import (
    ApiTokenForm,
    InvitationForm,
    NotificationForm,
    OrganizationForm,
    RoleForm,
    TimeZoneForm,
)
from accounts.middleware import remember_time_zone
from accounts.models import MANAGER_ROLES, ApiToken, Invitation, Membership, Profile, Role
from accounts.permissions import forbidden, is_admin, member_required, membership_for, require_admin
from connector.tenancy import SESSION_KEY, get_for_org_or_404


def _settings_page(request: HttpRequest, template: str, context: dict, *, status: int = 200) -> HttpResponse:
    context = {"membership": membership_for(request), "section": template.rsplit("/", 1)[-1][:-5], **context}
    return render(request, template, context, status=status)


@login_required
def settings_home(request: HttpRequest) -> HttpResponse:
    return redirect("settings_organization")


# --- Organisation --------------------------------------------------------------------------------


@member_required(post_roles=MANAGER_ROLES, refusal="Only owners and admins can rename the organisation.")
def organization_settings(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = OrganizationForm(request.POST or None, instance=request.organization)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"The organisation is now called {form.instance.name}.")
        return redirect("settings_organization")
    return _settings_page(request, "accounts/settings/organization.html", {"form": form})


# --- Members, roles, invitations -----------------------------------------------------------------


@member_required(post_roles=MANAGER_ROLES, refusal="Only owners and admins can invite teammates.")
def team(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = InvitationForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
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
            f"Open this link to sign up (or log in) as {invitation.email} and join:\n{link}\n",
            None,
            [invitation.email],
        )
        messages.success(request, f"Invitation sent to {invitation.email}.")
        return redirect("team")
    members = list(Membership.objects.for_org(request.organization).select_related("user").order_by("created_at", "id"))
    for member in members:
        # What the page offers; change_role and remove_member check again (_refusal).
        member.editable = (
            membership.can_manage
            and member.pk != membership.pk
            and (membership.role == Role.OWNER or member.role != Role.OWNER)
        )
    context = {
        "form": form,
        "members": members,
        "role_choices": _assignable_roles(membership),
        "invitations": Invitation.objects.for_org(request.organization).filter(accepted_at=None),
    }
    return _settings_page(request, "accounts/settings/members.html", context)


def _assignable_roles(actor: Membership) -> list[tuple[str, str]]:
    """Owners hand out any role; admins make members and admins, never owners."""
    if actor.role == Role.OWNER:
        return list(Role.choices)
    return [(Role.ADMIN, Role.ADMIN.label), (Role.MEMBER, Role.MEMBER.label)]


def _refusal(actor: Membership, target: Membership, new_role: str | None) -> str:
    """Why `actor` may not change `target` to `new_role` (None = remove), or "" when allowed.
    Call inside a transaction that has locked the organisation's owner rows."""
    removing_self = new_role is None and actor.pk == target.pk
    if not actor.can_manage and not removing_self:
        return "Only owners and admins can change the team."
    if actor.role != Role.OWNER and Role.OWNER in (target.role, new_role) and not removing_self:
        return "Only an owner can change an owner or make someone an owner."
    if target.role == Role.OWNER and new_role != Role.OWNER:
        owners = Membership.objects.filter(organization_id=target.organization_id, role=Role.OWNER)
        if not owners.exclude(pk=target.pk).exists():
            return "An organisation needs an owner: make someone else owner first."
    return ""


def _member_id(request: HttpRequest) -> int:
    """The membership a team form acts on, from the POST body (another tenant's id is a 404)."""
    value = request.POST.get("member", "")
    if not value.isdigit():
        raise Http404
    return int(value)


@member_required(not_member="404")
@require_POST
def change_role(request: HttpRequest, actor: Membership) -> HttpResponse:
    pk = _member_id(request)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role.")
        return redirect("team")
    with transaction.atomic():
        # Lock the owners first, so two owners demoting each other at once cannot leave none.
        list(Membership.objects.select_for_update().filter(organization=request.organization, role=Role.OWNER))
        target = get_for_org_or_404(Membership, request.organization, pk=pk)
        refusal = _refusal(actor, target, form.cleaned_data["role"])
        if refusal:
            return forbidden(request, refusal)
        target.role = form.cleaned_data["role"]
        target.save(update_fields=["role"])
    messages.success(request, f"{target.user.email} is now {target.get_role_display().lower()}.")
    return redirect("team")


@member_required(not_member="404")
@require_POST
def remove_member(request: HttpRequest, actor: Membership) -> HttpResponse:
    pk = _member_id(request)
    with transaction.atomic():
        list(Membership.objects.select_for_update().filter(organization=request.organization, role=Role.OWNER))
        target = get_for_org_or_404(Membership, request.organization, pk=pk)
        refusal = _refusal(actor, target, None)
        if refusal:
            return forbidden(request, refusal)
        target.delete()
        # Their API keys for this organisation stop now (they would fail the membership check anyway).
        ApiToken.objects.for_org(request.organization).filter(user_id=target.user_id, revoked_at=None).update(
            revoked_at=timezone.now()
        )
    if target.user_id == request.user.pk:
        request.session.pop(SESSION_KEY, None)
        messages.info(request, f"You left {request.organization.name}.")
        return redirect("dashboard")
    messages.info(request, f"{target.user.email} was removed from {request.organization.name}.")
    return redirect("team")


@require_admin
@require_POST
def revoke_invitation(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_for_org_or_404(Invitation, request.organization, pk=pk, accepted_at=None)
    invitation.delete()
    messages.info(request, f"Invitation to {invitation.email} withdrawn.")
    return redirect("team")


def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    invitation = get_object_or_404(Invitation.objects.select_related("organization"), token=token)
    if not request.user.is_authenticated:
        if invitation.is_pending:
            invitations.remember(request, invitation)
            messages.info(request, f"Sign up (or log in) as {invitation.email} to join {invitation.organization.name}.")
        return redirect(f"{reverse('account_signup')}?next={request.path}")
    if Membership.objects.filter(user=request.user, organization=invitation.organization).exists():
        request.session[SESSION_KEY] = invitation.organization_id
        messages.success(request, f"You are a member of {invitation.organization.name}.")
        return redirect("dashboard")
    may_accept = invitations.can_accept(request.user, invitation)
    if request.method == "POST" and may_accept:
        invitations.accept(invitation, request.user)
        request.session.pop(invitations.SESSION_KEY, None)
        request.session[SESSION_KEY] = invitation.organization_id
        messages.success(request, f"You joined {invitation.organization.name}.")
        return redirect("dashboard")
    context = {"invitation": invitation, "may_accept": may_accept}
    return render(request, "accounts/accept_invitation.html", context, status=200 if may_accept else 403)


@login_required
@require_POST
def switch_organization(request: HttpRequest) -> HttpResponse:
    try:
        wanted = int(request.POST.get("organization", ""))
    except ValueError:
        raise Http404 from None
    if not Membership.objects.filter(user=request.user, organization_id=wanted).exists():
        raise Http404
    request.session[SESSION_KEY] = wanted
    return redirect("dashboard")


# --- API tokens ----------------------------------------------------------------------------------


def _visible_tokens(request: HttpRequest):
    tokens = ApiToken.objects.for_org(request.organization).select_related("user")
    return tokens if is_admin(request) else tokens.filter(user=request.user)


@never_cache
@member_required()
def api_tokens(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    new_key = ""
    if request.method == "POST" and form.is_valid():
        token, new_key = ApiToken.issue(
            request.user, request.organization, form.cleaned_data["name"], days=form.cleaned_data["days"]
        )
        form = ApiTokenForm()
    context = {"form": form, "tokens": _visible_tokens(request), "new_key": new_key, "now": timezone.now()}
    # Rendered, not redirected: the key exists only in this one response (never_cache: not stored).
    return _settings_page(request, "accounts/settings/api_tokens.html", context)


@login_required
@require_POST
def revoke_api_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = _visible_tokens(request).filter(pk=pk).first()
    if token is None:
        raise Http404
    ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())
    messages.info(request, f"API token “{token.name}” revoked; it no longer works.")
    return redirect("settings_api_tokens")


# --- Notifications and time zone (per person) ----------------------------------------------------


@member_required()
def notification_settings(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = NotificationForm(request.POST or None, instance=membership)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Notification preferences saved.")
        return redirect("settings_notifications")
    return _settings_page(request, "accounts/settings/notifications.html", {"form": form})


@login_required
def profile_settings(request: HttpRequest) -> HttpResponse:
    profile, _ = Profile.objects.get_or_create(user=request.user)
    form = TimeZoneForm(request.POST or None, initial={"time_zone": profile.time_zone})
    if request.method == "POST" and form.is_valid():
        profile.time_zone = form.cleaned_data["time_zone"]
        profile.save(update_fields=["time_zone"])
        remember_time_zone(request, profile.time_zone)
        messages.success(request, f"Times are now shown in {profile.time_zone or 'UTC'}.")
        return redirect("settings_profile")
    return _settings_page(request, "accounts/settings/profile.html", {"form": form})


@csrf_exempt  # the signed token is the authority; mail clients' one-click unsubscribe POSTs carry no CSRF
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Works without logging in: GET asks, POST (the button, or RFC 8058 one-click) turns the mail off."""
    found = notifications.read_unsubscribe_token(token)
    if found is None:
        return render(request, "accounts/unsubscribe.html", {"invalid": True}, status=400)
    membership, kind = found
    done = False
    if request.method == "POST":
        Membership.objects.filter(pk=membership.pk).update(**{notifications.FIELDS[kind]: False})
        done = True
    context = {"membership": membership, "kind_label": notifications.LABELS[kind], "done": done}
    return render(request, "accounts/unsubscribe.html", context)
