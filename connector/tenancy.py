"""The one place that decides tenancy (DESIGN §3-4).

Every tenant-owned model uses `TenantQuerySet`, and every query a request makes goes through
`Model.objects.for_org(org)`. `organization_for(request)` picks the organisation of a request
(session choice, else the user's first membership) for both the pages and the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import apps
from django.db import models
from django.http import Http404

if TYPE_CHECKING:
    from accounts.models import Organization

SESSION_KEY = "organization_id"


class TenantQuerySet(models.QuerySet):
    def for_org(self, organization: Organization | None) -> TenantQuerySet:
        if organization is None:
            return self.none()
        return self.filter(organization=organization)


TenantManager = models.Manager.from_queryset(TenantQuerySet)


def get_for_org_or_404(model: type[models.Model], organization: Organization | None, **lookup):
    """Another tenant's id answers 404, exactly like an id that does not exist."""
    try:
        return model.objects.for_org(organization).get(**lookup)
    except (model.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def organization_for(request) -> Organization | None:
    # By the app registry, not an import: accounts' models use this module's manager.
    Membership = apps.get_model("accounts", "Membership")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user).select_related("organization")
    chosen = None
    session = getattr(request, "session", None)
    wanted = session.get(SESSION_KEY) if session is not None else None
    if wanted is not None:
        chosen = memberships.filter(organization_id=wanted).first()
    if chosen is None:
        chosen = memberships.order_by("created_at", "id").first()
    return chosen.organization if chosen else None
