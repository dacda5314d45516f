"""OAuth 2 base for systems connected with a Connect button (DESIGN §6), built on Authlib.

A provider (Zoho Books, later Exact Online) subclasses `OAuthProvider` and fills in class attributes
and a few hooks: where its authorise and token endpoints are for a given context (region, country),
its scopes and extra authorise parameters, which error codes mean "reconnect", what non-secret
settings to keep from a token response, and how to revoke. This module owns the parts every
provider must get right the same way:

- `begin`: the authorise URL, with a random `state` bound to the organisation and user in the
  session (and PKCE when the provider supports it);
- `complete` (the callback): `state` compared in constant time and spent at once, the code exchanged
  exactly once (a refused, expired or spent code is never retried: the page says "connect again"),
  tokens stored encrypted in `Connection.credentials` with their expiry;
- `refresh_if_needed`: refresh inside `transaction.atomic()` holding the connection's row lock,
  re-reading the tokens once the lock is ours (a concurrent worker may have refreshed already), so
  a single-use (rotating) refresh token is spent once and the new one is committed before the new
  access token is used; `invalid_grant` marks the connection `needs_reauth` with an Alert; repeated
  failures cool down instead of hammering the token endpoint. (On SQLite, which has no row locks, a
  lease on the connection's row takes the row lock's place: see `_row_lock`. Redis plays no part.)

Tokens never reach logs, events, errors or pages: only error *names* from the token endpoint are
shown, and the callback page never echoes query parameters.

The pages around these steps (Connect, callback, choosing the vendor account, the connection page,
Disconnect) are generic too: connector/web/oauth_views.py, specialised per system by a small adapter.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template import engines
from django.urls import reverse
from django.utils import timezone

from connector.http import AuthExpired, RateLimited, Transient
from connector.models import Connection, raise_alert, resolve_alerts
from connector.retry import RetryPolicy
from connector.tenancy import get_for_org_or_404

logger = logging.getLogger(__name__)

SESSION_KEY = "oauth_pending"

# The provider never calls into its integration: the integration listens instead (connected in its
# AppConfig.ready, with the provider class as sender).
#: After a Connect stored its tokens (`request`, `connection`), before the Connect pages go on to
#: choosing the vendor account. A notification: what receivers return is not used.
connected = Signal()
#: Before a disconnect revokes the tokens (`connection`), while they still work: e.g. delete the
#: vendor-side webhook subscriptions. Best effort: a failing receiver is logged, never raised.
disconnecting = Signal()

_ERROR_PAGE = """{% extends "base.html" %}
{% block title %}Connect {{ system_name }}{% endblock %}
{% block content %}
<h1>{{ system_name }} was not connected</h1>
<div class="card stack" role="alert">
  <p><strong>{{ message }}</strong></p>
  <p class="muted">{{ remediation }}</p>
  <p><a class="button primary" href="{{ connect_url }}">Connect again</a>
     <a class="button" href="{% url 'connections' %}">Back to connections</a></p>
