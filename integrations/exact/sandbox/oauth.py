"""Sandbox Exact OAuth server: /sandbox/exact/<country>/api/oauth2/{auth,token} (EXACT.md §2).

Built on the kit's OAuth server (connector.sandbox.oauth_server). Consent page (Accept/Deny);
3-minute single-use codes (a reused or expired one: plain "Bad Request"); 600 s access tokens
(`expires_in` "600", a string); every refresh rotates the refresh token and spends the old one; a
refresh within 570 s of the current access token's issue gets 400 `access_denied` + `Reason:
TooEarlyToRefreshTokens`; a spent refresh token gets 401 `unauthorized_client` "Old refresh token
used."; a refresh token unused for 30 days gets 400 `invalid_request`; an unknown one 400
`invalid_grant`. Refusals are counted on the user (tests read them); unknown refresh tokens, with no
user to count them on, in Redis under `sandbox:exact:<country>:invalid_grant`. The `token_seconds`
knob of a user's division shortens the access-token lifetime and scales the 570 s rule with it
(570/600 of the lifetime): a scaled clock for benchmarks.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

from connector.redis import get_redis
from connector.sandbox.oauth_server import OAuthServer, json_error
from integrations.exact import oauth as exact_oauth
from integrations.exact.sandbox import state
from integrations.exact.sandbox.models import (
    SandboxExactDivision,
    SandboxExactGrant,
    SandboxExactToken,
    SandboxExactUser,
)

CODE_SECONDS = 180
MIN_REFRESH_AGE = 570

ERRORS = {  # kind -> (HTTP status, error, description), EXACT.md §2.6
    "invalid_client": (400, "invalid_client", "Invalid client credentials"),
    "redirect_mismatch": (400, "invalid_grant", "redirect_uri mismatch"),
    "unsupported_grant_type": (400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token"),
    "unknown_refresh": (400, "invalid_grant", "Token is not allowed, because of invalid or empty chainId"),
    "refresh_reused": (401, "unauthorized_client", "Old refresh token used."),
    "too_early": (400, "access_denied", "Rate limit exceeded: access_token not expired"),
}
REASONS = {"too_early": "TooEarlyToRefreshTokens"}  # sent in a `Reason` header beside the body
COUNTED = {"refresh_reused": "old_refresh_token", "too_early": "too_early"}  # user counters by refusal


def check_country(country: str) -> None:
    if country not in state.COUNTRY_CODES:
        raise Http404("unknown Exact country")


def _count(user: SandboxExactUser, what: str) -> None:
    with transaction.atomic():
        locked = SandboxExactUser.objects.select_for_update().get(pk=user.pk)
        locked.counters = {**locked.counters, what: int(locked.counters.get(what, 0)) + 1}
        locked.save(update_fields=["counters"])


def token_seconds(user: SandboxExactUser) -> int:
    """The access-token lifetime for this user: 600 s, or a division's `token_seconds` knob."""
    for faults in SandboxExactDivision.objects.filter(user=user).values_list("faults", flat=True):
        if (faults or {}).get("token_seconds"):
            return int(faults["token_seconds"])
    return state.ACCESS_SECONDS


def min_refresh_age(lifetime: float) -> float:
    """570 s for 600 s tokens, scaled for a shortened lifetime."""
    return MIN_REFRESH_AGE * lifetime / state.ACCESS_SECONDS


def issue(user: SandboxExactUser, chain: str | None = None) -> dict:
    """A new access and refresh token in `chain` (one consent; a new chain when None), as JSON."""
    now = timezone.now()
    lifetime = token_seconds(user)
    chain = chain or secrets.token_hex(16)
    access = SandboxExactToken.objects.create(
        token="AAEA" + secrets.token_urlsafe(48),
        kind="access",
        user=user,
        chain=chain,
        issued_at=now,
        expires_at=now + timedelta(seconds=lifetime),
    )
    refresh = SandboxExactToken.objects.create(
        token="Gcp7!IAAA" + secrets.token_urlsafe(40),
        kind="refresh",
        user=user,
        chain=chain,
        issued_at=now,
        expires_at=now + timedelta(days=state.REFRESH_DAYS),
    )
    return {
        "access_token": access.token,
        "token_type": "bearer",
        "expires_in": str(lifetime),
        "refresh_token": refresh.token,
    }


