"""Sandbox Zoho Accounts server, one per data centre: /sandbox/zoho/<region>/accounts/oauth/v2/...

Written from ZOHO.md §1 on the kit's OAuth server (connector.sandbox.oauth_server): a consent page
with Accept and Deny (`oauth/v2/auth`, a scope required, PKCE when the client sends a challenge), a
token endpoint (`oauth/v2/token`) taking its parameters from the query string or a form body,
issuing 1-hour access tokens with `api_domain` (in the documented token shape, or the older
milliseconds one: LEGACY_TOKEN_SHAPE) and, for `access_type=offline`, a refresh token that never
rotates; 2-minute single-use authorisation codes; at most 10 access-token requests per 10 minutes
per refresh token and 10 live access tokens per refresh token (an 11th invalidates the oldest); at
most 20 refresh tokens per user and client (a 21st silently invalidates the oldest); errors as Zoho
writes them (`{"error": "invalid_code"}` with HTTP 200, the "too many requests" body of §1.3), and
`oauth/v2/token/revoke` (`{"status": "success"}`, HTTP 400 for an unknown token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from connector.sandbox.oauth_server import OAuthServer
from integrations.zoho import oauth as zoho_oauth
from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.models import SandboxZohoGrant, SandboxZohoToken, SandboxZohoUser

#: Data centres whose sandbox answers the older token shape: `expires_in` in milliseconds with
#: `expires_in_sec` beside it, as quoted from a real answer in github.com/Weble/ZohoClient/issues/11.
#: Zoho does not say which of its data centres still do; the others answer the documented shape
#: (zoho.com/accounts/protocol/oauth/web-apps/access-token.html), so a client meets both.
LEGACY_TOKEN_SHAPE = frozenset({"in", "au", "cn"})

TOO_MANY = {
    "error_description": "You have made too many requests continuously. Please try again after some time.",
    "error": "Access Denied",
    "status": "failure",
}
ERRORS = {  # kind -> (HTTP status, body): Zoho answers most token errors with HTTP 200
    "invalid_client": (200, {"error": "invalid_client"}),
    "invalid_code": (200, {"error": "invalid_code"}),
    "redirect_mismatch": (200, {"error": "invalid_redirect_uri"}),
    "unsupported_grant_type": (200, {"error": "unsupported_grant_type"}),
    "unknown_refresh": (200, {"error": "invalid_code"}),
    "throttled": (400, TOO_MANY),
    "unknown_token": (400, {"status": "failure", "error": "invalid_token"}),
}


def new_token() -> str:
    return "1000." + secrets.token_hex(24)


def _verifier_ok(challenge: str, verifier: str) -> bool:
    if not challenge:
        return True
    if challenge.startswith("S256:"):
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return hmac.compare_digest(digest, challenge[5:])
    return hmac.compare_digest(verifier, challenge)


class ZohoAccounts(OAuthServer):
    realm_kwarg = "region"
    realms = state.REGION_CODES
    unknown_realm = "unknown data centre"
    template = "zoho/sandbox_consent.html"
    callback_url_name = "zoho_callback"
    carried = (
        "client_id",
        "response_type",
        "redirect_uri",
        "scope",
        "access_type",
        "prompt",
        "state",
        "code_challenge",
        "code_challenge_method",
    )
    messages = {
        "client_id": "Invalid Client ID",
        "response_type": "Invalid response_type: only 'code' is supported",
        "redirect_uri": "Invalid Redirect URI: it does not match the one registered for this client",
        "scope": "Invalid scope: scope is required",
    }
    code_lifetime = state.CODE_LIFETIME
    access_lifetime = state.ACCESS_LIFETIME
    refresh_throttle = (state.REFRESH_THROTTLE[0], state.REFRESH_THROTTLE[1].total_seconds())
    token_params_in_query = True  # Zoho documents query parameters; a form body works too

    def client_id(self) -> str:
        return zoho_oauth.client_id()

    def client_secret(self) -> str:
        return zoho_oauth.client_secret()

    def error(self, kind: str, **details) -> HttpResponse:
        status, body = ERRORS[kind]
        return JsonResponse(body, status=status)

    def consent_context(self, request, realm: str, carried: dict) -> dict:
        users = SandboxZohoUser.objects.for_org(request.organization).filter(region=realm).order_by("email")
        return {"carried": carried, "scopes": carried["scope"].split(","), "users": users}

    def login(self, realm: str, email: str, organization) -> SandboxZohoUser:
        email = email or f"owner@{realm}.sandbox.example"
        user = SandboxZohoUser.objects.filter(region=realm, email=email).first()
        return user or state.create_org(realm, email, organization=organization).user

    def grant_problem(self, carried: dict) -> str | None:
        method = carried["code_challenge_method"]
        if carried["code_challenge"] and method not in ("S256", "plain", ""):
            return "Invalid code_challenge_method"
        return None

    def save_grant(self, user: SandboxZohoUser, realm: str, carried: dict) -> str:
        challenge = carried["code_challenge"]
        if challenge and carried["code_challenge_method"] != "plain":
            challenge = "S256:" + challenge
        return SandboxZohoGrant.objects.create(
            code="1000." + secrets.token_hex(16) + "." + secrets.token_hex(16),
            user=user,
            client_id=carried["client_id"],
            redirect_uri=carried["redirect_uri"],
            scope=carried["scope"],
            access_type=carried["access_type"] or "online",
            code_challenge=challenge,
        ).code

    def code_query(self, code: str, realm: str) -> dict:
        return {"location": realm, "accounts-server": state.accounts_server(realm)}

    def locked_grant(self, code: str, realm: str, client_id: str) -> SandboxZohoGrant | None:
        found = SandboxZohoGrant.objects.select_for_update().select_related("user")
        return found.filter(code=code, client_id=client_id, user__region=realm).first()

    def grant_spent(self, grant: SandboxZohoGrant) -> bool:
        return grant.used_at is not None

    def spend_grant(self, grant: SandboxZohoGrant) -> None:
        grant.used_at = timezone.now()
        grant.save(update_fields=["used_at"])

    def verifier_refusal(self, grant: SandboxZohoGrant, params: dict) -> HttpResponse | None:
        return (
            None if _verifier_ok(grant.code_challenge, params.get("code_verifier", "")) else self.error("invalid_code")
        )

    def issue_for_grant(self, grant: SandboxZohoGrant, client_id: str, realm: str) -> dict:
        refresh = None
        if grant.access_type == "offline":
            refresh = issue_refresh(grant.user, client_id, grant.scope)
        access = issue_access(grant.user, client_id, grant.scope, "authorization_code", parent=refresh)
        return token_body(realm, access, refresh)

    def locked_refresh(self, token: str, realm: str, client_id: str) -> SandboxZohoToken | None:
        found = SandboxZohoToken.objects.select_for_update().select_related("user")
        kind = SandboxZohoToken.Kind.REFRESH
        return found.filter(token=token, kind=kind, client_id=client_id, user__region=realm, revoked_at=None).first()

    def issue_for_refresh(self, refresh: SandboxZohoToken, realm: str) -> dict:
        access = issue_access(refresh.user, refresh.client_id, refresh.scope, "refresh_token", parent=refresh)
        return token_body(realm, access, None)

    def find_token(self, token: str, realm: str) -> SandboxZohoToken | None:
        return SandboxZohoToken.objects.filter(token=token, revoked_at=None, user__region=realm).first()

    def revoke_token(self, found: SandboxZohoToken) -> None:
        now = timezone.now()
        found.revoked_at = now
        found.save(update_fields=["revoked_at"])
        found.children.filter(revoked_at=None).update(revoked_at=now)  # a refresh token takes its access tokens along


def _keep_newest(tokens, keep: int) -> None:
    """Zoho's eviction: past `keep` live tokens, the oldest stop working, silently."""
    live = tokens.filter(revoked_at=None).order_by("-created_at", "-id")
    stale = [t.pk for t in live[keep:]]
    if stale:
        SandboxZohoToken.objects.filter(pk__in=stale).update(revoked_at=timezone.now())


