"""ShipStation → Exact Online, end to end: store orders become Exact sales invoices and shipments'
costs become Exact general journal entries.

A real Celery worker, the live server, Redis and both sandboxes over real HTTP. The merchant connects
Exact (sandbox consent page) and ShipStation, adds the flow, is refused Start-ready options until the
sales journal, VAT code, shipping GL accounts and journal are picked from Exact's lists, and starts it. Orders arrive by webhook and
become invoices (customers found by email or created, items by code); one order names an item Exact
lacks, is held for review, and syncs on Replay once the item exists. An edit
an edit replaces the lines of an open invoice and is held once the invoice is processed, a cancel
is credited, a shipped order's label cost is posted once as a balanced journal entry on the order's
number (invoices untouched), and its voided label is reversed once. Assertions read Exact's state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from connector.models import Connection, Flow, Record
from integrations.exact.sandbox import state as exact_state
from integrations.exact.sandbox.models import SandboxExactEntity
from integrations.shipstation.client import ShipStationClient
from integrations.shipstation.sandbox.models import SandboxAccount
from tests.e2e.conftest import wait_until
from tests.e2e.test_exact_shipstation import connect_exact
from tests.integrations.shipstation.conftest import order_body as taxed_order_body

EXACT_WAIT = 120  # Exact's 60 calls a minute: a step may wait for the next minute window

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def order_body(number: str, **extra) -> dict:
    """The ShipStation test order without its 5 % tax: the flow invoices with one VAT code for items and
    shipping alike (here "0"), and an order whose tax is not that code's VAT is held for review
    (tests/integrations/exact/test_invoices.py), so this flow's orders charge none."""
    body = taxed_order_body(number, **extra)
    for item in body["items"]:
        item["taxAmount"] = 0
    return {**body, "taxAmount": 0, "amountPaid": 26.0}


def rows(division, entity: str) -> list[dict]:
    return [r.data for r in SandboxExactEntity.objects.filter(division=division, entity=entity).order_by("id")]


def invoices(division, ref: str) -> list[dict]:
    return [i for i in rows(division, "SalesInvoices") if i.get("YourRef") == ref]


def status(number: str) -> str | None:
    return Record.objects.filter(object_type="order", source_ref=number).values_list("status", flat=True).first()


