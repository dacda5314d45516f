"""The order-rule builder of a Zoho Books flow: list, add, edit, enable, delete and preview
rules. Rules are data in `flow.options["rules"]`, validated by rules.validate before they are saved.

The form is read by rules_forms.RuleBuilder (a RuleForm and formsets of condition and action rows;
htmx adds and removes rows, a blank row is ignored, so the page also works without JavaScript).
"Preview" runs the rule being edited against the flow's last 50 orders, from the payloads we already
store: it writes nothing and calls no vendor.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connector.canonical import Order, from_payload
from connector.models import Flow, Record
from connector.tenancy import get_for_org_or_404
from integrations.zoho import rules
from integrations.zoho.rules_forms import BLANK_ACTION, BLANK_CONDITION, VALUE_KEY, RuleBuilder, initial_rows

PREVIEW_ORDERS = 50
NEW_RULE = {"name": "", "event": rules.SCHEDULED, "match": "all", "enabled": True}
FIELD_LABELS = {
    "total": "Order total",
    "subtotal": "Lines subtotal",
    "shipping": "Shipping",
    "country": "Ship-to country",
    "state": "Ship-to state",
    "email": "Customer email",
    "currency": "Currency",
    "store": "Store (shipstation, woocommerce)",
    "sku": "A line's SKU",
    "tag": "A tag",
    "item_count": "Item count",
    "notes": "Order notes",
}
OP_LABELS = {
    "eq": "is",
    "ne": "is not",
    "gt": "is more than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "in": "is one of",
    "not_in": "is none of",
    "contains": "contains",
    "matches": "matches pattern",
}
ACTION_LABELS = {
    "hold": "Hold for review",
    "skip": "Do not submit",
    "submit": "Submit to Zoho",
    "cancel_in_zoho": "Cancel (void) in Zoho",
    "note": "Add a note",
    "set_tax_id": "Set the lines' tax id",
    "set_description": "Set the lines' description",
    "set_store_status": "Set the store order's status",
    "alert": "Raise an alert",
    "email": "Email someone",
}


# --- Data helpers (also used by the API) ---------------------------------------------------------


def rules_flow(request: HttpRequest, pk: int) -> Flow:
    """The organisation's flow into Zoho Books; anything else (another tenant's, another target) is 404."""
    flow = get_for_org_or_404(Flow, request.organization, pk=pk)
    if flow.target.system != "zoho":
        raise Http404("This flow has no order rules.")
    return flow


def current_rules(flow: Flow) -> list[dict]:
    value = (flow.options or {}).get("rules") or []
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def save_rules(flow: Flow, new_rules: list[dict]) -> None:
    """Replace the flow's rules (already validated), leaving its other options as they are."""
    with transaction.atomic():
        locked = Flow.objects.select_for_update().get(pk=flow.pk)
        locked.options = {**(locked.options or {}), "rules": new_rules}
        locked.save(update_fields=["options", "updated_at"])
    flow.options = locked.options


def preview_rows(flow: Flow, candidate: list[dict], limit: int = PREVIEW_ORDERS) -> list[dict]:
    """What `candidate` would have done to the flow's last `limit` orders: read-only, from stored payloads."""
    records = (
        Record.objects.for_org(flow.organization)
        .filter(flow=flow, object_type="order")
        .order_by("-id")
        .only("pk", "source_ref", "status", "payload", "source_payload")[:limit]
    )
    pairs = []
    for record in records:
        data = record.payload or record.source_payload
        if not data:
            continue
        try:
            order = from_payload(Order, data)
        except (KeyError, TypeError, ValueError):
            continue  # an unreadable payload has its own failure in the audit log
        pairs.append((record, rules.Context(order=order, store=flow.source.system)))
    from integrations.zoho.salesorders import RULE_SUBMIT_ONLY, option

    submit_by_default = not option(flow.options or {}, RULE_SUBMIT_ONLY, default=False)
    rows = rules.preview(candidate, [ctx for _, ctx in pairs], submit_by_default=submit_by_default)
    return [
        {**row, "record_id": record.pk, "status": record.status, "total": str(ctx.order.total)}
        for (record, ctx), row in zip(pairs, rows, strict=True)
    ]


def _choices() -> dict:
    return {
        "events": rules.EVENTS,
        "fields": [(k, FIELD_LABELS.get(k, k)) for k in rules.FIELDS],
        "ops": [(k, OP_LABELS.get(k, k)) for k in rules.OPERATORS],
        "action_types": [(k, ACTION_LABELS.get(k, k)) for k in sorted(rules.ACTIONS, key=_action_order)],
    }


def _action_order(kind: str) -> tuple[int, str]:
    order = list(ACTION_LABELS)
    return (order.index(kind) if kind in order else len(order), kind)


def describe(rule: dict) -> dict:
    """A rule in words for the list page."""
    joiner = " or " if rule.get("match") == "any" else " and "
    when = joiner.join(
        f"{FIELD_LABELS.get(c.get('field'), c.get('field'))} {OP_LABELS.get(c.get('op', 'eq'), c.get('op'))} "
        f"{', '.join(map(str, c['value'])) if isinstance(c.get('value'), list) else c.get('value', '')}"
        for c in rule.get("when") or []
        if isinstance(c, dict)
    )
    actions = "; ".join(
        ACTION_LABELS.get(a.get("type"), str(a.get("type")))
        + (f" “{a[VALUE_KEY[a['type']]]}”" if a.get("type") in VALUE_KEY and a.get(VALUE_KEY[a["type"]]) else "")
        for a in rule.get("actions") or []
        if isinstance(a, dict)
    )
    return {
        "event": rules.EVENTS.get(rule.get("event"), rule.get("event")),
        "when": when or "every order",
        "actions": actions or "nothing",
    }


