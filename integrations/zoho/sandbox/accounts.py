"""Sandbox Zoho Accounts server, one per data centre: /sandbox/zoho/<region>/accounts/oauth/v2/...

Written from ZOHO.md §1: a consent page with Accept and Deny (`oauth/v2/auth`), a token endpoint
(`oauth/v2/token`) taking its parameters from the query string or a form body, issuing 1-hour access
tokens (in the documented token shape, or the older milliseconds one: LEGACY_TOKEN_SHAPE) and, for
`access_type=offline`, a refresh token; 2-minute single-use authorisation codes;
errors as Zoho writes them (`{"error": "invalid_code"}` with HTTP 200, the "too many requests" body
of §1.3), and `oauth/v2/token/revoke` (`{"status": "success"}`, HTTP 400 for an unknown token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlencode

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from connector.sandbox.access import page_view
from integrations.zoho import oauth as zoho_oauth
from integrations.zoho.sandbox import state
from integrations.zoho.sandbox.models import SandboxZohoGrant, SandboxZohoToken, SandboxZohoUser


def _check_region(region: str) -> None:
    if region not in state.REGION_CODES:
        raise Http404("unknown data centre")


def registered_redirect_uri() -> str:
    """The one redirect URI registered for the sandbox client in its 'API console'."""
    return state.public_base() + reverse("zoho_callback")


def _client_ok(client_id: str, client_secret: str | None = None) -> bool:
    if not hmac.compare_digest(client_id.encode(), zoho_oauth.client_id().encode()):
        return False
    return client_secret is None or hmac.compare_digest(client_secret.encode(), zoho_oauth.client_secret().encode())


@page_view
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest, region: str) -> HttpResponse:
    """The consent page. Its stand-in for signing in to Zoho is the connector login: the choices are
    the signed-in organisation's sandbox Zoho users (a new address makes one for it); another
    tenant's sandbox login is refused as if it did not exist."""
    _check_region(region)
    params = request.GET if request.method == "GET" else request.POST
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    problems = []
    if not _client_ok(client_id):
        problems.append("Invalid Client ID")
    if params.get("response_type") != "code":
        problems.append("Invalid response_type: only 'code' is supported")
    if redirect_uri != registered_redirect_uri():
        problems.append("Invalid Redirect URI: it does not match the one registered for this client")
    if not params.get("scope"):
        problems.append("Invalid scope: scope is required")
    if problems:
        return render(request, "zoho/sandbox_consent.html", {"problems": problems, "region": region}, status=400)
    carried = {
        k: params.get(k, "")
        for k in (
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
    }
    if request.method == "GET":
        context = {
            "region": region,
            "carried": carried,
            "scopes": carried["scope"].split(","),
            "users": SandboxZohoUser.objects.for_org(request.organization).filter(region=region).order_by("email"),
        }
        return render(request, "zoho/sandbox_consent.html", context)
    back = {"state": carried["state"]} if carried["state"] else {}
    if request.POST.get("decision") != "accept":
        return HttpResponseRedirect(f"{redirect_uri}?{urlencode({'error': 'access_denied', **back})}")
    email = (request.POST.get("email") or "").strip().lower() or f"owner@{region}.sandbox.example"
    user = SandboxZohoUser.objects.filter(region=region, email=email).first()
    if user is None:
        user = state.create_org(region, email, organization=request.organization).user
    elif user.organization_id != request.organization.pk:
        raise Http404("unknown sandbox login")
    challenge = carried["code_challenge"]
    if challenge and carried["code_challenge_method"] not in ("S256", "plain", ""):
        return render(request, "zoho/sandbox_consent.html", {"problems": ["Invalid code_challenge_method"]}, status=400)
    if challenge and carried["code_challenge_method"] != "plain":
        challenge = "S256:" + challenge
    grant = SandboxZohoGrant.objects.create(
        code="1000." + secrets.token_hex(16) + "." + secrets.token_hex(16),
        user=user,
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=carried["scope"],
        access_type=carried["access_type"] or "online",
        code_challenge=challenge,
    )
    query = {
        **back,
        "code": grant.code,
        "location": region,
        "accounts-server": state.accounts_server(region),
    }
    return HttpResponseRedirect(f"{redirect_uri}?{urlencode(query)}")


def _param(request: HttpRequest, name: str) -> str:
    return request.GET.get(name) or request.POST.get(name) or ""


def _issue_access(user, client_id: str, scope: str, grant_type: str, parent=None) -> SandboxZohoToken:
    return SandboxZohoToken.objects.create(
        token="1000." + secrets.token_hex(24),
        kind=SandboxZohoToken.Kind.ACCESS,
        user=user,
        parent=parent,
        client_id=client_id,
        scope=scope,
        grant_type=grant_type,
        expires_at=timezone.now() + state.ACCESS_LIFETIME,
    )


#: Data centres whose sandbox answers the older token shape: `expires_in` in milliseconds with
#: `expires_in_sec` beside it, as quoted from a real answer in github.com/Weble/ZohoClient/issues/11.
#: Zoho does not say which of its data centres still do; the others answer the documented shape
#: (zoho.com/accounts/protocol/oauth/web-apps/access-token.html), so a client meets both.
LEGACY_TOKEN_SHAPE = frozenset({"in", "au", "cn"})


def _token_body(region: str, access: SandboxZohoToken, refresh: SandboxZohoToken | None) -> dict:
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


@csrf_exempt
@require_POST
def token(request: HttpRequest, region: str) -> JsonResponse:
    _check_region(region)
    grant_type = _param(request, "grant_type")
    client_id = _param(request, "client_id")
    if not _client_ok(client_id, _param(request, "client_secret")):
        return JsonResponse({"error": "invalid_client"})
    if grant_type == "authorization_code":
        return _exchange_code(request, region, client_id)
    if grant_type == "refresh_token":
        return _refresh(request, region, client_id)
    return JsonResponse({"error": "unsupported_grant_type"})


def _verifier_ok(challenge: str, verifier: str) -> bool:
    if not challenge:
        return True
    if challenge.startswith("S256:"):
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return hmac.compare_digest(digest, challenge[5:])
    return hmac.compare_digest(verifier, challenge)


def _exchange_code(request: HttpRequest, region: str, client_id: str) -> JsonResponse:
    with transaction.atomic():
        grant = (
            SandboxZohoGrant.objects.select_for_update()
            .select_related("user")
            .filter(code=_param(request, "code"), client_id=client_id, user__region=region)
            .first()
        )
        if grant is None or grant.used_at is not None or timezone.now() - grant.created_at > state.CODE_LIFETIME:
            return JsonResponse({"error": "invalid_code"})
        grant.used_at = timezone.now()  # single use, whatever happens next
        grant.save(update_fields=["used_at"])
        if _param(request, "redirect_uri") != grant.redirect_uri:
            return JsonResponse({"error": "invalid_redirect_uri"})
        if not _verifier_ok(grant.code_challenge, _param(request, "code_verifier")):
            return JsonResponse({"error": "invalid_code"})
        refresh = None
        if grant.access_type == "offline":
            refresh = SandboxZohoToken.objects.create(
                token="1000." + secrets.token_hex(24),
                kind=SandboxZohoToken.Kind.REFRESH,
                user=grant.user,
                client_id=client_id,
                scope=grant.scope,
                grant_type="authorization_code",
            )
        access = _issue_access(grant.user, client_id, grant.scope, "authorization_code", parent=refresh)
    return JsonResponse(_token_body(region, access, refresh))


def _refresh(request: HttpRequest, region: str, client_id: str) -> JsonResponse:
    with transaction.atomic():
        refresh = (
            SandboxZohoToken.objects.select_for_update()
            .select_related("user")
            .filter(
                token=_param(request, "refresh_token"),
                kind=SandboxZohoToken.Kind.REFRESH,
                client_id=client_id,
                user__region=region,
                revoked_at=None,
            )
            .first()
        )
        if refresh is None:
            return JsonResponse({"error": "invalid_code"})
        limit, window = state.REFRESH_THROTTLE
        recent = refresh.children.filter(grant_type="refresh_token", created_at__gte=timezone.now() - window).count()
        if recent >= limit:
            return JsonResponse(
                {
                    "error_description": "You have made too many requests continuously. Please try again after some time.",
                    "error": "Access Denied",
                    "status": "failure",
                },
                status=400,
            )
        access = _issue_access(refresh.user, client_id, refresh.scope, "refresh_token", parent=refresh)
        active = refresh.children.filter(revoked_at=None).order_by("-created_at", "-id")
        stale = [t.pk for t in active[state.MAX_ACCESS_PER_REFRESH :]]
        if stale:
            SandboxZohoToken.objects.filter(pk__in=stale).update(revoked_at=timezone.now())
    return JsonResponse(_token_body(region, access, None))


@csrf_exempt
@require_POST
def revoke(request: HttpRequest, region: str) -> JsonResponse:
    _check_region(region)
    found = SandboxZohoToken.objects.filter(
        token=_param(request, "token"), revoked_at=None, user__region=region
    ).first()
    if found is None:
        return JsonResponse({"status": "failure", "error": "invalid_token"}, status=400)
    now = timezone.now()
    found.revoked_at = now
    found.save(update_fields=["revoked_at"])
    found.children.filter(revoked_at=None).update(revoked_at=now)  # a refresh token takes its access tokens along
    return JsonResponse({"status": "success"})
