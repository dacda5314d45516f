"""WooCommerce → QuickBooks Desktop, end to end, the way a merchant uses it.

A real Celery worker, the live server, and both sandboxes: the WooCommerce sandbox store (its REST API
places orders and POSTs signed webhooks to our hook URL) and the QuickBooks Web Connector simulator
(it polls our SOAP endpoint like the real Web Connector on the merchant's PC, against a simulated
company file). Alice connects her store through WooCommerce's authorise page, creates the flow from
the store's connection page, and starts it. Paid orders become invoices once each; an unknown SKU
waits for review and goes through after the item is added and Replay is pressed; an unpaid order waits
until it is paid; each refund becomes one credit memo (never a second, whatever is retried or
replayed), a cancellation after invoicing waits for a person, and a full refund credits the rest. A
second flow posts paid orders as sales receipts, with QuickBooks' payment methods offered and checked
before Start, and pushes QuickBooks' quantities back to the store's stock. Every assertion on the
result is on the simulated company file or the sandbox store.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from connector.models import Flow, Record
from integrations.qbdesktop import chain
from integrations.qbdesktop.models import QBXMLJob
from integrations.qbdesktop.sandbox.client import WebConnectorSimulator
from integrations.qbdesktop.sandbox.company import SimulatedCompany
from integrations.woocommerce.sandbox.views import create_store
from tests.e2e.conftest import wait_until
from tests.e2e.test_woocommerce_zoho import Store, connect_store
from tests.integrations.qbdesktop.conftest import make_qbd_connection

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def merchant(client, alice, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    client.force_login(alice)
    return client


def books() -> SimulatedCompany:
    company = SimulatedCompany("Alice Ltd books", seed=11)
    company.add_customer("Acme Ltd", email="ap@acme.test")
    company.add_item("WIDGET-1", price="12.50", quantity_on_hand="40")
    company.add_item("Shipping", item_type="ItemService", price="0", quantity_on_hand=None)
    company.add_item("Discount", item_type="ItemOtherCharge", quantity_on_hand=None)
    company.add_item("Sales Tax", item_type="ItemOtherCharge", quantity_on_hand=None)
    company.add_item("Refunds", item_type="ItemOtherCharge", quantity_on_hand=None)
    return company


def order(status: str, sku: str, quantity: int) -> dict:
    billing = {"first_name": "Ann", "last_name": "Buyer", "company": "Acme Ltd", "email": "ann@acme.test"}
    return {"status": status, "billing": billing, "line_items": [{"sku": sku, "quantity": quantity}]}


def record(number: str) -> Record:
    return Record.objects.get(object_type="order", source_ref=number)


def invoices(company: SimulatedCompany, number: str):
    return [t for t in company.invoices() if t.ref_number == number]


def queued_for(number: str) -> bool:
    """The worker has handed the order to QuickBooks' queue (it waits for the Web Connector)."""
    return QBXMLJob.objects.filter(context__order=number).exists()


def memos(company: SimulatedCompany, number: str):
    return sorted(
        (m for m in company.credit_memos() if m.ref_number.startswith(f"{number}-R")), key=lambda m: m.ref_number
    )


def credit_queued(number: str, count: int) -> bool:
    """The worker queued the order's `count`-th credit memo check for the Web Connector."""
    return QBXMLJob.objects.filter(context__order=number, handler=chain.H_CREDIT_LOOKUP).count() >= count


def settled(number: str, status: str = Record.Status.SYNCED) -> bool:
    return record(number).status == status


