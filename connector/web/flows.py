"""Flow pages: add a flow, set its options, start/pause it, watch its progress; replay records."""

from __future__ import annotations

from contextlib import suppress

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from connector import engine, pairings
from connector.http import ApiError
from connector.models import Flow, Record
from connector.registry import RegistryError, get_preset, presets, reconcilable, systems
from connector.tenancy import get_for_org_or_404
from connector.web.audit import filter_records
from connector.web.forms import FlowCreateForm, options_form_for, options_problems, wizard_options_form
from connector.web.timeline import row_result

BULK_REPLAY_LIMIT = 5000


@login_required
def flow_list(request):
    flows = Flow.objects.for_org(request.organization).select_related("source", "target")
    return render(request, "connector/flows.html", {"flows": flows, "presets": presets()})


@login_required
def flow_create(request):
    """The wizard: flow type, From and To (filtered to the systems that type joins), then the type's
    options for the chosen connections (only those of the chosen mode are shown). Options posted with
    the wizard (`with_options`) must be valid; a POST without them creates the flow with the
    defaults, to be completed on the flow's page before it can start."""
    initial = request.GET.dict()
    if "interval_seconds" not in initial and initial.get("preset"):
        with suppress(RegistryError):  # an unknown preset: the form says so
            initial["interval_seconds"] = get_preset(initial["preset"]).default_interval_seconds
    form = FlowCreateForm(
        request.POST or None, organization=request.organization, initial=initial, refresh_url=reverse("flow_create")
    )
    if "interval_seconds" not in initial and form.preset is not None and not form.is_bound:
        form.initial["interval_seconds"] = form.preset.default_interval_seconds  # the type the form chose
    with_options = request.method == "POST" and bool(request.POST.get("with_options"))
    options_form = _wizard_options(request, form, bound=with_options)
    if request.method == "POST" and form.is_valid() and (not with_options or options_form.is_valid()):
        preset = get_preset(form.cleaned_data["preset"])
        options = dict(preset.default_options)
        if with_options:
            options.update(options_form.options())
        flow = Flow.objects.create(
            organization=request.organization,
            preset=preset.key,
            name=preset.name,
            source=form.cleaned_data["source"],
            target=form.cleaned_data["target"],
            interval_seconds=form.cleaned_data["interval_seconds"],
            options=options,
        )
        return redirect("flow_detail", pk=flow.pk)
    context = {
        "form": form,
        "options_form": options_form,
        "preset": form.preset,
        "presets": presets(),
        **_pairing_lists(form.connected_systems),
    }
    return render(request, "connector/flow_create.html", context)


def _pairing_lists(connected: set[str]) -> dict:
    """The picker's list: every flow type with a line on what it does, and the pairs not offered."""
    registered, flow_types = systems(), presets()
    return {
        "pairings": pairings.offered(registered, flow_types, connected),
        "not_offered": pairings.not_offered(registered, flow_types),
    }


def _wizard_options(request, form: FlowCreateForm, *, bound: bool):
    """The chosen flow type's options form, with pick lists read from the chosen connections, or
    None until a type and both sides are known."""
    preset = form.preset
    # A POST names the sides; a GET's choices are in the form's initial values, already moved to the
    # chosen type's systems.
    source = request.POST if request.method == "POST" else form.initial
    ids = {side: source.get(side) for side in ("source", "target")}
    if preset is None or not all(str(v).isdigit() for v in ids.values()):
        return None
    sides = {}
    for side, pk in ids.items():
        sides[side] = form.fields[side].queryset.filter(pk=int(pk)).first()
        if sides[side] is None:
            return None
    draft = Flow(organization=request.organization, preset=preset.key, options=dict(preset.default_options), **sides)
    initial = {**preset.default_options, **{k: v for k, v in request.GET.items() if k not in form.fields}}
    return wizard_options_form(
        preset, request.POST if bound else None, initial=initial, target_choices=_target_choices(draft), flow=draft
    )


def _target_choices(flow: Flow):
    """Pick lists for the options form from whichever side of the flow is written to (a reverse
    capability writes to the flow's source, e.g. Exact's GL accounts)."""

    def choices(name: str):
        for connection in (flow.target, flow.source):
            try:
                values = engine.target_adapter(connection, options=flow.options).choices(name)
            except (ApiError, engine.EngineError):
                continue  # the form falls back to typed ids
            if values:
                return values
        return []

    return choices


