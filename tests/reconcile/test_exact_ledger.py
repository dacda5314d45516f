"""Exact Online as the ledger of a reconciliation, against the Exact sandbox over real HTTP: the sales
invoices orders became and the general journal entries shipment costs became, listed for a period in
one paginated pass per collection (no per-order lookups), compared with what the source says. A
bookkeeper's hand edits through the sandbox's control endpoint (an amount changed, a document
deleted, one entered twice, one entered with an order number of ours) are each found, and nothing else."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from connector.canonical import OrderStatus, Shipment
from connector.models import Connection, Flow
from connector.reconcile import ORDER, SHIPMENT, Period, SourceOrder, compare, source_shipment
from connector.registry import get_system, reconcile_inputs
from integrations.exact.adapter import ExactTarget
from integrations.exact.client import ExactClient
from integrations.exact.reconcile import SHIPMENT_TAG
from integrations.exact.sandbox import state
from integrations.exact.sandbox.models import SandboxExactEntity
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxShipment
from tests.integrations.exact.conftest import (  # noqa: F401 (fixtures)
    _short_lived_db_connections,
    company,
    exact_base,
    exact_connection,
)
from tests.integrations.exact.test_adapter import options as journal_options
from tests.integrations.exact.test_invoices import OPTIONS, order
from tests.reconcile.test_shipment_journals import ship
from tests.sandbox_session import member_of

pytestmark = pytest.mark.django_db(transaction=True)

# What each order of `order()` pays: 3 × 3.33 + 0.10 + shipping 4.95 net (15.04) and 3.16 tax at 21 %,
# the rate of the flow's VAT code: the invoice's AmountFC, including the VAT Exact adds, is the same.
TOTAL = Decimal("18.20")


def today() -> Period:
    day = timezone.now().date()
    return Period(day, day)


def by_hand(exact_base, company, entity: str, guid: str, method: str = "POST", **body) -> dict:  # noqa: F811
    url = f"{exact_base}/sandbox/exact/_control/divisions/{company.code}/documents/{entity}/{guid}"
    answer = member_of(company.user.organization).request(method, url, json=body or None, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """Every path the Exact client asks for (a listing must not look anything up per order)."""
    seen: list[str] = []
    original = ExactClient.request_json

    def counted(self, method, url, **kwargs):
        seen.append(f"{method} {str(url).split('?')[0].rsplit('/', 2)[-2:]}")
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(ExactClient, "request_json", counted)
    return seen


def invoices(company) -> dict[str, SandboxExactEntity]:  # noqa: F811
    rows = SandboxExactEntity.objects.filter(division=company, entity="SalesInvoices").order_by("id")
    return {row.data["YourRef"]: row for row in rows}


def source(number: str, *, cancelled: bool = False) -> SourceOrder:
    return SourceOrder(f"ss-{number}", number, TOTAL, "EUR", timezone.now().date(), cancelled=cancelled)


def test_sales_invoices_tampered_by_hand(exact_base, exact_connection, company, calls):  # noqa: F811
    state.put(company, "Items", {"Code": "SHIPPING", "Description": "Shipping"})
    target = ExactTarget(exact_connection, options=dict(OPTIONS))
    numbers = ["1001", "1002", "1003", "1004", "1005", "1999"]
    for number in numbers:
        target.upsert("invoice", order(number), target_id=None)
    cancelled = dataclasses.replace(order("1005"), status=OrderStatus.CANCELLED)
    target.cancel("invoice", cancelled, target_id=invoices(company)["1005"].guid)  # credited in full
    orders = [source(n) for n in numbers[:4]] + [source("1005", cancelled=True)]
    lister = get_system("exact").reconcile_documents

    calls.clear()
    documents = list(lister(exact_connection, {}, today().widened(), items=(ORDER,)))
    assert calls == ["GET ['salesinvoice', 'SalesInvoices']"]  # one page, no lookups
    report = compare(today(), orders, documents, known_references=numbers)
    # 1999 was invoiced by the flow but its order is not among the period's: extra. Everything else balances.
    assert {line.reference: line.status for line in report.lines if line.status != "matched"} == {"1999": "extra"}
    credited = next(line for line in report.lines if line.reference == "1005")
    assert sorted(d.kind for d in credited.documents) == ["credit_note", "invoice"] and credited.ledger_amount == 0
    assert next(line for line in report.lines if line.reference == "1001").ledger_amount == TOTAL

    books = invoices(company)
    by_hand(exact_base, company, "SalesInvoices", books["1001"].guid, amount="19.00")
    by_hand(exact_base, company, "SalesInvoices", books["1002"].guid, "DELETE")
    by_hand(exact_base, company, "SalesInvoices", books["1003"].guid, duplicate=True)
    documents = list(lister(exact_connection, {}, today().widened(), items=(ORDER,)))
    report = compare(today(), orders, documents, known_references=numbers)
    assert {line.reference: line.status for line in report.lines if line.status != "matched"} == {
        "1001": "amount_differs",
        "1002": "missing",
        "1003": "duplicated",
        "1999": "extra",
    }
    assert next(line for line in report.lines if line.reference == "1001").difference == Decimal("0.80")
    assert {line.reference for line in report.lines if line.status == "matched"} == {"1004", "1005"}


def test_invoices_listed_in_pages_by_invoice_date(exact_connection, company, calls):  # noqa: F811
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for n in range(130):
        state.put(
            company,
            "SalesInvoices",
            {
                "InvoiceNumber": 26100000 + n,
                "InvoiceDate": state.odate(day),
                "Type": 8020,
                "YourRef": f"P-{n}",
                "Currency": "EUR",
                "AmountFC": 10.005 if n == 0 else 10.0,
                "Status": 20,
            },
        )
    state.put(company, "SalesInvoices", {"YourRef": "OLD", "InvoiceDate": "/Date(946684800000)/", "Type": 8020})
    documents = list(get_system("exact").reconcile_documents(exact_connection, {}, today(), items=(ORDER,)))
    assert len(calls) == 3  # Exact's pages of 60, followed through __next
    assert len(documents) == 130 and "OLD" not in {d.reference for d in documents}
    assert next(d for d in documents if d.reference == "P-0").amount == Decimal("10.01")  # to the cent, half up


def shipments(company) -> list[Shipment]:  # noqa: F811
    so = state.find(company, "SalesOrders", OrderNumber=1)
    ship_date = timezone.now().date()
    return [
        Shipment(
            source_id=f"77{n}",
            order_id="1",
            order_number="1",
            ship_date=ship_date,
            carrier="ups",
            tracking_number=f"1Z{n}",
            shipping_cost=Decimal(cost),
            currency="EUR",
            order_key=so["OrderID"],
        )
        for n, cost in enumerate(["9.99", "5.50", "7.25", "4.00", "3.10"], start=1)
    ]


def entries(company) -> dict[str, SandboxExactEntity]:  # noqa: F811
    """The company's journal entries by the shipment their lines name ("void:<id>" for reversals)."""
    found = {}
    for entry in SandboxExactEntity.objects.filter(division=company, entity="GeneralJournalEntries"):
        lines = SandboxExactEntity.objects.filter(division=company, entity="GeneralJournalEntryLines")
        tag = next(
            SHIPMENT_TAG.search(line.data["Description"]).group(1)
            for line in lines
            if line.data["EntryID"] == entry.guid and "SHIP-" in line.data["Description"]
        )
        found[("void:" if entry.data["Reversal"] else "") + tag] = entry
    return found


