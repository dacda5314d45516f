"""The one HTTP client base for every vendor (DESIGN §5-6).

`ApiClient` owns a `requests.Session`, always sets connect/read timeouts, consults the shared rate
limiter before each call and corrects it from the vendor's headers after, reports every call (method,
redacted URL, status, milliseconds) to an `on_call` sink (the engine turns these into Events), refuses
to send credentials to any host but the connection's own API host (SSRF), and turns vendor failures
into the typed errors below. Vendor clients subclass it and override the small hooks.

A 429 that names its wait (Retry-After) stops every worker on the shared bucket for exactly that long.
A 429 that names none (Zoho never does) is not a reason to stop for a minute: the bucket is emptied, so
the next call anyone makes waits one token interval, plus a jittered back-off that grows with 429s in
a row and stays within `pace_backoff_cap` seconds; then a single call probes, and a success forgets the
strikes. Work so keeps moving at the vendor's own rate instead of freezing.

Outbound URL guard (one for every client). A host is never taken from vendor-supplied data:
- An absolute URL handed to `url_for`/`request` (a ShipStation `resource_url`, an Exact `__next`, a V2
  `links.next.href`) is a *pointer*. It is refused when it holds a backslash, `@` (userinfo), whitespace,
  control or non-ASCII characters, dot segments, a scheme other than http(s), or a scheme/host/port
  the client does not accept (`accepts_pointer_origin`: the base URL's own, plus aliases a subclass
  names, e.g. ShipStation's numbered API hosts). Otherwise it is REBUILT: the base URL's scheme, host
  and port, plus only the pointer's path (which must lie under the base path) and query.
- A relative path (our own call, maybe with an id in it) is joined to the base URL; one with dot
  segments is refused, so it cannot climb out of the base path.
- Our own calls to another path of the same origin (WooCommerce's Shipment Tracking namespace beside
  `wc/v3`, Exact's `current/Me` beside the division) are an `OwnURL`, made only by `ApiClient.own_url`
  from the connection's configured address plus constants: same strict parse, the base URL's exact
  origin (no alias), any path. Vendor data is never an `OwnURL` (JSON, headers and query strings decode
  to plain `str`), so pointers keep the rules above.
- After `Session.prepare_request`, the prepared URL is parsed with urllib3's `parse_url` (the parser
  the connection pool itself uses) and its scheme, host and port must be the base URL's, with no
  userinfo, *before* `authenticate` attaches credentials; again after it (query-string auth re-prepares
  the URL). A mismatch raises RefusedURL and nothing is sent.
Why not `urlsplit`: it reads `http://attacker<backslash>@ssapi.shipstation.com/` as host
ssapi.shipstation.com while requests connects to `attacker` (the prepared URL is
`http://attacker/%5C@ssapi...`).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, NamedTuple, Self
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit

import requests
from urllib3.util import parse_url

from connector.metrics import count_vendor_call
from connector.ratelimit import Limit, RateLimiter, RateLimitWaitTooLong, at_rate
from connector.retry import RetryPolicy
from connector.retry import backoff_seconds as backoff_seconds  # the one backoff, importable from here too

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


# --- Calls --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRecord:
    method: str
    url: str  # redacted
    status: int | None
    ms: int
    error: str = ""
    # The bodies sent and answered, as text cut to BODY_LOG_LIMIT bytes, for the record timeline.
    # NOT redacted here: a sink redacts before storing (connector.web.redaction.redact_body). Left
    # out of repr and equality so a logged CallRecord never carries them.
    request_body: str = field(default="", repr=False, compare=False)
    response_body: str = field(default="", repr=False, compare=False)


BODY_LOG_LIMIT = 8192

# Observers of every call made in this context, whichever client makes it: work that drives code
# building its own clients (a reconciliation's listers) counts its vendor calls with `observe_calls`.
_call_observers: ContextVar[tuple[Callable[[CallRecord], None], ...]] = ContextVar("vendor_call_observers", default=())


@contextmanager
def observe_calls(observer: Callable[[CallRecord], None]) -> Iterator[None]:
    """Call `observer` with each vendor call any ApiClient makes in this thread/context meanwhile."""
    token = _call_observers.set((*_call_observers.get(), observer))
    try:
        yield
    finally:
        _call_observers.reset(token)


def body_text(body: bytes | str | None, limit: int = BODY_LOG_LIMIT) -> str:
    """A request or response body as text for the call log, cut to `limit` bytes."""
    if not body:
        return ""
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else bytes(body)
    text = raw[:limit].decode("utf-8", "replace")
    return text + "…" if len(raw) > limit else text


def redact_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[::1/": a refused pointer is shown, never parsed further
        return "[unparseable URL]"
    if not parts.query:
        return url
    query = [(k, "[redacted]" if k.lower() in SECRET_PARAM_NAMES else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="[]")))


# --- Outbound URL guard -------------------------------------------------------------------------

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_POINTER_LENGTH = 4096
# Printable ASCII without space, backslash and "@": whitespace, control characters, non-ASCII,
# backslashes and userinfo never appear in a pointer we follow.
_POINTER_CHARS = re.compile(r"[!-?A-\[\]-~]*")
_POINTER = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<path>/[^?#]*)?(?:\?(?P<query>[^#]*))?(?:#.*)?"
)
_AUTHORITY = re.compile(r"(?P<host>[^:]+)(?::(?P<port>[0-9]{1,5}))?")
_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
# Loopback names that are one another's alias (sandbox mode only, see `loopback_alias`).
_LOOPBACK_ALIASES = {"localhost": "127.0.0.1", "127.0.0.1": "localhost"}


class Origin(NamedTuple):
    """Scheme, lower-case host and explicit port: what a request connects to."""

    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        port = "" if DEFAULT_PORTS.get(self.scheme) == self.port else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}"


def _refuse(url: str, why: str) -> RefusedURL:
    shown = redact_url(url[:200]) if _POINTER_CHARS.fullmatch(url[:200]) else repr(url[:80])
    return RefusedURL(
        f"refused to call {shown}: {why}",
        remediation="This pointer did not come from the vendor's API host; it was not followed.",
    )


def parse_pointer(url: str) -> tuple[Origin, str, str]:
    """(origin, path, query) of an absolute http(s) URL, read strictly; RefusedURL for anything else.

    Strict on purpose: every character that parsers disagree about (`\\`, `@`, whitespace, control
    characters) is refused outright instead of interpreted."""
    if not isinstance(url, str) or not url:
        raise _refuse(str(url), "not a URL")
    if len(url) > MAX_POINTER_LENGTH:
        raise _refuse(url, "too long")
    if "\\" in url:
        raise _refuse(url, "it contains a backslash")
    if "@" in url:
        raise _refuse(url, "it contains '@' (userinfo)")
    if not _POINTER_CHARS.fullmatch(url):
        raise _refuse(url, "it contains whitespace, control or non-ASCII characters")
    match = _POINTER.fullmatch(url)
    if match is None:
        raise _refuse(url, "not an absolute http(s) URL")
    scheme = match["scheme"].lower()
    if scheme not in DEFAULT_PORTS:
        raise _refuse(url, f"scheme {scheme!r} is not http or https")
    authority = _AUTHORITY.fullmatch(match["authority"])
    host = authority["host"].lower() if authority else ""
    if not authority or not _HOST.fullmatch(host):
        raise _refuse(url, "its host is not a plain host name")
    port = int(authority["port"]) if authority["port"] else DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise _refuse(url, "its port is out of range")
    path = match["path"] or "/"
    if any(unquote(segment) in (".", "..") for segment in path.split("/")):
        raise _refuse(url, "its path has dot segments")
    return Origin(scheme, host, port), path, match["query"] or ""


class OwnURL(str):
    """An absolute URL our own code built for one of its calls outside the base path, on the base URL's
    origin (see `ApiClient.own_url`). `url_for` accepts it beside the base path; a plain `str` absolute
    URL is a vendor pointer and held to the base path. Any string operation on it gives a plain `str`
    again, which is then treated as a pointer: the safe side."""

    __slots__ = ()


def origin_of(base_url: str) -> Origin:
    """The origin of a configured base URL (ours, not vendor data), read by the same strict rules."""
    origin, _, _ = parse_pointer(base_url)
    return origin


def loopback_alias(host: str) -> str | None:
    """`localhost` for `127.0.0.1` and back: both are loopback, so a sandbox reached under one can hand
    out pointers under the other, as ShipStation hands out pointers on its numbered API hosts. Never
    any other address."""
    return _LOOPBACK_ALIASES.get(host.lower())


def prepared_origin(url: str) -> tuple[Origin | None, bool]:
    """(origin, has userinfo) of a prepared request's URL, parsed as urllib3 will parse it to connect."""
    try:
        parsed = parse_url(url)
    except ValueError:
        return None, False
    scheme = (parsed.scheme or "").lower()
    if scheme not in DEFAULT_PORTS or not parsed.host:
        return None, parsed.auth is not None
    return Origin(scheme, parsed.host.lower(), parsed.port or DEFAULT_PORTS[scheme]), parsed.auth is not None