</div>
{% endblock %}
"""


class OAuthRefused(Exception):
    """The callback cannot be completed; `message` is safe to show (it never contains a secret)."""

    def __init__(self, message: str, remediation: str = "", status: int = 400):
        super().__init__(message)
        self.message = message
        self.remediation = remediation
        self.status = status


def reauth_alert_key(connection: Connection) -> str:
    return f"reauth:{connection.pk}"


class OAuthProvider:
    """One OAuth 2 authorisation server family. Subclass per system; instances are stateless."""

    system: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    connect_url_name: ClassVar[str] = ""
    callback_url_name: ClassVar[str] = ""
    scopes: ClassVar[tuple[str, ...]] = ()
    scope_separator: ClassVar[str] = " "
    extra_authorize_params: ClassVar[dict[str, str]] = {}
    use_pkce: ClassVar[bool] = False
    token_endpoint_auth_method: ClassVar[str] = "client_secret_post"
    #: refresh when the access token has less than this left
    refresh_margin: ClassVar[timedelta] = timedelta(minutes=5)
    #: token-endpoint error codes that mean the grant is gone and a person must reconnect
    reauth_errors: ClassVar[frozenset[str]] = frozenset({"invalid_grant"})
    #: a pending authorisation (state) older than this is refused
    state_max_age: ClassVar[int] = 15 * 60
    timeout: ClassVar[tuple[float, float]] = (5.0, 20.0)
    #: Refresh failures in a row allowed before cooling down (`max_attempts`), then the cool-down
    #: before each next try: the project's one backoff (full jitter), doubling from a minute up to
    #: an hour, never shorter than half a minute.
    refresh_cooldown: ClassVar[RetryPolicy] = RetryPolicy(max_attempts=3, base=60.0, cap=3600.0, floor=30.0)

    # --- Hooks ------------------------------------------------------------------------------------

    @abstractmethod
    def client_id(self) -> str:
        raise NotImplementedError

    @abstractmethod
    def client_secret(self) -> str:
        raise NotImplementedError

    @abstractmethod
    def authorize_endpoint(self, context: dict) -> str:
        """The authorise URL for this context (e.g. the chosen region)."""
        raise NotImplementedError

    @abstractmethod
    def token_endpoint(self, context: dict) -> str:
        """The token URL. At connect time `context` is the pending context; later the connection's settings."""
        raise NotImplementedError

    def callback_context(self, request: HttpRequest, context: dict) -> dict:
        """Read and validate what the vendor adds to the callback (e.g. the accounts server). May raise OAuthRefused."""
        return context

    def settings_from_token(self, token: dict, context: dict) -> dict:
        """Non-secret values to keep in Connection.settings (validated hosts, region). May raise OAuthRefused."""
        return dict(context)

    def connection_label(self, context: dict, token: dict) -> str:
        return self.display_name

    def check_context(self, context: dict) -> None:
        """Refuse a Connect context this provider cannot serve (an unknown region). May raise OAuthRefused."""

    def is_too_early(self, error: OAuthError) -> bool:
        """True when the vendor refuses a refresh because the current token is still too fresh (Exact)."""
        return False

    def revoke_remote(self, connection: Connection) -> None:
        """Tell the vendor to forget the refresh token (best effort)."""

    # --- URLs -------------------------------------------------------------------------------------

    def redirect_uri(self) -> str:
        return settings.PUBLIC_BASE_URL + reverse(self.callback_url_name)

    def reconnect_url(self, connection: Connection) -> str:
        return reverse(self.connect_url_name) + "?" + urlencode({"connection": connection.pk})

    def own_connection(self, request: HttpRequest, pk) -> Connection:
        """One of this tenant's connections of this system; anything else is a 404."""
        return get_for_org_or_404(Connection, request.organization, pk=pk, system=self.system)

    def connection_to_reconnect(self, request: HttpRequest) -> Connection | None:
        """The connection a Connect page was opened for (`?connection=<id>`), when reconnecting."""
        wanted = request.GET.get("connection") or request.POST.get("connection")
        return self.own_connection(request, wanted) if wanted else None

    def oauth_session(self, **kwargs) -> OAuth2Session:
        session = OAuth2Session(
            self.client_id(),
            self.client_secret(),
            token_endpoint_auth_method=self.token_endpoint_auth_method,
            **kwargs,
        )
        session.trust_env = False  # never route token requests through an environment proxy
        return session

    # --- Connect ----------------------------------------------------------------------------------

    def begin(self, request: HttpRequest, context: dict, *, connection: Connection | None = None) -> HttpResponse:
        """Remember a pending authorisation bound to this organisation and user; redirect to consent.

        A context the provider refuses (or a server without client credentials) shows the error page."""
        try:
            self.check_context(context)
            return self._begin(request, context, connection)
        except OAuthRefused as refused:
            return self.error_page(request, refused)

    def _begin(self, request: HttpRequest, context: dict, connection: Connection | None) -> HttpResponse:
        state = secrets.token_urlsafe(32)
        pending: dict[str, Any] = {
            "state": state,
            "organization_id": request.organization.pk,
            "user_id": request.user.pk,
            "context": context,
            "connection_id": connection.pk if connection else None,
            "created": time.time(),
        }
        kwargs: dict[str, Any] = {}
        session_kwargs: dict[str, Any] = {}
        if self.use_pkce:
            verifier = secrets.token_urlsafe(64)
            pending["code_verifier"] = verifier
            kwargs["code_verifier"] = verifier
            session_kwargs["code_challenge_method"] = "S256"
        all_pending = request.session.get(SESSION_KEY, {})
        all_pending[self.system] = pending
        request.session[SESSION_KEY] = all_pending
        oauth = self.oauth_session(
            scope=self.scope_separator.join(self.scopes), redirect_uri=self.redirect_uri(), **session_kwargs
        )
        url, _ = oauth.create_authorization_url(
            self.authorize_endpoint(context), state=state, **kwargs, **self.extra_authorize_params
        )
        return HttpResponseRedirect(url)

    def complete(self, request: HttpRequest) -> Connection:
        """The callback: check the answer against the pending Connect, exchange the code once, store the
        tokens, tell `connected` receivers. Raises OAuthRefused (safe to show) when it cannot."""
        connection = self._complete(request)
        connected.send(sender=type(self), request=request, connection=connection)
        return connection

    def _complete(self, request: HttpRequest) -> Connection:
        all_pending = request.session.get(SESSION_KEY, {})
        pending = all_pending.pop(self.system, None)  # spent now, whatever happens next
        request.session[SESSION_KEY] = all_pending
        state = request.GET.get("state", "")
        again = "Press Connect again to start over."
        if not pending or not hmac.compare_digest(str(pending.get("state", "")).encode(), state.encode()):
            raise OAuthRefused("This sign-in answer does not match a Connect you started here.", again)
        if pending["organization_id"] != getattr(request.organization, "pk", None) or pending["user_id"] != (
            request.user.pk
        ):
            raise OAuthRefused("This sign-in was started for another organisation or user.", again)
        if time.time() - float(pending["created"]) > self.state_max_age:
            raise OAuthRefused("This sign-in took too long and has expired.", again)
        if request.GET.get("error"):
            error = str(request.GET["error"])[:60]
            raise OAuthRefused(f"{self.display_name} did not grant access ({error}).", again)
        code = request.GET.get("code", "")
        if not code:
            raise OAuthRefused(f"{self.display_name} sent no authorisation code.", again)
        context = self.callback_context(request, dict(pending["context"]))
        token = self._exchange_once(code, context, pending.get("code_verifier"))
        new_settings = self.settings_from_token(token, context)
        return self._store_new_grant(request, pending, context, token, new_settings)

    def _exchange_once(self, code: str, context: dict, verifier: str | None) -> dict:
        """One request, no retries: authorisation codes are short-lived and single-use."""
        kwargs = {"code_verifier": verifier} if verifier else {}
        try:
            with self.oauth_session(redirect_uri=self.redirect_uri()) as oauth:
                token = oauth.fetch_token(
                    self.token_endpoint(context),
                    grant_type="authorization_code",
                    code=code,
                    timeout=self.timeout,
                    allow_redirects=False,
                    **kwargs,
                )
        except OAuthError as exc:
            logger.warning("%s code exchange refused: %s", self.system, exc.error)
            raise OAuthRefused(
                f"{self.display_name} refused the sign-in ({str(exc.error)[:60]}): the authorisation code has "
                "expired or was already used.",
                "Authorisation codes are valid for a short time and work once. Press Connect again.",
            ) from None
        except (requests.RequestException, ValueError) as exc:
            logger.warning("%s code exchange failed: %s", self.system, type(exc).__name__)
            raise OAuthRefused(
                f"{self.display_name} could not be reached to finish the sign-in.",
                "Nothing was saved. Press Connect again in a minute.",
                status=502,
            ) from None
        if not token.get("access_token"):
            raise OAuthRefused(f"{self.display_name} answered without an access token.", "Press Connect again.")
        return dict(token)

    def _store_new_grant(
        self, request: HttpRequest, pending: dict, context: dict, token: dict, new_settings: dict
    ) -> Connection:
        org = request.organization
        with transaction.atomic():
            connection = None
            if pending.get("connection_id"):
                connection = (
                    Connection.objects.for_org(org)
                    .select_for_update()
                    .filter(pk=pending["connection_id"], system=self.system)
                    .first()
                )
            if connection is None:
                connection = Connection(organization=org, system=self.system)
                connection.label = self.connection_label(context, token)
            previous = dict(connection.credentials or {})
            connection.credentials = self.credentials_from_token(token, previous)
            connection.settings = {**(connection.settings or {}), **new_settings}
            connection.settings.pop("oauth_failures", None)
            connection.settings.pop("oauth_retry_at", None)
            connection.status = Connection.Status.ACTIVE
            connection.last_error = ""
            connection.save()
            resolve_alerts(org, reauth_alert_key(connection))
        return connection

    def credentials_from_token(self, token: dict, previous: dict) -> dict:
        expires_in = token.get("expires_in")
        expires_at = token.get("expires_at")
        if expires_at is None and expires_in is not None:
            expires_at = int(time.time()) + int(expires_in)
        return {
            "access_token": token["access_token"],
            # A provider that does not rotate refresh tokens answers without one: keep ours.
            "refresh_token": token.get("refresh_token") or previous.get("refresh_token", ""),
            "token_type": token.get("token_type", "Bearer"),
            "expires_at": int(expires_at) if expires_at is not None else None,
        }

    def error_page(self, request: HttpRequest, refused: OAuthRefused) -> HttpResponse:
        template = engines["django"].from_string(_ERROR_PAGE)
        html = template.render(
            {
                "system_name": self.display_name,
                "message": refused.message,
                "remediation": refused.remediation,
                "connect_url": reverse(self.connect_url_name),
            },
            request,
        )
        return HttpResponse(html, status=refused.status)

    # --- Refresh ----------------------------------------------------------------------------------

    def needs_refresh(self, credentials: dict) -> bool:
        if not credentials.get("access_token"):
            return True
        expires_at = credentials.get("expires_at")
        if expires_at is None:
            return False
        return time.time() >= float(expires_at) - self.refresh_margin.total_seconds()

    def access_token(self, connection: Connection) -> str:
        """A usable access token for `connection`, refreshing first when it is near expiry."""
        return self.refresh_if_needed(connection).credentials["access_token"]

    def refresh_if_needed(
        self, connection: Connection, *, force: bool = False, rejected_token: str | None = None
    ) -> Connection:
        """Refresh under the connection's row lock when due (or `force`, after a 401 on `rejected_token`).

        Returns the connection with fresh credentials (the passed object is updated too). Raises
        AuthExpired (needs reconnecting), RateLimited (cooling down) or Transient (vendor unreachable).
        """
        if (
            connection.status == Connection.Status.ACTIVE
            and not force
            and not self.needs_refresh(connection.credentials)
        ):
            return connection
        outcome: Exception | None = None
        with self._row_lock(connection.pk) as locked:
            creds = dict(locked.credentials or {})
            already_fresh = not self.needs_refresh(creds) and (not force or creds.get("access_token") != rejected_token)
            if locked.status == Connection.Status.NEEDS_REAUTH or not creds.get("refresh_token"):
                outcome = AuthExpired(
                    f"{self.display_name} needs reconnecting.",
                    remediation=f"Reconnect {self.display_name} on the Connections page.",
                )
            elif already_fresh:
                pass  # another worker refreshed while we waited for the lock: use its tokens
            else:
                outcome = self.refresh_locked(locked, creds)
        connection.credentials = locked.credentials
        connection.settings = locked.settings
        connection.status = locked.status
        if outcome is not None:
            raise outcome
        return locked

    @contextmanager
    def _row_lock(self, pk: int) -> Iterator[Connection]:
        """The connection's row, locked until the block ends.

        PostgreSQL: `SELECT ... FOR UPDATE` inside a transaction (shared by every worker on every
        machine). SQLite has no row locks, and holding its write lock across the token request would
        block every other writer, including a sandbox token endpoint in the same database file; there
        a lease on the row (`_refresh_lease`) takes the row lock's place. Neither depends on Redis, so
        a Redis restart mid-refresh cannot let a second worker spend a rotating refresh token.
        """
        if self._has_row_locks():
            with transaction.atomic():
                yield Connection.objects.select_for_update().get(pk=pk)
            return
        with self._refresh_lease(pk):
            yield Connection.objects.get(pk=pk)

    def _has_row_locks(self) -> bool:
        return db_connection.vendor != "sqlite"

    @contextmanager
    def _refresh_lease(self, pk: int) -> Iterator[None]:
        """Hold the connection's refresh lease: a compare-and-set on its row, taken in one short write
        (so no lock is held across the token request) and waited for up to twice the request timeout.
        A lease left by a worker that died expires after three request timeouts."""
        owner = secrets.token_hex(16)
        give_up = time.monotonic() + sum(self.timeout) * 2
        while not self._take_lease(pk, owner):
            if time.monotonic() >= give_up:
                raise Transient(f"{self.display_name} token refresh is busy in another worker.")
            time.sleep(0.05 + secrets.randbelow(100) / 1000)
        try:
            yield
        finally:
            Connection.objects.filter(pk=pk, refresh_lease_owner=owner).update(
                refresh_lease_owner="", refresh_lease_until=None
            )

    def _take_lease(self, pk: int, owner: str) -> bool:
        now = timezone.now()
        free = Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lt=now)
        until = now + timedelta(seconds=sum(self.timeout) * 3)
        return bool(Connection.objects.filter(free, pk=pk).update(refresh_lease_owner=owner, refresh_lease_until=until))

    def refresh_locked(self, locked: Connection, creds: dict) -> Exception | None:
        """Called with the row lock held; saves what happened and returns the error to raise after commit.

        The override point for a vendor's refresh rules: a subclass may return early (keep the current
        token, or an error) or do bookkeeping around `super().refresh_locked(...)` (Exact's 570 s rule
        and daily token budget)."""
        now = time.time()
        retry_at = float(locked.settings.get("oauth_retry_at") or 0)
        if retry_at > now:
            return RateLimited(
                f"{self.display_name} token refresh is cooling down after repeated failures.",
                retry_after=retry_at - now,
            )
        outcome: Exception | None = None
        try:
            with self.oauth_session() as oauth:
                token = oauth.refresh_token(
                    self.token_endpoint(locked.settings),
                    refresh_token=creds["refresh_token"],
                    timeout=self.timeout,
                    allow_redirects=False,
                )
        except OAuthError as exc:
            error = str(exc.error or "")
            if error in self.reauth_errors:
                self.mark_needs_reauth(locked, f"{self.display_name} no longer accepts this connection ({error}).")
                return AuthExpired(
                    f"{self.display_name} refused the refresh token ({error}).",
                    remediation=f"Reconnect {self.display_name} on the Connections page.",
                )
            if self.is_too_early(exc) and creds.get("access_token"):
                return None  # the current token is still valid; the vendor wants us to keep using it
            outcome = Transient(f"{self.display_name} token refresh failed ({error[:60]}).")
        except (requests.RequestException, ValueError) as exc:
            outcome = Transient(f"{self.display_name} token endpoint unreachable ({type(exc).__name__}).")
        if outcome is not None:
            self._count_failure(locked, now)
            logger.warning("%s refresh failed for connection %s: %s", self.system, locked.pk, outcome)
            return outcome
        # Commit the new tokens (a rotated refresh token included) before anyone uses the access token.
        locked.credentials = self.credentials_from_token(dict(token), creds)
        locked.settings.pop("oauth_failures", None)
        locked.settings.pop("oauth_retry_at", None)
        locked.status = Connection.Status.ACTIVE
        locked.save(update_fields=["credentials", "settings", "status", "updated_at"])
        return None

    def _count_failure(self, locked: Connection, now: float) -> None:
        failures = int(locked.settings.get("oauth_failures") or 0) + 1
        locked.settings["oauth_failures"] = failures
        policy = self.refresh_cooldown
        if not policy.retries_left(failures):
            # Each failure past the allowance is the policy's next retry: the first waits up to `base`.
            locked.settings["oauth_retry_at"] = now + policy.delay(failures - policy.max_attempts + 1)
        locked.save(update_fields=["settings", "updated_at"])

    def mark_needs_reauth(self, connection: Connection, message: str) -> None:
        connection.status = Connection.Status.NEEDS_REAUTH
        connection.last_error = message
        connection.save(update_fields=["status", "last_error", "updated_at"])
        raise_alert(
            connection.organization,
            reauth_alert_key(connection),
            message,
            remediation=(
                f"Press Reconnect to sign in to {self.display_name} again: "
                f"{settings.PUBLIC_BASE_URL}{self.reconnect_url(connection)}"
            ),
            level="error",
            connection=connection,
        )

    # --- Disconnect -------------------------------------------------------------------------------

    def disconnect(self, connection: Connection) -> None:
        """Tell the integration (best effort), revoke at the vendor (best effort), forget the tokens,
        and disable the connection."""
        for receiver, outcome in disconnecting.send_robust(sender=type(self), connection=connection):
            if isinstance(outcome, Exception):  # best effort: the disconnect must go through
                logger.warning(
                    "%s disconnect hook %s failed for connection %s: %s",
                    self.system,
                    getattr(receiver, "__qualname__", receiver),
                    connection.pk,
                    type(outcome).__name__,
                )
        try:
            self.revoke_remote(connection)
        except (requests.RequestException, OAuthError, ValueError) as exc:
            logger.warning("%s revoke failed for connection %s: %s", self.system, connection.pk, type(exc).__name__)
        connection.credentials = {}
        connection.status = Connection.Status.DISABLED
        connection.save(update_fields=["credentials", "status", "updated_at"])
        resolve_alerts(connection.organization, reauth_alert_key(connection))