def test_shipment_entries_tampered_by_hand(exact_base, exact_connection, company, calls):  # noqa: F811
    target = ExactTarget(exact_connection, options=journal_options(company))
    shipped = shipments(company)
    for shipment in shipped:
        target.upsert("cost_posting", shipment, target_id=None)
    voided = dataclasses.replace(shipped[3], voided=True, void_date=timezone.now())
    target.cancel("cost_posting", voided, target_id="")
    items = [source_shipment(s) for s in shipped[:3] + [voided] + shipped[4:]]
    lister = get_system("exact").reconcile_documents

    calls.clear()
    documents = list(lister(exact_connection, {}, today().widened(), items=(SHIPMENT,)))
    assert calls == [
        "GET ['generaljournalentry', 'GeneralJournalEntryLines']",
        "GET ['generaljournalentry', 'GeneralJournalEntries']",
    ]
    report = compare(today(), items, documents)
    assert {line.reference: line.status for line in report.lines} == {s.source_id: "matched" for s in shipped}
    first = next(line for line in report.lines if line.reference == "771")
    assert first.ledger_amount == Decimal("9.99") and first.documents[0].balanced and first.kind == SHIPMENT
    reversed_ = next(line for line in report.lines if line.reference == "774")
    assert reversed_.ledger_amount == 0 and sorted(d.credit for d in reversed_.documents) == [False, True]

    books = entries(company)
    by_hand(exact_base, company, "GeneralJournalEntries", books["771"].guid, amount="12.00")
    by_hand(exact_base, company, "GeneralJournalEntries", books["772"].guid, "DELETE")
    by_hand(exact_base, company, "GeneralJournalEntries", books["773"].guid, duplicate=True)
    stray = by_hand(exact_base, company, "GeneralJournalEntries", books["775"].guid, duplicate=True)["d"]
    # The copy of 775 re-tagged by hand as a shipment the flow once posted but not of this period.
    for line in SandboxExactEntity.objects.filter(division=company, entity="GeneralJournalEntryLines"):
        if line.data["EntryID"] == stray["EntryID"]:
            line.data = {**line.data, "Description": line.data["Description"].replace("SHIP-775", "SHIP-700")}
            line.save(update_fields=["data"])
    documents = list(lister(exact_connection, {}, today().widened(), items=(SHIPMENT,)))
    report = compare(today(), items, documents, known_references=[(SHIPMENT, "700")])
    assert {line.reference: line.status for line in report.lines if line.status != "matched"} == {
        "771": "amount_differs",
        "772": "missing",
        "773": "duplicated",
        "700": "extra",
    }
    assert next(line for line in report.lines if line.reference == "771").difference == Decimal("2.01")
    assert all(d.balanced for d in documents)  # a hand edit keeps an entry balanced, as Exact does
    assert {line.reference for line in report.lines if line.status == "matched"} == {"774", "775"}


