"""Reconciliation of a WooCommerce → Zoho Books flow over real HTTP against both sandboxes.

Orders placed in the store are synced to Zoho Books by the engine; then a merchant tampers with the
books by hand through the Zoho sandbox's control endpoints (changes an invoice's amount, deletes one,
enters a duplicate) and deletes an order in the store. The report, read from both systems, finds
each of these and nothing else; the page replays what is missing and the ledger balances again."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from urllib.parse import urlencode

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone

from connector import engine, tasks
from connector.models import Event, Record
from integrations.woocommerce.sandbox.models import SandboxOrder
from integrations.zoho.sandbox.models import SandboxZohoDocument
from tests.conftest import make_flow
from tests.reconcile.conftest import place, sync
from tests.sandbox_session import member_of

pytestmark = pytest.mark.django_db(transaction=True)


def invoice_of(org, order: SandboxOrder) -> SandboxZohoDocument:
    return SandboxZohoDocument.objects.get(org=org, kind="invoice", reference_number=order.data["number"])


def by_hand(zoho_base, org, doc: SandboxZohoDocument, method: str = "POST", **body):
    url = f"{zoho_base}/sandbox/zoho/_control/orgs/{org.organization_id}/documents/{doc.kind}/{doc.object_id}"
    answer = member_of(org.user.organization).request(method, url, json=body or None, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def today_query() -> dict:
    today = timezone.now().date().isoformat()
    return {"start": today, "end": today}


def checked_lines(client, flow) -> list[dict]:
    """Check the books again (the API's POST, what "Run now" does), run it as the worker would, then
    read the stored run's lines: the API's GET answers a period's stored run once there is one."""
    started = client.post(f"/api/v1/flows/{flow.pk}/reconciliation/?{urlencode(today_query())}")
    assert started.status_code == 202, started.content
    tasks.run_reconciliation.run(started.json()["id"])
    answer = client.get(f"/api/v1/flows/{flow.pk}/reconciliation/", today_query())
    assert answer.status_code == 200, answer.content
    return answer.json()["lines"]


def lines_by_order(client, flow) -> dict[str, dict]:
    return {line["reference"]: line for line in checked_lines(client, flow)}


def test_untouched_books_balance(alice_client, woo_flow, synced_orders, sandbox_org):
    lines = lines_by_order(alice_client, woo_flow)
    assert set(lines) == {o.data["number"] for o in synced_orders}
    assert {line["status"] for line in lines.values()} == {"matched"}
    first = lines[synced_orders[0].data["number"]]
    assert Decimal(first["source_amount"]) == Decimal(synced_orders[0].data["total"]) == Decimal(first["ledger_amount"])
    assert first["documents"][0]["kind"] == "invoice" and first["documents"][0]["url"]
    page = alice_client.get(reverse("flow_reconciliation", args=[woo_flow.pk]), today_query()).content.decode()
    assert "Your books balance" in page and "Matched: 4" in page


def test_tampering_is_found_and_nothing_else(alice_client, zoho_base, shop, woo_flow, synced_orders, sandbox_org):
    changed, deleted, doubled, gone = synced_orders
    edited = invoice_of(sandbox_org, changed)
    by_hand(zoho_base, sandbox_org, edited, total=str(Decimal(edited.data["total"]) - Decimal("1.50")))
    by_hand(zoho_base, sandbox_org, invoice_of(sandbox_org, deleted), "DELETE")
    copy = by_hand(zoho_base, sandbox_org, invoice_of(sandbox_org, doubled), duplicate=True)
    SandboxOrder.objects.filter(pk=gone.pk).delete()  # the merchant deleted the order in the store
    unseen = place(shop, "WOO-HAT", 1, "late@example.com")  # never reached the flow

    lines = lines_by_order(alice_client, woo_flow)
    number = lambda order: order.data["number"]  # noqa: E731
    assert {ref: line["status"] for ref, line in lines.items()} == {
        number(changed): "amount_differs",
        number(deleted): "missing",
        number(doubled): "duplicated",
        number(gone): "extra",
        number(unseen): "missing",
    }
    assert Decimal(lines[number(changed)]["difference"]) == Decimal("-1.50")
    assert Decimal(lines[number(deleted)]["difference"]) == -Decimal(deleted.data["total"])
    assert copy["invoice_number"] in {d["number"] for d in lines[number(doubled)]["documents"]}
    assert Decimal(lines[number(gone)]["difference"]) == Decimal(gone.data["total"])
    assert lines[number(unseen)]["record"] is None and lines[number(deleted)]["record"] is not None

    # The page: the business result first, every line, the fixes.
    url = reverse("flow_reconciliation", args=[woo_flow.pk])
    page = alice_client.get(url, today_query()).content.decode()
    assert "5 of 5 lines need your attention" in page
    for label in ("Missing in ledger: 2", "Amount differs: 1", "Duplicated: 1", "Extra in ledger: 1"):
        assert label in page
    assert "Replay all 2 missing orders" in page

    # The exports carry the same lines.
    rows = list(csv.reader(io.StringIO(alice_client.get(url, {**today_query(), "format": "csv"}).content.decode())))
    assert rows[0][:3] == ["Status", "Order", "Order date"] and len(rows) == 6
    assert {r[1]: r[0] for r in rows[1:]}[number(changed)] == "Amount differs"
    book = openpyxl.load_workbook(io.BytesIO(alice_client.get(url, {**today_query(), "format": "xlsx"}).content))
    sheet = list(book.active.iter_rows(values_only=True))
    assert len(sheet) == 6 and {r[1]: r[6] for r in sheet[1:]}[number(changed)] == -1.5

    # Replay all missing from the page: the deleted invoice's record, and a new record for the order
    # the flow never saw; written once the worker runs them.
    answer = alice_client.post(url, {**today_query(), "all_missing": "1"})
    assert answer.status_code == 302
    replayed = Record.objects.filter(object_type="order", source_id__in=[str(deleted.pk), str(unseen.pk)])
    assert replayed.count() == 2 and {r.status for r in replayed} == {"pending"}
    assert Event.objects.filter(record__in=replayed, kind="replayed").count() == 2
    for record in replayed:
        engine.sync_record(record.pk, replay=True)
    after = lines_by_order(alice_client, woo_flow)
    assert after[number(deleted)]["status"] == after[number(unseen)]["status"] == "matched"
    assert {after[number(changed)]["status"], after[number(doubled)]["status"]} == {"amount_differs", "duplicated"}


def test_a_failed_order_links_to_its_record_and_replays(alice_client, shop, woo_flow, sandbox_org):
    order = place(shop, "WOO-MUG", 1, "x@example.com")
    sync(woo_flow)
    record = Record.objects.get(object_type="order", source_id=str(order.pk))
    SandboxZohoDocument.objects.filter(org=sandbox_org, kind="invoice").delete()
    Record.objects.filter(pk=record.pk).update(status="failed", last_error="Zoho refused it")
    line = lines_by_order(alice_client, woo_flow)[order.data["number"]]
    assert line["status"] == "failed" and line["record"] == record.pk
    page = alice_client.get(reverse("flow_reconciliation", args=[woo_flow.pk]), today_query()).content.decode()
    assert reverse("record_detail", args=[record.pk]) in page
    answer = alice_client.post(
        reverse("flow_reconciliation", args=[woo_flow.pk]), {**today_query(), "source_id": str(order.pk)}
    )
    assert answer.status_code == 302 and Record.objects.get(pk=record.pk).status == "pending"


def test_the_period_is_checked_and_scoped(alice_client, alice, bob, client, woo_flow):
    url = reverse("flow_reconciliation", args=[woo_flow.pk])
    assert alice_client.get(url, {"start": "2026-02-30"}).status_code == 400
    assert alice_client.get(url, {"start": "2026-03-02", "end": "2026-03-01"}).status_code == 400
    assert alice_client.get(url, {"start": "2024-01-01", "end": "2026-01-01"}).status_code == 400
    assert (
        reverse("flow_reconciliation", args=[woo_flow.pk])
        in alice_client.get(reverse("flow_detail", args=[woo_flow.pk])).content.decode()
    )
    other = make_flow(alice.org, preset="no_such_preset")  # nothing it moves can be reconciled
    assert alice_client.get(reverse("flow_reconciliation", args=[other.pk])).status_code == 404
    assert "Reconciliation" not in alice_client.get(reverse("flow_detail", args=[other.pk])).content.decode()
    api = alice_client.get(f"/api/v1/flows/{woo_flow.pk}/reconciliation/", {"end": "x"})
    assert api.status_code == 400 and "end" in api.json()
    client.force_login(bob)
    assert client.get(url).status_code == 404
    assert client.get(f"/api/v1/flows/{woo_flow.pk}/reconciliation/").status_code == 404


def test_replaying_an_amount_that_differs_writes_the_order_again(
    alice_client, zoho_base, woo_flow, synced_orders, sandbox_org
):
    order = synced_orders[1]
    edited = invoice_of(sandbox_org, order)
    by_hand(zoho_base, edited.org, edited, total="1.00")
    assert lines_by_order(alice_client, woo_flow)[order.data["number"]]["status"] == "amount_differs"
    url = reverse("flow_reconciliation", args=[woo_flow.pk])
    assert alice_client.post(url, {**today_query(), "source_id": str(order.pk)}).status_code == 302
    engine.sync_record(Record.objects.get(object_type="order", source_id=str(order.pk)).pk, replay=True)
    line = lines_by_order(alice_client, woo_flow)[order.data["number"]]
    assert line["status"] == "matched" and Decimal(line["ledger_amount"]) == Decimal(order.data["total"])


def test_a_ledger_that_cannot_be_read_says_why(alice_client, woo_flow):
    woo_flow.target.settings = {**woo_flow.target.settings, "organization_id": ""}
    woo_flow.target.save()
    page = alice_client.get(reverse("flow_reconciliation", args=[woo_flow.pk]), today_query())
    assert page.status_code == 502
    text = page.content.decode()
    assert "We could not read both sides for this period." in text and "choose an organisation" in text
    api = alice_client.get(f"/api/v1/flows/{woo_flow.pk}/reconciliation/", today_query())
    assert api.status_code == 502 and "No Zoho organisation" in api.json()["detail"]
