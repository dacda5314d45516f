"""Order rules of a Zoho sales-order flow: data on the flow options, evaluated safely.

A rule is a dict in `flow.options["rules"]`:

    {"name": "Hold big orders", "event": "before_submit", "enabled": true, "match": "all",
     "when": [{"field": "total", "op": "gt", "value": "500"}, {"field": "country", "op": "in", "value": ["US", "CA"]}],
     "actions": [{"type": "hold"}, {"type": "alert", "message": "Big order"}]}

Events: `scheduled` (order received, about to go to Zoho), `before_submit` (actions may change the
order: note, tax id, line descriptions; or hold/skip it), `after_submit`, `invalid_sku`,
`no_products`, `general_error` (sync failed), `canceled_in_zoho`, `shipped` (tracking came back).

Conditions compare order fields (`total`, `subtotal`, `shipping`, `country`, `state`, `email`,
`currency`, `store`, `sku`, `tag`, `item_count`, `notes`) with operators `eq ne gt gte lt lte in
not_in contains matches` (`matches` is a case-insensitive glob, e.g. "MUG-*"). Nothing is ever
`eval`ed: fields come from a fixed table of getters and operators from a fixed table of functions.

Actions: `hold` (needs review), `skip` (not submitted), `submit` (send to Zoho: decisive when the
flow's `rule_submit_only` option is on, so only orders a rule submits are sent), `cancel_in_zoho`
(after submit: void the sales order just written), `note` (appended to the order notes sent to
Zoho; after submit: a note on the store order, customer-visible with `customer_visible`),
`set_tax_id` / `set_description` (on lines whose SKU matches `sku`, default all),
`set_store_status` (in the store's own words: WooCommerce "on-hold", ShipStation "on_hold"),
`alert`, `email` (only to a verified member of the organisation, rate-limited). Store actions go
through the store adapter's optional methods (connector.adapters), via integrations.zoho.store.

Pure: `validate` (`rule_problems` for one rule), `matches`, `evaluate`, `apply_order_actions`, `verdict`, `strongest`, `preview`.
With effects: `run` (Events on the record, Alerts, emails, store calls through pullback's store side).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.canonical import LineItem, Order, money
from connector.ratelimit import Limit, RateLimiter
from integrations.zoho import store as store_module

logger = logging.getLogger(__name__)

SCHEDULED = "scheduled"
BEFORE_SUBMIT = "before_submit"
AFTER_SUBMIT = "after_submit"
INVALID_SKU = "invalid_sku"
NO_PRODUCTS = "no_products"
GENERAL_ERROR = "general_error"
CANCELED_IN_ZOHO = "canceled_in_zoho"
SHIPPED = "shipped"
EVENTS = {
    SCHEDULED: "Order scheduled to Zoho",
    BEFORE_SUBMIT: "Before submit",
    AFTER_SUBMIT: "After submit",
    INVALID_SKU: "Not submitted: invalid SKU",
    NO_PRODUCTS: "Not submitted: no products available",
    GENERAL_ERROR: "Not submitted: general error",
    CANCELED_IN_ZOHO: "Canceled in Zoho",
    SHIPPED: "Shipped (tracking pulled back)",
}

HOLD = "hold"
SKIP = "skip"
SUBMIT = "submit"  # send to Zoho; decisive when the flow sends only orders a rule submits
CANCEL = "cancel_in_zoho"  # void the sales order just written (after submit)
ORDER_CHANGING = {"note", "set_tax_id", "set_description"}
ACTIONS = {HOLD, SKIP, SUBMIT, CANCEL, "note", "set_tax_id", "set_description", "set_store_status", "alert", "email"}
# Actions only meaningful before the order is written to Zoho.
BEFORE_ONLY = {HOLD, SKIP, SUBMIT, "set_tax_id", "set_description"}
# Actions only meaningful once a sales order exists.
AFTER_ONLY = {CANCEL}


@dataclass(frozen=True)
class Context:
    order: Order
    store: str = ""  # the source system key: "shipstation", "woocommerce"
    tags: tuple[str, ...] = ()
    error: str = ""
    shipment: dict = field(default_factory=dict)  # carrier, tracking_number on "shipped"


@dataclass(frozen=True)
class Firing:
    rule: str
    event: str
    actions: tuple[dict, ...]

    def describe(self) -> str:
        return ", ".join(_describe(a) for a in self.actions) or "no action"


# --- Fields and operators (fixed tables: the only things a rule can name) -----------------------


def _lines(order: Order) -> tuple[LineItem, ...]:
    return tuple(line for line in order.lines if line.quantity > 0)


def _country(ctx: Context) -> str:
    address = ctx.order.ship_to or ctx.order.bill_to
    return (address.country if address else "").upper()


FIELDS: dict[str, Callable[[Context], Any]] = {
    "total": lambda c: money(c.order.total),
    "subtotal": lambda c: money(sum((line.net for line in _lines(c.order)), Decimal("0"))),
    "shipping": lambda c: money(c.order.shipping),
    "country": _country,
    "state": lambda c: (c.order.ship_to or c.order.bill_to).state if (c.order.ship_to or c.order.bill_to) else "",
    "email": lambda c: (c.order.customer.email if c.order.customer else "").lower(),
    "currency": lambda c: c.order.currency.upper(),
    "store": lambda c: c.store,
    "sku": lambda c: [line.sku for line in _lines(c.order)],
    "tag": lambda c: list(c.tags),
    "item_count": lambda c: sum((line.quantity for line in _lines(c.order)), Decimal("0")),
    "notes": lambda c: c.order.notes or "",
}
NUMERIC = {"total", "subtotal", "shipping", "item_count"}


def _num(value: Any) -> Decimal:
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise RuleError(f"{value!r} is not a number") from None


def _text(value: Any) -> str:
    return str(value).strip().lower()


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _scalar_op(op: str, actual: Any, wanted: Any, numeric: bool) -> bool:
    if op in ("gt", "gte", "lt", "lte"):
        a, w = _num(actual), _num(wanted)
        return {"gt": a > w, "gte": a >= w, "lt": a < w, "lte": a <= w}[op]
    if op in ("eq", "ne"):
        same = _num(actual) == _num(wanted) if numeric else _text(actual) == _text(wanted)
        return same if op == "eq" else not same
    if op in ("in", "not_in"):
        found = _text(actual) in {_text(v) for v in _as_list(wanted)}
        return found if op == "in" else not found
    if op == "contains":
        return _text(wanted) in _text(actual)
    if op == "matches":
        return any(fnmatch.fnmatchcase(_text(actual), _text(pattern)) for pattern in _as_list(wanted))
    raise RuleError(f"unknown operator {op!r}")


OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "matches")


class RuleError(ValueError):
    """A rule that cannot be evaluated; `validate` reports these before a rule is saved."""


def condition_holds(condition: dict, ctx: Context) -> bool:
    name, op, wanted = condition.get("field"), condition.get("op", "eq"), condition.get("value")
    if name not in FIELDS:
        raise RuleError(f"unknown field {name!r}")
    actual = FIELDS[name](ctx)
    if isinstance(actual, list):  # sku, tag: "any value matches"; ne / not_in: "no value matches"
        if op in ("ne", "not_in"):
            positive = {"ne": "eq", "not_in": "in"}[op]
            return not any(_scalar_op(positive, a, wanted, False) for a in actual)
        return any(_scalar_op(op, a, wanted, False) for a in actual)
    return _scalar_op(op, actual, wanted, name in NUMERIC)


def matches(rule: dict, ctx: Context) -> bool:
    conditions = rule.get("when") or []
    results = (condition_holds(c, ctx) for c in conditions)
    return any(results) if rule.get("match") == "any" else all(results)


# --- Validation (form and API) ------------------------------------------------------------------


def validate(rules: Any) -> list[str]:
    """Problems in a list of rules, in words a merchant understands; [] when all is well. Each
    problem is labelled with its rule ("Rule 2 (Hold big orders): ...")."""
    if not isinstance(rules, list):
        return ["Rules must be a list."]
    problems = []
    for n, rule in enumerate(rules, start=1):
        label = f"Rule {n}" + (f" ({rule.get('name')})" if isinstance(rule, dict) and rule.get("name") else "")
        if not isinstance(rule, dict):
            problems.append(f"{label}: must be an object.")
            continue
        problems.extend(f"{label}: {problem}" for problem in rule_problems(rule))
    return problems


def rule_problems(rule: dict) -> list[str]:
    """One rule's problems, unlabelled (the builder shows them beside the rule): its event, its
    match, each condition, then its actions."""
    return [problem for check in RULE_CHECKS for problem in check(rule)]


def _event_problems(rule: dict) -> list[str]:
    if rule.get("event") in EVENTS:
        return []
    return [f"unknown event {rule.get('event')!r}; choose one of {', '.join(EVENTS)}."]


def _match_problems(rule: dict) -> list[str]:
    return [] if rule.get("match", "all") in ("all", "any") else ["match must be 'all' or 'any'."]


def _conditions_problems(rule: dict) -> list[str]:
    return [p for p in map(_condition_problem, rule.get("when") or []) if p]


def _actions_problems(rule: dict) -> list[str]:
    actions = rule.get("actions") or []
    needs_one = [] if actions else ["needs at least one action."]
    return needs_one + [p for p in (_action_problem(action, rule.get("event")) for action in actions) if p]


RULE_CHECKS: tuple[Callable[[dict], list[str]], ...] = (
    _event_problems,
    _match_problems,
    _conditions_problems,
    _actions_problems,
)


# --- One condition: the first check that finds a problem names it -------------------------------


def _unknown_field(condition: Any) -> str | None:
    if isinstance(condition, dict) and condition.get("field") in FIELDS:
        return None
    return f"unknown field in {condition!r}; choose one of {', '.join(FIELDS)}."


def _unknown_operator(condition: dict) -> str | None:
    return None if condition.get("op", "eq") in OPERATORS else f"unknown operator {condition.get('op')!r}."


def _not_a_number(condition: dict) -> str | None:
    """Order comparisons, and equality on a numeric field, need a number to compare with."""
    op = condition.get("op", "eq")
    if op not in ("gt", "gte", "lt", "lte") and not (condition["field"] in NUMERIC and op in ("eq", "ne")):
        return None
    try:
        _num(condition.get("value"))
    except RuleError:
        return f"{condition.get('value')!r} is not a number."
    return None


CONDITION_CHECKS: tuple[Callable[[Any], str | None], ...] = (_unknown_field, _unknown_operator, _not_a_number)


def _condition_problem(condition: Any) -> str | None:
    return next((p for p in (check(condition) for check in CONDITION_CHECKS) if p), None)


# --- One action: the first check that finds a problem names it ----------------------------------

# What an action needs besides its type: (key, test of its value, problem when the test fails).
_ACTION_NEEDS: dict[str, tuple[str, Callable[[Any], bool], str]] = {
    "set_tax_id": ("tax_id", bool, "set_tax_id needs a tax_id."),
    "email": ("to", lambda to: "@" in str(to or ""), "email needs a 'to' address."),
    "set_store_status": ("status", bool, "set_store_status needs a status."),
}


def _unknown_action(action: Any, event: Any) -> str | None:
    if isinstance(action, dict) and action.get("type") in ACTIONS:
        return None
    kind = action.get("type") if isinstance(action, dict) else None
    return f"unknown action {kind!r}; choose one of {', '.join(sorted(ACTIONS))}."


def _wrong_event(action: dict, event: Any) -> str | None:
    """Some actions only make sense before the sales order is written, others only after."""
    kind = action["type"]
    if event not in EVENTS:
        return None  # the unknown event is reported once, by _event_problems
    if kind in BEFORE_ONLY and event not in (SCHEDULED, BEFORE_SUBMIT):
        return f"'{kind}' only works on the scheduled and before-submit events."
    if kind in AFTER_ONLY and event != AFTER_SUBMIT:
        return f"'{kind}' only works on the after-submit event."
    return None


def _missing_value(action: dict, event: Any) -> str | None:
    if action["type"] not in _ACTION_NEEDS:
        return None
    key, ok, problem = _ACTION_NEEDS[action["type"]]
    return None if ok(action.get(key)) else problem


ACTION_CHECKS: tuple[Callable[[Any, Any], str | None], ...] = (_unknown_action, _wrong_event, _missing_value)


def _action_problem(action: Any, event: Any) -> str | None:
    return next((p for p in (check(action, event) for check in ACTION_CHECKS) if p), None)


# --- Evaluation (pure) --------------------------------------------------------------------------


def evaluate(event: str, ctx: Context, rules: Iterable[dict]) -> list[Firing]:
    """The rules for `event` whose conditions hold, in order. A rule that cannot be evaluated never
    fires (and `validate` refuses it before it is saved)."""
    firings = []
    for n, rule in enumerate(rules, start=1):
        if not isinstance(rule, dict) or rule.get("event") != event or rule.get("enabled", True) is False:
            continue
        try:
            fired = matches(rule, ctx)
        except RuleError as exc:
            logger.warning("rule not evaluated", extra={"rule": rule.get("name") or n, "error": str(exc)})
            continue
        if fired:
            firings.append(Firing(str(rule.get("name") or f"Rule {n}"), event, tuple(rule.get("actions") or ())))
    return firings


def _line_selected(line: LineItem, action: dict) -> bool:
    pattern = action.get("sku")
    return not pattern or fnmatch.fnmatchcase(line.sku.lower(), str(pattern).lower())


def apply_order_actions(order: Order, firings: Iterable[Firing]) -> Order:
    """The order as the before-submit actions leave it (notes, per-line tax id and description)."""
    for firing in firings:
        for action in firing.actions:
            kind = action.get("type")
            if kind == "note" and action.get("text"):
                notes = "\n".join(p for p in ((order.notes or "").strip(), str(action["text"]).strip()) if p)
                order = dataclasses.replace(order, notes=notes)
            elif kind in ("set_tax_id", "set_description"):
                key, value = (
                    ("tax_id", action.get("tax_id")) if kind == "set_tax_id" else ("description", action.get("text"))
                )
                lines = tuple(
                    dataclasses.replace(line, metadata={**(line.metadata or {}), key: str(value)})
                    if value and _line_selected(line, action)
                    else line
                    for line in order.lines
                )
                order = dataclasses.replace(order, lines=lines)
    return order


def verdict(firings: Iterable[Firing]) -> str:
    """HOLD beats SKIP beats CANCEL beats SUBMIT beats nothing said."""
    return strongest(*(a.get("type") for f in firings for a in f.actions))


def strongest(*verdicts: str) -> str:
    """The verdict that wins among several events' verdicts (HOLD, SKIP, CANCEL, SUBMIT, then "")."""
    return next((v for v in (HOLD, SKIP, CANCEL, SUBMIT) if v in verdicts), "")