def test_an_exact_shipstation_flow_reads_shipments_from_its_target_and_entries_from_its_source(
    alice,
    exact_base,  # noqa: F811
    exact_connection,  # noqa: F811
    company,  # noqa: F811
):
    """Exact ↔ ShipStation books ShipStation's shipment costs in Exact, the flow's source: the registry
    reads the shipments from the flow's ShipStation connection and the entries from its Exact one."""
    account = SandboxAccount.objects.create(name="Alice's store", organization=alice.org)
    shipped = ship(account, ["EX-1", "EX-2"], ["6.10", "4.90"])
    store = Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="Alice ShipStation",
        credentials={"api_key": account.api_key, "api_secret": account.api_secret},
        settings={"base_url": f"{exact_base}/sandbox/shipstation", "currency": "EUR"},
    )
    options = journal_options(company)
    flow = Flow.objects.create(
        organization=alice.org,
        preset="exact_shipstation",
        name="Exact",
        source=exact_connection,
        target=store,
        options=options,
    )
    so = state.find(company, "SalesOrders", OrderNumber=1)
    target = ExactTarget(exact_connection, options=options)
    for data in SandboxShipment.objects.filter(account=account, pk=int(shipped["EX-1"])):
        target.upsert(
            "cost_posting",
            Shipment(
                source_id=str(data.pk),
                order_id="1",
                order_number="1",
                ship_date=data.ship_date,
                shipping_cost=data.shipment_cost,
                currency="EUR",
                order_key=so["OrderID"],
            ),
            target_id=None,
        )
    items, documents = reconcile_inputs(flow, today())
    assert {(i.kind, i.reference) for i in items} == {(SHIPMENT, shipped["EX-1"]), (SHIPMENT, shipped["EX-2"])}
    report = compare(today(), items, documents)
    assert {line.reference: line.status for line in report.lines} == {
        shipped["EX-1"]: "matched",
        shipped["EX-2"]: "missing",
    }
