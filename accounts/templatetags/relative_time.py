"""Relative times for lists: `{% load relative_time %}`.

- `{{ value|ago }}` → "3 minutes ago", "in 2 hours", "just now" (plain text).
- `{{ value|when }}` → `<time datetime="…" title="2 Dec 2026, 14:03 CET">3 minutes ago</time>`: the
  relative text, with the exact time in the viewer's time zone as a tooltip.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

register = template.Library()

JUST_NOW_SECONDS = 45


@register.filter
def ago(value: datetime | None, now: datetime | None = None) -> str:
    if not isinstance(value, datetime):
        return ""
    now = now or timezone.now()
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    seconds = (now - value).total_seconds()
    if abs(seconds) < JUST_NOW_SECONDS:
        return "just now"
    if seconds > 0:
        return f"{timesince(value, now, depth=1)} ago"
    return f"in {timeuntil(value, now, depth=1)}"


@register.filter
def when(value: datetime | None) -> str:
    if not isinstance(value, datetime):
        return ""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    full = date_format(local, "j M Y, H:i T")
    return format_html('<time datetime="{}" title="{}">{}</time>', value.isoformat(), full, ago(value))
