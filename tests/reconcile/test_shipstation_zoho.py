"""Reconciliation of a ShipStation → Zoho Books flow over real HTTP against both sandboxes: orders of
the period read from ShipStation by order date, invoices read from Books; an invoice edited and one
deleted by hand are found, nothing else."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from connector.models import Connection, Flow, Record
from connector.registry import get_preset
from integrations.shipstation import timeutil
from integrations.shipstation.sandbox import state as ss_state
from integrations.shipstation.sandbox.models import SandboxAccount
from integrations.zoho.sandbox.models import SandboxZohoDocument
from tests.integrations.shipstation.conftest import order_body
from tests.reconcile.conftest import sync
from tests.reconcile.test_woocommerce_zoho import by_hand, lines_by_order, today_query

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ss_flow(alice, zoho_base, zoho_connection) -> Flow:
    account = SandboxAccount.objects.create(name="Alice's store", organization=alice.org)
    source = Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="Alice ShipStation",
        credentials={"api_key": account.api_key, "api_secret": account.api_secret},
        settings={"base_url": f"{zoho_base}/sandbox/shipstation"},
    )
    preset = get_preset("shipstation_zoho")
    flow = Flow.objects.create(
        organization=alice.org,
        preset=preset.key,
        name=preset.name,
        source=source,
        target=zoho_connection,
        options=dict(preset.default_options),
    )
    flow.account = account
    return flow


def test_shipstation_orders_against_zoho_invoices(alice_client, zoho_base, ss_flow, sandbox_org):
    account = ss_flow.account
    account.orders.all().delete()  # only the orders this test places
    placed = timeutil.to_filter(timezone.now() - timedelta(minutes=1))
    for number in ("SS-1", "SS-2", "SS-3"):
        ss_state.upsert_order(account, order_body(number, orderDate=placed), notify=False)
    last_year = timeutil.to_filter(timezone.now() - timedelta(days=400))
    ss_state.upsert_order(account, order_body("SS-OLD", orderDate=last_year), notify=False)
    sync(ss_flow)
    assert Record.objects.filter(object_type="order", status="synced").count() == 4

    lines = lines_by_order(alice_client, ss_flow)
    assert {ref: line["status"] for ref, line in lines.items()} == {
        "SS-1": "matched",
        "SS-2": "matched",
        "SS-3": "matched",
    }
    assert Decimal(lines["SS-1"]["source_amount"]) == Decimal("27.05")  # amountPaid, to the cent

    invoices = {d.reference_number: d for d in SandboxZohoDocument.objects.filter(org=sandbox_org, kind="invoice")}
    by_hand(zoho_base, sandbox_org, invoices["SS-1"], total="30.00")
    by_hand(zoho_base, sandbox_org, invoices["SS-2"], "DELETE")
    by_hand(zoho_base, sandbox_org, invoices["SS-OLD"], total="1.00")  # outside the period: not reported
    lines = lines_by_order(alice_client, ss_flow)
    assert {ref: line["status"] for ref, line in lines.items()} == {
        "SS-1": "amount_differs",
        "SS-2": "missing",
        "SS-3": "matched",
    }
    assert Decimal(lines["SS-1"]["difference"]) == Decimal("2.95")
    answer = alice_client.get(f"/api/v1/flows/{ss_flow.pk}/reconciliation/", today_query()).json()
    assert answer["counts"] == {"missing": 1, "amount_differs": 1, "matched": 1}
    assert answer["totals"] == [{"currency": "USD", "source": "81.15", "ledger": "57.05", "difference": "-24.10"}]
