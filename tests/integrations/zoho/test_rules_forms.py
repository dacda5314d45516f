"""The rule builder's forms: rows posted as parallel lists read through Django formsets, blank rows
left out, and the problems listed the way the builder shows them."""

from __future__ import annotations

from django.http import QueryDict

from integrations.zoho.rules_forms import RuleBuilder, initial_rows, numbered_rows


def post(**lists) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in lists.items():
        data.setlist(key, value if isinstance(value, list) else [value])
    return data


def test_rows_become_numbered_formset_data():
    data = post(act_type=["hold", "note"], act_value=["", "Hi"], act_sku=[""])
    assert numbered_rows(data, "act", ("type", "value", "sku")) == {
        "act-TOTAL_FORMS": "2",
        "act-INITIAL_FORMS": "0",
        "act-0-type": "hold",
        "act-0-value": "",
        "act-0-sku": "",
        "act-1-type": "note",
        "act-1-value": "Hi",
        "act-1-sku": "",  # missing from its list: blank
    }


def test_a_rule_is_read_from_the_rows_with_blank_rows_left_out():
    builder = RuleBuilder(
        post(
            name="  Hold US  ",
            event="before_submit",
            match="any",
            enabled="on",
            cond_field=["country", "", "sku", "total"],
            cond_op=["in", "eq", "matches", "gt"],
            cond_value=["US, CA,", "", " MUG-* ", " 100 "],
            act_type=["set_tax_id", "", "note", "email"],
            act_value=[" T1 ", "ignored", "Thanks", "ops@example.com"],
            act_sku=["MUG-*", "", "NOT-USED", "NOT-USED"],
            act_visible=["customer", "", "customer", "customer"],
        )
    )
    assert builder.is_valid() and builder.problems == []
    assert builder.rule == {
        "name": "Hold US",
        "event": "before_submit",
        "match": "any",
        "enabled": True,
        "when": [
            {"field": "country", "op": "in", "value": ["US", "CA"]},
            {"field": "sku", "op": "matches", "value": "MUG-*"},
            {"field": "total", "op": "gt", "value": "100"},
        ],
        "actions": [
            {"type": "set_tax_id", "tax_id": "T1", "sku": "MUG-*"},  # customer_visible is only a note's
            {"type": "note", "text": "Thanks", "customer_visible": True},
            {"type": "email", "to": "ops@example.com"},
        ],
    }


def test_defaults_and_the_enabled_checkbox():
    rule = RuleBuilder(post(name="x" * 200, event="scheduled", act_type="hold")).rule
    assert rule["name"] == "x" * 120 and rule["match"] == "all" and rule["enabled"] is False
    for ticked, enabled in (("on", True), ("true", True), ("1", True), ("off", False), ("0", False)):
        assert RuleBuilder(post(name="n", enabled=ticked)).rule["enabled"] is enabled


def test_problems_come_unlabelled_with_the_missing_name_first():
    builder = RuleBuilder(post(name="  ", event="after_submit", act_type=["hold", "email"], act_value=["", "nobody"]))
    assert not builder.is_valid()
    assert builder.problems == [
        "Give the rule a name.",
        "'hold' only works on the scheduled and before-submit events.",
        "email needs a 'to' address.",
    ]
    # A name with a colon is not mistaken for part of the "Rule 1 (name): " label.
    named = RuleBuilder(post(name="US: big", event="before_submit", act_type=["skip"]))
    assert named.problems == []
    refused = RuleBuilder(post(name="US: big", event="whenever", act_type=["skip"]))
    assert refused.problems[0].startswith("unknown event 'whenever'")


def test_a_row_the_form_refuses_is_a_problem_not_a_silently_dropped_row():
    builder = RuleBuilder(post(name="n", event="before_submit", act_type="hold", cond_field="total\x00", cond_op="gt"))
    assert builder.problems == ["Null characters are not allowed."]


def test_a_saved_rule_shows_as_rows():
    conditions, actions = initial_rows(
        {
            "when": [{"field": "country", "op": "in", "value": ["US", "CA"]}],
            "actions": [{"type": "note", "text": "Hi", "customer_visible": True}],
        }
    )
    assert conditions == [{"field": "country", "op": "in", "value": "US, CA"}]
    assert actions == [{"type": "note", "value": "Hi", "sku": "", "visible": "customer"}]
    assert initial_rows({}) == ([{"field": "", "op": "eq", "value": ""}], [{"type": "", "value": "", "sku": ""}])