@pytest.fixture
def merchant(client, alice, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    client.force_login(alice)
    return client


def gl_account(division, code: str) -> str:
    return exact_state.find(division, "GLAccounts", Code=code)["ID"]


def journal_entries(division) -> list[tuple[str, list[tuple[str, Decimal]]]]:
    """Each general journal entry as (journal code, sorted (GL account, amount) of its lines)."""
    lines = rows(division, "GeneralJournalEntryLines")
    return [
        (
            entry["JournalCode"],
            sorted((x["GLAccount"], Decimal(str(x["AmountFC"]))) for x in lines if x["EntryID"] == entry["EntryID"]),
        )
        for entry in rows(division, "GeneralJournalEntries")
    ]


def connect_and_start(merchant, alice, live_server):
    _user, (company,) = exact_state.create_company("nl", "owner@alice.example", "Alice BV", organization=alice.org)
    for code, description in (("SKU-1", "Widget"), ("SHIPPING", "Shipping")):
        exact_state.put(company, "Items", {"Code": code, "Description": description})
    connect_exact(merchant, "owner@alice.example")
    exact = Connection.objects.get(organization=alice.org, system="exact")
    assert exact.settings["division"] == company.code and exact.status == "active"

    account = SandboxAccount.objects.create(name="Alice's store", organization=alice.org)
    response = merchant.post(
        reverse("shipstation_connect"),
        {
            "label": "Alice ShipStation",
            "api_key": account.api_key,
            "api_secret": account.api_secret,
            "base_url": f"{live_server.url}/sandbox/shipstation",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    shipstation = Connection.objects.get(organization=alice.org, system="shipstation")

    merchant.post(
        reverse("flow_create"),
        {"preset": "shipstation_exact", "source": shipstation.pk, "target": exact.pk, "interval_seconds": 300},
    )
    flow = Flow.objects.get(organization=alice.org)
    page = merchant.get(reverse("flow_detail", args=[flow.pk])).content.decode()
    assert 'value="70"' in page and 'value="2"' in page  # sales journal and VAT codes from Exact's lists
    assert 'value="90"' in page  # the general journals too, for shipment costs
    refused = merchant.post(reverse("flow_detail", args=[flow.pk]), {"exact_shipping_item": "SHIPPING"})
    # No journal, no VAT code, no shipping GL accounts: the options are not saved.
    assert refused.status_code != 302 and "Shipping expense GL account" in refused.content.decode()
    response = merchant.post(
        reverse("flow_detail", args=[flow.pk]),
        {
            "exact_sales_journal": "70",
            # The orders charge no tax, so the VAT code is "0" (Geen BTW): Exact adds the VAT of the
            # code to the net lines, and a code whose VAT is not the order's tax holds the order.
            "exact_vat_code": "0",
            "exact_shipping_item": "SHIPPING",
            "exact_expense_gl_account": gl_account(company, "4600"),
            "exact_offset_gl_account": gl_account(company, "1600"),
            "exact_journal_code": "90",
        },
    )
    assert response.status_code == 302, response.content[-3000:]
    merchant.post(reverse("flow_toggle", args=[flow.pk]))
    flow.refresh_from_db()
    assert flow.enabled and flow.options["exact_sales_journal"] == "70"
    ss = ShipStationClient(
        f"{live_server.url}/sandbox/shipstation", api_key=account.api_key, api_secret=account.api_secret
    )
    return company, flow, ss


def test_shipstation_orders_become_exact_invoices(merchant, alice, live_server, celery_worker):
    company, flow, ss = connect_and_start(merchant, alice, live_server)
    emails = {"E-1": "buyer@example.com", "E-2": "buyer@example.com", "E-3": "inkoop@devries.example"}
    created = {n: ss.create_order(order_body(n, email=e)) for n, e in emails.items()}
    for number in created:
        wait_until(lambda n=number: status(n) == "synced", timeout=EXACT_WAIT, message=f"order {number} invoiced")
    for number in created:
        (invoice,) = invoices(company, number)
        assert Decimal(str(invoice["AmountFC"])) == Decimal("26.00")  # 2 x 10.50 + 5.00 shipping, no VAT
        assert invoice["Journal"] == "70" and invoice["Type"] == 8020
    accounts = {a["ID"]: a for a in rows(company, "Accounts")}
    buyer = [a for a in accounts.values() if a.get("Email") == "buyer@example.com"]
    assert len(buyer) == 1 and buyer[0]["Status"] == "C"  # created once, reused for E-2
    assert invoices(company, "E-1")[0]["OrderedBy"] == invoices(company, "E-2")[0]["OrderedBy"] == buyer[0]["ID"]
    assert accounts[invoices(company, "E-3")[0]["OrderedBy"]]["Name"] == "De Vries BV"  # matched by email

    # --- An item Exact lacks: held for review; the item is added in Exact; Replay invoices it --------
    missing = order_body("E-4", email="buyer@example.com")
    missing["items"][0]["sku"] = "SKU-9"
    ss.create_order(missing)
    wait_until(lambda: status("E-4") == "needs_review", timeout=EXACT_WAIT, message="E-4 held for review")
    held = Record.objects.get(object_type="order", source_ref="E-4")
    assert "SKU-9" in held.last_error and held.remediation
    assert invoices(company, "E-4") == []
    exact_state.put(company, "Items", {"Code": "SKU-9", "Description": "Gadget"})
    merchant.post(reverse("record_replay", args=[held.pk]))
    wait_until(lambda: status("E-4") == "synced", timeout=EXACT_WAIT, message="E-4 replayed")
    assert len(invoices(company, "E-4")) == 1

    # --- Edits (an open invoice updated; one the accountant processed is held), cancel (credited),
    # ship (nothing changes in the books) ----------------------------------------------------------
    edited = order_body("E-2", email="buyer@example.com")
    edited["items"][0]["quantity"] = 3
    ss.create_order(edited)
    processed = SandboxExactEntity.objects.get(
        division=company, entity="SalesInvoices", guid=invoices(company, "E-4")[0]["InvoiceID"]
    )
    SandboxExactEntity.objects.filter(pk=processed.pk).update(data={**processed.data, "Status": 50})
    late = order_body("E-4", email="buyer@example.com")
    late["items"][0].update(sku="SKU-9", quantity=5)
    ss.create_order(late)
    ss.create_order(order_body("E-3", email="inkoop@devries.example", status="cancelled"))
    label = ss.request_json(
        "POST",
        "orders/createlabelfororder",
        json={
            "orderId": created["E-1"]["orderId"],
            "carrierCode": "stamps_com",
            "serviceCode": "usps_priority_mail",
            "shipDate": datetime.now(UTC).date().isoformat(),
            "shipmentCost": 7.5,
        },
    )
    merchant.post(reverse("flow_run_now", args=[flow.pk]))
    wait_until(lambda: len(invoices(company, "CR-E-3")) == 1, timeout=EXACT_WAIT, message="E-3 credited")
    wait_until(
        lambda: Decimal(str(invoices(company, "E-2")[0]["AmountFC"])) == Decimal("36.50"),
        timeout=EXACT_WAIT,
        message="E-2's open invoice updated: 3 x 10.50 + 5.00",
    )
    wait_until(lambda: status("E-4") == "needs_review", timeout=EXACT_WAIT, message="the edit of E-4 held")
    wait_until(lambda: not Record.objects.filter(status="pending").exists(), timeout=60, message="quiet")
    (credit,) = invoices(company, "CR-E-3")
    assert credit["Type"] == 8021 and Decimal(str(credit["AmountFC"])) == Decimal("-26.00")
    assert "processed" in Record.objects.get(object_type="order", source_ref="E-4").last_error
    assert Decimal(str(invoices(company, "E-4")[0]["AmountFC"])) == Decimal("26.00")  # left as processed
    assert status("E-1") == status("E-2") == "synced"
    for number in ("E-1", "E-2", "E-3", "E-4"):
        assert len(invoices(company, number)) == 1, f"exactly one invoice for {number}"
    assert len(rows(company, "SalesInvoices")) == 5  # four invoices and one credit note

    # --- E-1's label: its cost posted once as a balanced journal entry on the order's number --------
    expense, offset = gl_account(company, "4600"), gl_account(company, "1600")
    wait_until(lambda: len(journal_entries(company)) == 1, timeout=EXACT_WAIT, message="E-1's cost posted")
    assert journal_entries(company) == [("90", sorted([(expense, Decimal("7.50")), (offset, Decimal("-7.50"))]))]
    descriptions = [x["Description"] for x in rows(company, "GeneralJournalEntryLines")]
    assert all(f"[SHIP-{label['shipmentId']}]" in d and "E-1" in d for d in descriptions)
    shipment = Record.objects.get(object_type="shipment")
    wait_until(lambda: Record.objects.get(pk=shipment.pk).status == "synced", timeout=60, message="shipment synced")

    # --- A replay writes nothing more; the voided label is reversed once (found by the next poll) ---
    merchant.post(reverse("record_replay", args=[shipment.pk]))
    ss.request_json("POST", "shipments/voidlabel", json={"shipmentId": label["shipmentId"]})
    merchant.post(reverse("flow_run_now", args=[flow.pk]))
    wait_until(lambda: len(journal_entries(company)) == 2, timeout=EXACT_WAIT, message="E-1's void reversed")
    wait_until(lambda: not Record.objects.filter(status="pending").exists(), timeout=EXACT_WAIT, message="quiet")
    merchant.post(reverse("flow_run_now", args=[flow.pk]))  # a second poll sees the same void
    wait_until(lambda: not Record.objects.filter(status="pending").exists(), timeout=EXACT_WAIT, message="quiet")
    assert journal_entries(company)[1] == ("90", sorted([(expense, Decimal("-7.50")), (offset, Decimal("7.50"))]))
    assert len(journal_entries(company)) == 2
    assert Record.objects.get(pk=shipment.pk).result["status"] == "reversed"
    assert len(rows(company, "SalesInvoices")) == 5  # shipments never touch the invoices