def issue_refresh(user: SandboxZohoUser, client_id: str, scope: str) -> SandboxZohoToken:
    """A refresh token for an accepted offline consent; the user's 21st for this client evicts the oldest."""
    refresh = _create(SandboxZohoToken.Kind.REFRESH, user, client_id, scope, "authorization_code")
    mine = SandboxZohoToken.objects.filter(user=user, client_id=client_id, kind=SandboxZohoToken.Kind.REFRESH)
    _keep_newest(mine, state.MAX_REFRESH_PER_USER)
    return refresh


def issue_access(user, client_id: str, scope: str, grant_type: str, parent=None) -> SandboxZohoToken:
    """An access token; a refresh token's 11th live one evicts the oldest."""
    expires_at = timezone.now() + state.ACCESS_LIFETIME
    access = _create(
        SandboxZohoToken.Kind.ACCESS, user, client_id, scope, grant_type, parent=parent, expires_at=expires_at
    )
    if parent is not None:
        _keep_newest(parent.children.all(), state.MAX_ACCESS_PER_REFRESH)
    return access


def _create(kind: str, user, client_id: str, scope: str, grant_type: str, **more) -> SandboxZohoToken:
    return SandboxZohoToken.objects.create(
        token=new_token(), kind=kind, user=user, client_id=client_id, scope=scope, grant_type=grant_type, **more
    )


def token_body(region: str, access: SandboxZohoToken, refresh: SandboxZohoToken | None) -> dict:
    seconds = int(state.ACCESS_LIFETIME.total_seconds())
    body = {
        "access_token": access.token,
        "scope": access.scope,
        "api_domain": state.api_domain(region),
        "token_type": "Bearer",
        "expires_in": seconds,
    }
    if region in LEGACY_TOKEN_SHAPE:
        body.update({"expires_in_sec": seconds, "expires_in": seconds * 1000})
    if refresh is not None:
        body["refresh_token"] = refresh.token
    return body


server = ZohoAccounts()
registered_redirect_uri = server.registered_redirect_uri
_views = server.views()
authorize, token, revoke = _views["authorize"], _views["token"], _views["revoke"]
