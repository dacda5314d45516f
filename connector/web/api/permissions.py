from __future__ import annotations

from rest_framework.permissions import BasePermission

from connector.tenancy import organization_for


class IsOrganizationMember(BasePermission):
    """Authenticated and a member of an organisation; sets `request.organization` for token auth too."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        # Token-authenticated requests never passed through the session middleware's user.
        request.organization = organization_for(request)
        return request.organization is not None
