from __future__ import annotations

from accounts.models import Membership


def organization(request) -> dict:
    org = getattr(request, "organization", None)
    user = getattr(request, "user", None)
    memberships = []
    if user is not None and user.is_authenticated:
        memberships = list(Membership.objects.filter(user=user).select_related("organization"))
    return {"organization": org, "memberships": memberships}