class ExactOAuth(OAuthServer):
    realm_kwarg = "country"
    realms = state.COUNTRY_CODES
    unknown_realm = "unknown Exact country"
    template = "exact/sandbox_consent.html"
    callback_url_name = "exact_callback"
    messages = {
        "client_id": "Unknown client_id",
        "response_type": "response_type must be code",
        "redirect_uri": "redirect_uri does not match the one registered for this app",
        "sign_in": "Sign in first",
    }
    code_lifetime = timedelta(seconds=CODE_SECONDS)
    access_lifetime = timedelta(seconds=state.ACCESS_SECONDS)
    rotates_refresh_tokens = True
    echo_empty_state = True

    def client_id(self) -> str:
        return exact_oauth.client_id()

    def client_secret(self) -> str:
        return exact_oauth.client_secret()

    def error(self, kind: str, **details) -> HttpResponse:
        if kind == "invalid_code":  # a reused or expired code: no JSON at all
            return HttpResponse("Bad Request", status=400, content_type="text/plain")
        if kind == "refresh_expired":
            expired, now = details["expired"], details["now"]
            description = f"The refresh token expired at {expired:%Y-%m-%d} and it is now {now:%Y-%m-%d}."
            return json_error(400, {"error": "invalid_request", "error_description": description})
        status, error, description = ERRORS[kind]
        reason = {"Reason": f"{REASONS[kind]}: {description}"} if kind in REASONS else None
        return json_error(status, {"error": error, "error_description": description}, reason)

    def logins(self, organization, realm: str):
        return SandboxExactUser.objects.for_org(organization).filter(country=realm).order_by("id")[:20]

    def login(self, realm: str, email: str, organization) -> SandboxExactUser | None:
        if not email:
            return None
        user = SandboxExactUser.objects.filter(country=realm, email=email).first()
        if user is None:
            user, _ = state.create_company(realm, email, f"Company of {email}", organization=organization)
        return user

    def save_grant(self, user: SandboxExactUser, realm: str, carried: dict) -> str:
        code = secrets.token_urlsafe(48)
        SandboxExactGrant.objects.create(code=code, user=user, redirect_uri=carried["redirect_uri"])
        return code

    def locked_grant(self, code: str, realm: str, client_id: str) -> SandboxExactGrant | None:
        found = SandboxExactGrant.objects.select_for_update().select_related("user")
        return found.filter(code=code, user__country=realm).first()

    def grant_spent(self, grant: SandboxExactGrant) -> bool:
        return grant.used

    def spend_grant(self, grant: SandboxExactGrant) -> None:
        grant.used = True
        grant.save(update_fields=["used"])

    def issue_for_grant(self, grant: SandboxExactGrant, client_id: str, realm: str) -> dict:
        return issue(grant.user)

    def locked_refresh(self, token: str, realm: str, client_id: str) -> SandboxExactToken | None:
        found = SandboxExactToken.objects.select_for_update().select_related("user")
        return found.filter(token=token, kind="refresh", user__country=realm).first()

    def refresh_spent(self, refresh: SandboxExactToken) -> bool:
        return refresh.used

    def refresh_expires_at(self, refresh: SandboxExactToken) -> datetime:
        return refresh.expires_at  # 30 days after issue; every refresh issues a new one

    def refresh_refusal(self, refresh: SandboxExactToken, now: datetime) -> HttpResponse | None:
        """Exact's 570 s rule: no new access token while the current one has more than 30 s left."""
        latest = SandboxExactToken.objects.filter(chain=refresh.chain, kind="access").order_by("-issued_at").first()
        if latest is None:
            return None
        lifetime = (latest.expires_at - latest.issued_at).total_seconds()
        if (now - latest.issued_at).total_seconds() >= min_refresh_age(lifetime):
            return None
        transaction.on_commit(lambda: self.refused("too_early", refresh.user.country, refresh))
        return self.error("too_early")

    def spend_refresh(self, refresh: SandboxExactToken) -> None:
        SandboxExactToken.objects.filter(pk=refresh.pk).update(used=True)

    def issue_for_refresh(self, refresh: SandboxExactToken, realm: str) -> dict:
        return issue(refresh.user, refresh.chain)

    def refused(self, kind: str, realm: str, refresh: SandboxExactToken | None = None) -> None:
        if kind == "unknown_refresh":
            get_redis().incr(f"sandbox:exact:{realm}:invalid_grant")  # no user to count it on
        elif kind in COUNTED:
            _count(refresh.user, COUNTED[kind])

    def refreshed(self, refresh: SandboxExactToken) -> None:
        _count(refresh.user, "refreshes")


server = ExactOAuth()
registered_redirect_uri = server.registered_redirect_uri
_views = server.views()
authorize, token = _views["authorize"], _views["token"]


def bearer_user(request: HttpRequest, country: str) -> SandboxExactUser | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    row = (
        SandboxExactToken.objects.select_related("user")
        .filter(token=header[7:], kind="access", user__country=country, expires_at__gt=timezone.now())
        .first()
    )
    return row.user if row else None
