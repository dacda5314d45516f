"""Structured logs: one JSON line per event, with ids, never secrets.

The same redaction serves every log the product writes: the web's JSON lines, the Celery worker's
(connector/celery.py routes its logging here), gunicorn's access log (`GunicornLogger`, set in
gunicorn.conf.py) and Sentry events (`scrub_sentry_event`). Request paths are logged with their
secret parts masked: webhook URLs and invitation links carry tokens that grant access on their own.

Every line written while serving a request carries its request id (`RequestIdMiddleware`), and so does
every line of the Celery tasks that request queued: the id travels in the task's headers and is bound
again in the worker (connector/celery.py), so one id follows a webhook delivery into its processing.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from django.core.signals import request_finished
from gunicorn.glogging import Logger as _GunicornBaseLogger

_CONTEXT_FIELDS = (
    "organization_id",
    "connection_id",
    "flow_id",
    "record_id",
    "delivery_id",
    "task_id",
    "request_id",
)
REDACTED = "[redacted]"

# A name whose value is a secret wherever it appears (`name=value`, `"name": "value"`, `Name: value`)
# contains one of these (compared lower-case, "-" read as "_").
SECRET_NAME_PARTS = (
    "token",
    "secret",
    "password",
    "passwd",
    "authorization",
    "api_key",
    "apikey",
    "consumer_key",
    "signature",
    "ticket",
    "cookie",
)
# Every pattern below runs in linear time on hostile text (vendor bodies, URLs, tracebacks end up
# here): names are bounded and start at a word boundary, values are single character classes.
_NAME_AND_SEPARATOR = re.compile(r"(?<![\w-])([\w-]{1,80})([\"']?\s{0,10}[:=]\s{0,10}[\"']?)")
# An Authorization value is "<scheme> <credentials>": keep the scheme, mask the credentials. Schemes
# include vendors' own "<vendor>-oauthtoken" (Zoho's).
_SCHEME = re.compile(r"(?i)(?:basic|bearer|digest|token|[a-z]{1,20}-oauthtoken)\s{1,10}")
_VALUE = re.compile(r"[^\s\"'&,;}<>]+")
# "Basic dXNlcjpwYXNz" or "Bearer eyJ..." quoted on their own, without a header name before them.
_BARE_CREDENTIALS = re.compile(r"(?i)\b(basic|bearer)(\s{1,10})([A-Za-z0-9+/=._~-]{12,})")


def is_secret_name(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return any(part in lowered for part in SECRET_NAME_PARTS)


def redact_text(text: str) -> str:
    """Mask secrets in free text: `secret=...`, `"access_token": "..."`, `Authorization: Basic ...`."""
    if not text:
        return text
    pieces, done = [], 0
    for match in _NAME_AND_SEPARATOR.finditer(text):
        if match.start() < done or not is_secret_name(match.group(1)):
            continue
        at = match.end()
        scheme = _SCHEME.match(text, at)
        if scheme:
            at = scheme.end()
        value = _VALUE.match(text, at)
        if value:
            pieces.append(text[done:at])
            pieces.append(REDACTED)
            done = value.end()
    text = "".join(pieces) + text[done:]
    return _BARE_CREDENTIALS.sub(_mask_bare, text)


def _mask_bare(match: re.Match) -> str:
    credentials = match.group(3)
    if not any(c.isdigit() or c in "+/=" for c in credentials):
        return match.group(0)  # "Basic information ..." is prose, not a credential
    return f"{match.group(1)}{match.group(2)}{REDACTED}"


# --- Request paths ----------------------------------------------------------------------------------

# Query parameters whose values are secrets (OAuth codes and state, our WooCommerce key callback's
# user_id carries the connection token) on top of every secret-looking name.
_SECRET_QUERY_NAMES = frozenset({"code", "state", "key", "user_id", "sig"})
# A path segment that looks like a token (secrets.token_urlsafe and the like), for paths no route matches.
_TOKEN_SEGMENT = re.compile(r"[A-Za-z0-9_-]{16,}")


def _secret_query_name(name: str) -> bool:
    return name.lower() in _SECRET_QUERY_NAMES or is_secret_name(name)


def redact_query(query: str) -> str:
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, REDACTED if _secret_query_name(k) else v) for k, v in pairs], safe="[]/:")


def redact_path(path: str) -> str:
    """The path with every route variable that is not a number masked (webhook, invitation, password
    reset tokens); a path no route matches has its token-looking segments masked instead."""
    from django.apps import apps

    path = unquote(path or "")
    # Cached once the URLconf can be read: the access log asks for the same few paths all day.
    return _redact_resolved_path(path) if apps.ready else _redact_segments(path)


def _redact_segments(path: str) -> str:
    return "/".join(REDACTED if _TOKEN_SEGMENT.fullmatch(part) else part for part in path.split("/"))


@lru_cache(maxsize=1024)  # bounded: a path is at most gunicorn's 4 KB request line
def _redact_resolved_path(path: str) -> str:
    match = _resolve(path)
    if match is None:
        return _redact_segments(path)
    values = [v for v in (*match.args, *match.kwargs.values()) if not isinstance(v, int)]
    for value in sorted({str(v) for v in values if str(v)}, key=len, reverse=True):
        path = path.replace(value, REDACTED)
    return path


def _resolve(path: str):
    from django.urls import Resolver404, resolve

    try:
        return resolve(path)
    except Resolver404:
        return None


def redact_url(url: str) -> str:
    """A full URL or a path with query, with the path and query redacted as above."""
    if not url or url == "-":
        return url
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.netloc else ""
    query = redact_query(parts.query)
    return f"{origin}{redact_path(parts.path)}" + (f"?{query}" if query else "")


# A request line inside a log message: `"GET /hooks/x/<token>/ HTTP/1.1"` (runserver) or
# `Not Found: /invitations/<token>/` (django.request).
_LOGGED_PATH = re.compile(r"(?<![\w/])/[^\s\"']*")
_REQUEST_LOGGERS = ("django.request", "django.server", "django.security", "gunicorn")


def _redact_first_path(text: str) -> str:
    return _LOGGED_PATH.sub(lambda m: redact_url(m.group(0)), text, count=1)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = redact_text(record.getMessage())
        if record.name.startswith(_REQUEST_LOGGERS):
            message = _redact_first_path(message)
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if "task_id" not in entry and (task_id := _current_task_id()):
            entry["task_id"] = task_id
        if "request_id" not in entry and (request_id := current_request_id()):
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def _current_task_id() -> str | None:
    """The Celery task this log line was written in, if any (worker logs carry it like the web's ids)."""
    from celery import current_task

    request = getattr(current_task, "request", None) if current_task else None
    return getattr(request, "id", None)


# --- Request ids ----------------------------------------------------------------------------------

REQUEST_ID_HEADER = "X-Request-ID"
# The Celery message header that carries it into the tasks a request (or a task) queues.
TASK_HEADER = "request_id"
# An incoming id is kept only when it is short and plain (a proxy's or a vendor's); anything else
# (long, spaces, quotes, control characters) is replaced by our own, so nobody writes into our logs.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def sane_request_id(value: object) -> str | None:
    """`value` when it is an acceptable request id, else None."""
    if isinstance(value, str) and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


def current_request_id() -> str | None:
    """The request id of the request or task this code runs for, if any."""
    return _request_id.get()


def bind_request_id(value: str | None) -> Token:
    """Make `value` the current request id until `unbind_request_id` is given the returned token."""
    return _request_id.set(value)


def unbind_request_id(token: Token) -> None:
    try:
        _request_id.reset(token)
    except (ValueError, RuntimeError):  # bound in another context, or reset already: just clear it
        _request_id.set(None)


class RequestIdMiddleware:
    """Gives every request an id: the caller's `X-Request-ID` when it is sane, else a new uuid4.

    First in MIDDLEWARE, so every log line of the request carries it. The id is written back into
    the request's headers (the webhook inbox keeps it with the delivery) and into the response. It
    stays bound until the response is closed (`request_finished`): Django's own line about an error
    answer and gunicorn's access line are written after the middleware returns, and carry it too."""

    def __init__(self, get_response):
        self.get_response = get_response
        request_finished.connect(_forget_request_id, dispatch_uid="connector.logs.forget_request_id")

    def __call__(self, request):
        request_id = sane_request_id(request.META.get("HTTP_X_REQUEST_ID")) or uuid.uuid4().hex
        request.META["HTTP_X_REQUEST_ID"] = request_id
        bind_request_id(request_id)
        try:
            response = self.get_response(request)
        except BaseException:
            _forget_request_id()
            raise
        response[REQUEST_ID_HEADER] = request_id
        return response


def _forget_request_id(**_kwargs) -> None:
    _request_id.set(None)


# --- gunicorn access log --------------------------------------------------------------------------

_FORMAT_KEY = re.compile(r"%\(([^)]+)\)")


class GunicornLogger(_GunicornBaseLogger):
    """gunicorn's logger with request paths, query strings, referers and secret headers redacted in
    the access log. Only the atoms the configured format prints are rewritten (this runs per request)."""

    def access(self, resp, req, environ, request_time) -> None:
        """Everything but an accepted webhook delivery. A delivery we answered 2xx is already one
        row in the database with its headers, its time and the answer we gave (the deliveries page
        shows it); its access line said nothing more and cost about a tenth of the webhook path's
        CPU in a burst. Refused, malformed and failing deliveries (4xx/5xx) are still logged."""
        if _is_accepted_delivery(resp, environ):
            return
        super().access(resp, req, environ, request_time)

    def atoms(self, resp, req, environ, request_time) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        used = _format_keys(self.cfg.access_log_format)
        path = redact_path(environ.get("PATH_INFO") or "")
        query = redact_query(environ.get("QUERY_STRING") or "") if used & _QUERY_ATOMS else ""
        uri = path + (f"?{query}" if query else "")
        for key in used:
            lowered = key.lower()
            if key == "U" or lowered == "{path_info}e":
                atoms[key] = path
            elif key == "q" or lowered == "{query_string}e":
                atoms[key] = query
            elif key == "r":
                atoms[key] = f"{atoms.get('m')} {uri} {atoms.get('H')}"
            elif lowered in ("{raw_uri}e", "{request_uri}e"):
                atoms[key] = uri
            elif key == "f" or lowered in ("{referer}i", "{http_referer}e"):
                atoms[key] = redact_url(str(atoms.get(key) or "-"))
            elif key.startswith("{") and is_secret_name(key):
                atoms[key] = REDACTED
        return atoms


def _is_accepted_delivery(resp, environ: dict) -> bool:
    status = getattr(resp, "status_code", None)
    return isinstance(status, int) and 200 <= status < 300 and (environ.get("PATH_INFO") or "").startswith(HOOKS_PATH)


# The webhook inbox's path prefix (connector.wsgi.HOOKS_PREFIX; not imported: that module builds the app).
HOOKS_PATH = "/hooks/"

_QUERY_ATOMS = frozenset({"q", "r", "{query_string}e", "{raw_uri}e", "{request_uri}e", "{QUERY_STRING}e"})


@lru_cache(maxsize=8)
def _format_keys(log_format: str) -> frozenset[str]:
    return frozenset(_FORMAT_KEY.findall(log_format or ""))


# --- Sentry ----------------------------------------------------------------------------------------

_SENTRY_SECRET_KEY = re.compile(
    r"(?i)(password|passwd|secret|ticket|token|key|authorization|cookie|signature|credential|session)"
)
SENTRY_FILTERED = "[Filtered]"


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 20:
        return SENTRY_FILTERED
    if isinstance(value, dict):
        return {
            k: SENTRY_FILTERED if isinstance(k, str) and _SENTRY_SECRET_KEY.search(k) else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and isinstance(value[0], str) and _SENTRY_SECRET_KEY.search(value[0]):
            return [value[0], SENTRY_FILTERED]  # a header as a [name, value] pair
        return [_scrub(v, depth + 1) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def scrub_sentry_event(event: dict, hint: dict | None = None) -> dict:
    """Sentry `before_send`: mask variables and keys named like secrets anywhere in the event (stack
    frame locals, request data, headers, extra, breadcrumbs) and secret-looking text in messages."""
    scrubbed = _scrub(event)
    request = scrubbed.get("request")
    if isinstance(request, dict):
        if isinstance(request.get("url"), str):
            request["url"] = redact_url(request["url"])
        if isinstance(request.get("query_string"), str):
            request["query_string"] = redact_query(request["query_string"])
    return scrubbed
