"""Dashboard charts, drawn on the server as SVG so they read without JavaScript.

Two layers: pure functions turn rows (already counted by the database) into series, and series into
geometry (bars, a limit line, axis labels) that the template writes out as <rect>/<line>/<text>.
Colours come from CSS classes (the Content-Security-Policy forbids inline styles). `dashboard_charts`
is the one function that queries, always scoped to one organisation.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

WINDOW_DAYS = 30
LAG_SAMPLE_LIMIT = 50_000  # the newest synced records measured for the lag chart

# Chart canvas (SVG user units); the SVG scales to its container's width.
WIDTH, HEIGHT = 600, 170
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 8, 10, 26


# --- Series ---------------------------------------------------------------------------------------


def window(today: date, days: int = WINDOW_DAYS) -> list[date]:
    """The last `days` calendar days, oldest first, ending with `today`."""
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


@dataclass
class OutcomeSeries:
    """Records written (synced) and records that failed, per day, for one flow."""

    flow_id: int
    name: str
    days: list[date]
    synced: list[int]
    failed: list[int]

    @property
    def total_synced(self) -> int:
        return sum(self.synced)

    @property
    def total_failed(self) -> int:
        return sum(self.failed)


def daily_outcomes(
    rows: Iterable[tuple[int, date, str, int]], flows: dict[int, str], days: list[date]
) -> list[OutcomeSeries]:
    """rows: (flow id, day, "synced" | "failed", count). One series per flow in `flows`, zero-filled;
    rows for other flows or days outside the window are ignored."""
    index = {d: i for i, d in enumerate(days)}
    series = {fid: OutcomeSeries(fid, name, days, [0] * len(days), [0] * len(days)) for fid, name in flows.items()}
    for flow_id, day, outcome, count in rows:
        s, i = series.get(flow_id), index.get(day)
        if s is None or i is None or outcome not in ("synced", "failed"):
            continue
        getattr(s, outcome)[i] += count
    return list(series.values())


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (p in 0..100); 0 for an empty list."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class LagPoint:
    day: date
    count: int
    p50: float  # seconds
    p95: float


def lag_by_day(pairs: Iterable[tuple[datetime, datetime]], days: list[date], tz=None) -> list[LagPoint]:
    """pairs: (changed at the source, written to the target). Grouped by the day it was written (in
    `tz` when given), p50 and p95 in seconds. A negative lag (clocks disagree) counts as 0."""
    by_day: dict[date, list[float]] = defaultdict(list)
    for changed, written in pairs:
        if changed is None or written is None:
            continue
        day = (written.astimezone(tz) if tz else written).date()
        by_day[day].append(max(0.0, (written - changed).total_seconds()))
    points = []
    for day in days:
        values = sorted(by_day.get(day, []))
        points.append(LagPoint(day, len(values), percentile(values, 50), percentile(values, 95)))
    return points


def overall_lag(points: list[LagPoint]) -> tuple[float, float]:
    """Count-weighted median of the daily p50s and the worst daily p95: a headline for the window."""
    weighted = sorted((p.p50, p.count) for p in points if p.count)
    if not weighted:
        return 0.0, 0.0
    half, seen = sum(c for _, c in weighted) / 2, 0
    median = weighted[-1][0]
    for value, count in weighted:
        seen += count
        if seen >= half:
            median = value
            break
    return median, max(p.p95 for p in points if p.count)


def peak_per_minute(rows: Iterable[tuple[int, datetime, int]], days: list[date], tz=None) -> dict[int, list[int]]:
    """rows: (connection id, minute, calls in that minute). For each connection, the busiest
    minute of each day: what a per-minute rate limit is measured against."""
    index = {d: i for i, d in enumerate(days)}
    peaks: dict[int, list[int]] = {}
    for connection_id, minute, count in rows:
        i = index.get((minute.astimezone(tz) if tz else minute).date())
        if i is None:
            continue
        row = peaks.setdefault(connection_id, [0] * len(days))
        row[i] = max(row[i], count)
    return peaks


def human_duration(seconds: float) -> str:
    if seconds < 1:
        return "under 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# --- Geometry -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str  # the tooltip and the accessible text of the bar


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass
class Chart:
    title: str
    summary: str  # one sentence: the chart's message, also its accessible name
    bars: list[Bar] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    limit_y: float | None = None  # a dashed line (a rate limit)
    limit_label: str = ""
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, text)
    table_head: list[str] = field(default_factory=list)
    table_rows: list[list[str]] = field(default_factory=list)
    empty: bool = False
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = PAD_LEFT
    plot_right: int = WIDTH - PAD_RIGHT
    plot_bottom: int = HEIGHT - PAD_BOTTOM


def nice_ceiling(value: float) -> float:
    """The axis maximum: 1, 2, 2.5 or 5 times a power of ten, at or above `value` (at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _day_label(d: date) -> str:
    return f"{d.day} {d:%b}"


def _x_labels(days: list[date], slot: float) -> list[Label]:
    """First, middle and last day; the outer two align with the plot's edges so none is cut off."""
    if not days:
        return []
    last = len(days) - 1
    labels = [Label(PAD_LEFT, HEIGHT - 6, _day_label(days[0]), "start")]
    if last > 1:
        labels.append(Label(PAD_LEFT + slot * (last // 2 + 0.5), HEIGHT - 6, _day_label(days[last // 2])))
    if last > 0:
        labels.append(Label(WIDTH - PAD_RIGHT, HEIGHT - 6, _day_label(days[last]), "end"))
    return labels


def _y(value: float, top: float) -> float:
    """The SVG y of `value` on an axis from 0 to `top`."""
    plot = HEIGHT - PAD_BOTTOM - PAD_TOP
    return HEIGHT - PAD_BOTTOM - plot * (value / top if top else 0)


def _y_labels(top: float, fmt) -> list[Label]:
    return [Label(PAD_LEFT - 6, _y(v, top) + 4, fmt(v), "end") for v in (0, top / 2, top)]


def _count(v: float) -> str:
    return f"{v:g}"


def outcome_chart(series: OutcomeSeries) -> Chart:
    """Stacked bars per day: synced (bottom) and failed (on top)."""
    days = series.days
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(1, len(days))
    top = nice_ceiling(max((s + f for s, f in zip(series.synced, series.failed, strict=True)), default=0))
    chart = Chart(
        title=series.name,
        summary=(
            f"{series.name}: {series.total_synced} record(s) synced and {series.total_failed} failed "
            f"in the last {len(days)} days."
        ),
        legend=[("bar-ok", "synced"), ("bar-bad", "failed")],
        table_head=["Day", "Synced", "Failed"],
        empty=not (series.total_synced or series.total_failed),
    )
    base = HEIGHT - PAD_BOTTOM
    for i, (day, ok, bad) in enumerate(zip(days, series.synced, series.failed, strict=True)):
        x, w = PAD_LEFT + slot * i + slot * 0.15, slot * 0.7
        ok_top = _y(ok, top)
        if ok:
            chart.bars.append(Bar(x, ok_top, w, base - ok_top, "bar-ok", f"{_day_label(day)}: {ok} synced"))
        if bad:
            bad_top = _y(ok + bad, top)
            chart.bars.append(Bar(x, bad_top, w, ok_top - bad_top, "bar-bad", f"{_day_label(day)}: {bad} failed"))
        if ok or bad:
            chart.table_rows.append([_day_label(day), str(ok), str(bad)])
    chart.labels = _x_labels(days, slot) + _y_labels(top, _count)
    return chart


def lag_chart(points: list[LagPoint]) -> Chart:
    """Two bars per day: the median and the 95th-percentile time from a change at the source to the
    document written in the target."""
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(1, len(points))
    top = nice_ceiling(max((p.p95 for p in points), default=0))
    p50, p95 = overall_lag(points)
    measured = sum(p.count for p in points)
    chart = Chart(
        title="Time from a change to its document",
        summary=(
            f"Half of the {measured} record(s) written in the last {len(points)} days reached the target within "
            f"{human_duration(p50)}; on the slowest day 95% did within {human_duration(p95)}."
            if measured
            else "No delay to show yet: each record written with its source's change time appears here."
        ),
        legend=[("bar-p50", "half of the records (median)"), ("bar-p95", "95% of the records")],
        table_head=["Day", "Records", "Median", "95%"],
        empty=not measured,
    )
    base = HEIGHT - PAD_BOTTOM
    for i, p in enumerate(points):
        if not p.count:
            continue
        x = PAD_LEFT + slot * i + slot * 0.1
        w = slot * 0.4
        for offset, value, css, what in ((0, p.p50, "bar-p50", "median"), (w, p.p95, "bar-p95", "95%")):
            y = _y(value, top)
            chart.bars.append(
                Bar(x + offset, y, w, max(base - y, 1), css, f"{_day_label(p.day)}: {what} {human_duration(value)}")
            )
        chart.table_rows.append([_day_label(p.day), str(p.count), human_duration(p.p50), human_duration(p.p95)])
    chart.labels = _x_labels([p.day for p in points], slot) + _y_labels(top, human_duration)
    return chart


def rate_chart(label: str, days: list[date], peaks: list[int], limit_per_minute: float | None) -> Chart:
    """Busiest minute of each day against the vendor's per-minute limit (a dashed line)."""
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(1, len(days))
    busiest = max(peaks, default=0)
    top = nice_ceiling(max(busiest, limit_per_minute or 0) * 1.1)
    if limit_per_minute:
        share = busiest / limit_per_minute
        summary = (
            f"{label}: the busiest minute used {busiest} of {limit_per_minute:g} calls a minute "
            f"({share:.0%} of the limit)."
        )
    else:
        summary = f"{label}: the busiest minute made {busiest} call(s)."
    chart = Chart(
        title=label,
        summary=summary,
        legend=[("bar-p50", "busiest minute of the day")],
        table_head=["Day", "Calls in the busiest minute"],
        empty=not busiest,
    )
    base = HEIGHT - PAD_BOTTOM
    for i, (day, peak) in enumerate(zip(days, peaks, strict=True)):
        if not peak:
            continue
        y = _y(peak, top)
        chart.bars.append(
            Bar(
                PAD_LEFT + slot * i + slot * 0.15,
                y,
                slot * 0.7,
                base - y,
                "bar-p50",
                f"{_day_label(day)}: {peak} call(s) in the busiest minute",
            )
        )
        chart.table_rows.append([_day_label(day), str(peak)])
    if limit_per_minute:
        chart.limit_y = _y(limit_per_minute, top)
        chart.limit_label = f"limit {limit_per_minute:g}/min"
        chart.legend.append(("limit", f"{label}'s limit"))
    chart.labels = _x_labels(days, slot) + _y_labels(top, _count)
    return chart


# --- Rate limits ----------------------------------------------------------------------------------


def per_minute_limits() -> dict[str, float]:
    """Each system's per-minute call limit, from its API client classes (`ApiClient.system` and
    `.rate_limit`); the strictest one when a system has several clients. Core names no vendor."""
    from connector.http import ApiClient

    limits: dict[str, float] = {}
    stack = list(ApiClient.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        limit, system = getattr(cls, "rate_limit", None), getattr(cls, "system", "")
        if limit is None or not system:
            continue
        per_minute = round(limit.rate * 60, 1)
        limits[system] = min(per_minute, limits.get(system, per_minute))
    return limits


# --- Queries --------------------------------------------------------------------------------------


def dashboard_charts(org, *, now: datetime | None = None) -> dict:
    """Everything the dashboard's charts need for one organisation (30 days, the current time zone)."""
    from django.db.models import Count
    from django.db.models.functions import TruncDate, TruncMinute
    from django.utils import timezone

    from connector.models import Connection, Event, Flow, Record

    now = now or timezone.now()
    tz = timezone.get_current_timezone()
    days = window(now.astimezone(tz).date())
    start = datetime.combine(days[0], datetime.min.time(), tzinfo=tz)

    flows = {f.pk: str(f) for f in Flow.objects.for_org(org).order_by("name", "pk")}
    outcome_kinds = {Event.Kind.CREATED: "synced", Event.Kind.UPDATED: "synced", Event.Kind.FAILED: "failed"}
    counted = (
        Event.objects.for_org(org)
        .filter(created_at__gte=start, kind__in=list(outcome_kinds), record__isnull=False)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values_list("record__flow_id", "day", "kind")
        .annotate(n=Count("record_id", distinct=True))
        .order_by()
    )
    outcomes = daily_outcomes(((f, d, outcome_kinds[k], n) for f, d, k, n in counted), flows, days)

    lag_pairs = (
        Record.objects.for_org(org)
        .filter(synced_at__gte=start, source_modified_at__isnull=False)
        .order_by("-synced_at")
        .values_list("source_modified_at", "synced_at")[:LAG_SAMPLE_LIMIT]
    )
    lags = lag_by_day(lag_pairs, days, tz)

    calls = (
        Event.objects.for_org(org)
        .filter(created_at__gte=start, kind=Event.Kind.API_CALL, connection__isnull=False)
        .annotate(minute=TruncMinute("created_at", tzinfo=tz))
        .values_list("connection_id", "minute")
        .annotate(n=Count("id"))
        .order_by()
    )
    peaks = peak_per_minute(calls, days, tz)
    limits = per_minute_limits()
    connections = Connection.objects.for_org(org).filter(pk__in=list(peaks)).order_by("label")
    return {
        "outcome_charts": [outcome_chart(s) for s in outcomes[:8]],
        "lag_chart": lag_chart(lags),
        "rate_charts": [rate_chart(c.label, days, peaks[c.pk], limits.get(c.system)) for c in connections],
    }


# --- A share bar (the reconciliation's lines by status) ---------------------------------------------

BAR_WIDTH = 100.0  # SVG user units; the bar scales to its container's width


@dataclass(frozen=True)
class Segment:
    key: str
    label: str
    count: int
    x: float
    width: float
    percent: int


def share_bar(parts: Iterable[tuple[object, str, int]]) -> list[Segment]:
    """(key, label, count) in display order → segments of one bar whose widths are the counts'
    shares. Every non-empty part stays visible (at least 1 unit wide), the widths add up to the bar."""
    parts = [(str(key), label, count) for key, label, count in parts if count > 0]
    total = sum(count for _, _, count in parts)
    if not total:
        return []
    widths = [max(1.0, BAR_WIDTH * count / total) for _, _, count in parts]
    scale = BAR_WIDTH / sum(widths)
    segments, x = [], 0.0
    for (key, label, count), width in zip(parts, widths, strict=True):
        width = round(width * scale, 3)
        segments.append(Segment(key, label, count, round(x, 3), width, round(100 * count / total)))
        x += width
    return segments