def submits(verdict_: str, *, submit_by_default: bool = True) -> bool:
    """Whether an order with this before-submit verdict goes to Zoho."""
    if verdict_ in (HOLD, SKIP):
        return False
    return submit_by_default or verdict_ == SUBMIT


def preview(rules: list[dict], contexts: Iterable[Context], *, submit_by_default: bool = True) -> list[dict]:
    """What the rules would have done to these orders (e.g. the last 50), changing nothing."""
    rows = []
    for ctx in contexts:
        before = [f for event in (SCHEDULED, BEFORE_SUBMIT) for f in evaluate(event, ctx, rules)]
        changed = apply_order_actions(ctx.order, before)
        before_verdict = verdict(before)
        fired = list(before)
        if submits(before_verdict, submit_by_default=submit_by_default):
            after = evaluate(AFTER_SUBMIT, dataclasses.replace(ctx, order=changed), rules)
            fired.extend(after)
            outcome = "submitted, then canceled in Zoho" if verdict(after) == CANCEL else "submitted"
        elif before_verdict == HOLD:
            outcome = "held"
        elif before_verdict == SKIP:
            outcome = "not submitted"
        else:
            outcome = "not submitted (no rule submitted it)"
        rows.append(
            {
                "order": ctx.order.number,
                "fired": [{"rule": f.rule, "event": f.event, "actions": f.describe()} for f in fired],
                "outcome": outcome,
                "notes": changed.notes if changed.notes != ctx.order.notes else None,
            }
        )
    return rows


