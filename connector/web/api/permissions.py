from __future__ import annotations

from rest_framework.permissions import BasePermission

from accounts.models import ApiToken, Membership
from connector.tenancy import organization_for


class IsOrganizationMember(BasePermission):
    """Authenticated and a member of an organisation; sets `request.organization` for token auth too.

    An API key works in the organisation it was made for, and only while its owner is still a member
    there; a session works in the organisation chosen in the page header.
    """

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if isinstance(request.auth, ApiToken):
            token = request.auth
            member = Membership.objects.filter(user=request.user, organization_id=token.organization_id).exists()
            request.organization = token.organization if member else None
        else:
            # Token-authenticated requests never passed through the session middleware's user.
            request.organization = organization_for(request)
        return request.organization is not None
