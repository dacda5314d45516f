"""A flow's Reconciliation page: a period's source orders beside the ledger's own documents for them.

Shows the flow's stored run for the period (connector.reconcile_runs): a small period is read in the
request the first time it is asked for, a large one by a worker while the page updates itself (htmx,
every 2 s while the run is queued, running or waiting for the ledger). Problems come first, matched
lines are paged behind them, so a month of 10,000 orders renders as fast as a month of ten. Replay,
replay-all-missing and the CSV/XLSX exports read the stored lines; "Run now" checks again. The
comparison itself is connector.reconcile; the API serves the same lines.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from connector import engine, reconcile_runs
from connector.adapters import Change
from connector.models import Flow, ReconciliationRun, Record
from connector.reconcile import STATUS_LABELS, Line, Period, Report, Status
from connector.reconcile_runs import build_report  # noqa: F401 (the API and older callers import it here)
from connector.registry import RegistryError, get_preset, reconcilable
from connector.tenancy import get_for_org_or_404
from connector.web.charts import share_bar
from connector.web.params import InvalidParam, choice_param, date_param, id_param

MAX_DAYS = 366
BULK_LIMIT = 1000
PAGE_LINES = 100
Run = ReconciliationRun


def period_from(params) -> Period:
    """`start`/`end` (YYYY-MM-DD, both included); last month when neither is given."""
    start, end = date_param(params, "start"), date_param(params, "end")
    if start is None and end is None:
        return Period.last_month(timezone.now().date())
    start = start or end.replace(day=1)  # one end given: the rest of its month
    end = end or (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if end < start:
        raise InvalidParam("end", "must be on or after the start.")
    if (end - start).days >= MAX_DAYS:
        raise InvalidParam("end", f"the period can be at most {MAX_DAYS} days.")
    return Period(start, end)


def reconcilable_flow(organization, pk: int) -> Flow:
    flow = get_for_org_or_404(Flow, organization, pk=pk)
    try:
        if reconcilable(get_preset(flow.preset), flow.options):
            return flow
    except RegistryError:
        pass
    raise Http404("This flow cannot be reconciled.")


def replay_orders(flow: Flow, lines: list[Line], user) -> int:
    """Replay the orders of these lines and write them again: their record, or a new one for an order
    the flow never saw."""
    count = 0
    for line in lines:
        if line.order is None:
            continue
        record = Record.objects.for_org(flow.organization).filter(pk=line.record_id).first() if line.record_id else None
        if record is None:
            change = Change(line.kind, line.order.source_id, line.order.reference, obj=None)
            record = engine.record_change(flow, change, how="reconciliation")
        if record is not None:
            # The ledger was read and does not hold what the record's hash says it does (deleted or
            # edited by hand): forget the hash, so the replay writes instead of "nothing changed".
            Record.objects.filter(pk=record.pk).update(payload_hash="")
            engine.replay(record, user=user)
            count += 1
    return count


class ScheduleForm(forms.Form):
    reconcile_schedule = forms.ChoiceField(
        label="Check automatically",
        choices=[("daily", "Every day"), ("weekly", "Every Monday"), ("off", "Never")],
    )
    reconcile_hour = forms.TypedChoiceField(label="At", coerce=int, choices=[(h, f"{h:02d}:00 UTC") for h in range(24)])


@login_required
def reconciliation(request, pk: int):
    flow = reconcilable_flow(request.organization, pk)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "schedule":
            return _save_schedule(request, flow)
        period = period_from(request.POST)
        if action == "run":
            reconcile_runs.start_run(flow, period, Run.Trigger.MANUAL, user=request.user)
            return redirect(_page_url(flow, period))
        return _replay(request, flow, period)
    run, period = _chosen_run(request, flow)
    if request.GET.get("partial") == "status":
        return _status_partial(request, flow, period, run)
    status = 200
    if run is None:
        if reconcile_runs.small_enough(flow, period):
            run = reconcile_runs.compute_now(flow, period, Run.Trigger.PAGE, user=request.user)
            status = 502 if run.status == Run.Status.FAILED else 200
        else:
            run, _ = reconcile_runs.start_run(flow, period, Run.Trigger.PAGE, user=request.user)
    export = request.GET.get("format")
    if export in ("csv", "xlsx"):
        if run.status != Run.Status.DONE:
            messages.error(request, "This period has no finished reconciliation to export yet.")
            return redirect(_page_url(flow, period))
        report = reconcile_runs.stored_report(run)
        return export_csv(flow, report) if export == "csv" else export_xlsx(flow, report)
    return render(request, "connector/reconciliation.html", _context(request, flow, period, run), status=status)


def _chosen_run(request, flow: Flow) -> tuple[Run | None, Period]:
    """The run named by `?run=`, else the latest run of the chosen period; with no period chosen, the
    flow's latest run (most often the schedule's), else last month."""
    run_id = id_param(request.GET, "run")
    if run_id is not None:
        run = reconcile_runs.runs_of(flow).filter(pk=run_id).first()
        if run is None:
            raise Http404("No such reconciliation.")
        return run, Period(run.start, run.end)
    if not request.GET.get("start") and not request.GET.get("end"):
        latest = reconcile_runs.runs_of(flow).order_by("-id").first()
        if latest is not None:
            return latest, Period(latest.start, latest.end)
    period = period_from(request.GET)
    return reconcile_runs.latest_run(flow, period), period


def _status_partial(request, flow: Flow, period: Period, run: Run | None) -> HttpResponse:
    """What the page polls while a run is under way; once it has finished, the page reloads."""
    if run is None or not run.in_progress:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "connector/_reconciliation_status.html", {"flow": flow, "period": period, "run": run})


def _save_schedule(request, flow: Flow):
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose how often and at which hour to check.")
    else:
        schedule, hour = form.cleaned_data["reconcile_schedule"], form.cleaned_data["reconcile_hour"]
        next_at = reconcile_runs.next_slot(schedule, hour, timezone.now())
        Flow.objects.filter(pk=flow.pk).update(
            reconcile_schedule=schedule, reconcile_hour=hour, reconcile_next_at=next_at
        )
        if next_at is None:
            messages.success(request, "Automatic checks are off.")
        else:
            messages.success(request, f"Next automatic check: {next_at:%a %-d %b, %H:%M} UTC.")
    return redirect(request.POST.get("next_url") or reverse("flow_reconciliation", args=[flow.pk]))


def _replay(request, flow: Flow, period: Period):
    run_id = id_param(request.POST, "run")
    runs = reconcile_runs.runs_of(flow).filter(status=Run.Status.DONE)
    run = (
        runs.filter(pk=run_id).first()
        if run_id is not None
        else runs.filter(start=period.start, end=period.end).order_by("-id").first()
    )
    if run is None:
        messages.error(request, "Check the period first: there is no finished reconciliation to replay from.")
        return redirect(_page_url(flow, period))
    rows = run.lines.all()
    if request.POST.get("all_missing"):
        rows = rows.filter(status=Status.MISSING)
    else:
        rows = rows.filter(source_id__in=[s for s in request.POST.getlist("source_id") if s])
    total = rows.count()
    if total > BULK_LIMIT:
        messages.error(request, f"{total} orders match; choose a shorter period (at most {BULK_LIMIT}).")
    elif not total:
        messages.error(request, "Nothing to replay: no such order in this period.")
    else:
        lines = [reconcile_runs.line_from(data) for data in rows.order_by("position").values_list("data", flat=True)]
        count = replay_orders(flow, lines, request.user)
        Run.objects.filter(pk=run.pk).update(replayed_at=timezone.now())
        messages.success(
            request, f"Replay queued for {count} order(s). Press Run now in a minute to see the ledger again."
        )
    return redirect(f"{reverse('flow_reconciliation', args=[flow.pk])}?run={run.pk}")


def _page_url(flow: Flow, period: Period) -> str:
    return f"{reverse('flow_reconciliation', args=[flow.pk])}?start={period.start}&end={period.end}"


FILTERS = {"problems", "all", *(s.value for s in Status)}


def _context(request, flow: Flow, period: Period, run: Run) -> dict:
    context = {
        "flow": flow,
        "period": period,
        "run": run,
        "query": f"start={period.start}&end={period.end}",
        "shortcuts": _shortcuts(),
        "schedule_form": ScheduleForm(
            initial={"reconcile_schedule": flow.reconcile_schedule, "reconcile_hour": flow.reconcile_hour}
        ),
        "next_check": _next_check(flow),
    }
    if run.status != Run.Status.DONE:
        return context
    counts = reconcile_runs.ordered_counts(run)
    matched = run.counts.get(Status.MATCHED.value, 0)
    attention = run.line_count - matched
    shown = choice_param(request.GET, "show", FILTERS) or ("problems" if attention else "all")
    rows = run.lines.all()
    if shown == "problems":
        rows = rows.exclude(status=Status.MATCHED)
    elif shown != "all":
        rows = rows.filter(status=shown)
    after = id_param(request.GET, "after")
    if after is not None:
        rows = rows.filter(position__gt=after)
    page = list(rows.order_by("position").values_list("position", "data")[: PAGE_LINES + 1])
    more = len(page) > PAGE_LINES
    page = page[:PAGE_LINES]
    context.update(
        lines=[reconcile_runs.line_from(data) for _, data in page],
        next_after=page[-1][0] if more else None,
        shown=shown,
        shown_label=_shown_label(shown),
        counts=counts,
        bar=share_bar(counts),
        totals=reconcile_runs.stored_totals(run),
        missing=run.counts.get(Status.MISSING.value, 0),
        matched=matched,
        attention=attention,
        balanced=attention == 0,
        run_query=f"run={run.pk}",
    )
    return context


def _next_check(flow: Flow):
    """When the schedule checks next (a flow not yet given its slot gets it at the next sweep)."""
    if not flow.enabled or flow.reconcile_schedule == "off":
        return None
    return flow.reconcile_next_at or reconcile_runs.next_slot(
        flow.reconcile_schedule, flow.reconcile_hour, timezone.now()
    )


def _shown_label(shown: str) -> str:
    if shown == "problems":
        return "Lines that need your attention"
    if shown == "all":
        return "All lines"
    return STATUS_LABELS[Status(shown)]


def _shortcuts() -> list[tuple[str, Period]]:
    today = timezone.now().date()
    return [
        ("Last 31 days", reconcile_runs.scheduled_period(today)),
        ("Last month", Period.last_month(today)),
        ("This month", Period(today.replace(day=1), today)),
    ]


# --- Export -------------------------------------------------------------------------------------

HEADER = [
    "Status",
    "Order",
    "Order date",
    "Currency",
    "Source amount",
    "Ledger amount",
    "Difference",
    "Ledger documents",
    "Note",
]


def line_row(line: Line) -> list:
    """One line as the accountant reads it: amounts as Decimal (exact in CSV and in Excel cells)."""
    documents = "; ".join(
        f"{d.kind.replace('_', ' ')} {d.number} {d.amount} {d.currency}{' (void)' if d.void else ''}".strip()
        for d in line.documents
    )
    return [
        line.label,
        f"Shipment {line.reference} ({line.order.label})" if line.kind != "order" and line.order else line.reference,
        line.order.date.isoformat() if line.order else "",
        line.currency,
        line.source_amount if line.order else "",
        line.ledger_amount if line.documents else "",
        line.difference if line.difference is not None else "",
        documents,
        line.note,
    ]


def _filename(flow: Flow, report: Report, ext: str) -> str:
    return f"reconciliation-flow{flow.pk}-{report.period.start}-{report.period.end}.{ext}"


def export_csv(flow: Flow, report: Report) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for line in report.lines:
        writer.writerow([_safe_cell(v) for v in line_row(line)])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(flow, report, "csv")}"'
    return response


def export_xlsx(flow: Flow, report: Report) -> HttpResponse:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Reconciliation"
    sheet.append(HEADER)
    for line in report.lines:
        sheet.append([_safe_cell(v) for v in line_row(line)])
    for row in sheet.iter_rows(min_row=2, min_col=5, max_col=7):
        for cell in row:
            cell.number_format = "#,##0.00"
    out = io.BytesIO()
    book.save(out)
    response = HttpResponse(
        out.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(flow, report, "xlsx")}"'
    return response


def _safe_cell(value):
    """Text a spreadsheet would run as a formula (an order number "=1+1" from a store) is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
