"""WooCommerce → QuickBooks Desktop, end to end, the way a merchant uses it.

A real Celery worker, the live server, and both sandboxes: the WooCommerce sandbox store (its REST API
places orders and POSTs signed webhooks to our hook URL) and the QuickBooks Web Connector simulator
(it polls our SOAP endpoint like the real Web Connector on the merchant's PC, against a simulated
company file). Alice connects her store through WooCommerce's authorise page, creates the flow from
the store's connection page, and starts it. Paid orders become invoices once each; an unknown SKU
waits for review and goes through after the item is added and Replay is pressed; an unpaid order waits
until it is paid; a refund after invoicing is never silently undone in QuickBooks. Every assertion on
the result is on the simulated company file.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from connector.models import Flow, Record
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

    # --- A refund after invoicing is not undone behind the accountant's back ---------------------
    store.edit(paid, {"status": "refunded"})
    wait_until(
        lambda: record(str(paid["number"])).status == Record.Status.NEEDS_REVIEW,
        timeout=60,
        message="the refunded order held for review",
    )
    assert len(invoices(company, str(paid["number"]))) == 1
    assert record(str(paid["number"])).remediation
    assert len(company.invoices()) == 3  # one per paid order, nothing else
