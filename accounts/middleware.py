from __future__ import annotations

from connector.tenancy import organization_for


class OrganizationMiddleware:
    """Sets `request.organization` (None for anonymous users) from the one tenancy helper."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organization = organization_for(request)
        return self.get_response(request)
