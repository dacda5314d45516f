"""`manage.py demo` and the flow picker, as far as Exact Online's pairings go: the demo makes a flow
for every pairing of what it connects, the Exact ones with options a merchant can start them with
(sales journal, VAT code, the sandbox company's shipping and refund items, checked against Exact's
own lists over real HTTP); the picker lists every pairing with a one-line explanation."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from connector.models import Connection, Flow
from connector.pairings import not_offered, offered
from connector.registry import presets, systems
from connector.web.flows import _target_choices
from connector.web.forms import options_problems

pytestmark = pytest.mark.django_db(transaction=True)

# Every flow preset the integrations ship (the flow picker offers each one).
SHIPPED_PRESETS = {
    "shipstation_zoho",
    "woocommerce_zoho",
    "shipstation_exact",
    "woocommerce_exact",
    "exact_shipstation",
    "qbdesktop_shipstation",
    "woocommerce_qbdesktop",
}


def test_demo_makes_a_flow_per_pairing_and_exacts_can_start(exact_base):
    out = StringIO()
    call_command("demo", "--json", stdout=out)
    facts = json.loads(out.getvalue())
    connected = set(Connection.objects.values_list("system", flat=True))
    expected = {p.key for p in presets() if {p.source_system, p.target_system} <= connected}
    assert {"shipstation_exact", "woocommerce_exact", "exact_shipstation"} <= expected
    assert set(Flow.objects.values_list("preset", flat=True)) == expected
    assert len(facts["flows"]) == len(expected)
    assert facts["sandboxes"]["exact"]["refund_item"] == "REFUND"
    for key in ("shipstation_exact", "woocommerce_exact"):
        flow = Flow.objects.get(preset=key)
        assert flow.options["exact_shipping_item"] == "SHIPPING" and flow.options["exact_document"] == "invoice"
        assert options_problems(flow, _target_choices(flow)) == [], key  # the journal and VAT code are Exact's
    call_command("demo", "--json", stdout=StringIO())
    assert Flow.objects.count() == len(expected)  # a second run duplicates nothing


def test_flow_picker_lists_every_pairing_in_one_line():
    # Other tests register made-up systems and presets in the same process: look at the real ones.
    real = {p.key for p in presets() if p.key in SHIPPED_PRESETS}
    assert real == SHIPPED_PRESETS
    pairings = [p for p in offered(systems(), presets(), set()) if p.preset.key in SHIPPED_PRESETS]
    assert {p.preset.key for p in pairings} == SHIPPED_PRESETS
    for pairing in pairings:
        assert pairing.summary.endswith(".") and pairing.summary.count(". ") == 0, pairing.summary
    by_key = {p.preset.key: p.summary for p in pairings}
    assert "sales invoices (or sales orders" in by_key["woocommerce_exact"]
    assert "refund becomes a credit note" in by_key["woocommerce_exact"]
    assert "sales invoices (or sales orders" in by_key["shipstation_exact"]
    # Exact pairs with every order source; the pairs left out say why.
    shipped_systems = {"exact", "shipstation", "woocommerce", "zoho", "qbdesktop"}
    for gap in not_offered(systems(), presets()):
        pair = {gap.first.key, gap.second.key}
        if "exact" in pair and pair <= shipped_systems:
            assert gap.reason.startswith("Both are ledgers"), (pair, gap.reason)