def _describe(action: dict) -> str:
    kind = action.get("type", "?")
    detail = (
        action.get("text") or action.get("tax_id") or action.get("status") or action.get("to") or action.get("message")
    )
    return f"{kind} {detail!r}" if detail else str(kind)


# --- Running with effects -----------------------------------------------------------------------


def run(event: str, ctx: Context, rules: list[dict], *, record=None, store_side=None) -> tuple[Order, str]:
    """Evaluate, record each firing as an Event on the record, carry out the side effects, and return
    the (possibly changed) order and the verdict (HOLD, SKIP or "")."""
    firings = evaluate(event, ctx, rules)
    if not firings:
        return ctx.order, ""
    order = apply_order_actions(ctx.order, firings) if event in (SCHEDULED, BEFORE_SUBMIT) else ctx.order
    for firing in firings:
        _record_firing(record, firing)
        for action in firing.actions:
            try:
                _effect(action, firing, ctx, record, store_side)
            except Exception as exc:  # a failing side effect is visible, never breaks the sync
                logger.warning("rule action failed", extra={"rule": firing.rule, "error": str(exc)})
                _record(
                    record, "failed", f"Rule '{firing.rule}': {action.get('type')} failed: {exc}", {"rule": firing.rule}
                )
    return order, verdict(firings)


