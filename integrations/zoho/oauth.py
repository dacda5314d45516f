"""Zoho's OAuth specifics on the shared base (connector/oauth.py).

Data centres and hosts: tests/specs/zoho/ZOHO.md §1.1 (Zoho's multi-DC pages). Every API
call goes to the `api_domain` the token response gave, never to a templated TLD (Canada's accounts
server is zohocloud.ca while its API domain is zohoapis.ca). Hosts from Zoho (the callback's
`accounts-server`, the token response's `api_domain`) are accepted only when they are one of the
known pairs below; in sandbox mode the pairs point at this app's own sandbox instead.

- Authorise with `access_type=offline` and `prompt=consent` (a refresh token is only issued when
  consent is given, ZOHO.md §1.2); scopes comma-separated (§1.6).
- Access tokens live one hour; refresh at 55 minutes (DESIGN §6), at most 10 refreshes per
  10 minutes per refresh token (§1.3), which the row-locked refresh in the base respects.
- Token lifetime: the documented answer is `"expires_in": 3600` (seconds; zoho.com/accounts/protocol/
  oauth/web-apps/access-token.html), but some data centres still answer the older shape with
  `"expires_in": 3600000` (milliseconds) and `"expires_in_sec": 3600` beside it (a real answer is
  quoted in github.com/Weble/ZohoClient/issues/11). `expires_in_sec` wins when present, and no answer
  makes us keep a token longer than an hour (`token_lifetime`).
- Zoho answers a spent, expired or revoked code or refresh token with `{"error": "invalid_code"}`
  (HTTP 200), so that code means "reconnect" as well as `invalid_grant`.
- PKCE: Zoho documents it for mobile and desktop clients only
  (zoho.com/accounts/protocol/oauth/mobile-and-desktop-apps/get-authorization-code.html); the
  web-server flow page (zoho.com/accounts/protocol/oauth/web-apps/authorization.html) has no
  code_challenge, so it is off here. The base supports it for providers that do.
- Revoke: `POST {accounts-server}/oauth/v2/token/revoke?token=...` (§1.4).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from connector.models import Connection
from connector.oauth import OAuthProvider, OAuthRefused

SANDBOX_CLIENT_ID = "1000.SANDBOXCLIENTID"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret-not-for-production"  # only ever sent to our own sandbox

BOOKS_SCOPES = (
    "ZohoBooks.invoices.CREATE",
    "ZohoBooks.invoices.READ",
    "ZohoBooks.invoices.UPDATE",
    "ZohoBooks.contacts.CREATE",
    "ZohoBooks.contacts.READ",
    "ZohoBooks.contacts.UPDATE",
    "ZohoBooks.settings.READ",
    "ZohoBooks.settings.CREATE",
    "ZohoBooks.accountants.READ",
    "ZohoBooks.accountants.CREATE",
    "ZohoBooks.salesorders.CREATE",
    "ZohoBooks.salesorders.READ",
    "ZohoBooks.salesorders.UPDATE",
)


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    accounts_server: str
    api_domain: str
    web_app: str  # where a person opens Books in a browser (used for links to objects)


# ZOHO.md §1.1. The web-app hosts follow the accounts hosts (books.<same domain>). The UK data centre
# (accounts.zoho.uk, listed on zoho.com/accounts/protocol/oauth/multi-dc.html) pairs with
# www.zohoapis.uk, the same pattern as the others.
REGIONS: dict[str, Region] = {
    r.code: r
    for r in (
        Region(
            "us", "United States", "https://accounts.zoho.com", "https://www.zohoapis.com", "https://books.zoho.com"
        ),
        Region("eu", "Europe", "https://accounts.zoho.eu", "https://www.zohoapis.eu", "https://books.zoho.eu"),
        Region("in", "India", "https://accounts.zoho.in", "https://www.zohoapis.in", "https://books.zoho.in"),
        Region(
            "au",
            "Australia",
            "https://accounts.zoho.com.au",
            "https://www.zohoapis.com.au",
            "https://books.zoho.com.au",
        ),
        Region("jp", "Japan", "https://accounts.zoho.jp", "https://www.zohoapis.jp", "https://books.zoho.jp"),
        Region(
            "ca", "Canada", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca", "https://books.zohocloud.ca"
        ),
        Region(
            "cn", "China", "https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn", "https://books.zoho.com.cn"
        ),
        Region("sa", "Saudi Arabia", "https://accounts.zoho.sa", "https://www.zohoapis.sa", "https://books.zoho.sa"),
        Region("uk", "United Kingdom", "https://accounts.zoho.uk", "https://www.zohoapis.uk", "https://books.zoho.uk"),
    )
}

#: Zoho's access tokens live one hour (ZOHO.md §1.3); no token response makes us keep one longer.
MAX_TOKEN_SECONDS = 3600


def token_lifetime(token: dict) -> int:
    """Seconds the access token of a Zoho token response lives: `expires_in_sec` when Zoho sends it
    (then `expires_in` is in milliseconds), else `expires_in`; at most an hour, an hour when absent."""
    for field in ("expires_in_sec", "expires_in"):
        value = token.get(field)
        if value in (None, ""):
            continue
        try:
            seconds = int(float(value))
        except (TypeError, ValueError):
            continue
        return max(0, min(seconds, MAX_TOKEN_SECONDS))
    return MAX_TOKEN_SECONDS


def sandbox_mode() -> bool:
    return bool(getattr(settings, "ZOHO_USE_SANDBOX", settings.SANDBOX_ENABLED))


def sandbox_region(code: str) -> Region:
    base = f"{settings.PUBLIC_BASE_URL}/sandbox/zoho/{code}"
    real = REGIONS[code]
    return Region(code, real.name, f"{base}/accounts", base, f"{base}/app")


def region(code: str) -> Region:
    """The hosts to use for a data centre: Zoho's own, or the sandbox's in sandbox mode."""
    if code not in REGIONS:
        raise OAuthRefused(f"Unknown Zoho data centre {code[:10]!r}.", "Choose one of the listed data centres.")
    return sandbox_region(code) if sandbox_mode() else REGIONS[code]


def _origin_and_path(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url.strip())
    return parts.scheme, (parts.netloc or "").lower(), parts.path.rstrip("/")


def region_for(url: str, attribute: str) -> str | None:
    """The region whose `attribute` (accounts_server or api_domain) is exactly `url`; None when unknown."""
    wanted = _origin_and_path(url)
    for code in REGIONS:
        known = getattr(region(code), attribute)
        if _origin_and_path(known) == wanted:
            return code
    return None


def validated_accounts_server(url: str) -> str:
    code = region_for(url, "accounts_server")
    if code is None:
        raise OAuthRefused(
            "Zoho named an accounts server that is not a known Zoho data centre; nothing was sent to it.",
            "Press Connect again. If it keeps happening, contact support.",
        )
    return region(code).accounts_server


def validated_api_domain(url: str) -> str:
    code = region_for(url, "api_domain")
    if code is None:
        raise OAuthRefused(
            "Zoho returned an API domain that is not a known Zoho data centre; it was refused.",
            "Press Connect again. If it keeps happening, contact support.",
        )
    return region(code).api_domain


def client_id() -> str:
    default = SANDBOX_CLIENT_ID if sandbox_mode() else ""
    return getattr(settings, "ZOHO_CLIENT_ID", "") or os.environ.get("ZOHO_CLIENT_ID", "") or default


def client_secret() -> str:
    default = SANDBOX_CLIENT_SECRET if sandbox_mode() else ""
    return getattr(settings, "ZOHO_CLIENT_SECRET", "") or os.environ.get("ZOHO_CLIENT_SECRET", "") or default


class ZohoOAuth(OAuthProvider):
    system = "zoho"
    display_name = "Zoho Books"
    connect_url_name = "zoho_connect"
    callback_url_name = "zoho_callback"
    scopes = BOOKS_SCOPES
    scope_separator = ","
    extra_authorize_params = {"access_type": "offline", "prompt": "consent"}
    use_pkce = False
    token_endpoint_auth_method = "client_secret_post"
    refresh_margin = timedelta(minutes=5)  # 1-hour tokens refreshed at 55 minutes
    reauth_errors = frozenset({"invalid_grant", "invalid_code"})

    def client_id(self) -> str:
        value = client_id()
        if not value:
            raise OAuthRefused(
                "Zoho Books is not configured on this server.", "Set ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET."
            )
        return value

    def client_secret(self) -> str:
        return client_secret()

    def check_context(self, context: dict) -> None:
        region(context.get("region", ""))

    def authorize_endpoint(self, context: dict) -> str:
        return region(context["region"]).accounts_server + "/oauth/v2/auth"

    def token_endpoint(self, context: dict) -> str:
        server = context.get("accounts_server") or region(context["region"]).accounts_server
        return validated_accounts_server(server) + "/oauth/v2/token"

    def callback_context(self, request: HttpRequest, context: dict) -> dict:
        # Zoho says where the user's account lives; the token request must go there (ZOHO.md §1.1).
        server = request.GET.get("accounts-server")
        if server:
            context["accounts_server"] = validated_accounts_server(server)
            context["region"] = region_for(server, "accounts_server")
        else:
            context["accounts_server"] = region(context["region"]).accounts_server
        return context

    def settings_from_token(self, token: dict, context: dict) -> dict:
        api_domain = validated_api_domain(str(token.get("api_domain") or ""))
        api_region = region_for(api_domain, "api_domain")
        if api_region != context["region"]:
            raise OAuthRefused(
                "Zoho's API domain does not belong to the data centre you signed in to; it was refused.",
                "Press Connect again and choose the data centre your Zoho account is in.",
            )
        return {"region": context["region"], "accounts_server": context["accounts_server"], "api_domain": api_domain}

    def connection_label(self, context: dict, token: dict) -> str:
        return f"Zoho Books ({context['region'].upper()})"

    def credentials_from_token(self, token: dict, previous: dict) -> dict:
        # Authlib derives `expires_at` from `expires_in` alone, which reads Zoho's milliseconds as
        # seconds (a 41-day token); derive it here from the lifetime Zoho means.
        lifetime = token_lifetime(token)
        return super().credentials_from_token(
            {**token, "expires_in": lifetime, "expires_at": int(time.time()) + lifetime}, previous
        )

    def needs_refresh(self, credentials: dict) -> bool:
        # A stored expiry more than an hour away cannot be right (credentials saved from a
        # milliseconds answer before `token_lifetime`): refresh now rather than in weeks.
        expires_at = credentials.get("expires_at")
        if expires_at is not None and float(expires_at) - time.time() > MAX_TOKEN_SECONDS:
            return True
        return super().needs_refresh(credentials)

    def revoke_remote(self, connection: Connection) -> None:
        token = (connection.credentials or {}).get("refresh_token")
        if not token:
            return
        url = validated_accounts_server(connection.settings["accounts_server"]) + "/oauth/v2/token/revoke"
        with requests.Session() as session:
            session.trust_env = False
            session.post(url, params={"token": token}, timeout=self.timeout, allow_redirects=False)


provider = ZohoOAuth()


def web_url(connection: Connection, kind: str, object_id: str) -> str:
    """The Books web page of an object (#/invoices/<id>, #/accountant/manualjournals/<id>, #/contacts/<id>)."""
    code = (connection.settings or {}).get("region", "us")
    org = (connection.settings or {}).get("organization_id", "")
    paths = {
        "invoice": "invoices",
        "journal": "accountant/manualjournals",
        "contact": "contacts",
        "salesorder": "salesorders",
        "item": "inventory/items",
    }
    return f"{region(code).web_app}/app/{org}#/{paths.get(kind, kind)}/{object_id}"


def connect_redirect(request: HttpRequest, region_code: str, connection: Connection | None) -> HttpResponse:
    """To Zoho's consent page for a data centre (an unknown one shows the error page)."""
    return provider.begin(request, {"region": region_code}, connection=connection)
