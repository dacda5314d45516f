from __future__ import annotations

import contextlib
import zoneinfo

from django.utils import timezone

from connector.tenancy import organization_for

TIME_ZONE_SESSION_KEY = "time_zone"


class OrganizationMiddleware:
    """Sets `request.organization` (None for anonymous users) from the one tenancy helper."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organization = organization_for(request)
        return self.get_response(request)


def remember_time_zone(request, name: str) -> None:
    request.session[TIME_ZONE_SESSION_KEY] = name or "UTC"


class TimezoneMiddleware:
    """Renders every time in the signed-in person's time zone (Settings → Profile); UTC otherwise.

    The zone is read from the profile once per session, then from the session.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            name = request.session.get(TIME_ZONE_SESSION_KEY)
            if name is None:
                from accounts.models import Profile

                name = Profile.objects.filter(user=user).values_list("time_zone", flat=True).first() or "UTC"
                remember_time_zone(request, name)
        timezone.deactivate()
        if name and name != "UTC":
            # A zone removed from the tz database since it was chosen stays UTC.
            with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.activate(zoneinfo.ZoneInfo(name))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
