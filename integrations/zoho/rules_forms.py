"""The rule builder's forms: a RuleForm for the rule's own fields and a formset each for its
condition rows and its action rows (the shapes of `when` and `actions` in integrations.zoho.rules).

The page posts a row as one value in each of parallel lists (`cond_field`, `cond_op`, `cond_value`;
`act_type`, `act_value`, `act_sku`, `act_visible`), so htmx can add and remove rows without
renumbering them and the page works without JavaScript; `numbered_rows` turns those lists into the
numbered data a Django formset reads. A row whose field (condition) or type (action) is blank is
left out. The forms only read the POST: what a rule may say is `rules.rule_problems`' to judge, the
same checks the API's rules go through.
"""

from __future__ import annotations

from functools import cached_property

from django import forms
from django.http import QueryDict

from integrations.zoho import rules

NAME_MAX = 120
# The action's one text value goes to this key of the action dict.
VALUE_KEY = {
    "note": "text",
    "set_tax_id": "tax_id",
    "set_description": "text",
    "set_store_status": "status",
    "alert": "message",
    "email": "to",
}
SKU_ACTIONS = ("set_tax_id", "set_description")
# "in"/"not_in" always take a list; "matches" takes one when several patterns are given.
LIST_OPS = ("in", "not_in", "matches")
BLANK_CONDITION = {"field": "", "op": "eq", "value": ""}
BLANK_ACTION = {"type": "", "value": "", "sku": ""}


class RuleForm(forms.Form):
    """The rule's name, event, match and enabled switch. The event and match are checked by
    rules.rule_problems, in the words the API uses too."""

    name = forms.CharField(required=True, error_messages={"required": "Give the rule a name."})
    event = forms.CharField(required=False, strip=False)
    match = forms.CharField(required=False, strip=False)
    enabled = forms.CharField(required=False, strip=False)  # a checkbox: "on" when ticked

    def clean_name(self) -> str:
        return self.cleaned_data["name"][:NAME_MAX]

    def clean_match(self) -> str:
        return self.cleaned_data["match"] or "all"

    def clean_enabled(self) -> bool:
        return self.cleaned_data["enabled"] in ("on", "true", "1")


class ConditionForm(forms.Form):
    field = forms.CharField(required=False, strip=False)
    op = forms.CharField(required=False, strip=False)
    value = forms.CharField(required=False)

    def condition(self) -> dict | None:
        """The row as a rule condition; None for a blank row. A list operator's value is split on commas."""
        data = self.cleaned_data
        if not data.get("field"):
            return None
        op, value = data.get("op", ""), data.get("value", "")
        if op in ("in", "not_in") or (op in LIST_OPS and "," in value):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return {"field": data["field"], "op": op or "eq", "value": value}


class ActionForm(forms.Form):
    type = forms.CharField(required=False, strip=False)
    value = forms.CharField(required=False)
    sku = forms.CharField(required=False)
    visible = forms.CharField(required=False, strip=False)  # "customer" for a customer-visible store note

    def action(self) -> dict | None:
        """The row as a rule action, with only the keys its type reads; None for a blank row."""
        data = self.cleaned_data
        kind = data.get("type")
        if not kind:
            return None
        action: dict = {"type": kind}
        if kind in VALUE_KEY and data.get("value"):
            action[VALUE_KEY[kind]] = data["value"]
        if kind in SKU_ACTIONS and data.get("sku"):
            action["sku"] = data["sku"]
        if kind == "note" and data.get("visible") == "customer":
            action["customer_visible"] = True
        return action


ConditionFormSet = forms.formset_factory(ConditionForm, extra=0)
ActionFormSet = forms.formset_factory(ActionForm, extra=0)
CONDITION_FIELDS = ("field", "op", "value")
ACTION_FIELDS = ("type", "value", "sku", "visible")


def numbered_rows(data: QueryDict, prefix: str, names: tuple[str, ...]) -> dict[str, str]:
    """Parallel lists `<prefix>_<name>` as a formset's data: one form per value of the first list,
    a value missing from another list read as blank."""
    columns = {name: data.getlist(f"{prefix}_{name}") for name in names}
    count = len(columns[names[0]])
    numbered = {f"{prefix}-TOTAL_FORMS": str(count), f"{prefix}-INITIAL_FORMS": "0"}
    for n in range(count):
        for name, values in columns.items():
            numbered[f"{prefix}-{n}-{name}"] = values[n] if n < len(values) else ""
    return numbered


class RuleBuilder:
    """The builder's whole POST: the rule form and its condition and action formsets."""

    def __init__(self, data: QueryDict):
        self.form = RuleForm(data)
        self.conditions = ConditionFormSet(numbered_rows(data, "cond", CONDITION_FIELDS), prefix="cond")
        self.actions = ActionFormSet(numbered_rows(data, "act", ACTION_FIELDS), prefix="act")

    @cached_property
    def rule(self) -> dict:
        """The rule as it would be saved (blank rows left out), valid or not."""
        self.form.is_valid()
        head = self.form.cleaned_data
        self.conditions.is_valid()
        self.actions.is_valid()
        return {
            "name": head.get("name", ""),
            "event": head.get("event", ""),
            "match": head.get("match", "all"),
            "enabled": head.get("enabled", False),
            "when": [c for c in (form.condition() for form in self.conditions) if c],
            "actions": [a for a in (form.action() for form in self.actions) if a],
        }

    @cached_property
    def problems(self) -> list[str]:
        """What keeps the rule from being saved: the forms' own errors (a missing name first), then
        what rules.rule_problems finds."""
        rule = self.rule
        own = [str(e) for errors in self.form.errors.values() for e in errors]
        for formset in (self.conditions, self.actions):
            own.extend(str(e) for e in formset.non_form_errors())
            own.extend(str(e) for row in formset.errors for errors in row.values() for e in errors)
        return own + rules.rule_problems(rule)

    def is_valid(self) -> bool:
        return not self.problems


def initial_rows(rule: dict) -> tuple[list[dict], list[dict]]:
    """A rule as the builder's rows (list values shown comma-separated), with one blank row when
    the rule has no condition or no action."""
    conditions = [
        {
            "field": c.get("field", ""),
            "op": c.get("op", "eq"),
            "value": ", ".join(map(str, c["value"])) if isinstance(c.get("value"), list) else str(c.get("value", "")),
        }
        for c in rule.get("when") or []
        if isinstance(c, dict)
    ]
    actions = [
        {
            "type": a.get("type", ""),
            "value": str(a.get(VALUE_KEY.get(a.get("type"), ""), "") or ""),
            "sku": str(a.get("sku", "") or ""),
            "visible": "customer" if a.get("customer_visible") else "",
        }
        for a in rule.get("actions") or []
        if isinstance(a, dict)
    ]
    return conditions or [dict(BLANK_CONDITION)], actions or [dict(BLANK_ACTION)]
