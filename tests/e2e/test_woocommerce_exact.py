"""WooCommerce → Exact Online, end to end: store orders become Exact sales invoices (or sales orders),
refunds become credit notes.

A real Celery worker, the live server, Redis and both sandboxes over real HTTP. The merchant connects
the store (WooCommerce's app-key page) and Exact (the sandbox consent page), adds the flow and cannot
start it until the sales journal and VAT code are picked from Exact's lists. Orders placed in the
store reach us as signed webhooks and become invoices (customers found by email or created, items by
code); one names an item Exact lacks, is held for review and syncs on Replay once the item exists. An
edit replaces the open invoice's lines, a cancel is credited once, a refund is a credit note of its
own. Switched to sales orders, a new order becomes an Exact sales order, its edit replaces the open
order's lines and its cancel deletes it. Assertions read Exact's state.

Exact allows 60 calls a minute: every wait allows for the next minute window, and the test keeps
its orders few.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from connector.models import Connection, Flow, Record
from integrations.exact.sandbox import state as exact_state
from integrations.exact.sandbox.models import SandboxExactEntity
from integrations.woocommerce.sandbox.views import create_store
from tests.e2e.conftest import wait_until
from tests.e2e.test_exact_shipstation import connect_exact
from tests.e2e.test_woocommerce_zoho import Store, billing, connect_store

EXACT_WAIT = 150  # a step may wait for Exact's next minute window

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OPTIONS = {
    "exact_sales_journal": "70",
    "exact_vat_code": "2",
    "exact_shipping_item": "SHIPPING",
    "exact_refund_item": "REFUND",
    "exact_document": "invoice",
}


def rows(division, entity: str, **match) -> list[dict]:
    found = [r.data for r in SandboxExactEntity.objects.filter(division=division, entity=entity).order_by("id")]
    return [r for r in found if all(r.get(k) == v for k, v in match.items())]


def net(row: dict) -> Decimal:
    return Decimal(str(row.get("AmountFCExclVat", row["AmountFC"])))


def status_of(order: dict) -> str | None:
    return (
        Record.objects.filter(object_type="order", source_id=str(order["id"])).values_list("status", flat=True).first()
    )


@pytest.fixture
def merchant(client, alice, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    client.force_login(alice)
    return client


def test_woocommerce_orders_become_exact_invoices_and_sales_orders(merchant, alice, live_server, celery_worker):
    shop = create_store("alice-shop", name="Alice's shop", currency="EUR", tax_rate="0.21", organization=alice.org)
    store = Store(f"{live_server.url}/sandbox/woocommerce/{shop.slug}", shop.keys.first())
    _user, (company,) = exact_state.create_company("nl", "owner@alice.example", "Alice BV", organization=alice.org)
    for code in ("WOO-HAT", "WOO-MUG", "SHIPPING", "REFUND"):  # WOO-TEE is missing in Exact
        exact_state.put(company, "Items", {"Code": code, "Description": code.title()})

    # --- Connect both, add the flow; Start is refused until the options are picked ---------------
    woo = connect_store(merchant, live_server, shop)
    connect_exact(merchant, "owner@alice.example")
    exact = Connection.objects.get(organization=alice.org, system="exact")
    assert exact.status == "active" and exact.settings["division"] == company.code
    merchant.post(
        reverse("flow_create"),
        {"preset": "woocommerce_exact", "source": woo.pk, "target": exact.pk, "interval_seconds": 900},
    )
    flow = Flow.objects.get(organization=alice.org)
    page = merchant.get(reverse("flow_detail", args=[flow.pk])).content.decode()
    assert 'value="70"' in page and 'value="2"' in page and 'value="sales_order"' in page  # Exact's lists
    merchant.post(reverse("flow_toggle", args=[flow.pk]))
    flow.refresh_from_db()
    assert not flow.enabled  # no journal, no VAT code: not started
    response = merchant.post(reverse("flow_detail", args=[flow.pk]), OPTIONS)
    assert response.status_code == 302, response.content[-3000:]
    merchant.post(reverse("flow_toggle", args=[flow.pk]))
    flow.refresh_from_db()
    assert flow.enabled and flow.options["exact_document"] == "invoice"

    # --- Orders by webhook: invoices; one with an item Exact lacks is held, then replayed ---------
    ada = billing("Ada", "Lovelace", "ada@example.com")
    order_a = store.place(
        {
            "billing": ada,
            "line_items": [{"sku": "WOO-HAT", "quantity": 2}],
            "shipping_lines": [{"method_title": "Flat rate", "total": "5.00"}],
        }
    )
    order_b = store.place({"billing": ada, "line_items": [{"sku": "WOO-MUG", "quantity": 1}]})
    order_c = store.place(
        {"billing": billing("Grace", "Hopper", "grace@example.com"), "line_items": [{"sku": "WOO-TEE", "quantity": 1}]}
    )
    for order in (order_a, order_b):
        wait_until(lambda o=order: status_of(o) == "synced", timeout=EXACT_WAIT, message=f"{order['number']} invoiced")
    wait_until(lambda: status_of(order_c) == "needs_review", timeout=EXACT_WAIT, message="C held for review")
    (invoice_a,) = rows(company, "SalesInvoices", YourRef=order_a["number"])
    assert invoice_a["Type"] == 8020 and invoice_a["Journal"] == "70"
    assert net(invoice_a) == Decimal("29.00")  # 2 x 12.00 + 5.00 shipping, before VAT
    (invoice_b,) = rows(company, "SalesInvoices", YourRef=order_b["number"])
    (ada_account,) = rows(company, "Accounts", Email="ada@example.com")
    assert invoice_a["OrderedBy"] == invoice_b["OrderedBy"] == ada_account["ID"]  # created once, reused
    held = Record.objects.get(object_type="order", source_id=str(order_c["id"]))
    assert "WOO-TEE" in held.last_error and held.remediation
    assert rows(company, "SalesInvoices", YourRef=order_c["number"]) == []
    exact_state.put(company, "Items", {"Code": "WOO-TEE", "Description": "Woo Tee"})
    merchant.post(reverse("record_replay", args=[held.pk]))
    wait_until(lambda: status_of(order_c) == "synced", timeout=EXACT_WAIT, message="C replayed")
    assert net(rows(company, "SalesInvoices", YourRef=order_c["number"])[0]) == Decimal("19.99")

    # --- Edit A (open invoice updated), cancel B (credited once), refund part of C (a credit note) --
    hat = next(li for li in order_a["line_items"] if li["sku"] == "WOO-HAT")
    store.edit(order_a, {"line_items": [{"id": hat["id"], "quantity": 3}]})
    store.edit(order_b, {"status": "cancelled"})
    store.call("POST", f"orders/{order_c['id']}/refunds", {"amount": "12.10", "reason": "Scratched"})
    wait_until(
        lambda: net(rows(company, "SalesInvoices", YourRef=order_a["number"])[0]) == Decimal("41.00"),
        timeout=EXACT_WAIT,
        message="A's open invoice updated: 3 x 12.00 + 5.00",
    )
    wait_until(
        lambda: rows(company, "SalesInvoices", YourRef=f"CR-{order_b['number']}"),
        timeout=EXACT_WAIT,
        message="B credited",
    )
    wait_until(
        lambda: len([r for r in rows(company, "SalesInvoices") if str(r.get("YourRef")).startswith("RF-")]) == 1,
        timeout=EXACT_WAIT,
        message="C's refund credited",
    )
    (credit_b,) = rows(company, "SalesInvoices", YourRef=f"CR-{order_b['number']}")
    assert credit_b["Type"] == 8021 and net(credit_b) == -net(invoice_b)
    (refund,) = [r for r in rows(company, "SalesInvoices") if str(r.get("YourRef")).startswith("RF-")]
    assert refund["YourRef"].startswith(f"RF-{order_c['number']}-") and refund["Type"] == 8021
    assert net(refund) == Decimal("-10.00") and "Scratched" in refund["Description"]  # 12.10 with 21% VAT
    assert len(rows(company, "SalesInvoices", YourRef=order_a["number"])) == 1  # the same invoice, updated

    # --- Sales orders instead: a new order becomes an open Exact sales order; edited; cancelled -----
    response = merchant.post(reverse("flow_detail", args=[flow.pk]), {**OPTIONS, "exact_document": "sales_order"})
    assert response.status_code == 302
    order_d = store.place(
        {"billing": billing("Alan", "Turing", "alan@example.com"), "line_items": [{"sku": "WOO-MUG", "quantity": 2}]}
    )
    wait_until(lambda: status_of(order_d) == "synced", timeout=EXACT_WAIT, message="D as a sales order")
    (so,) = rows(company, "SalesOrders", YourRef=order_d["number"])
    assert so["Status"] == 12 and net(so) == Decimal("17.00")
    assert rows(company, "SalesInvoices", YourRef=order_d["number"]) == []
    mug = next(li for li in order_d["line_items"] if li["sku"] == "WOO-MUG")
    order_d = store.edit(order_d, {"line_items": [{"id": mug["id"], "quantity": 4}]})
    wait_until(
        lambda: net(rows(company, "SalesOrders", YourRef=order_d["number"])[0]) == Decimal("34.00"),
        timeout=EXACT_WAIT,
        message="D's open sales order updated",
    )
    store.edit(order_d, {"status": "cancelled"})
    wait_until(
        lambda: rows(company, "SalesOrders", YourRef=order_d["number"]) == [],
        timeout=EXACT_WAIT,
        message="D's sales order deleted",
    )

    # --- The end state: one document per order, each credit once ---------------------------------
    wait_until(lambda: not Record.objects.filter(status="pending").exists(), timeout=EXACT_WAIT, message="quiet")
    for order in (order_a, order_b, order_c):
        assert len(rows(company, "SalesInvoices", YourRef=order["number"])) == 1, order["number"]
    assert len(rows(company, "SalesInvoices", YourRef=f"CR-{order_b['number']}")) == 1
    assert len([r for r in rows(company, "SalesInvoices") if r["Type"] == 8021]) == 2
    assert status_of(order_a) == status_of(order_b) == status_of(order_c) == status_of(order_d) == "synced"
