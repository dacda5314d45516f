"""A flow's Reconciliation page: a period's source orders beside the ledger's own documents for them.

Reads both systems through the registry's reconciliation capability (one paginated pass each), our
Records only to say why a line is pending or failed and to Replay it; the comparison itself is
connector.reconcile. Exported as CSV and XLSX for the accountant; the API serves the same lines.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from connector import engine
from connector.adapters import Change
from connector.http import ApiError
from connector.models import Flow, Record
from connector.reconcile import STATUS_LABELS, LedgerNotReady, Line, Period, RecordState, Report, Status, compare
from connector.registry import RECONCILED_ITEMS, RegistryError, get_preset, reconcilable, reconcile_inputs
from connector.tenancy import get_for_org_or_404
from connector.web.params import InvalidParam, date_param

MAX_DAYS = 366
BULK_LIMIT = 1000


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


def build_report(flow: Flow, period: Period) -> Report:
    """Both systems' lists for the period, compared. Raises ApiError when a system cannot be read."""
    items, documents = reconcile_inputs(flow, period)
    records = Record.objects.for_org(flow.organization).filter(flow=flow, object_type__in=RECONCILED_ITEMS)
    states = {
        (kind, source_id): RecordState(pk, status)
        for pk, kind, source_id, status in records.filter(source_id__in=[o.source_id for o in items]).values_list(
            "pk", "object_type", "source_id", "status"
        )
    }
    references = {d.reference for d in documents if d.reference and d.item == "order"}
    known = list(records.filter(object_type="order", source_ref__in=references).values_list("source_ref", flat=True))
    # A shipment journal carries the flow's own marker: every one the ledger lists was written by a flow.
    known += [(d.item, d.reference) for d in documents if d.item != "order" and d.reference]
    return compare(period, items, documents, records=states, known_references=known)


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


@login_required
def reconciliation(request, pk: int):
    flow = reconcilable_flow(request.organization, pk)
    params = request.POST if request.method == "POST" else request.GET
    period = period_from(params)
    try:
        report = build_report(flow, period)
    except LedgerNotReady as exc:
        # Until the background run takes this over: say what the ledger is waiting for.
        context = {"flow": flow, "period": period, "error": exc, "waiting": True}
        return render(request, "connector/reconciliation.html", {**context, "shortcuts": _shortcuts()}, status=202)
    except ApiError as exc:
        context = {
            "flow": flow,
            "period": period,
            "error": exc,
            "remediation": exc.remediation,
            "shortcuts": _shortcuts(),
        }
        return render(request, "connector/reconciliation.html", context, status=502)
    if request.method == "POST":
        return _replay(request, flow, period, report)
    export = request.GET.get("format")
    if export in ("csv", "xlsx"):
        return export_csv(flow, report) if export == "csv" else export_xlsx(flow, report)
    return render(request, "connector/reconciliation.html", _context(flow, period, report))


def _replay(request, flow: Flow, period: Period, report: Report):
    wanted = set(request.POST.getlist("source_id"))
    if request.POST.get("all_missing"):
        lines = [line for line in report.lines if line.status == Status.MISSING]
    else:
        lines = [line for line in report.lines if line.order and line.order.source_id in wanted]
    if len(lines) > BULK_LIMIT:
        messages.error(request, f"{len(lines)} orders match; choose a shorter period (at most {BULK_LIMIT}).")
    elif not lines:
        messages.error(request, "Nothing to replay: no such order in this period.")
    else:
        count = replay_orders(flow, lines, request.user)
        messages.success(request, f"Replay queued for {count} order(s). Refresh in a minute to see the ledger.")
    return redirect(_page_url(flow, period))


def _page_url(flow: Flow, period: Period) -> str:
    return f"{reverse('flow_reconciliation', args=[flow.pk])}?start={period.start}&end={period.end}"


def _context(flow: Flow, period: Period, report: Report) -> dict:
    counts = report.counts()
    return {
        "flow": flow,
        "period": period,
        "report": report,
        "counts": [(status, STATUS_LABELS[status], n) for status, n in counts.items()],
        "totals": report.totals(),
        "missing": counts.get(Status.MISSING, 0),
        "attention": len(report.lines) - counts.get(Status.MATCHED, 0),
        "query": f"start={period.start}&end={period.end}",
        "shortcuts": _shortcuts(),
    }


def _shortcuts() -> list[tuple[str, Period]]:
    today = timezone.now().date()
    return [("Last month", Period.last_month(today)), ("This month", Period(today.replace(day=1), today))]


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
