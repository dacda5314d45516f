"""Who may use a sandbox's pages and control endpoints, and where a sandbox may call out to.

Sandbox accounts belong to an organisation. Their vendor APIs authenticate the way the vendor does
(keys, tokens); everything that is not the vendor's API — the sandbox pages, the consent choices,
the `_control/...` endpoints (fault knobs, accounts, deliveries) — needs a signed-in user and acts
only on the accounts of `request.organization`: another tenant's account is a 404, exactly like
one that does not exist. These endpoints take the session's CSRF protection like every other page
(JSON clients send the `X-CSRFToken` header).

Callback and base URLs a sandbox calls (webhook targets, OAuth redirect URIs, app-key callbacks)
must be under PUBLIC_BASE_URL or on a loopback host: a sandbox never becomes a way to make this
server send requests elsewhere. Checked on the URL alone, without resolving or connecting.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """The session's CSRF check, run by hand (the response to send when it fails, else None).

    Control endpoints are exempt from the middleware so that a caller holding an account's own
    vendor credentials needs no session; a caller authenticated by the session cookie is checked
    here exactly as the middleware would."""
    return CsrfViewMiddleware(lambda _request: None).process_view(request, None, (), {})


def signed_in(request: HttpRequest) -> HttpResponse | None:
    """None when the request comes from a member of an organisation with a valid CSRF token; else
    the answer: 401 JSON for anonymous callers, 404 without an organisation, 403 for a bad token."""
    if not request.user.is_authenticated:
        return JsonResponse(
            {"error": "Sign in: sandbox control endpoints act on your organisation's sandbox accounts."}, status=401
        )
    if getattr(request, "organization", None) is None:
        return JsonResponse({"error": "not found"}, status=404)
    if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return csrf_failure(request)
    return None


def control_view(view: Callable) -> Callable:
    """A `_control` endpoint that needs a signed-in member (see `signed_in`).

    The wrapped view must look accounts up through `request.organization` (404 for another's)."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        refused = signed_in(request)
        if refused is not None:
            return refused
        return view(request, *args, **kwargs)

    return wrapper


def page_view(view: Callable) -> Callable:
    """A sandbox page for people: the login page for anonymous visitors, 404 without an organisation."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if getattr(request, "organization", None) is None:
            return JsonResponse({"error": "not found"}, status=404)
        return view(request, *args, **kwargs)

    return wrapper


def is_allowed_callback(url: str) -> bool:
    """True when a sandbox may send a request to `url`: http(s), no userinfo, no backslash or control
    characters, and either under PUBLIC_BASE_URL (same scheme, host and port) or on a loopback host."""
    if not isinstance(url, str) or not url or "\\" in url or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return False
    if parts.hostname in LOOPBACK_HOSTS:
        return True
    base = urlsplit(settings.PUBLIC_BASE_URL)
    default = {"http": 80, "https": 443}
    return (
        parts.scheme == base.scheme
        and parts.hostname == (base.hostname or "").lower()
        and (port or default[parts.scheme]) == (base.port or default.get(base.scheme, 0))
        and (parts.path or "/").startswith((base.path.rstrip("/") or "") + "/")
    )
