"""Audit-log queries: filters and keyset pagination over Records (DESIGN §10)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from connector.models import Record

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
        when = parse_datetime(stamp)
        if when is None or not isinstance(pk, int):
            return None
        return when, pk
    except (ValueError, TypeError):
        return None


def filter_records(queryset: QuerySet, params) -> QuerySet:
    """Apply the audit-log filters. Unknown or malformed values are ignored, never a 500."""
    if (flow := params.get("flow", "")).isdigit():
        queryset = queryset.filter(flow_id=int(flow))
    if (status := params.get("status")) in Record.Status.values:
        queryset = queryset.filter(status=status)
    if stage := params.get("stage", "").strip():
        queryset = queryset.filter(stage=stage[:20])
    if object_type := params.get("object_type", "").strip():
        queryset = queryset.filter(object_type=object_type[:40])
    if (since := parse_date(params.get("since", "") or "")) is not None:
        queryset = queryset.filter(updated_at__date__gte=since)
    if (until := parse_date(params.get("until", "") or "")) is not None:
        queryset = queryset.filter(updated_at__date__lte=until)
    if q := params.get("q", "").strip()[:200]:
        # The order number or email from the source, or the document number in the target (invoice
        # INV-1001, journal entry 42): a merchant searches with whichever they have in hand.
        queryset = queryset.filter(
            Q(source_ref__icontains=q) | Q(search_text__icontains=q) | Q(source_id=q) | Q(target_ref__icontains=q)
        )
    return queryset


def page_of(queryset: QuerySet, cursor: str | None, size: int = PAGE_SIZE) -> AuditPage:
    queryset = queryset.order_by("-updated_at", "-id")
    position = decode_cursor(cursor) if cursor else None
    if position is not None:
        when, pk = position
        queryset = queryset.filter(Q(updated_at__lt=when) | Q(updated_at=when, id__lt=pk))
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return AuditPage(rows, encode_cursor(rows[-1]) if more and rows else None)
