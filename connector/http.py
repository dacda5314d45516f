"""The one HTTP client base for every vendor (DESIGN §5-6).

`ApiClient` owns a `requests.Session`, always sets connect/read timeouts, consults the shared rate
limiter before each call and corrects it from the vendor's headers after, reports every call (method,
redacted URL, status, milliseconds) to an `on_call` sink (the engine turns these into Events), refuses
to send credentials to any host but the connection's own API host (SSRF), and turns vendor failures
into the typed errors below. Vendor clients subclass it and override the small hooks.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

from connector.ratelimit import Limit, RateLimiter, RateLimitWaitTooLong

logger = logging.getLogger(__name__)

SECRET_PARAM_NAMES = frozenset(
    {
        "access_token",
        "refresh_token",
        "client_secret",
        "consumer_key",
        "consumer_secret",
        "api_key",
        "apikey",
        "key",
        "secret",
        "token",
        "password",
        "code",
        "signature",
        "oauth_signature",
    }
)


# --- Typed errors (DESIGN §5.3) -----------------------------------------------------------------


class ApiError(Exception):
    """A vendor call failed. `remediation` is the plain text a merchant sees next to it."""

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        remediation: str = "",
        vendor_code: str | int | None = None,
        body: Any = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.remediation = remediation
        self.vendor_code = vendor_code
        self.body = body


class Transient(ApiError):
    """5xx, timeouts before sending, connection errors: retry with backoff."""

    retryable = True


class Uncertain(Transient):
    """The request may have been applied (timeout after sending): search by natural key before retrying."""


class RateLimited(Transient):
    def __init__(self, message: str, *, retry_after: float, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Permanent(ApiError):
    """4xx validation: the record fails with the vendor's message; retrying would not help."""


class RefusedURL(Permanent):
    """A URL we were handed points somewhere other than the connection's API host."""


class NeedsReview(ApiError):
    """A person must act (unknown customer or item, unmapped account); the batch continues."""


class AuthExpired(ApiError):
    """Credentials were rejected: the connection needs reconnecting."""


def backoff_seconds(attempt: int, *, base: float = 2.0, cap: float = 600.0) -> float:
    """Exponential backoff with full jitter for retry number `attempt` (1-based)."""
    return random.uniform(0, min(cap, base * (2 ** max(0, attempt - 1))))


# --- Calls --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRecord:
    method: str
    url: str  # redacted
    status: int | None
    ms: int
    error: str = ""


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, "[redacted]" if k.lower() in SECRET_PARAM_NAMES else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="[]")))


def same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port) and a.scheme in ("http", "https")


