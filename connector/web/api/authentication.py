"""API key authentication: `Authorization: Bearer cnk_…` (or `Token cnk_…`, the DRF spelling).

Keys are `accounts.models.ApiToken` rows: stored as SHA-256 hashes, named, expiring, revocable,
several per person, each bound to one organisation (Settings → API tokens).
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from accounts.models import ApiToken, hash_token

KEYWORDS = (b"bearer", b"token")
# `last_used_at` is written at most this often, not on every call.
USED_AT_RESOLUTION = timedelta(minutes=1)


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None  # not ours: session auth (or nothing) decides
        if len(parts) != 2:
            raise AuthenticationFailed("Invalid Authorization header: expected 'Bearer <key>'.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid API key.") from None
        digest = hash_token(key)
        token = ApiToken.objects.select_related("user", "organization").filter(key_hash=digest).first()
        # One message for unknown, revoked and expired keys: nothing to learn by probing.
        if token is None or not hmac.compare_digest(token.key_hash, digest):
            raise AuthenticationFailed("Invalid, expired or revoked API key.")
        if not token.is_active or not token.user.is_active:
            raise AuthenticationFailed("Invalid, expired or revoked API key.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > USED_AT_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents the scheme in the OpenAPI schema (/api/docs/ offers "Authorize" with a Bearer key)."""

    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "http", "scheme": "bearer", "description": "An API token from Settings → API tokens."}