# --- Pages ---------------------------------------------------------------------------------------


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@login_required
@require_GET
def rule_list(request: HttpRequest, pk: int) -> HttpResponse:
    flow = rules_flow(request, pk)
    saved = current_rules(flow)
    return render(
        request,
        "zoho/rules.html",
        {
            "flow": flow,
            "rows": [{"index": n, "rule": r, "text": describe(r)} for n, r in enumerate(saved)],
            "sales_orders": (flow.options or {}).get("document") == "sales_order",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int, index: int | None = None) -> HttpResponse:
    flow = rules_flow(request, pk)
    saved = current_rules(flow)
    if index is not None and not 0 <= index < len(saved):
        raise Http404("No such rule.")
    if request.method == "GET":
        rule = saved[index] if index is not None else NEW_RULE
        return _rule_form(request, flow, index, rule)
    builder = RuleBuilder(request.POST)
    if request.POST.get("action") == "preview":
        return _rule_preview(request, flow, index, builder)
    if not builder.is_valid():
        return _rule_form(request, flow, index, builder.rule, problems=builder.problems)
    save_rules(flow, _with_rule(saved, index, builder.rule))
    messages.success(request, f"Rule “{builder.rule['name']}” saved.")
    return redirect("zoho_rules", pk=flow.pk)


def _with_rule(saved: list[dict], index: int | None, rule: dict) -> list[dict]:
    """The flow's rules with `rule` added (index None) or put in place of rule `index`."""
    changed = list(saved)
    if index is None:
        changed.append(rule)
    else:
        changed[index] = rule
    return changed


def _rule_preview(request: HttpRequest, flow: Flow, index: int | None, builder: RuleBuilder) -> HttpResponse:
    """The rule being edited against the last orders, saved or not: the preview alone for htmx, else
    the form with the preview under it."""
    # Previewed as if enabled: the point is to see what it would do before switching it on.
    preview = None if builder.problems else preview_rows(flow, [{**builder.rule, "enabled": True}])
    if _is_htmx(request):
        return render(request, "zoho/_rules_preview.html", {"preview": preview, "problems": builder.problems})
    return _rule_form(request, flow, index, builder.rule, problems=builder.problems, preview=preview)


def _rule_form(
    request: HttpRequest,
    flow: Flow,
    index: int | None,
    rule: dict,
    *,
    problems: list[str] | None = None,
    preview: list[dict] | None = None,
) -> HttpResponse:
    """The builder page for `rule`: 400 when it lists problems."""
    conditions, actions = initial_rows(rule)
    context = {
        "flow": flow,
        "rule": rule,
        "index": index,
        "conditions": conditions,
        "actions": actions,
        "problems": problems or [],
        "preview": preview,
        **_choices(),
    }
    return render(request, "zoho/rule_form.html", context, status=400 if problems else 200)


@login_required
@require_POST
def rule_toggle(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    flow = rules_flow(request, pk)
    saved = current_rules(flow)
    if not 0 <= index < len(saved):
        raise Http404("No such rule.")
    saved[index] = {**saved[index], "enabled": saved[index].get("enabled", True) is False}
    save_rules(flow, saved)
    state = "enabled" if saved[index]["enabled"] else "disabled"
    messages.success(request, f"Rule “{saved[index].get('name', '')}” {state}.")
    return redirect("zoho_rules", pk=flow.pk)


@login_required
@require_POST
def rule_delete(request: HttpRequest, pk: int, index: int) -> HttpResponse:
    flow = rules_flow(request, pk)
    saved = current_rules(flow)
    if not 0 <= index < len(saved):
        raise Http404("No such rule.")
    removed = saved.pop(index)
    save_rules(flow, saved)
    messages.success(request, f"Rule “{removed.get('name', '')}” deleted.")
    return redirect("zoho_rules", pk=flow.pk)


@login_required
@require_POST
def rules_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """All saved rules against the last orders (the list page's Preview)."""
    flow = rules_flow(request, pk)
    context = {"preview": preview_rows(flow, current_rules(flow)), "problems": []}
    if _is_htmx(request):
        return render(request, "zoho/_rules_preview.html", context)
    return render(request, "zoho/rules_preview_page.html", {"flow": flow, **context})


@login_required
@require_GET
def rule_row(request: HttpRequest, pk: int) -> HttpResponse:
    """One blank condition or action row for htmx to append; `kind=none` answers nothing (row removed)."""
    flow = rules_flow(request, pk)
    kind = request.GET.get("kind", "")
    if kind not in ("condition", "action"):
        return HttpResponse("")
    template = "zoho/_rule_condition.html" if kind == "condition" else "zoho/_rule_action.html"
    row = BLANK_CONDITION if kind == "condition" else BLANK_ACTION
    return render(request, template, {"flow": flow, "row": row, **_choices()})