class ApiClient:
    """Base for vendor clients. Subclasses set `system`, `rate_limit` and override the hooks."""

    system: ClassVar[str] = ""
    rate_limit: ClassVar[Limit | None] = None
    timeout: ClassVar[tuple[float, float]] = (5.0, 30.0)
    max_rate_wait: ClassVar[float] = 120.0
    max_429_retries: ClassVar[int] = 3
    max_inline_retry_after: ClassVar[float] = 30.0
    idempotent_methods: ClassVar[frozenset[str]] = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})

    def __init__(
        self,
        base_url: str,
        *,
        account_key: str = "",
        session: requests.Session | None = None,
        limiter: RateLimiter | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/") + "/"
        self.account_key = account_key
        self.session = session or requests.Session()
        self._limiter = limiter
        self.on_call = on_call
        self.sleep = sleep
        self.calls = 0

    # Hooks -----------------------------------------------------------------------------------

    def authenticate(self, request: requests.PreparedRequest) -> None:
        """Add credentials to an outgoing request (headers or query). Default: none."""

    def rate_limit_key(self) -> str:
        return f"rl:{self.system}:{self.account_key or 'default'}"

    def observe_limits(self, response: requests.Response) -> None:
        """Read the vendor's rate-limit headers and correct the shared bucket. Default: nothing."""

    def retry_after(self, response: requests.Response) -> float:
        value = response.headers.get("Retry-After", "")
        try:
            return max(0.0, float(value))
        except ValueError:
            return 60.0

    def error_message(self, response: requests.Response) -> str:
        """The vendor's own words for a failed call."""
        try:
            body = response.json()
        except ValueError:
            return (response.text or response.reason or "")[:500]
        if isinstance(body, dict):
            for key in ("message", "Message", "error_description", "error", "ExceptionMessage"):
                if body.get(key):
                    return str(body[key])[:500]
        return str(body)[:500]

    def classify(self, response: requests.Response) -> ApiError | None:
        """Turn a non-2xx response into a typed error. Subclasses refine (e.g. Zoho's codes)."""
        status = response.status_code
        if status < 400:
            return None
        message = self.error_message(response)
        if status == 429:
            return RateLimited(f"rate limited: {message}", retry_after=self.retry_after(response), status=status)
        if status == 401:
            return AuthExpired(
                f"credentials rejected: {message}",
                status=status,
                remediation="Reconnect this connection on the Connections page.",
            )
        if status >= 500:
            return Transient(f"{self.system} server error {status}: {message}", status=status)
        return Permanent(message or f"HTTP {status}", status=status, body=_safe_json(response))

    # Mechanics ---------------------------------------------------------------------------------

    @property
    def limiter(self) -> RateLimiter:
        if self._limiter is None:
            self._limiter = RateLimiter()
        return self._limiter

    def url_for(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            if not same_origin(path_or_url, self.base_url):
                raise RefusedURL(
                    f"refused to call {redact_url(path_or_url)}: not this connection's API host",
                    remediation="This pointer did not come from the vendor's API host; it was not followed.",
                )
            return path_or_url
        return urljoin(self.base_url, path_or_url.lstrip("/"))

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict | list | None = None,
        json: Any = None,
        data: Any = None,
        headers: dict | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> requests.Response:
        method = method.upper()
        url = self.url_for(path_or_url)
        for attempt in range(self.max_429_retries + 1):
            self._take_slot()
            response = self._send(method, url, params=params, json=json, data=data, headers=headers, timeout=timeout)
            self.observe_limits(response)
            error = self.classify(response)
            if error is None:
                return response
            if isinstance(error, RateLimited):
                if self.rate_limit is not None:
                    self.limiter.block(self.rate_limit_key(), error.retry_after)
                if attempt < self.max_429_retries and error.retry_after <= self.max_inline_retry_after:
                    # Wait exactly what the vendor said, plus jitter, then try again.
                    self.sleep(error.retry_after + random.uniform(0, 0.25))
                    continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def request_json(self, method: str, path_or_url: str, **kwargs) -> Any:
        response = self.request(method, path_or_url, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise Transient(
                f"{self.system} answered {response.status_code} with a body that is not JSON",
                status=response.status_code,
            ) from exc

    def _take_slot(self) -> None:
        if self.rate_limit is None:
            return
        try:
            self.limiter.acquire(self.rate_limit_key(), self.rate_limit, max_wait=self.max_rate_wait)
        except RateLimitWaitTooLong as exc:
            raise RateLimited(str(exc), retry_after=exc.wait) from exc

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        request = requests.Request(
            method,
            url,
            params=kwargs["params"],
            json=kwargs["json"],
            data=kwargs["data"],
            headers={"Accept": "application/json", **(kwargs["headers"] or {})},
        )
        prepared = self.session.prepare_request(request)
        self.authenticate(prepared)
        started = time.perf_counter()
        shown_url = redact_url(prepared.url or url)
        # Errors below are raised `from None`: a requests exception's text carries the full URL,
        # which for some vendors (WooCommerce query-string auth) holds the keys.
        try:
            response = self.session.send(prepared, timeout=kwargs["timeout"] or self.timeout, allow_redirects=False)
        except requests.ConnectTimeout:
            self._report(method, shown_url, None, started, "connect timeout")
            raise Transient(f"{self.system}: connect timeout") from None
        except requests.ReadTimeout:
            self._report(method, shown_url, None, started, "read timeout")
            cls = Transient if method in self.idempotent_methods else Uncertain
            raise cls(f"{self.system}: no answer in time; the outcome is unknown") from None
        except requests.ConnectionError as exc:
            self._report(method, shown_url, None, started, "connection error")
            cls = Transient if method in self.idempotent_methods else Uncertain
            raise cls(f"{self.system}: connection failed ({type(exc).__name__})") from None
        self.calls += 1
        self._report(method, shown_url, response.status_code, started)
        return response

    def _report(self, method: str, url: str, status: int | None, started: float, error: str = "") -> None:
        record = CallRecord(method, url, status, int((time.perf_counter() - started) * 1000), error)
        logger.info("%s %s -> %s in %sms", method, url, status or error, record.ms)
        if self.on_call is not None:
            self.on_call(record)


def _safe_json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
