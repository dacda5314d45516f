"""Exact Online's OAuth specifics on the shared base (connector/oauth.py). Spec: EXACT.md §1-2.

- One host per country (auth, token and API share it, §1); a connection keeps its country and
  host in `settings` and every URL is built from them. In sandbox mode the hosts are this app's
  sandbox: PUBLIC_BASE_URL + /sandbox/exact/<country>.
- 10-minute access tokens (`expires_in` arrives as the string "600"); every refresh rotates the
  refresh token (§2.3). The base refreshes under the connection's row lock, re-reads after
  locking and commits the rotated refresh token before anyone uses the new access token, so two
  workers never spend one refresh token (which Exact answers with `401 Old refresh token used`).
- Never refresh earlier than 570 s after the current token was issued (§2.4): Exact answers
  400 `access_denied` + `Reason: TooEarlyToRefreshTokens`; we treat that as "keep the current token"
  and do not even ask while we know it is too early (a forced refresh after a 401 included).
- At most 200 token calls per app per user per day: counted per connection and day in settings;
  an Alert is raised at 150 and refreshes stop (RateLimited until UTC midnight) at 200.
- Many threads of one process share a single flight per connection (`_single_flight`): one thread
  goes to the database lock, the others wait and take the tokens it got, so 250 threads do not
  hold 250 database connections waiting on one row lock (bench/exact_refresh.py).
- The one window nothing can save is between Exact's token answer (old refresh token spent) and
  our commit: after the answer we run exactly one statement, the UPDATE of the connection row
  (tests/integrations/exact/test_refresh_crash.py counts it).
- The lifetime comes from `expires_in` (600 at Exact) and the 570 s rule scales with it (570/600),
  so the sandbox's `token_seconds` knob gives benchmarks a scaled clock with the same code.
- Reconsent cases (§2.6): `invalid_grant`, `unauthorized_client` (old refresh token used),
  `invalid_request` (refresh token expired after 30 days) mark the connection needs_reauth.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from authlib.integrations.base_client.errors import OAuthError
from django.conf import settings

from connector.http import RateLimited
from connector.models import Connection, raise_alert
from connector.oauth import OAuthProvider, OAuthRefused

logger = logging.getLogger(__name__)

SANDBOX_CLIENT_ID = "e4c1a7f0-5a1b-4c2d-9e3f-000000000e4a"
SANDBOX_CLIENT_SECRET = "sandbox-exact-secret-not-for-production"  # only ever sent to our own sandbox

ACCESS_TOKEN_SECONDS = 600
MIN_REFRESH_AGE = 570  # seconds since issue before Exact accepts a refresh (EXACT.md §2.4)
DAILY_TOKEN_CALLS = 200
TOKEN_CALLS_WARN = 150
KEEPALIVE_AFTER = timedelta(days=7)  # refresh idle connections well within the 30-day life


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    host: str


COUNTRIES: dict[str, Country] = {
    c.code: c
    for c in (
        Country("nl", "Netherlands", "https://start.exactonline.nl"),
        Country("be", "Belgium", "https://start.exactonline.be"),
        Country("uk", "United Kingdom", "https://start.exactonline.co.uk"),
        Country("us", "United States", "https://start.exactonline.com"),
        Country("de", "Germany", "https://start.exactonline.de"),
        Country("es", "Spain", "https://start.exactonline.es"),
        Country("fr", "France", "https://start.exactonline.fr"),
    )
}


def sandbox_mode() -> bool:
    return bool(getattr(settings, "EXACT_USE_SANDBOX", settings.SANDBOX_ENABLED))


def host(code: str) -> str:
    """The Exact host of a country: Exact's own, or this app's sandbox in sandbox mode."""
    code = (code or "").lower()
    if code not in COUNTRIES:
        raise OAuthRefused(f"Unknown Exact Online country {code[:10]!r}.", "Choose one of the listed countries.")
    if sandbox_mode():
        return f"{settings.PUBLIC_BASE_URL}/sandbox/exact/{code}"
    return COUNTRIES[code].host


def client_id() -> str:
    default = SANDBOX_CLIENT_ID if sandbox_mode() else ""
    return getattr(settings, "EXACT_CLIENT_ID", "") or os.environ.get("EXACT_CLIENT_ID", "") or default


def client_secret() -> str:
    default = SANDBOX_CLIENT_SECRET if sandbox_mode() else ""
    return getattr(settings, "EXACT_CLIENT_SECRET", "") or os.environ.get("EXACT_CLIENT_SECRET", "") or default


SANDBOX_WEBHOOK_SECRET = "sandbox-exact-webhook-secret-not-for-production"


def webhook_secret() -> str:
    """One per app, from the App Center (EXACT.md §7.3); EXACT_WEBHOOK_SECRET (environment) in production."""
    default = SANDBOX_WEBHOOK_SECRET if sandbox_mode() else ""
    return getattr(settings, "EXACT_WEBHOOK_SECRET", "") or os.environ.get("EXACT_WEBHOOK_SECRET", "") or default


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


class ExactOAuth(OAuthProvider):
    system = "exact"
    display_name = "Exact Online"
    connect_url_name = "exact_connect"
    callback_url_name = "exact_callback"
    scopes = ()  # Exact has no scopes: the app's rights are set in the App Center
    use_pkce = False
    token_endpoint_auth_method = "client_secret_post"  # credentials in the body (§2.2)
    refresh_margin = timedelta(seconds=ACCESS_TOKEN_SECONDS - MIN_REFRESH_AGE)  # refresh at 570 s
    reauth_errors = frozenset({"invalid_grant", "unauthorized_client", "invalid_request"})

    def client_id(self) -> str:
        value = client_id()
        if not value:
            raise OAuthRefused(
                "Exact Online is not configured on this server.", "Set EXACT_CLIENT_ID and EXACT_CLIENT_SECRET."
            )
        return value

    def client_secret(self) -> str:
        return client_secret()

    def check_context(self, context: dict) -> None:
        host(context.get("country", ""))

    def authorize_endpoint(self, context: dict) -> str:
        return host(context["country"]) + "/api/oauth2/auth"

    def token_endpoint(self, context: dict) -> str:
        return host(context["country"]) + "/api/oauth2/token"

    def settings_from_token(self, token: dict, context: dict) -> dict:
        return {"country": context["country"], "base_url": host(context["country"])}

    def connection_label(self, context: dict, token: dict) -> str:
        return f"Exact Online ({context['country'].upper()})"

    def credentials_from_token(self, token: dict, previous: dict) -> dict:
        creds = super().credentials_from_token(token, previous)
        # The 570 s rule counts from here: the moment we hold the answer, never earlier than Exact's
        # own issue time (a truncated second would make us ask too early).
        creds["issued_at"] = round(time.time(), 3)
        if token.get("expires_in") is not None:
            creds["expires_at"] = creds["issued_at"] + int(token["expires_in"])
        return creds

    def is_too_early(self, error: OAuthError) -> bool:
        # The Reason header is not reachable through Authlib's error; the body says the same (§2.4).
        return str(error.error) == "access_denied" and "not expired" in str(error.description or "")

    # --- Exact's refresh rules -------------------------------------------------------------------

    @staticmethod
    def min_refresh_age(creds: dict) -> float:
        """570 s for Exact's 600 s tokens; scaled when a (sandbox) token lives shorter."""
        issued, expires = creds.get("issued_at"), creds.get("expires_at")
        lifetime = float(expires) - float(issued) if issued is not None and expires is not None else 0
        if not 0 < lifetime <= ACCESS_TOKEN_SECONDS:
            lifetime = ACCESS_TOKEN_SECONDS
        return MIN_REFRESH_AGE * lifetime / ACCESS_TOKEN_SECONDS

    @classmethod
    def too_early(cls, creds: dict, now: float | None = None) -> bool:
        issued = creds.get("issued_at")
        if issued is None and creds.get("expires_at"):
            issued = float(creds["expires_at"]) - ACCESS_TOKEN_SECONDS
        return issued is not None and (now or time.time()) < float(issued) + cls.min_refresh_age(creds)

    def needs_refresh(self, credentials: dict) -> bool:
        """Due exactly when Exact allows it: at 570/600 of the lifetime (not the base's fixed margin)."""
        if not credentials.get("access_token"):
            return True
        if credentials.get("issued_at") is None and credentials.get("expires_at") is None:
            return False
        return not self.too_early(credentials)

    # --- One flight per connection and process ---------------------------------------------------

    _flight_guard = threading.Lock()
    _flights: ClassVar[dict[int, threading.Lock]] = {}
    #: pk -> (flight number, hash of the refresh token it started from, credentials, settings, status)
    _landed: ClassVar[dict[int, tuple[int, str, dict, dict, str]]] = {}
    _flight_numbers = itertools.count(1)

    @staticmethod
    def _fingerprint(creds: dict) -> str:
        return hashlib.sha256(str(creds.get("refresh_token") or "").encode()).hexdigest()

    @contextmanager
    def _single_flight(self, pk: int) -> Iterator[None]:
        with self._flight_guard:
            lock = self._flights.setdefault(pk, threading.Lock())
        with lock:
            yield

    def refresh_if_needed(
        self, connection: Connection, *, force: bool = False, rejected_token: str | None = None
    ) -> Connection:
        """The base's locked refresh, entered by one thread per process at a time.

        A thread that waited takes what a flight landed *while it waited*, and only when that flight
        started from the refresh token this thread holds and its result is usable; anything else
        (a reconnect, a stale copy, a row id reused by another test) goes to the database."""
        if (
            connection.status == Connection.Status.ACTIVE
            and not force
            and not self.needs_refresh(connection.credentials)
        ):
            return connection
        start = self._fingerprint(connection.credentials or {})
        seen = self._landed.get(connection.pk, (0,))[0]
        with self._single_flight(connection.pk):
            landed = self._landed.get(connection.pk)
            if landed is not None and landed[0] > seen and landed[1] == start and landed[4] == Connection.Status.ACTIVE:
                creds = landed[2]
                usable = not self.needs_refresh(creds) and (not force or creds.get("access_token") != rejected_token)
                if usable:
                    connection.credentials, connection.settings = dict(creds), dict(landed[3])
                    connection.status = landed[4]
                    return connection
            try:
                result = super().refresh_if_needed(connection, force=force, rejected_token=rejected_token)
            finally:
                self._landed.pop(connection.pk, None)
            self._landed[connection.pk] = (
                next(self._flight_numbers),
                start,
                dict(result.credentials),
                dict(result.settings),
                result.status,
            )
            return result

    def refresh_locked(self, locked: Connection, creds: dict) -> Exception | None:
        """Row lock held. Obey the 570 s rule and the daily budget, then let the base refresh."""
        now = time.time()
        if creds.get("access_token") and self.too_early(creds, now):
            return None  # Exact would answer TooEarlyToRefreshTokens: keep using the current token
        calls = dict(locked.settings.get("token_calls") or {})
        if calls.get("day") != _today():
            calls = {"day": _today(), "count": 0}
        if calls["count"] >= DAILY_TOKEN_CALLS:
            midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
            return RateLimited(
                f"Exact Online allows {DAILY_TOKEN_CALLS} token requests a day; this connection used them all.",
                retry_after=max(1.0, midnight.timestamp() - now),
            )
        calls["count"] += 1
        locked.settings["token_calls"] = calls
        if calls["count"] == TOKEN_CALLS_WARN:
            raise_alert(
                locked.organization,
                f"exact-token-calls:{locked.pk}",
                f"Exact Online: {TOKEN_CALLS_WARN} of {DAILY_TOKEN_CALLS} daily token requests used today.",
                remediation="Something is refreshing far more often than every 9.5 minutes; check the workers.",
                level="warning",
                connection=locked,
            )
        outcome = super().refresh_locked(locked, creds)
        if locked.credentials.get("refresh_token") == creds.get("refresh_token"):
            # Nothing was stored (too early, refused, unreachable): keep the day's count. When new
            # tokens were stored, the base's single UPDATE already carried it: nothing more runs
            # between Exact's answer and the commit.
            locked.save(update_fields=["settings", "updated_at"])
        return outcome

    def keep_alive(self, connection: Connection) -> bool:
        """Refresh a connection that has been idle for a while, so its refresh token never reaches
        Exact's 30-day limit. True when a refresh happened (the 570 s rule still applies)."""
        creds = connection.credentials or {}
        issued = float(creds.get("issued_at") or 0)
        if connection.status != Connection.Status.ACTIVE or time.time() - issued < KEEPALIVE_AFTER.total_seconds():
            return False
        before = creds.get("refresh_token")
        self.refresh_if_needed(connection, force=True, rejected_token=creds.get("access_token"))
        return connection.credentials.get("refresh_token") != before


provider = ExactOAuth()
