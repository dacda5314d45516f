"""Who may do what inside an organisation (DESIGN §4).

Owners and admins manage credentials and connections (connect, disconnect, repair, regenerate a
QuickBooks Web Connector password, rotate webhook addresses), the team and API tokens; members see
everything of their organisation and may replay. Pages use `require_admin` (or `member_required`
where members may read and only some roles may change), the REST API `IsOrganizationAdmin`; all read
the role from the one `membership_for` lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import wraps
from typing import Literal

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest
from django.shortcuts import redirect, render
from rest_framework.permissions import BasePermission

from accounts.models import Membership

_CACHE = "_membership_cache"


def membership_for(request: HttpRequest) -> Membership | None:
    """The signed-in user's membership of `request.organization` (cached on the request)."""
    if hasattr(request, _CACHE):
        return getattr(request, _CACHE)
    organization = getattr(request, "organization", None)
    user = getattr(request, "user", None)
    membership = None
    if organization is not None and user is not None and user.is_authenticated:
        membership = Membership.objects.filter(user=user, organization=organization).first()
    setattr(request, _CACHE, membership)
    return membership


def is_admin(request: HttpRequest) -> bool:
    """Owner or admin of the organisation the request works in."""
    membership = membership_for(request)
    return membership is not None and membership.can_manage


def forbidden(request: HttpRequest, message: str = "Only owners and admins can do this."):
    return render(request, "accounts/forbidden.html", {"message": message}, status=403)


def require_admin(view):
    """Pages that change credentials or connections: signed in, and owner or admin (else 403).

    Tenancy is still the view's job: another organisation's id stays a 404 inside the view.
    """

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_admin(request):
            return forbidden(request)
        return view(request, *args, **kwargs)

    return wrapper


def member_required(
    *,
    post_roles: Collection[str] = (),
    refusal: str = "Only owners and admins can do this.",
    not_member: Literal["redirect", "404"] = "redirect",
) -> Callable:
    """Pages of the organisation the request works in: signed in and a member of it, and the view is
    called as `view(request, membership, ...)`.

    Someone without a membership (no organisation yet, or just removed) is sent to the dashboard,
    or gets a 404 with `not_member="404"` (actions on the team, which must not say more). With
    `post_roles`, every member may read the page but only those roles may POST to it; the others get
    a 403 saying `refusal`.
    """

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            membership = membership_for(request)
            if membership is None:
                if not_member == "404":
                    raise Http404
                return redirect("dashboard")
            if post_roles and request.method == "POST" and membership.role not in post_roles:
                return forbidden(request, refusal)
            return view(request, membership, *args, **kwargs)

        return wrapper

    return decorator


class IsOrganizationAdmin(BasePermission):
    """API actions that change credentials or connections; use after `IsOrganizationMember`."""

    message = "Only owners and admins can do this."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return is_admin(request)
