"""Shipments reconciled in a ShipStation → Zoho Books flow that books shipping costs as journals, over
real HTTP against both sandboxes: each shipment of the period beside the journals Books holds for it
(found by the flow's marker in the journal notes, not by our Links). A voided shipment whose journal
is reversed nets to zero. Journals edited, deleted and duplicated by hand through the sandbox's
control endpoint are each found, and nothing else is reported."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from connector.models import Flow, Record
from connector.reconcile import SHIPMENT, Period
from connector.registry import get_preset, get_system, reconcilable, reconciliations
from integrations.shipstation import timeutil
from integrations.shipstation.sandbox import state as ss_state
from integrations.zoho.sandbox import faults
from integrations.zoho.sandbox import state as zoho_state
from integrations.zoho.sandbox.models import SandboxZohoDocument
from tests.integrations.shipstation.conftest import order_body
from tests.reconcile.conftest import sync
from tests.reconcile.test_shipstation_zoho import ss_flow  # noqa: F401 (fixture)
from tests.reconcile.test_woocommerce_zoho import by_hand, checked_lines

pytestmark = pytest.mark.django_db(transaction=True)


def lines(client, flow) -> dict[tuple[str, str], dict]:
    """Check again (what "Run now" does), run it as the worker would, and read the stored lines."""
    return {(line["kind"], line["reference"]): line for line in checked_lines(client, flow)}


@pytest.fixture
def journal_flow(ss_flow, sandbox_org) -> Flow:  # noqa: F811
    ss_flow.options = {
        **ss_flow.options,
        "shipment_mode": "journal",
        "expense_account_id": zoho_state.account_id(sandbox_org, "Shipping Expense"),
        "offset_account_id": zoho_state.account_id(sandbox_org, "Petty Cash"),
    }
    ss_flow.save(update_fields=["options"])
    return ss_flow


def ship(account, numbers: list[str], costs: list[str]) -> dict[str, str]:
    """Orders placed a minute ago, each with one label of the given cost shipped today: shipment id by order."""
    account.orders.all().delete()
    placed = timeutil.to_filter(timezone.now() - timedelta(minutes=1))
    shipped = {}
    for number, cost in zip(numbers, costs, strict=True):
        order, _ = ss_state.upsert_order(account, order_body(number, orderDate=placed), notify=False)
        label = ss_state.create_label(
            account,
            {
                "orderId": order.pk,
                "carrierCode": "ups",
                "serviceCode": "ups_ground",
                "shipDate": timezone.now().date().isoformat(),
                "shipmentCost": cost,
            },
        )
        shipped[number] = str(label.pk)
    return shipped


def journals(org) -> dict[str, SandboxZohoDocument]:
    """The org's journals by the shipment their notes name (reversals as "void:<id>")."""
    found = {}
    for doc in SandboxZohoDocument.objects.filter(org=org, kind="journal"):
        notes = doc.data["notes"]
        key = notes[notes.rindex("[") + 1 : -1].replace("shipment-void:", "void:").replace("shipment:", "")
        found[key] = doc
    return found


def test_a_shipment_flow_is_reconcilable_only_when_it_posts_journals():
    preset = get_preset("shipstation_zoho")
    assert [r.item for r in reconciliations(preset, {"shipment_mode": "journal"})] == ["order", "shipment"]
    assert [r.item for r in reconciliations(preset, {"shipment_mode": "comment"})] == ["order"]
    exact = get_preset("exact_shipstation")  # Exact's orders go out; ShipStation's shipment costs come back
    assert [(r.item, r.reverse) for r in reconciliations(exact, {})] == [("shipment", True)]
    assert reconcilable(exact)


