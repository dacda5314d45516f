"""An OAuth 2.0 authorization server (authorization-code grant) for the sandboxes, written once.

The mechanics every vendor shares live here: the consent page and its checks (client id, response
type, redirect URI matched exactly, scope when the vendor requires one), the tenant rule for the
sandbox login it signs in as, single-use authorisation codes that expire, the client id and secret
compared in constant time, the token endpoint's dispatch by `grant_type`, refresh-token rotation
(or not) with spent and expired refresh tokens refused, a rolling throttle per refresh token, and
revocation. A vendor's sandbox subclasses `OAuthServer`: class attributes carry its rules
(lifetimes, rotation, messages), `error` its error shapes, and the storage hooks its own models.
Its views are the bound methods `authorize`, `token` and `revoke`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from connector.sandbox import kit
from connector.sandbox.access import page_view

#: What the consent page checks, by problem; a vendor words each message its own way.
AUTHORIZE_CHECKS = ("client_id", "response_type", "redirect_uri", "scope")


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison, so a caller cannot learn a client id or secret byte by byte."""
    return hmac.compare_digest((given or "").encode(), (expected or "").encode())


def json_error(status: int, body: dict, headers: Mapping[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class OAuthServer:
    """One vendor's authorization server. Subclasses set the rules below and the hooks."""

    realm_kwarg: str = "realm"  # the URL kwarg (and consent-page context name) of the data centre/country
    realms: tuple[str, ...] = ()
    unknown_realm = "unknown realm"
    template: str = ""  # the consent page
    callback_url_name: str = ""  # the one redirect URI registered for the sandbox client
    carried: tuple[str, ...] = ("client_id", "redirect_uri", "response_type", "state")
    messages: Mapping[str, str] = {}  # AUTHORIZE_CHECKS -> the vendor's wording; a check without one is not made
    code_lifetime = timedelta(minutes=2)
    access_lifetime = timedelta(hours=1)
    rotates_refresh_tokens = False  # True: each refresh spends the presented refresh token
    refresh_throttle: tuple[int, float] | None = None  # (grants, seconds): a rolling window per refresh token
    token_params_in_query = False  # True: the token endpoint also reads the query string
    echo_empty_state = False  # True: `state=` is sent back even when the client sent none

    # --- Rules a vendor sets -------------------------------------------------------------------

    def client_id(self) -> str:
        raise NotImplementedError

    def client_secret(self) -> str:
        raise NotImplementedError

    def error(self, kind: str, **details: Any) -> HttpResponse:
        """The vendor's answer for `kind`: invalid_client, invalid_code, redirect_mismatch,
        unsupported_grant_type, unknown_refresh, refresh_reused, refresh_expired, throttled,
        unknown_token, sign_in (the consent page posted with no login), or a vendor's own."""
        raise NotImplementedError

    # --- Storage hooks -------------------------------------------------------------------------

    def logins(self, organization, realm: str):
        """The organisation's sandbox logins offered on the consent page."""
        raise NotImplementedError

    def login(self, realm: str, email: str, organization):
        """The login for `email`, made for `organization` when new (None: refuse, no login given)."""
        raise NotImplementedError

    def save_grant(self, user, realm: str, carried: dict) -> str:
        """Store an authorisation code for `user` and answer it."""
        raise NotImplementedError

    def locked_grant(self, code: str, realm: str, client_id: str):
        """The grant of `code` in `realm`, row-locked, or None. It has `created_at` and `redirect_uri`."""
        raise NotImplementedError

    def grant_spent(self, grant) -> bool:
        raise NotImplementedError

    def spend_grant(self, grant) -> None:
        raise NotImplementedError

    def issue_for_grant(self, grant, client_id: str, realm: str) -> dict:
        """Tokens for an accepted consent, as the token endpoint's JSON body."""
        raise NotImplementedError

    def locked_refresh(self, token: str, realm: str, client_id: str):
        """The live refresh token `token`, row-locked, or None (unknown, revoked, other realm)."""
        raise NotImplementedError

    def refresh_spent(self, refresh) -> bool:
        return False

    def refresh_expires_at(self, refresh) -> datetime | None:
        """When an unused refresh token stops working (None: not until revoked)."""
        return None

    def refresh_refusal(self, refresh, now: datetime) -> HttpResponse | None:
        """A vendor's own reason to refuse this refresh (checked after spent and expired)."""
        return None

    def spend_refresh(self, refresh) -> None:
        raise NotImplementedError

    def issue_for_refresh(self, refresh, realm: str) -> dict:
        """Tokens for a refresh (a new refresh token in it when the vendor rotates), as JSON."""
        raise NotImplementedError

    def refused(self, kind: str, realm: str, refresh=None) -> None:
        """Told of each refresh refusal, after it is decided (vendors count them)."""

    def refreshed(self, refresh) -> None:
        """Told of each successful refresh, after it is committed."""

    def find_token(self, token: str, realm: str):
        """Any live token (access or refresh) for revocation, or None."""
        raise NotImplementedError

    def revoke_token(self, found) -> None:
        raise NotImplementedError

    # --- Mechanics -----------------------------------------------------------------------------

    def registered_redirect_uri(self) -> str:
        return settings.PUBLIC_BASE_URL + reverse(self.callback_url_name)

    def client_ok(self, client_id: str, secret: str | None = None) -> bool:
        """The client id, and the secret when one is to be checked, both in constant time."""
        id_ok = same_secret(client_id, self.client_id())
        secret_ok = secret is None or same_secret(secret, self.client_secret())
        return id_ok and secret_ok

    def realm(self, kwargs: dict) -> str:
        realm = kwargs[self.realm_kwarg]
        if realm not in self.realms:
            raise Http404(self.unknown_realm)
        return realm

    def authorize_problems(self, params: QueryDict) -> list[str]:
        failed = {
            "client_id": not self.client_ok(params.get("client_id", "")),
            "response_type": params.get("response_type") != "code",
            "redirect_uri": params.get("redirect_uri", "") != self.registered_redirect_uri(),
            "scope": not params.get("scope"),
        }
        return [self.messages[check] for check in AUTHORIZE_CHECKS if check in self.messages and failed[check]]

    def consent_context(self, request: HttpRequest, realm: str, carried: dict) -> dict:
        return {"carried": carried, "users": self.logins(request.organization, realm)}

    def grant_problem(self, carried: dict) -> str | None:
        """A vendor's own refusal of an accepted consent (e.g. a bad PKCE method)."""
        return None

    def code_query(self, code: str, realm: str) -> dict:
        """What the redirect after consent carries besides the code and state."""
        return {}

    def _state(self, carried: dict) -> dict:
        return {"state": carried["state"]} if carried["state"] or self.echo_empty_state else {}

    def _page(self, request: HttpRequest, realm: str, context: dict, status: int = 200) -> HttpResponse:
        return render(request, self.template, {self.realm_kwarg: realm, **context}, status=status)

    def authorize(self, request: HttpRequest, **kwargs: str) -> HttpResponse:
        """The consent page. Its stand-in for signing in to the vendor is the connector login: the
        choices are the signed-in organisation's sandbox logins (a new address makes one for it);
        another tenant's sandbox login is refused as if it did not exist."""
        realm = self.realm(kwargs)
        params = request.GET if request.method == "GET" else request.POST
        problems = self.authorize_problems(params)
        if problems:
            return self._page(request, realm, {"problems": problems}, status=400)
        carried = {k: params.get(k, "") for k in self.carried}
        if request.method == "GET":
            return self._page(request, realm, self.consent_context(request, realm, carried))
        redirect_uri = carried["redirect_uri"]
        if params.get("decision") != "accept":
            return HttpResponseRedirect(
                f"{redirect_uri}?{urlencode({'error': 'access_denied', **self._state(carried)})}"
            )
        user = self.login(realm, (params.get("email") or "").strip().lower(), request.organization)
        if user is None:
            return self._page(request, realm, {"problems": [self.messages["sign_in"]]}, status=400)
        if user.organization_id != request.organization.pk:
            raise Http404("unknown sandbox login")
        problem = self.grant_problem(carried)
        if problem:
            return self._page(request, realm, {"problems": [problem]}, status=400)
        code = self.save_grant(user, realm, carried)
        query = {**self._state(carried), "code": code, **self.code_query(code, realm)}
        return HttpResponseRedirect(f"{redirect_uri}?{urlencode(query)}")

    def token_params(self, request: HttpRequest) -> dict:
        if self.token_params_in_query:
            names = set(request.GET) | set(request.POST)
            return {name: request.GET.get(name) or request.POST.get(name) or "" for name in names}
        return request.POST.dict()

    def token(self, request: HttpRequest, **kwargs: str) -> HttpResponse:
        realm = self.realm(kwargs)
        params = self.token_params(request)
        client_id = params.get("client_id", "")
        if not self.client_ok(client_id, params.get("client_secret", "")):
            return self.error("invalid_client")
        grant_type = params.get("grant_type")
        if grant_type == "authorization_code":
            return self.exchange_code(params, realm, client_id)
        if grant_type == "refresh_token":
            return self.refresh(params.get("refresh_token", ""), realm, client_id)
        return self.error("unsupported_grant_type")

    def exchange_code(self, params: dict, realm: str, client_id: str) -> HttpResponse:
        with transaction.atomic():
            grant = self.locked_grant(params.get("code", ""), realm, client_id)
            if grant is None or self.grant_spent(grant) or timezone.now() - grant.created_at >= self.code_lifetime:
                return self.error("invalid_code")
            self.spend_grant(grant)  # single use, whatever happens next
            if params.get("redirect_uri") != grant.redirect_uri:
                return self.error("redirect_mismatch")
            refusal = self.verifier_refusal(grant, params)
            if refusal is not None:
                return refusal
            return JsonResponse(self.issue_for_grant(grant, client_id, realm))

    def verifier_refusal(self, grant, params: dict) -> HttpResponse | None:
        """A vendor's check of the code exchange beyond the code and redirect URI (e.g. PKCE)."""
        return None

    def refresh(self, presented: str, realm: str, client_id: str) -> HttpResponse:
        now = timezone.now()
        with transaction.atomic():
            refresh = self.locked_refresh(presented, realm, client_id)
            refusal = self._refresh_refusal(refresh, realm, now)
            if refusal is not None:
                return refusal
            if self.rotates_refresh_tokens:
                self.spend_refresh(refresh)
            answer = self.issue_for_refresh(refresh, realm)
            if self.refresh_throttle:
                kit.note(self._throttle_key(presented), self.refresh_throttle[1], now=now.timestamp())
        self.refreshed(refresh)
        return JsonResponse(answer)

    def _refresh_refusal(self, refresh, realm: str, now: datetime) -> HttpResponse | None:
        if refresh is None:
            self.refused("unknown_refresh", realm)
            return self.error("unknown_refresh")
        if self.rotates_refresh_tokens and self.refresh_spent(refresh):
            transaction.on_commit(lambda: self.refused("refresh_reused", realm, refresh))
            return self.error("refresh_reused")
        expires = self.refresh_expires_at(refresh)
        if expires is not None and expires <= now:
            return self.error("refresh_expired", expired=expires, now=now)
        if self.refresh_throttle:
            limit, seconds = self.refresh_throttle
            if kit.recent(self._throttle_key(refresh.token), seconds, now=now.timestamp()) >= limit:
                return self.error("throttled")
        return self.refresh_refusal(refresh, now)

    def _throttle_key(self, token: str) -> str:
        # Keyed by a digest: a refresh token never lands in Redis as it is.
        digest = hashlib.sha256(token.encode()).hexdigest()[:32]
        return f"sandbox:oauth:{type(self).__module__}:refresh:{digest}"

    def revoke(self, request: HttpRequest, **kwargs: str) -> HttpResponse:
        realm = self.realm(kwargs)
        found = self.find_token(self.token_params(request).get("token", ""), realm)
        if found is None:
            return self.error("unknown_token")
        self.revoke_token(found)
        return self.revoked()

    def revoked(self) -> HttpResponse:
        return JsonResponse({"status": "success"})

    def views(self) -> dict:
        """The URL views: the consent page (a signed-in page), the token and revoke endpoints."""
        return {
            "authorize": page_view(require_http_methods(["GET", "POST"])(self.authorize)),
            "token": csrf_exempt(require_POST(self.token)),
            "revoke": csrf_exempt(require_POST(self.revoke)),
        }
