"""Audit-log queries: filters and keyset pagination over Records (DESIGN §10)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

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


@dataclass
class AuditPage:
    records: list[Record]
    next_cursor: str | None


def encode_cursor(record: Record) -> str:
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
    if (since := date_param(params, "since")) is not None:
        queryset = queryset.filter(updated_at__date__gte=since)
    if (until := date_param(params, "until")) is not None:
        queryset = queryset.filter(updated_at__date__lte=until)
    if q := text_param(params, "q"):
        # The order number or email from the source, or the document number in the target (invoice
        # INV-1001, journal entry 42): a merchant searches with whichever they have in hand.
        queryset = queryset.filter(
            Q(source_ref__icontains=q) | Q(search_text__icontains=q) | Q(source_id=q) | Q(target_ref__icontains=q)
        )
    return queryset


def page_of(queryset: QuerySet, cursor: str | None, size: int = PAGE_SIZE) -> AuditPage:
    queryset = queryset.order_by("-updated_at", "-id")
    position = decode_cursor(cursor) if cursor else None
    if cursor and position is None:
        raise InvalidParam("after", "is not a page position from this list; start from the first page.")
    if position is not None:
        when, pk = position
        queryset = queryset.filter(Q(updated_at__lt=when) | Q(updated_at=when, id__lt=pk))
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return AuditPage(rows, encode_cursor(rows[-1]) if more and rows else None)