def test_shipment_journals_tampered_by_hand(alice_client, zoho_base, journal_flow, sandbox_org):
    account = journal_flow.account
    shipped = ship(account, ["SH-1", "SH-2", "SH-3", "SH-4", "SH-5"], ["7.50", "8.25", "9.10", "6.00", "4.40"])
    sync(journal_flow)
    ss_state.void_label(account, shipped["SH-4"])  # voided after its journal was posted
    sync(journal_flow)
    assert Record.objects.filter(object_type="shipment", status="synced").count() == 5
    books = journals(sandbox_org)
    assert f"void:{shipped['SH-4']}" in books  # the flow reversed the voided shipment's journal

    found = lines(alice_client, journal_flow)
    assert {key: line["status"] for key, line in found.items() if key[0] == SHIPMENT} == {
        (SHIPMENT, shipped[n]): "matched" for n in ("SH-1", "SH-2", "SH-3", "SH-4", "SH-5")
    }
    assert {line["status"] for key, line in found.items() if key[0] == "order"} == {"matched"}
    voided = found[(SHIPMENT, shipped["SH-4"])]
    assert Decimal(voided["source_amount"]) == 0 == Decimal(voided["ledger_amount"])
    assert sorted(d["credit"] for d in voided["documents"]) == [False, True]
    live = found[(SHIPMENT, shipped["SH-1"])]
    assert Decimal(live["source_amount"]) == Decimal("7.50") == Decimal(live["ledger_amount"])

    # What a merchant does in Books by hand: edit a journal's amount, delete one, enter one twice,
    # and delete the reversal of the voided shipment (its cost is booked again).
    by_hand(zoho_base, sandbox_org, books[shipped["SH-1"]], total="9.99")
    by_hand(zoho_base, sandbox_org, books[shipped["SH-2"]], "DELETE")
    by_hand(zoho_base, sandbox_org, books[shipped["SH-3"]], duplicate=True)
    by_hand(zoho_base, sandbox_org, books[f"void:{shipped['SH-4']}"], "DELETE")
    found = lines(alice_client, journal_flow)
    assert {key: line["status"] for key, line in found.items() if line["status"] != "matched"} == {
        (SHIPMENT, shipped["SH-1"]): "amount_differs",
        (SHIPMENT, shipped["SH-2"]): "missing",
        (SHIPMENT, shipped["SH-3"]): "duplicated",
        (SHIPMENT, shipped["SH-4"]): "amount_differs",
    }
    assert Decimal(found[(SHIPMENT, shipped["SH-1"])]["difference"]) == Decimal("2.49")
    assert found[(SHIPMENT, shipped["SH-4"])]["note"] == "Voided at the source but still booked."
    assert found[(SHIPMENT, shipped["SH-5"])]["status"] == "matched"
    # Books kept every edited journal balanced.
    for doc in SandboxZohoDocument.objects.filter(org=sandbox_org, kind="journal"):
        sides = {"debit": Decimal(0), "credit": Decimal(0)}
        for line in doc.data["line_items"]:
            sides[line["debit_or_credit"]] += Decimal(line["amount"])
        assert sides["debit"] == sides["credit"] == Decimal(doc.data["total"])


def test_a_journal_entered_by_hand_with_our_marker_is_extra(alice_client, journal_flow, sandbox_org):
    ship(journal_flow.account, ["SH-9"], ["5.00"])
    sync(journal_flow)
    original = SandboxZohoDocument.objects.get(org=sandbox_org, kind="journal")
    object_id = zoho_state.new_id()
    stray = SandboxZohoDocument.objects.create(
        org=sandbox_org,
        kind="journal",
        object_id=object_id,
        number="JE-HAND",
        reference_number="SH-OLD",
        data={
            **original.data,
            "journal_id": object_id,
            "entry_number": "JE-HAND",
            "notes": "Shipping cost: copied by hand. [shipment:424242]",
        },
    )
    found = lines(alice_client, journal_flow)
    assert {k: v["status"] for k, v in found.items() if v["status"] != "matched"} == {(SHIPMENT, "424242"): "extra"}
    assert found[(SHIPMENT, "424242")]["documents"][0]["number"] == stray.number


def test_journals_are_listed_in_pages_without_per_shipment_lookups(zoho_connection, sandbox_org):
    expense = zoho_state.account_id(sandbox_org, "Shipping Expense")
    offset = zoho_state.account_id(sandbox_org, "Petty Cash")

    def journal(n: int, day: str, notes: str) -> None:
        object_id = zoho_state.new_id()
        SandboxZohoDocument.objects.create(
            org=sandbox_org,
            kind="journal",
            object_id=object_id,
            number=str(n),
            reference_number=f"SO-{n}",
            data={
                "journal_id": object_id,
                "entry_number": str(n),
                "reference_number": f"SO-{n}",
                "notes": notes,
                "journal_date": day,
                "currency_code": "USD",
                "status": "published",
                "total": "4.005",
                "line_items": [
                    {"account_id": expense, "debit_or_credit": "debit", "amount": "4.005"},
                    {"account_id": offset, "debit_or_credit": "credit", "amount": "4.005"},
                ],
            },
        )

    for n in range(210):
        journal(n, f"2026-11-{1 + n % 30:02d}", f"Shipping cost. [shipment:{n}]")
    journal(900, "2026-11-04", "Rent for November")  # not a shipment journal of ours
    journal(901, "2026-10-04", "Shipping cost. [shipment:901]")  # outside the period
    journal(902, "2026-11-05", "Reversal of voided shipment. [shipment-void:7]")
    before = faults.total_calls(sandbox_org)
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    docs = list(get_system("zoho").reconcile_documents(zoho_connection, {}, period, items=(SHIPMENT,)))
    assert faults.total_calls(sandbox_org) - before == 2  # two pages of 200, nothing else
    assert len(docs) == 211 and {d.item for d in docs} == {SHIPMENT}
    assert "901" not in {d.reference for d in docs}
    first = next(d for d in docs if d.reference == "0")
    assert first.amount == Decimal("4.01") and first.kind == "journal" and not first.credit
    reversal = next(d for d in docs if d.number == "902")
    assert reversal.credit and reversal.reference == "7"