def test_woocommerce_to_quickbooks_desktop_end_to_end(merchant, alice, live_server, celery_worker):
    shop = create_store("alice-qb", name="Alice's shop", currency="USD", tax_rate="0", organization=alice.org)
    store = Store(f"{live_server.url}/sandbox/woocommerce/{shop.slug}", shop.keys.first())
    store.call("POST", "products", {"name": "Widget", "sku": "WIDGET-1", "regular_price": "12.50"})
    store.call("POST", "products", {"name": "Gadget", "sku": "GADGET-2", "regular_price": "99.00"})
    company = books()  # has the customer and WIDGET-1, not GADGET-2

    # --- Connect both, create the flow from the store's page (it picks the ledger), start it -------
    woo = connect_store(merchant, live_server, shop)
    qbd, user, password = make_qbd_connection(alice.org)
    page = merchant.get(reverse("woocommerce_connection", args=[woo.pk])).content.decode()
    new_flow = re.search(rf'href="({reverse("flow_create")}[^"]*)"', page).group(1).replace("&amp;", "&")
    form = merchant.get(new_flow).content.decode()
    assert '<option value="woocommerce_qbdesktop" selected>' in form and 'value="900"' in form
    merchant.post(
        reverse("flow_create"),
        {"preset": "woocommerce_qbdesktop", "source": woo.pk, "target": qbd.pk, "interval_seconds": 900},
    )
    flow = Flow.objects.get(organization=alice.org)
    assert flow.options["post_when"] == "paid"
    merchant.post(reverse("flow_toggle", args=[flow.pk]))

    def web_connector_runs() -> None:
        WebConnectorSimulator(
            live_server.url, user.username, password, company, owner_id=user.owner_id, file_id=user.file_id
        ).run()

    # --- Paid, unknown SKU, unpaid: the webhooks bring them; QuickBooks gets them on its next run ---
    paid = store.place(order("processing", "WIDGET-1", 2))
    unknown = store.place(order("processing", "GADGET-2", 1))
    unpaid = store.place(order("pending", "WIDGET-1", 1))
    numbers = {str(o["number"]) for o in (paid, unknown, unpaid)}
    wait_until(lambda: all(queued_for(n) for n in numbers), timeout=60, message="three orders queued for QuickBooks")
    web_connector_runs()
    web_connector_runs()  # a lookup in one run, the write in the next, as QuickBooks pairs them

    (invoice,) = invoices(company, str(paid["number"]))
    assert invoice.customer == "Acme Ltd" and invoice.memo == f"WooCommerce order {paid['number']}"
    assert [(item, qty, rate) for _id, item, qty, rate in invoice.lines] == [
        ("WIDGET-1", Decimal("2"), Decimal("12.50"))
    ]
    assert record(str(paid["number"])).status == Record.Status.SYNCED
    held = record(str(unknown["number"]))
    assert held.status == Record.Status.NEEDS_REVIEW and "GADGET-2" in held.last_error
    waiting = record(str(unpaid["number"]))
    assert waiting.status == Record.Status.SKIPPED and not invoices(company, str(unpaid["number"]))

    # --- The merchant adds the item in QuickBooks and presses Replay -----------------------------
    company.add_item("GADGET-2", price="99.00", quantity_on_hand="5")
    merchant.post(reverse("record_replay", args=[held.pk]))
    wait_until(lambda: record(str(unknown["number"])).status == Record.Status.PENDING, timeout=30, message="replay")
    web_connector_runs()
    web_connector_runs()
    assert len(invoices(company, str(unknown["number"]))) == 1
    assert record(str(unknown["number"])).status == Record.Status.SYNCED

    # --- The unpaid order is paid: invoiced once; completing the paid one posts nothing again -----
    store.edit(unpaid, {"status": "processing"})
    store.edit(paid, {"status": "completed"})
    wait_until(
        lambda: (
            record(str(unpaid["number"])).status == Record.Status.PENDING
            and QBXMLJob.objects.filter(context__order=str(unpaid["number"])).count() > 1
        ),
        timeout=60,
        message="the paid order queued",
    )
    web_connector_runs()
    web_connector_runs()
    wait_until(lambda: not Record.objects.filter(status="pending").exists(), timeout=60, message="all settled")
    assert len(invoices(company, str(unpaid["number"]))) == 1
    assert len(invoices(company, str(paid["number"]))) == 1  # completed after invoicing: not posted twice

    # --- Refunds: one credit memo each, never a second ------------------------------------------
    number = str(paid["number"])
    store.call("POST", f"orders/{paid['id']}/refunds", {"amount": "5.00", "reason": "Scratched"})
    wait_until(lambda: credit_queued(number, 1), timeout=60, message="the refund queued for QuickBooks")
    web_connector_runs()
    wait_until(lambda: settled(number), timeout=30, message="the refund credited")
    (memo,) = memos(company, number)
    assert (memo.ref_number, memo.customer, memo.total) == (f"{number}-R1", "Acme Ltd", Decimal("5.00"))
    assert memo.memo.startswith("WooCommerce refund ") and memo.memo.endswith(f"of order {number}: Scratched")

    store.call("POST", f"orders/{paid['id']}/refunds", {"amount": "2.50", "reason": "Late"})
    wait_until(lambda: credit_queued(number, 2), timeout=60, message="the second refund queued")
    web_connector_runs()
    wait_until(lambda: settled(number), timeout=30, message="the second refund credited")
    assert [m.total for m in memos(company, number)] == [Decimal("5.00"), Decimal("2.50")]

    # Replay (a retry from fresh store data) and further Web Connector runs add nothing.
    merchant.post(reverse("record_replay", args=[record(number).pk]))
    wait_until(lambda: settled(number), timeout=30, message="the replay")
    web_connector_runs()
    assert len(memos(company, number)) == 2 and len(invoices(company, number)) == 1

    # --- Cancelled after invoicing: QuickBooks is not changed behind the accountant's back -------
    other = str(unknown["number"])
    store.edit(unknown, {"status": "cancelled"})
    wait_until(lambda: settled(other, Record.Status.NEEDS_REVIEW), timeout=60, message="the cancellation held")
    assert "Void or delete transaction" in record(other).remediation
    assert len(invoices(company, other)) == 1 and memos(company, other) == []

    # --- Refunded in full: the rest is credited, the invoice stays --------------------------------
    store.call("POST", f"orders/{paid['id']}/refunds", {"amount": "17.50", "reason": "Returned"})
    wait_until(lambda: credit_queued(number, 3), timeout=60, message="the full refund queued")
    web_connector_runs()
    wait_until(lambda: settled(number), timeout=30, message="the full refund credited")
    assert [m.total for m in memos(company, number)] == [Decimal("5.00"), Decimal("2.50"), Decimal("17.50")]
    assert len(invoices(company, number)) == 1
    assert len(company.invoices()) == 3  # one per paid order, nothing else
    assert len(company.credit_memos()) == 3


