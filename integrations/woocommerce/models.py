"""WooCommerce app state: pending app-key authorisations (the sandbox's rows live in its own app).

The app-key flow (`/wc-auth/v1/authorize`) has no `state` parameter, so the one-time value we
put in `user_id` is the binding: stored here as a hash, bound to the organisation and user who
started it, single use, and short-lived.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from connector.models import TenantModel

AUTH_REQUEST_TTL = timedelta(minutes=30)


def _expiry():
    return timezone.now() + AUTH_REQUEST_TTL


class WooAuthRequest(TenantModel):
    """One press of Connect: the store URL and the hash of the `user_id` token we sent."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    store_url = models.CharField(max_length=500)
    label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=_expiry)
    used_at = models.DateTimeField(null=True, blank=True)
    connection = models.ForeignKey(
        "connector.Connection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def is_usable(self, now=None) -> bool:
        return self.used_at is None and (now or timezone.now()) < self.expires_at