@login_required
def flow_detail(request, pk: int):
    flow = get_for_org_or_404(Flow, request.organization, pk=pk)
    try:
        preset = get_preset(flow.preset)
    except RegistryError:
        raise Http404 from None
    form = options_form_for(
        preset, request.POST or None, initial=flow.options, target_choices=_target_choices(flow), flow=flow
    )
    if request.method == "POST" and form.is_valid():
        flow.options = {**flow.options, **form.options()}
        flow.save(update_fields=["options", "updated_at"])
        messages.success(request, "Options saved.")
        return redirect("flow_detail", pk=flow.pk)
    context = {
        "flow": flow,
        "preset": preset,
        "form": form,
        "reconcilable": reconcilable(preset, flow.options),
        **_progress(flow),
    }
    return render(request, "connector/flow_detail.html", context)


RECENT_RECORDS = 5


def _progress(flow: Flow) -> dict:
    """The progress card. It is live (polled every 2 s) while work is under way: records pending or
    retrying, a run queued or running, or a started flow's first run still to come; once idle it is
    served without the polling attributes and the browser stops asking."""
    from connector.tasks import poll_in_progress

    records = Record.objects.for_org(flow.organization).filter(flow=flow)
    counts = dict(records.values_list("status").annotate(n=Count("id")))
    total = sum(counts.values())
    pending = counts.get(Record.Status.PENDING, 0)
    done = total - pending
    now = timezone.now()
    running = flow.enabled and poll_in_progress(flow.pk)
    due = flow.enabled and (flow.last_run_at is None or (flow.next_run_at is not None and flow.next_run_at <= now))
    recent = list(records.order_by("-updated_at", "-id")[:RECENT_RECORDS])
    for record in recent:
        record.result_tone, record.result_text = row_result(record)
    return {
        "counts": counts,
        "total": total,
        "done": done,
        "percent": int(100 * done / total) if total else 0,
        "retrying": records.filter(status=Record.Status.PENDING).exclude(last_error="").count() if pending else 0,
        "running": running,
        "live": bool(pending) or running or due,
        "recent": recent,
        "paused": [c for c in (flow.source, flow.target) if c.paused_until and c.paused_until > now],
    }


@login_required
def flow_progress(request, pk: int):
    flow = get_for_org_or_404(Flow, request.organization, pk=pk)
    return render(request, "connector/_flow_progress.html", {"flow": flow, **_progress(flow)})


@login_required
@require_POST
def flow_toggle(request, pk: int):
    flow = get_for_org_or_404(Flow, request.organization, pk=pk)
    if not flow.enabled:
        # A flow starts only with options it can run with (a journal needs its accounts).
        problems = options_problems(flow, _target_choices(flow))
        if problems:
            messages.error(request, "Before starting, complete the options: " + " ".join(problems))
            return redirect(reverse("flow_detail", args=[flow.pk]) + "#options")
    flow.enabled = not flow.enabled
    if flow.enabled:
        flow.next_run_at = timezone.now()  # the dispatcher picks it up within 30 s
    flow.save(update_fields=["enabled", "next_run_at", "updated_at"])
    messages.success(request, "Flow started: the first run begins within a minute." if flow.enabled else "Flow paused.")
    return redirect("flow_detail", pk=flow.pk)


@login_required
@require_POST
def flow_run_now(request, pk: int):
    from connector.tasks import enqueue_poll

    flow = get_for_org_or_404(Flow, request.organization, pk=pk)
    if not flow.enabled:
        messages.error(request, "Start the flow first.")
    else:
        queued = enqueue_poll(flow.pk)
        messages.success(request, "A run was queued." if queued else "A run is already waiting to start.")
    return redirect("flow_detail", pk=flow.pk)


@login_required
def bulk_replay(request):
    """GET previews how many records the filter matches; POST replays them."""
    records = filter_records(
        Record.objects.for_org(request.organization), request.GET if request.method == "GET" else request.POST
    )
    records = records.exclude(status=Record.Status.SYNCED) if not request.GET.get("include_synced") else records
    count = records.count()
    if request.method == "POST":
        if count > BULK_REPLAY_LIMIT:
            messages.error(request, f"{count} records match; narrow the filter to at most {BULK_REPLAY_LIMIT}.")
        else:
            for record in records.only("pk", "organization_id"):
                engine.replay(record, user=request.user)
            messages.success(request, f"Replay queued for {count} record(s).")
        return redirect(reverse("audit_log") + "?" + request.POST.get("query", ""))
    query = request.GET.urlencode()
    return render(request, "connector/bulk_replay.html", {"count": count, "query": query, "params": request.GET})