def test_woocommerce_to_quickbooks_desktop_sales_receipts_and_stock(merchant, alice, live_server, celery_worker):
    shop = create_store("alice-qb-sr", name="Alice's shop", currency="USD", tax_rate="0", organization=alice.org)
    store = Store(f"{live_server.url}/sandbox/woocommerce/{shop.slug}", shop.keys.first())
    widget = store.call(
        "POST",
        "products",
        {"name": "Widget", "sku": "WIDGET-1", "regular_price": "12.50", "manage_stock": True, "stock_quantity": 100},
    )
    company = books()
    company.items.pop(company.item_by_name("Refunds").list_id)  # not in QuickBooks yet: refunds wait
    woo = connect_store(merchant, live_server, shop)
    qbd, user, password = make_qbd_connection(alice.org)

    def web_connector_runs() -> None:
        WebConnectorSimulator(
            live_server.url, user.username, password, company, owner_id=user.owner_id, file_id=user.file_id
        ).run()

    # --- Sales receipts chosen in the wizard; the names are typed until QuickBooks' lists are read ----
    query = f"?preset=woocommerce_qbdesktop&source={woo.pk}&target={qbd.pk}"
    assert "Orders become" in merchant.get(reverse("flow_create") + query).content.decode()
    wizard = {
        "preset": "woocommerce_qbdesktop",
        "source": woo.pk,
        "target": qbd.pk,
        "interval_seconds": 900,
        "with_options": "1",
        "posting": "sales_receipt",
        "post_when": "paid",
        "payment_method": "Bitcoin",  # not a QuickBooks payment method
        "deposit_account": "Checking",
        "refund_item": "Refunds",
        "list_sync_minutes": 60,
    }
    merchant.post(reverse("flow_create"), wizard)
    flow = Flow.objects.get(organization=alice.org)
    web_connector_runs()  # reads QuickBooks' payment methods and accounts for the flow's options

    # Start checks the options against QuickBooks' lists: the unknown payment method stops it.
    merchant.post(reverse("flow_toggle", args=[flow.pk]))
    assert not Flow.objects.get(pk=flow.pk).enabled
    page = merchant.get(reverse("flow_detail", args=[flow.pk])).content.decode()
    assert '<option value="Visa">Visa</option>' in page and '<option value="Checking"' in page
    # On the flow's page the merchant picks Visa and turns on the stock push (its store is known there).
    options = {k: v for k, v in wizard.items() if k not in ("preset", "source", "target", "interval_seconds")}
    merchant.post(reverse("flow_detail", args=[flow.pk]), {**options, "payment_method": "Visa", "push_inventory": "on"})
    flow.refresh_from_db()
    assert (flow.options["posting"], flow.options["payment_method"], flow.options["push_inventory"]) == (
        "sales_receipt",
        "Visa",
        True,
    )
    merchant.post(reverse("flow_toggle", args=[flow.pk]))
    assert Flow.objects.get(pk=flow.pk).enabled

    # --- Paid orders: one sales receipt each; QuickBooks' stock goes back to the store ------------
    first = store.place(order("processing", "WIDGET-1", 3))
    second = store.place(order("processing", "WIDGET-1", 1))
    numbers = [str(first["number"]), str(second["number"])]
    wait_until(lambda: all(queued_for(n) for n in numbers), timeout=60, message="both orders queued")
    web_connector_runs()
    web_connector_runs()
    wait_until(lambda: all(settled(n) for n in numbers), timeout=30, message="both receipts written")
    receipts = {r.ref_number: r for r in company.sales_receipts()}
    assert sorted(receipts) == sorted(numbers) and company.invoices() == []
    assert receipts[numbers[0]].total == Decimal("37.50") and receipts[numbers[0]].payment_method == "Visa"
    assert receipts[numbers[0]].deposit_account == "Checking"
    assert record(numbers[0]).result["label"] == "QuickBooks sales receipt"
    wait_until(
        lambda: store.call("GET", f"products/{widget['id']}")["stock_quantity"] == 36,
        timeout=60,
        message="QuickBooks' 40 − 4 pushed to the store",
    )

    # Completed later: not posted again.
    store.edit(first, {"status": "completed"})
    wait_until(lambda: record(numbers[0]).source_payload["status"] == "shipped", timeout=60, message="completed")
    web_connector_runs()
    wait_until(lambda: settled(numbers[0]), timeout=30, message="the completed order settled")
    assert len(company.sales_receipts()) == 2

    # --- A refund fails (no refund item in QuickBooks), is fixed, and replayed once ----------------
    store.call("POST", f"orders/{first['id']}/refunds", {"amount": "12.50", "reason": "One broke"})
    wait_until(
        lambda: QBXMLJob.objects.filter(context__order=numbers[0], context__refund_item=True).exists(),
        timeout=60,
        message="the refund queued (its item looked up first)",
    )
    web_connector_runs()
    wait_until(lambda: settled(numbers[0], Record.Status.NEEDS_REVIEW), timeout=30, message="held for review")
    assert "Create item 'Refunds' in QuickBooks" in record(numbers[0]).remediation and company.credit_memos() == []
    company.add_item("Refunds", item_type="ItemOtherCharge", quantity_on_hand=None)
    merchant.post(reverse("record_replay", args=[record(numbers[0]).pk]))
    wait_until(lambda: record(numbers[0]).status == Record.Status.PENDING, timeout=30, message="replay queued")
    web_connector_runs()
    wait_until(lambda: settled(numbers[0]), timeout=30, message="the refund credited after the replay")
    (memo,) = company.credit_memos()
    assert (memo.ref_number, memo.total) == (f"{numbers[0]}-R1", Decimal("12.50"))
    web_connector_runs()
    assert len(company.credit_memos()) == 1 and len(company.sales_receipts()) == 2
