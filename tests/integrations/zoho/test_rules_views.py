"""The order-rule builder pages and the rules API: tenant-scoped, validated, and a preview that
changes nothing and calls no vendor."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse

from connector.canonical import Order, from_payload, to_payload
from connector.models import Alert, Connection, Event, Flow, Link, Record
from tests.conftest import make_user

FIXTURES = Path(__file__).parent / "fixtures"
BIG = {
    "name": "Hold big orders",
    "event": "before_submit",
    "match": "all",
    "enabled": True,
    "when": [{"field": "total", "op": "gt", "value": "100"}],
    "actions": [{"type": "hold"}],
}


def make_zoho_flow(org, **options) -> Flow:
    store = Connection.objects.create(organization=org, system="woocommerce", label="Shop")
    books = Connection.objects.create(organization=org, system="zoho", label="Books")
    return Flow.objects.create(
        organization=org,
        preset="woocommerce_zoho",
        name="WooCommerce → Zoho Books",
        source=store,
        target=books,
        options={"document": "sales_order", **options},
    )


def add_order(flow, number: str, total: str) -> Record:
    base = from_payload(Order, json.loads((FIXTURES / "order_2001_salesorder.json").read_text()))
    order = dataclasses.replace(base, number=number, source_id=number, total=Decimal(total))
    return Record.objects.create(
        organization=flow.organization,
        flow=flow,
        object_type="order",
        source_id=number,
        source_ref=number,
        status="synced",
        payload=to_payload(order),
    )


@pytest.fixture
def flow(alice):
    return make_zoho_flow(alice.org)


@pytest.fixture
def web(client, alice):
    client.force_login(alice)
    return client


def rule_post(**overrides) -> dict:
    data = {
        "name": "Hold big orders",
        "event": "before_submit",
        "match": "all",
        "enabled": "on",
        "cond_field": ["total", ""],
        "cond_op": ["gt", "eq"],
        "cond_value": ["100", ""],
        "act_type": ["hold", "note"],
        "act_value": ["", "Checked"],
        "act_sku": ["", ""],
        "act_visible": ["", ""],
        "action": "save",
    }
    data.update(overrides)
    return data


def test_the_flow_page_links_to_the_rule_builder(web, flow):
    page = web.get(reverse("flow_detail", args=[flow.pk])).content.decode()
    assert reverse("zoho_rules", args=[flow.pk]) in page and "Open the rule builder" in page
    listing = web.get(reverse("zoho_rules", args=[flow.pk]))
    assert listing.status_code == 200 and b"No rules yet" in listing.content


def test_saving_options_keeps_the_rules_the_builder_owns(web, flow):
    flow.options["rules"] = [BIG]
    flow.save()
    answer = web.post(
        reverse("flow_detail", args=[flow.pk]),
        {"document": "sales_order", "rules": "[]", "pullback_interval_hours": "3", "pullback_lookback_hours": "4"},
    )
    assert answer.status_code == 302
    flow.refresh_from_db()
    assert flow.options["rules"] == [BIG]  # the read-only field cannot overwrite them


def test_add_edit_toggle_and_delete_a_rule(web, flow):
    created = web.post(reverse("zoho_rule_new", args=[flow.pk]), rule_post())
    assert created.status_code == 302 and created["Location"] == reverse("zoho_rules", args=[flow.pk])
    flow.refresh_from_db()
    (rule,) = flow.options["rules"]
    assert rule == {**BIG, "actions": [{"type": "hold"}, {"type": "note", "text": "Checked"}]}  # blank row left out
    listing = web.get(reverse("zoho_rules", args=[flow.pk])).content.decode()
    assert "Hold big orders" in listing and "Order total is more than 100" in listing

    edited = rule_post(
        name="Hold US",
        match="any",
        cond_field=["country", "sku"],
        cond_op=["in", "matches"],
        cond_value=["US, CA", "MUG-*"],
        act_type=["set_tax_id", "note"],
        act_value=["T1", "Thanks"],
        act_sku=["MUG-*", ""],
        act_visible=["", "customer"],
        event="after_submit",
    )
    refused = web.post(reverse("zoho_rule_edit", args=[flow.pk, 0]), edited)
    assert refused.status_code == 400 and b"only works on the scheduled" in refused.content
    flow.refresh_from_db()
    assert flow.options["rules"][0]["name"] == "Hold big orders"  # not saved
    web.post(reverse("zoho_rule_edit", args=[flow.pk, 0]), {**edited, "event": "before_submit"})
    flow.refresh_from_db()
    (rule,) = flow.options["rules"]
    assert rule["match"] == "any" and rule["when"] == [
        {"field": "country", "op": "in", "value": ["US", "CA"]},
        {"field": "sku", "op": "matches", "value": "MUG-*"},
    ]
    assert rule["actions"] == [
        {"type": "set_tax_id", "tax_id": "T1", "sku": "MUG-*"},
        {"type": "note", "text": "Thanks", "customer_visible": True},
    ]
    form = web.get(reverse("zoho_rule_edit", args=[flow.pk, 0])).content.decode()
    assert 'value="US, CA"' in form and 'value="MUG-*"' in form

    web.post(reverse("zoho_rule_toggle", args=[flow.pk, 0]))
    flow.refresh_from_db()
    assert flow.options["rules"][0]["enabled"] is False
    web.post(reverse("zoho_rule_delete", args=[flow.pk, 0]))
    flow.refresh_from_db()
    assert flow.options["rules"] == []
    assert web.post(reverse("zoho_rule_delete", args=[flow.pk, 0])).status_code == 404


def test_a_rule_needs_a_name_and_known_values(web, flow):
    answer = web.post(reverse("zoho_rule_new", args=[flow.pk]), rule_post(name="", act_type=["email", ""]))
    assert answer.status_code == 400
    assert b"Give the rule a name" in answer.content and b"needs a &#x27;to&#x27; address" in answer.content
    flow.refresh_from_db()
    assert "rules" not in flow.options


def test_htmx_adds_blank_rows(web, flow):
    row = web.get(reverse("zoho_rule_row", args=[flow.pk]) + "?kind=condition", HTTP_HX_REQUEST="true")
    assert row.status_code == 200 and b'name="cond_field"' in row.content and b"<html" not in row.content
    action = web.get(reverse("zoho_rule_row", args=[flow.pk]) + "?kind=action").content
    assert b'name="act_type"' in action and b'value="set_store_status"' in action
    assert web.get(reverse("zoho_rule_row", args=[flow.pk]) + "?kind=none").content == b""


def count_everything() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Record, Event, Link, Alert))


@pytest.fixture
def no_vendor_calls(monkeypatch):
    """Any HTTP call from our side fails the test."""
    import requests

    def refuse(*args, **kwargs):
        raise AssertionError("a preview called a vendor")

    monkeypatch.setattr(requests.Session, "send", refuse)


def test_preview_shows_what_the_rule_would_do_and_changes_nothing(web, flow, no_vendor_calls):
    small, big = add_order(flow, "3001", "40.00"), add_order(flow, "3002", "400.00")
    for n in range(55):
        add_order(flow, f"9{n:03d}", "1.00")
    before = count_everything()
    answer = web.post(
        reverse("zoho_rule_new", args=[flow.pk]),
        rule_post(action="preview", act_type=["hold", "note"], act_value=["", "Checked"]),
        HTTP_HX_REQUEST="true",
    )
    page = answer.content.decode()
    assert answer.status_code == 200 and "<html" not in page
    assert "nothing is changed" in page and "the last 50 orders" in page
    assert "3001" not in page  # older than the last 50
    flow.options.pop("rules", None)
    from integrations.zoho.rules_views import preview_rows

    rows = {r["order"]: r for r in preview_rows(flow, [BIG], limit=100)}
    assert rows["3002"]["outcome"] == "held" and rows["3001"]["outcome"] == "submitted"
    assert rows["3002"]["record_id"] == big.pk and rows["3001"]["record_id"] == small.pk
    assert count_everything() == before
    flow.refresh_from_db()
    assert "rules" not in flow.options  # the previewed rule was not saved


def test_preview_without_htmx_renders_the_form_with_results(web, flow, no_vendor_calls):
    add_order(flow, "3002", "400.00")
    before = count_everything()
    page = web.post(reverse("zoho_rule_new", args=[flow.pk]), rule_post(action="preview")).content.decode()
    assert "<html" in page and "3002" in page and "held" in page
    saved = web.post(reverse("zoho_rules_preview", args=[flow.pk])).content.decode()
    assert "3002" in saved and "submitted" in saved  # no saved rules: submitted as is
    assert count_everything() == before


def test_other_organisations_and_other_flows_are_404(web, flow, client):
    _, other_org = make_user("mallory@example.com", "Mallory Ltd")
    theirs = make_zoho_flow(other_org, rules=[BIG])
    for name, args, method in (
        ("zoho_rules", [theirs.pk], "get"),
        ("zoho_rule_new", [theirs.pk], "get"),
        ("zoho_rule_edit", [theirs.pk, 0], "get"),
        ("zoho_rule_toggle", [theirs.pk, 0], "post"),
        ("zoho_rule_delete", [theirs.pk, 0], "post"),
        ("zoho_rules_preview", [theirs.pk], "post"),
        ("zoho_rule_row", [theirs.pk], "get"),
        ("zoho_api_rules", [theirs.pk], "get"),
        ("zoho_api_rules_preview", [theirs.pk], "post"),
    ):
        assert getattr(web, method)(reverse(name, args=args)).status_code == 404, name
    theirs.refresh_from_db()
    assert theirs.options["rules"] == [BIG]
    from tests.conftest import make_flow

    not_zoho = make_flow(flow.organization)
    not_zoho.target.system = "qbdesktop"
    not_zoho.target.save()
    assert web.get(reverse("zoho_rules", args=[not_zoho.pk])).status_code == 404
    web.logout()
    assert web.get(reverse("zoho_rules", args=[flow.pk])).status_code == 302  # to the login page
    assert web.get(reverse("zoho_api_rules", args=[flow.pk])).status_code in (401, 403)


# --- API -----------------------------------------------------------------------------------------


def test_api_reads_and_replaces_rules(web, flow):
    url = reverse("zoho_api_rules", args=[flow.pk])
    assert url == f"/api/v1/flows/{flow.pk}/rules/"
    body = web.get(url).json()
    assert body["rules"] == [] and body["events"]["canceled_in_zoho"] == "Canceled in Zoho"
    bad = web.put(url, {"rules": [{**BIG, "event": "sometimes"}]}, content_type="application/json")
    assert bad.status_code == 400 and "unknown event 'sometimes'" in bad.json()["errors"][0]
    assert web.put(url, {"not": "rules"}, content_type="application/json").json() == {
        "errors": ["Rules must be a list."]
    }
    ok = web.put(url, {"rules": [BIG]}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["rules"] == [BIG]
    flow.refresh_from_db()
    assert flow.options["rules"] == [BIG] and flow.options["document"] == "sales_order"


def test_api_preview_uses_given_or_saved_rules_and_changes_nothing(web, flow, no_vendor_calls):
    add_order(flow, "3001", "40.00")
    add_order(flow, "3002", "400.00")
    url = reverse("zoho_api_rules_preview", args=[flow.pk])
    before = count_everything()
    given = web.post(url, {"rules": [BIG]}, content_type="application/json").json()["orders"]
    assert [(r["order"], r["outcome"]) for r in given] == [("3002", "held"), ("3001", "submitted")]
    assert given[0]["total"] == "400.00" and given[0]["fired"] == [
        {"rule": "Hold big orders", "event": "before_submit", "actions": "hold"}
    ]
    saved = web.post(url, {}, content_type="application/json").json()["orders"]
    assert [r["outcome"] for r in saved] == ["submitted", "submitted"]
    assert web.post(url, {"rules": "x"}, content_type="application/json").status_code == 400
    assert count_everything() == before


def test_api_token_auth_and_schema(flow, alice, client):
    from accounts.models import ApiToken

    _token, key = ApiToken.issue(alice, alice.org, "rules")
    answer = client.get(reverse("zoho_api_rules", args=[flow.pk]), HTTP_AUTHORIZATION=f"Bearer {key}")
    assert answer.status_code == 200
    client.force_login(alice)
    schema = client.get("/api/schema/").content.decode()
    assert "/api/v1/flows/{id}/rules/:" in schema and "/api/v1/flows/{id}/rules/preview/:" in schema
