"""Query-parameter parsing for list pages and the API: bad input is a 400 with a message, never a 500.

A malformed value used to reach the database (a NUL byte, an id past bigint, 30 February) and come
back as a server error, or was silently ignored so a filter showed everything. Each helper returns
the parsed value, None when the parameter is absent or blank, or raises `InvalidParam`: a
`BadRequest`, which Django answers with 400 (rendered by `bad_request` below with the message) and
the API turns into a DRF validation error.
"""

from __future__ import annotations

from datetime import date, datetime

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

BIGINT_MAX = 2**63 - 1  # PostgreSQL bigint: a larger id is a DataError, not "no match"
MAX_TEXT = 200


class InvalidParam(BadRequest):
    """A query parameter we cannot use. `message` is ours, safe to show; it names the parameter."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def _raw(params, name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    value = str(value)
    if "\x00" in value:
        raise InvalidParam(name, "must not contain a NUL character.")
    return value.strip() or None


def text_param(params, name: str, *, max_length: int = MAX_TEXT) -> str | None:
    value = _raw(params, name)
    if value is not None and len(value) > max_length:
        raise InvalidParam(name, f"must be at most {max_length} characters.")
    return value


def id_param(params, name: str) -> int | None:
    """A database id: ASCII digits only (not "²" or "١٢"), at least 1, within bigint."""
    value = _raw(params, name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 19 or not 1 <= int(value) <= BIGINT_MAX:
        raise InvalidParam(name, "must be a whole number from 1 up.")
    return int(value)


def choice_param(params, name: str, choices) -> str | None:
    value = _raw(params, name)
    if value is not None and value not in choices:
        raise InvalidParam(name, f"must be one of: {', '.join(sorted(str(c) for c in choices))}.")
    return value


def date_param(params, name: str) -> date | None:
    value = _raw(params, name)
    if value is None:
        return None
    try:
        parsed = parse_date(value) if len(value) <= 10 else None
    except ValueError:  # well formed but not a real day: 2024-02-30
        parsed = None
    if parsed is None:
        raise InvalidParam(name, "must be a real date written YYYY-MM-DD.")
    return parsed


def aware_datetime(text: str) -> datetime | None:
    """An ISO datetime with an offset, else None (malformed, impossible or naive)."""
    try:
        parsed = parse_datetime(text[:40])
    except ValueError:
        return None
    if parsed is None or timezone.is_naive(parsed):
        return None
    return parsed


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: a page that says which parameter was wrong. Other 400s (a disallowed Host, a
    suspicious operation raised before our middleware ran) keep Django's plain answer."""
    if not isinstance(exception, InvalidParam):
        return HttpResponseBadRequest("<h1>Bad Request (400)</h1>")  # Django's own answer
    return render(request, "400.html", {"message": str(exception)}, status=400)
