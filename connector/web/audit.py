"""Audit-log queries: filters, search and keyset pagination over Records (DESIGN §10).

Built to stay quick at millions of records (`bench/audit_scale.py` measures it): every filter is an
equality with an index of its own that continues in the list's order (`record_*_idx` in
connector/models.py), dates are ranges on `updated_at` (not a cast to a date, which no index
serves), a page is a keyset range after (or before) a cursor, never an OFFSET, and nothing counts
the whole list. Search first looks for a whole order number, document number or email address (plain
indexes), then for the text inside one key per record (order number, source id, document number,
email and name, see `SearchKey`): on PostgreSQL a trigram index on that key answers it (migration
0012). A text shorter than a trigram finds whole numbers only.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import F, Func, Q, QuerySet, TextField
from django.utils import timezone

from connector.models import Record
from connector.web.params import (
    BIGINT_MAX,
    InvalidParam,
    aware_datetime,
    choice_param,
    date_param,
    id_param,
    text_param,
)

PAGE_SIZE = 50
MIN_SEARCH = 3  # a trigram: shorter text cannot use the search index, so it matches whole numbers only


class SearchKey(Func):
    """What the audit log's search looks in: the record's keys joined by spaces. The PostgreSQL index
    of migration 0012 is on UPPER() of exactly this SQL (an `icontains` lookup wraps it so), so the
    two must change together; `tests/connector/test_audit_scale.py` reads the plan to prove it."""

    template = "(%(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = TextField()

    def __init__(self):
        super().__init__(F("source_ref"), F("source_id"), F("target_ref"), F("search_text"))


@dataclass
class AuditPage:
    records: list[Record]
    next_cursor: str | None  # older records follow
    previous_cursor: str | None = None  # newer records come before this page (it was reached by a cursor)


def encode_cursor(record: Record) -> str:
    """The record's place in the list, (updated_at, id): ties on the time are ordered by id."""
    raw = json.dumps([record.updated_at.isoformat(), record.pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, pk = json.loads(raw)
        when = aware_datetime(stamp)
        if when is None or type(pk) is not int or not 0 < pk <= BIGINT_MAX:
            return None
        return when, pk
    except (ValueError, TypeError):
        return None


def filter_records(queryset: QuerySet, params) -> QuerySet:
    """Apply the audit-log filters. A malformed value is an InvalidParam (a 400 naming it), never a
    500 and never silently dropped (a filter that is ignored shows the merchant everything)."""
    if (flow := id_param(params, "flow")) is not None:
        queryset = queryset.filter(flow_id=flow)
    if status := choice_param(params, "status", Record.Status.values):
        queryset = queryset.filter(status=status)
    if stage := text_param(params, "stage", max_length=20):
        queryset = queryset.filter(stage=stage)
    if object_type := text_param(params, "object_type", max_length=40):
        queryset = queryset.filter(object_type=object_type)
    # Days are the site's days (settings.TIME_ZONE), from the first moment of `since` up to, not
    # including, the first moment after `until`: a range on the indexed column.
    if (since := date_param(params, "since")) is not None:
        queryset = queryset.filter(updated_at__gte=_day_start(since))
    if (until := date_param(params, "until")) is not None:
        queryset = queryset.filter(updated_at__lt=_day_start(until + timedelta(days=1)))
    if q := text_param(params, "q"):
        queryset = search(queryset, q)
    return queryset


def search(queryset: QuerySet, q: str) -> QuerySet:
    """The order number or email from the source, or the document number in the target (invoice
    INV-1001, journal entry 42): a merchant searches with whichever they have in hand, or part of it.

    A whole number or address finds its records directly through plain indexes; only when nothing
    matches it whole is the text looked for inside every record's keys (the trigram index, whose
    common trigrams, "000", "INV", "COM", make it the slower of the two)."""
    if len(q) < MIN_SEARCH:
        return queryset.filter(whole_key(q))
    found_whole = queryset.filter(whole_key(q))
    if found_whole.exists():
        return found_whole
    return queryset.alias(search_key=SearchKey()).filter(search_key__icontains=q)


def whole_key(q: str) -> Q:
    """The order or document number as typed (or in capitals, as books print them), or the email
    address that `search_text` starts with."""
    match = Q(source_ref=q) | Q(target_ref__in={q, q.upper()})
    if "@" in q and " " not in q:
        match |= Q(search_text=q.lower()) | Q(search_text__startswith=q.lower() + " ")
    return match


def _day_start(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _position(cursor: str | None, name: str) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    position = decode_cursor(cursor)
    if position is None:
        raise InvalidParam(name, "is not a page position from this list; start from the first page.")
    return position


def page_of(queryset: QuerySet, cursor: str | None, size: int | None = None, *, before: str | None = None) -> AuditPage:
    """`size` (PAGE_SIZE) records newest first: after the `cursor` (older ones), or just before
    `before` (the newer page a Previous link goes back to). Each is one range scan of an index in
    this order; no OFFSET, no count."""
    size = size or PAGE_SIZE
    after_at, before_at = _position(cursor, "after"), _position(before, "before")
    if after_at and before_at:
        raise InvalidParam("before", "cannot be used together with after.")
    if before_at is not None:
        when, pk = before_at
        # The plain bound on updated_at is what the index range starts from; the OR only settles ties.
        newer = queryset.filter(Q(updated_at__gte=when), Q(updated_at__gt=when) | Q(updated_at=when, id__gt=pk))
        rows = list(newer.order_by("updated_at", "id")[: size + 1])
        if len(rows) <= size:  # back at the newest records: that is the first page, full
            return page_of(queryset, None, size)
        rows = rows[:size][::-1]
        return AuditPage(rows, next_cursor=encode_cursor(rows[-1]), previous_cursor=encode_cursor(rows[0]))
    queryset = queryset.order_by("-updated_at", "-id")
    if after_at is not None:
        when, pk = after_at
        queryset = queryset.filter(Q(updated_at__lte=when), Q(updated_at__lt=when) | Q(updated_at=when, id__lt=pk))
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return AuditPage(
        rows,
        next_cursor=encode_cursor(rows[-1]) if more and rows else None,
        # Reached by a cursor: newer records may come before it (another page back, or the first).
        previous_cursor=encode_cursor(rows[0]) if after_at is not None and rows else None,
    )
