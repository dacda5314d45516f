"""ShipStation V1 times: Pacific wall-clock strings without an offset (SHIPSTATION.md §A3).

Pure functions, no I/O.

Rules, chosen once and used everywhere:
- Repeated hour (fall back, first Sunday of November, 01:00-01:59 happens twice): we read the wall
  clock as the *earlier* instant (PDT, ``is_dst=True``). A timestamp from the second pass is then read
  one hour early, which only ever moves a poll cursor backwards (more overlap), never past a change.
- Missing hour (spring forward, second Sunday of March, 02:00-02:59 never happens): such a value
  should not occur; when it does, we shift it forward by one hour (02:30 -> 03:30 PDT).
- Filters (``modifyDateStart``...) go out as Pacific wall clock ``yyyy-mm-dd hh:mm:ss``. Poll windows
  start ``overlap`` before the cursor, and one more hour when the window touches a DST change, so
  the ambiguous hour cannot drop anything; callers dedupe what the overlap returns by id.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytz

PACIFIC = pytz.timezone("America/Los_Angeles")
FILTER_FORMAT = "%Y-%m-%d %H:%M:%S"

_STAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?$")


class PacificTimeError(ValueError):
    pass


def parse_wall_clock(value: str) -> datetime:
    """A ShipStation wall-clock string (``2014-10-03T06:51:33.6270000``, 0-9 fraction digits) as naive."""
    match = _STAMP.match(value.strip())
    if not match:
        raise PacificTimeError(f"not a ShipStation timestamp: {value!r}")
    year, month, day, hour, minute, second, fraction = match.groups()
    micro = int((fraction or "0").ljust(6, "0")[:6])
    # Naive on purpose: a Pacific wall clock, localised by pacific_to_utc.
    parts = (int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro)
    return datetime(*parts)  # noqa: DTZ001


def pacific_to_utc(naive: datetime) -> datetime:
    """Pacific wall clock -> aware UTC, with the explicit DST rules in the module docstring."""
    if naive.tzinfo is not None:
        raise PacificTimeError("expected a naive Pacific wall-clock datetime")
    try:
        local = PACIFIC.localize(naive, is_dst=None)
    except pytz.AmbiguousTimeError:
        local = PACIFIC.localize(naive, is_dst=True)  # the earlier (PDT) instant
    except pytz.NonExistentTimeError:
        local = PACIFIC.localize(naive + timedelta(hours=1), is_dst=None)  # shift forward out of the gap
    return local.astimezone(UTC)


def parse_pacific(value: str | None) -> datetime | None:
    """A ShipStation V1 timestamp string as aware UTC (None/empty stays None)."""
    if not value:
        return None
    return pacific_to_utc(parse_wall_clock(value))


def parse_date(value: str | None) -> date | None:
    """``shipDate`` is a bare Pacific calendar date; keep it a date (never midnight UTC)."""
    if not value:
        return None
    return parse_wall_clock(value).date()


def utc_to_pacific(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise PacificTimeError("expected an aware datetime")
    return moment.astimezone(PACIFIC)


def to_filter(moment: datetime) -> str:
    """Aware datetime -> the Pacific ``yyyy-mm-dd hh:mm:ss`` ShipStation wants in date filters."""
    return utc_to_pacific(moment).strftime(FILTER_FORMAT)


def to_filter_end(moment: datetime) -> str:
    """An End bound: filters have whole seconds, so round *up*, or a change made earlier in the
    same second as the poll (e.g. 12:00:00.4 polled with End 12:00:00.9) would be left out."""
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return to_filter(moment)


def to_response_stamp(moment: datetime) -> str:
    """Aware datetime -> ShipStation's response form: Pacific, 7 fraction digits, no offset."""
    local = utc_to_pacific(moment)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0"


def crosses_dst_change(start: datetime, end: datetime) -> bool:
    return utc_to_pacific(start).utcoffset() != utc_to_pacific(end).utcoffset()


def poll_window_start(cursor: datetime, overlap: timedelta = timedelta(minutes=5)) -> datetime:
    """Where a poll from `cursor` should start: `overlap` earlier, one more hour near a DST change."""
    start = cursor - overlap
    if crosses_dst_change(start - timedelta(hours=1), cursor + timedelta(hours=1)):
        start -= timedelta(hours=1)
    return start
