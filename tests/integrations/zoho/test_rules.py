"""Order rules: pure evaluation (no database, no I/O), validation and preview."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from connector.canonical import Address, Customer, LineItem, Order, OrderStatus
from integrations.zoho import rules


def order(total="120.00", country="US", skus=("MUG-1", "CAP-9"), notes="") -> Order:
    return Order(
        number="3001",
        source_id="1",
        status=OrderStatus.OPEN,
        currency="USD",
        order_date=datetime(2026, 3, 1, tzinfo=UTC),
        customer=Customer(key="a@example.com", email="A@Example.com"),
        ship_to=Address(country=country, state="CA"),
        lines=tuple(LineItem(sku=s, name=s, quantity=Decimal("1"), unit_price=Decimal("10")) for s in skus),
        total=Decimal(total),
        notes=notes,
    )


def rule(event="before_submit", when=(), actions=({"type": "hold"},), **extra) -> dict:
    return {"name": "R", "event": event, "when": list(when), "actions": list(actions), **extra}


def ctx(**kwargs) -> rules.Context:
    store = kwargs.pop("store", "woocommerce")
    tags = kwargs.pop("tags", ())
    return rules.Context(order=order(**kwargs), store=store, tags=tags)


def test_conditions_on_total_country_sku_tag_and_store():
    c = ctx(tags=("wholesale",))
    assert rules.matches(rule(when=[{"field": "total", "op": "gt", "value": "100"}]), c)
    assert not rules.matches(rule(when=[{"field": "total", "op": "lte", "value": "100"}]), c)
    assert rules.matches(rule(when=[{"field": "country", "op": "in", "value": ["us", "CA"]}]), c)
    assert rules.matches(rule(when=[{"field": "sku", "op": "matches", "value": "cap-*"}]), c)
    assert rules.matches(rule(when=[{"field": "sku", "op": "not_in", "value": ["X-1"]}]), c)
    assert not rules.matches(rule(when=[{"field": "sku", "op": "ne", "value": "MUG-1"}]), c)  # no line may be MUG-1
    assert rules.matches(rule(when=[{"field": "tag", "op": "eq", "value": "Wholesale"}]), c)
    assert rules.matches(rule(when=[{"field": "store", "op": "eq", "value": "woocommerce"}]), c)
    assert rules.matches(rule(when=[{"field": "email", "op": "contains", "value": "example.com"}]), c)
    mixed = [{"field": "total", "op": "gt", "value": "500"}, {"field": "country", "op": "eq", "value": "US"}]
    assert not rules.matches(rule(when=mixed), c) and rules.matches(rule(when=mixed, match="any"), c)
    assert rules.matches(rule(when=[]), c)  # no condition: always


def test_evaluate_picks_rules_of_the_event_in_order_and_skips_disabled_and_broken_ones():
    rs = [
        rule(name="a", actions=[{"type": "note", "text": "x"}]),
        rule(name="b", event="after_submit"),
        rule(name="c", enabled=False),
        rule(name="d", when=[{"field": "total", "op": "gt", "value": "not a number"}]),
        rule(name="e", when=[{"field": "__class__", "op": "eq", "value": "x"}]),
        rule(name="f", actions=[{"type": "skip"}]),
    ]
    fired = rules.evaluate("before_submit", ctx(), rs)
    assert [f.rule for f in fired] == ["a", "f"]
    assert rules.verdict(fired) == rules.SKIP
    assert rules.verdict(rules.evaluate("before_submit", ctx(), [*rs, rule(name="g")])) == rules.HOLD


def test_before_submit_actions_change_notes_tax_ids_and_descriptions_without_touching_the_input():
    original = order(notes="Ring twice")
    fired = rules.evaluate(
        "before_submit",
        rules.Context(order=original),
        [
            rule(actions=[{"type": "note", "text": "Fragile"}]),
            rule(actions=[{"type": "set_tax_id", "tax_id": "T1", "sku": "MUG-*"}]),
            rule(actions=[{"type": "set_description", "text": "Printed cap", "sku": "CAP-9"}]),
        ],
    )
    changed = rules.apply_order_actions(original, fired)
    assert changed.notes == "Ring twice\nFragile"
    assert changed.lines[0].metadata == {"tax_id": "T1"} and changed.lines[1].metadata == {"description": "Printed cap"}
    assert original.notes == "Ring twice" and original.lines[0].metadata == {}


def test_validate_explains_every_problem():
    problems = rules.validate(
        [
            rule(event="whenever"),
            rule(when=[{"field": "price", "op": "eq", "value": 1}]),
            rule(when=[{"field": "total", "op": "gt", "value": "lots"}]),
            rule(event="after_submit", actions=[{"type": "hold"}]),
            rule(actions=[{"type": "email"}]),
            rule(actions=[]),
            "not a rule",
        ]
    )
    assert len(problems) == 7
    assert "unknown event 'whenever'" in problems[0] and "unknown field" in problems[1]
    assert "'lots' is not a number" in problems[2] and "only works on the scheduled" in problems[3]
    assert "needs a 'to' address" in problems[4] and "at least one action" in problems[5]
    assert rules.validate([rule(when=[{"field": "total", "op": "gt", "value": "10"}])]) == []
    assert rules.validate({"not": "a list"}) == ["Rules must be a list."]


def test_preview_reports_what_would_happen_and_changes_nothing():
    orders = [order(total="50.00"), order(total="900.00", notes="n")]
    rs = [
        rule(name="Big", when=[{"field": "total", "op": "gte", "value": "500"}]),
        rule(name="Tag", actions=[{"type": "note", "text": "checked"}]),
    ]
    rows = rules.preview(rs, [rules.Context(order=o) for o in orders])
    assert [r["outcome"] for r in rows] == ["submitted", "held"]
    assert [f["rule"] for f in rows[1]["fired"]] == ["Big", "Tag"]
    assert rows[0]["notes"] == "checked" and rows[1]["notes"] == "n\nchecked"
    assert [o.notes for o in orders] == ["", "n"]  # frozen inputs, untouched


def test_run_without_a_record_returns_the_changed_order_and_verdict():
    changed, verdict = rules.run(
        "before_submit", ctx(), [rule(actions=[{"type": "note", "text": "x"}, {"type": "hold"}])]
    )
    assert changed.notes == "x" and verdict == rules.HOLD
    same, none = rules.run("before_submit", ctx(), [])
    assert same == order() and none == ""


@given(
    total=st.decimals(min_value=0, max_value=10**6, places=2),
    threshold=st.decimals(min_value=0, max_value=10**6, places=2),
)
def test_numeric_comparisons_agree_with_decimal(total, threshold):
    c = rules.Context(order=order(total=str(total)))
    gt = rules.matches(rule(when=[{"field": "total", "op": "gt", "value": str(threshold)}]), c)
    lte = rules.matches(rule(when=[{"field": "total", "op": "lte", "value": str(threshold)}]), c)
    assert gt == (total > threshold) and lte == (not gt)


def test_submit_and_cancel_actions_are_checked_and_previewed():
    r = rules
    assert r.validate([{"event": "after_submit", "actions": [{"type": "submit"}]}])  # submit is a before action
    assert r.validate([{"event": "before_submit", "actions": [{"type": "cancel_in_zoho"}]}])  # cancel is after
    assert not r.validate([{"event": "after_submit", "actions": [{"type": "cancel_in_zoho"}]}])
    assert r.strongest(r.SUBMIT, r.SKIP) == r.SKIP and r.strongest(r.SUBMIT, "") == r.SUBMIT
    assert r.submits("", submit_by_default=True) and not r.submits("", submit_by_default=False)
    assert r.submits(r.SUBMIT, submit_by_default=False) and not r.submits(r.HOLD, submit_by_default=True)
    cancel = rule(
        "after_submit", actions=({"type": "cancel_in_zoho"},), when=({"field": "country", "op": "eq", "value": "US"},)
    )
    submit = rule(actions=({"type": "submit"},), when=({"field": "total", "op": "gt", "value": "100"},))
    (us,) = r.preview([cancel], [ctx()])
    assert us["outcome"] == "submitted, then canceled in Zoho"
    (small,) = r.preview([submit], [ctx(total="10.00")], submit_by_default=False)
    assert small["outcome"] == "not submitted (no rule submitted it)"
    (big,) = r.preview([submit], [ctx()], submit_by_default=False)
    assert big["outcome"] == "submitted"