def _record_firing(record, firing: Firing) -> None:
    message = f"Rule '{firing.rule}' fired on '{EVENTS.get(firing.event, firing.event)}': {firing.describe()}."
    _record(record, "alert", message, {"rule": firing.rule, "event": firing.event, "actions": list(firing.actions)})


def _record(record, kind: str, message: str, data: dict) -> None:
    if record is None:
        return
    from connector.models import Event

    Event.objects.create(
        organization_id=record.organization_id, record=record, kind=kind, message=message[:2000], data=data
    )


def _effect(action: dict, firing: Firing, ctx: Context, record, store_side) -> None:
    kind = action.get("type")
    if kind == "alert" and record is not None:
        from connector.models import raise_alert

        raise_alert(
            record.organization,
            f"rule:{record.pk}:{firing.rule}"[:200],
            action.get("message") or f"Order {ctx.order.number}: rule '{firing.rule}' fired ({EVENTS[firing.event]}).",
            remediation=action.get("remediation", ""),
            record=record,
            flow=record.flow,
        )
    elif kind == "email":
        _send_rule_email(action, firing, ctx, record)
    elif kind == "set_store_status" and record is not None:
        _store(store_side, record).set_status(record.flow.source, record.source_id, str(action["status"]))
    elif kind == "note" and firing.event not in (SCHEDULED, BEFORE_SUBMIT) and record is not None:
        # Before submit a note changes what Zoho gets (apply_order_actions); after, it goes to the store.
        _store(store_side, record).add_note(
            record.flow.source,
            record.source_id,
            str(action.get("text") or ""),
            customer_visible=bool(action.get("customer_visible")),
        )