class ApiClient:
    """Base for vendor clients. Subclasses set `system`, `rate_limit` and override the hooks."""

    system: ClassVar[str] = ""
    rate_limit: ClassVar[Limit | None] = None
    timeout: ClassVar[tuple[float, float]] = (5.0, 30.0)
    max_rate_wait: ClassVar[float] = 120.0
    max_429_retries: ClassVar[int] = 3
    max_inline_retry_after: ClassVar[float] = 30.0
    pace_backoff_cap: ClassVar[float] = 4.0  # the longest extra wait after a 429 that named none
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
        alias_hosts: Iterable[str] = (),
        per_minute: float | None = None,
    ):
        """`per_minute`: the vendor's window on a scaled clock (a connection's `rate_limit_per_minute`
        setting, for sandboxes and benchmarks): the class's bucket refilled at that rate."""
        if per_minute and self.rate_limit is not None:
            self.rate_limit = at_rate(self.rate_limit, per_minute)
        self.base_url = base_url.rstrip("/") + "/"
        self.origin = origin_of(self.base_url)
        self.base_path = urlsplit(self.base_url).path
        # Other names of the base host under which the vendor hands out pointers (same scheme and port);
        # such pointers are rebuilt on the base host.
        self.alias_origins = frozenset(self.origin._replace(host=h.lower()) for h in alias_hosts if h)
        self.account_key = account_key
        self.session = session or requests.Session()
        self._owns_session = session is None
        self._closed = False
        self._limiter = limiter
        self.on_call = on_call
        self.sleep = sleep
        self.calls = 0

    # Lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the pooled connections of the session this client made; calling it again does
        nothing. A session passed in belongs to the caller, who closes it (it may serve others)."""
        if self._closed:
            return
        self._closed = True
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Hooks -----------------------------------------------------------------------------------

    def authenticate(self, request: requests.PreparedRequest) -> None:
        """Add credentials to an outgoing request (headers or query). Default: none.

        Runs only after the prepared URL was checked against the base URL's origin."""

    def accepts_pointer_origin(self, origin: Origin) -> bool:
        """May a pointer name this origin? The base URL's own and its aliases; subclasses add the
        vendor's other API hosts by an explicit allow-list. The URL is rebuilt on the base host anyway."""
        return origin == self.origin or origin in self.alias_origins

    def rate_limit_key(self) -> str:
        return f"rl:{self.system}:{self.account_key or 'default'}"

    def observe_limits(self, response: requests.Response) -> None:
        """Read the vendor's rate-limit headers and correct the shared bucket. Default: nothing."""

    def retry_after(self, response: requests.Response) -> float:
        """The vendor's Retry-After in seconds; 0.0 when it named none (we then pace, see `_slow_down`)."""
        return retry_after_seconds(response.headers.get("Retry-After", ""))

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

    def pointer_url(self, url: str) -> str:
        """The URL to call for a pointer handed to us (webhook `resource_url`, paging link): the base
        URL's scheme, host and port plus the pointer's path and query. RefusedURL when the pointer is
        malformed, names a host this client does not accept, or lies outside the base path."""
        origin, path, query = parse_pointer(url)
        if not self.accepts_pointer_origin(origin):
            raise _refuse(url, "not this connection's API host")
        if not path.startswith(self.base_path):
            raise _refuse(url, "outside this connection's API")
        return self.origin.url + path + (f"?{query}" if query else "")

    def own_url(self, url: str) -> OwnURL:
        """Our own call to another path on the base URL's origin, e.g. a vendor's second API namespace.

        `url` is built by our code from the connection's configured address (the one the base URL came
        from) and constants or validated ids; never pass vendor data here (that is `pointer_url`'s job).
        Held to the pointer rules except the base path: strict parse, no dot segments, and exactly the
        base URL's origin (no alias host). Rebuilt on that origin with only the path and query."""
        origin, path, query = parse_pointer(url)
        if origin != self.origin:
            raise _refuse(url, "not this connection's API host")
        return OwnURL(self.origin.url + path + (f"?{query}" if query else ""))

    def url_for(self, path_or_url: str) -> str:
        if isinstance(path_or_url, OwnURL):
            return self.own_url(path_or_url)  # checked again: it may have been built by another client
        if _HAS_SCHEME.match(path_or_url) or path_or_url.startswith("//") or "\\" in path_or_url:
            return self.pointer_url(path_or_url)
        path = path_or_url.lstrip("/")
        if any(unquote(segment) in (".", "..") for segment in re.split(r"[?#]", path, maxsplit=1)[0].split("/")):
            raise _refuse(path_or_url, "its path has dot segments")
        return urljoin(self.base_url, path)

    def check_destination(self, prepared: requests.PreparedRequest) -> None:
        """The prepared request goes to the base URL's origin, with no userinfo; else RefusedURL."""
        origin, has_userinfo = prepared_origin(prepared.url or "")
        if origin != self.origin or has_userinfo:
            raise _refuse(prepared.url or "", "the request would not go to this connection's API host")

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
                if attempt and self.rate_limit is not None:
                    self.limiter.forgive(self.rate_limit_key())
                return response
            if isinstance(error, RateLimited) and self._wait_after_429(
                error, retry_left=attempt < self.max_429_retries
            ):
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_after_429(self, error: RateLimited, *, retry_left: bool) -> bool:
        """Hold back after a 429; True when the call should be tried again here and now."""
        if error.retry_after <= 0:
            error.retry_after = self._slow_down()
            if retry_left and self.rate_limit is None:
                self.sleep(error.retry_after)
            return retry_left  # the bucket's own wait paces the probe
        if self.rate_limit is not None:
            self.limiter.block(self.rate_limit_key(), error.retry_after)
        if retry_left and error.retry_after <= self.max_inline_retry_after:
            # Wait exactly what the vendor said, plus jitter, then try again.
            self.sleep(error.retry_after + random.uniform(0, 0.25))
            return True
        return False

    def _slow_down(self) -> float:
        """A 429 without a wait: empty the shared bucket and hold it for a jittered back-off that grows
        with 429s in a row (at most `pace_backoff_cap`). Returns the seconds until the next probe."""
        interval = 1.0 / self.rate_limit.rate if self.rate_limit is not None else 1.0
        policy = RetryPolicy(max_attempts=1, base=interval, cap=self.pace_backoff_cap)
        if self.rate_limit is None:
            return max(interval, policy.delay(1))
        key = self.rate_limit_key()
        pause = policy.delay(self.limiter.strike(key, memory=60.0))
        self.limiter.block(key, pause)
        return pause + interval

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
        self.check_destination(prepared)  # before any credential is attached
        self.authenticate(prepared)
        self.check_destination(prepared)  # authentication may have re-prepared the URL
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
        self._report(method, shown_url, response.status_code, started, bodies=(prepared.body, response.content))
        return response

    def _report(
        self, method: str, url: str, status: int | None, started: float, error: str = "", *, bodies=(None, None)
    ) -> None:
        ms = int((time.perf_counter() - started) * 1000)
        record = CallRecord(method, url, status, ms, error, body_text(bodies[0]), body_text(bodies[1]))
        logger.info("%s %s -> %s in %sms", method, url, status or error, record.ms)
        count_vendor_call(self.system, status)
        for observe in _call_observers.get():
            observe(record)
        if self.on_call is not None:
            self.on_call(record)


def retry_after_seconds(value: str, *, now: datetime | None = None) -> float:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now; 0.0 when absent or unreadable."""
    value = (value or "").strip()
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        return 0.0
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _safe_json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
