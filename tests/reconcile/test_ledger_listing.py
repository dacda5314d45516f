"""The ledger side alone: Zoho Books lists a period's documents in one paginated pass per document
type (no per-order lookups), and a WooCommerce refund's credit note reconciles with the order."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import requests
from django.urls import reverse

from connector.reconcile import Period
from connector.registry import get_system
from integrations.zoho.sandbox import faults
from integrations.zoho.sandbox import state as zoho_state
from integrations.zoho.sandbox.models import SandboxZohoDocument
from tests.reconcile.conftest import place, sync
from tests.reconcile.test_woocommerce_zoho import lines_by_order, today_query

pytestmark = pytest.mark.django_db(transaction=True)


def seed(org, kind: str, number: str, reference: str, day: str, total: str, status: str = "sent") -> None:
    object_id = zoho_state.new_id()
    SandboxZohoDocument.objects.create(
        org=org,
        kind=kind,
        object_id=object_id,
        number=number,
        reference_number=reference,
        data={
            f"{kind}_id": object_id,
            f"{kind}_number": number,
            "reference_number": reference,
            "date": day,
            "total": total,
            "currency_code": "USD",
            "status": status,
        },
    )


def test_zoho_lists_a_period_in_pages_without_per_order_lookups(zoho_connection, sandbox_org):
    for n in range(230):
        seed(sandbox_org, "invoice", f"INV-{n}", str(1000 + n), f"2026-11-{1 + n % 30:02d}", "10.005")
    seed(sandbox_org, "invoice", "INV-OCT", "999", "2026-10-15", "5.00")  # outside the period
    seed(sandbox_org, "creditnote", "CN-1", "1000", "2026-11-20", "2.50")
    seed(sandbox_org, "invoice", "INV-VOID", "1001", "2026-11-02", "10.00", status="void")
    before = faults.total_calls(sandbox_org)
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    docs = list(get_system("zoho").reconcile_documents(zoho_connection, {}, period))
    assert faults.total_calls(sandbox_org) - before == 3  # two pages of invoices, one of credit notes
    assert len(docs) == 232 and "999" not in {d.reference for d in docs}
    invoice = next(d for d in docs if d.number == "INV-0")
    assert invoice.amount == Decimal("10.01") and invoice.kind == "invoice" and not invoice.credit  # Books' cents
    assert invoice.url.endswith(f"/{sandbox_org.organization_id}/invoice/{invoice.document_id}/")
    credit = next(d for d in docs if d.kind == "credit_note")
    assert credit.credit and credit.amount == Decimal("2.50") and credit.reference == "1000"
    assert next(d for d in docs if d.number == "INV-VOID").void
    # A flow writing sales orders reads sales orders instead of invoices.
    seed(sandbox_org, "salesorder", "SO-1", "1000", "2026-11-03", "7.00")
    kinds = {
        d.kind for d in get_system("zoho").reconcile_documents(zoho_connection, {"document": "sales_order"}, period)
    }
    assert kinds == {"sales_order", "credit_note"}


def test_a_refund_credited_in_the_books_reconciles(alice_client, shop, woo_flow, sandbox_org):
    order = place(shop, "WOO-HAT", 2, "refund@example.com")
    key = shop.keys.first()
    refund = requests.post(
        f"{shop.url}/wp-json/wc/v3/orders/{order.pk}/refunds",
        json={"amount": "3.00", "reason": "Scuffed"},
        auth=(key.consumer_key, key.consumer_secret),
        timeout=10,
    )
    assert refund.status_code == 201, refund.text
    sync(woo_flow)
    line = lines_by_order(alice_client, woo_flow)[order.data["number"]]
    assert line["status"] == "matched"
    assert (
        Decimal(line["source_amount"])
        == Decimal(order.data["total"]) - Decimal("3.00")
        == Decimal(line["ledger_amount"])
    )
    assert sorted(d["kind"] for d in line["documents"]) == ["credit_note", "invoice"]
    # The credit note deleted by hand: the books no longer show the refund.
    SandboxZohoDocument.objects.filter(org=sandbox_org, kind="creditnote").delete()
    line = lines_by_order(alice_client, woo_flow)[order.data["number"]]
    assert line["status"] == "amount_differs" and Decimal(line["difference"]) == Decimal("3.00")
    page = alice_client.get(reverse("flow_reconciliation", args=[woo_flow.pk]), today_query()).content.decode()
    assert "Amount differs: 1" in page
