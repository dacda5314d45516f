"""Sandbox Exact OAuth server: /sandbox/exact/<country>/api/oauth2/{auth,token} (EXACT.md §2).

Consent page (Accept/Deny); 3-minute single-use codes; 600 s access tokens (`expires_in` "600", a
string); every refresh rotates the refresh token and spends the old one; a refresh within 570 s
of the current access token's issue gets 400 `access_denied` + `Reason: TooEarlyToRefreshTokens`;
a spent refresh token gets 401 `unauthorized_client` "Old refresh token used."; a refresh token
unused for 30 days gets 400 `invalid_request`. Refusals are counted on the user (tests read them).
Unknown refresh tokens (`invalid_grant`) are counted in Redis under
`sandbox:exact:<country>:invalid_grant`. The `token_seconds` knob of a user's division shortens the access-token lifetime and scales the
570 s rule with it (570/600 of the lifetime): a scaled clock for benchmarks.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlencode

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from connector.redis import get_redis
from connector.sandbox.access import page_view
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


def check_country(country: str) -> None:
    if country not in state.COUNTRY_CODES:
        raise Http404("unknown Exact country")


def registered_redirect_uri() -> str:
    from django.conf import settings

    return settings.PUBLIC_BASE_URL + reverse("exact_callback")


def _client_ok(client_id: str, secret: str | None = None) -> bool:
    if not hmac.compare_digest(client_id.encode(), exact_oauth.client_id().encode()):
        return False
    return secret is None or hmac.compare_digest(secret.encode(), exact_oauth.client_secret().encode())


@page_view
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest, country: str) -> HttpResponse:
    """The consent page. Its stand-in for signing in to Exact is the connector login: the choices are
    the signed-in organisation's sandbox Exact users (a new address makes one for it); another
    tenant's sandbox login is refused as if it did not exist."""
    check_country(country)
    params = request.GET if request.method == "GET" else request.POST
    redirect_uri = params.get("redirect_uri", "")
    problems = []
    if not _client_ok(params.get("client_id", "")):
        problems.append("Unknown client_id")
    if params.get("response_type") != "code":
        problems.append("response_type must be code")
    if redirect_uri != registered_redirect_uri():
        problems.append("redirect_uri does not match the one registered for this app")
    if problems:
        return render(request, "exact/sandbox_consent.html", {"problems": problems, "country": country}, status=400)
    carried = {k: params.get(k, "") for k in ("client_id", "redirect_uri", "response_type", "state")}
    if request.method == "GET":
        users = SandboxExactUser.objects.for_org(request.organization).filter(country=country).order_by("id")[:20]
        return render(request, "exact/sandbox_consent.html", {"carried": carried, "country": country, "users": users})
    if params.get("decision") != "accept":
        query = urlencode({"error": "access_denied", "state": carried["state"]})
        return HttpResponseRedirect(f"{redirect_uri}?{query}")
    email = (params.get("email") or "").strip().lower()
    if not email:
        return render(
            request, "exact/sandbox_consent.html", {"problems": ["Sign in first"], "country": country}, status=400
        )
    user = SandboxExactUser.objects.filter(country=country, email=email).first()
    if user is None:
        user, _ = state.create_company(country, email, f"Company of {email}", organization=request.organization)
    elif user.organization_id != request.organization.pk:
        raise Http404("unknown sandbox login")
    grant = SandboxExactGrant.objects.create(code=secrets.token_urlsafe(48), user=user, redirect_uri=redirect_uri)
    return HttpResponseRedirect(f"{redirect_uri}?{urlencode({'code': grant.code, 'state': carried['state']})}")


def _error(status: int, error: str, description: str, reason: str = "") -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    if reason:
        response["Reason"] = f"{reason}: {description}"
    return response


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


@csrf_exempt
@require_POST
def token(request: HttpRequest, country: str) -> HttpResponse:
    check_country(country)
    form = request.POST
    if not _client_ok(form.get("client_id", ""), form.get("client_secret", "")):
        return _error(400, "invalid_client", "Invalid client credentials")
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        with transaction.atomic():
            grant = SandboxExactGrant.objects.select_for_update().filter(code=form.get("code", "")).first()
            fresh = grant and (timezone.now() - grant.created_at).total_seconds() < CODE_SECONDS
            if not grant or grant.used or not fresh or grant.user.country != country:
                return HttpResponse("Bad Request", status=400, content_type="text/plain")
            if form.get("redirect_uri") != grant.redirect_uri:
                return _error(400, "invalid_grant", "redirect_uri mismatch")
            grant.used = True
            grant.save(update_fields=["used"])
            return JsonResponse(issue(grant.user))
    if grant_type == "refresh_token":
        return _refresh(country, form.get("refresh_token", ""))
    return _error(400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")


def _refresh(country: str, presented: str) -> HttpResponse:
    now = timezone.now()
    with transaction.atomic():
        old = (
            SandboxExactToken.objects.select_for_update()
            .select_related("user")
            .filter(token=presented, kind="refresh", user__country=country)
            .first()
        )
        if old is None:
            get_redis().incr(f"sandbox:exact:{country}:invalid_grant")  # no user to count it on
            return _error(400, "invalid_grant", "Token is not allowed, because of invalid or empty chainId")
        user = old.user
        if old.used:
            transaction.on_commit(lambda: _count(user, "old_refresh_token"))
            return _error(401, "unauthorized_client", "Old refresh token used.")
        if old.expires_at <= now:
            return _error(
                400,
                "invalid_request",
                f"The refresh token expired at {old.expires_at:%Y-%m-%d} and it is now {now:%Y-%m-%d}.",
            )
        latest = SandboxExactToken.objects.filter(chain=old.chain, kind="access").order_by("-issued_at").first()
        lifetime = (latest.expires_at - latest.issued_at).total_seconds() if latest else state.ACCESS_SECONDS
        if latest and (now - latest.issued_at).total_seconds() < min_refresh_age(lifetime):
            transaction.on_commit(lambda: _count(user, "too_early"))
            return _error(
                400, "access_denied", "Rate limit exceeded: access_token not expired", reason="TooEarlyToRefreshTokens"
            )
        SandboxExactToken.objects.filter(pk=old.pk).update(used=True)
        answer = issue(user, old.chain)
    _count(user, "refreshes")
    return JsonResponse(answer)


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