# Rule emails go only to verified members of the record's organisation (a rule must not turn our
# mail server into a relay to any address, a customer's included), at most this many an hour per
# organisation (a Redis bucket shared by all workers).
RULE_EMAILS = Limit(requests=30, per_seconds=3600, starts_full=True)  # our own allowance


def _send_rule_email(action: dict, firing: Firing, ctx: Context, record) -> None:
    from django.core.mail import send_mail

    from accounts.members import verified_member_addresses

    to = str(action.get("to", "")).strip().lower()
    if record is None or to not in verified_member_addresses(record.organization_id):
        raise RuleError(f"{to or 'no address'} is not a verified member of this organisation; invite them first.")
    wait = RateLimiter().try_acquire(f"rl:rule-email:{record.organization_id}", RULE_EMAILS)
    if wait > 0:
        raise RuleError(f"too many rule emails this hour; the next can go in {wait:.0f} s.")
    send_mail(
        f"Order {ctx.order.number}: {EVENTS[firing.event]}",
        f"Rule '{firing.rule}' fired for order {ctx.order.number}." + (f"\n\n{ctx.error}" if ctx.error else ""),
        None,
        [to],
    )


def _store(store_side, record):
    if store_side is not None:
        return store_side
    return store_module.store_side_for(record.flow)
