"""Who counts as a reachable member of an organisation."""

from __future__ import annotations

from allauth.account.models import EmailAddress


def verified_member_addresses(organization_id: int) -> set[str]:
    """Lower-cased verified addresses of the organisation's active members."""
    addresses = EmailAddress.objects.filter(
        verified=True, user__is_active=True, user__memberships__organization_id=organization_id
    ).values_list("email", flat=True)
    return {address.lower() for address in addresses}
