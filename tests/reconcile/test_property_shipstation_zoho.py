"""Books that balance, proven for ShipStation → Zoho Books: random orders (1–5 lines, quantities,
prices with cents, per-line tax at a store's rate, shipping, an order discount as ShipStation's
adjustment item), then a random sequence of edits, holds, cancellations, labels (shipments) and
voided labels, with the flow running at random points, all through the ShipStation sandbox's V1 API
and the engine (synchronously, as the worker would), into the Books sandbox.

The property: the period's reconciliation is all matched; each order's invoice total equals
ShipStation's `orderTotal` to the cent (a cancelled order's invoice is void); and each shipment's cost
is posted as a balanced journal of exactly that cost, reversed when its label was voided after it
was posted. ShipStation V1 has no refunds and one currency per account (USD here)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.db.models import Max
from django.utils import timezone
from hypothesis import example, given

from connector import engine
from connector.models import Connection, Flow, Record
from integrations.shipstation import timeutil
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxOrder, SandboxShipment
from integrations.zoho.sandbox.models import SandboxZohoDocument
from tests.reconcile.property_kit import (
    assert_balanced,
    assert_records_written,
    assert_zoho_totals,
    fresh_books,
    make_flow,
    property_settings,
    unique,
)
from tests.reconcile.strategies import CENT, Line, Op, OrderPlan, shipstation_order

pytestmark = pytest.mark.django_db(transaction=True)

OPEN = ("awaiting_payment", "awaiting_shipment", "on_hold")
ADDRESS = {
    "name": "Ann Buyer",
    "street1": "1 Main St",
    "city": "Austin",
    "state": "TX",
    "postalCode": "78701",
    "country": "US",
}


def sync(flow: Flow, account: SandboxAccount) -> None:
    """One poll of the flow and each record written at once (what the worker does), up to a moment
    after the account's newest change."""
    newest = SandboxOrder.objects.filter(account=account).aggregate(newest=Max("modify_date"))["newest"]
    later = max(timezone.now(), newest or timezone.now()) + timedelta(seconds=2)
    queued: list[int] = []
    engine.run_flow(Flow.objects.get(pk=flow.pk), now=later, enqueue=queued.append)
    for record_id in queued:
        engine.sync_record(record_id)


class Account:
    """One ShipStation sandbox account driven through the V1 API with its key and secret."""

    def __init__(self, base: str, alice):
        self.account = SandboxAccount.objects.create(name=unique("Property store"), organization=alice.org)
        self.base = f"{base}/sandbox/shipstation"
        self.auth = (self.account.api_key, self.account.api_secret)

    def post(self, path: str, body: dict) -> dict:
        answer = requests.post(f"{self.base}/{path}", json=body, auth=self.auth, timeout=15)
        assert answer.status_code == 200, (path, body, answer.status_code, answer.text)
        return answer.json()

    def get_order(self, order_id: int) -> dict:
        answer = requests.get(f"{self.base}/orders/{order_id}", auth=self.auth, timeout=15)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def connection(self, alice) -> Connection:
        return Connection.objects.create(
            organization=alice.org,
            system="shipstation",
            label=self.account.name,
            credentials={"api_key": self.auth[0], "api_secret": self.auth[1]},
            settings={"base_url": self.base},
        )


def item(key: str, line: Line, rate: Decimal) -> dict:
    tax = (line.price * line.quantity * rate).quantize(CENT)
    return {
        "lineItemKey": key,
        "sku": line.sku,
        "name": f"Item {line.sku}",
        "quantity": line.quantity,
        "unitPrice": float(line.price),
        "taxAmount": float(tax),
    }


def order_body(number: str, lines: list[Line], plan: OrderPlan, status: str, placed: str) -> dict:
    """A createorder body; totals as a store integration sends them (tax per line, amount paid)."""
    items = [item(f"L{i}", line, plan.tax) for i, line in enumerate(lines)]
    tax = sum((Decimal(str(i["taxAmount"])) for i in items), Decimal("0"))
    goods = sum(((line.price * line.quantity) for line in lines), Decimal("0"))
    discount = min(plan.discount, goods)
    if discount:
        items.append(
            {
                "lineItemKey": "discount",
                "sku": "",
                "name": "Order discount",
                "quantity": 1,
                "unitPrice": float(-discount),
                "adjustment": True,
            }
        )
    shipping = plan.shipping or Decimal("0")
    return {
        "orderNumber": number,
        "orderKey": f"key-{number}",
        "orderDate": placed,
        "orderStatus": status,
        "customerEmail": f"{number.lower()}@example.com",
        "customerUsername": f"user-{number}",
        "billTo": ADDRESS,
        "shipTo": ADDRESS,
        "items": items,
        "amountPaid": float(goods - discount + shipping + tax),
        "shippingAmount": float(shipping),
        "taxAmount": float(tax),
    }


class Placed:
    """One order as the test drives it: its lines and status, its shipments."""

    def __init__(self, account: Account, number: str, plan: OrderPlan):
        self.account, self.number, self.plan = account, number, plan
        self.lines, self.status = list(plan.lines), plan.status
        self.placed = timeutil.to_filter(timezone.now() - timedelta(minutes=1))
        self.order_id = self.write()
        self.labels: list[int] = []

    def write(self) -> int:
        body = order_body(self.number, self.lines, self.plan, self.status, self.placed)
        return self.account.post("orders/createorder", body)["orderId"]

    def apply(self, op: Op, flow: Flow) -> None:
        if op.kind == "sync":
            sync(flow, self.account.account)
        elif op.kind == "quantity" and self.status in OPEN:
            index = op.index % len(self.lines)
            self.lines[index] = Line(self.lines[index].sku, op.quantity, self.lines[index].price)
            self.write()
        elif op.kind == "add_line" and self.status in OPEN and len(self.lines) < 8:
            self.lines.append(op.line)
            self.write()
        elif op.kind == "cancel" and self.status in OPEN:
            self.status = "cancelled"
            self.write()
        elif op.kind == "hold" and self.status in ("awaiting_payment", "awaiting_shipment"):
            self.status = "on_hold"
            self.write()
        elif op.kind == "ship" and self.status != "cancelled":
            label = self.account.post(
                "orders/createlabelfororder",
                {
                    "orderId": self.order_id,
                    "carrierCode": "stamps_com",
                    "serviceCode": "usps_priority_mail",
                    "shipDate": timezone.now().date().isoformat(),
                    "weight": {"value": 1 + len(self.labels), "units": "ounces"},
                },
            )
            self.labels.append(label["shipmentId"])
            self.status = "shipped"
        elif op.kind == "void" and self.labels:
            self.account.post("shipments/voidlabel", {"shipmentId": self.labels[-1]})


def run(base: str, alice, plans: list[OrderPlan]):
    account = Account(base, alice)
    books, zoho = fresh_books(alice)
    accounts = {d.name: d.object_id for d in SandboxZohoDocument.objects.filter(org=books, kind="account")}
    flow = make_flow(
        alice,
        "shipstation_zoho",
        account.connection(alice),
        zoho,
        shipment_mode="journal",
        expense_account_id=accounts["Shipping Expense"],
        offset_account_id=accounts["Accounts Payable"],
    )
    orders = [Placed(account, unique("SS").upper(), plan) for plan in plans]
    for step in range(max((len(p.ops) for p in plans), default=0)):
        for order in orders:
            if step < len(order.plan.ops):
                order.apply(order.plan.ops[step], flow)
    sync(flow, account.account)
    return account, orders, books, flow


def journal_net(books, shipment: SandboxShipment) -> Decimal:
    """What the ledger holds for one shipment's cost: its journal's debits to expense, less those
    of its reversal, read from the Books sandbox's journals (marked in their notes)."""
    net = Decimal("0")
    for journal in SandboxZohoDocument.objects.filter(org=books, kind="journal"):
        notes = str(journal.data.get("notes") or "")
        lines = journal.data.get("line_items") or []
        debits = sum((Decimal(str(x["amount"])) for x in lines if x["debit_or_credit"] == "debit"), Decimal("0"))
        credits = sum((Decimal(str(x["amount"])) for x in lines if x["debit_or_credit"] == "credit"), Decimal("0"))
        assert debits == credits, journal.data  # every journal balances
        if f"[shipment:{shipment.pk}]" in notes:
            net += debits
        elif f"[shipment-void:{shipment.pk}]" in notes:
            net -= debits
    return net


@property_settings(max_examples=15)
# A label bought, then voided before the flow ran: nothing was posted, nothing is reversed.
@example(
    plans=[
        OrderPlan(
            lines=(Line("SS-BOLT", 2, Decimal("3.33")),),
            status="awaiting_shipment",
            tax=Decimal("0.0725"),
            ops=(Op("ship"), Op("void")),
        )
    ]
)
@given(
    plans=shipstation_order().map(lambda p: [p])
    | shipstation_order(max_ops=3).flatmap(lambda p: shipstation_order(max_ops=3).map(lambda q: [p, q]))
)
def test_invoices_and_shipment_costs_balance(zoho_base, alice, plans):
    account, orders, books, flow = run(zoho_base, alice, plans)
    assert_records_written(flow)
    assert_balanced(flow, {o.number for o in orders})
    for order in orders:
        source = account.get_order(order.order_id)
        assert_zoho_totals(
            books,
            order.number,
            kind="invoice",
            total=Decimal(str(source["orderTotal"])).quantize(CENT),
            currency="USD",
            voided=source["orderStatus"] == "cancelled",
        )
    for shipment in SandboxShipment.objects.filter(account=account.account):
        posted = Record.objects.filter(flow=flow, object_type="shipment", source_id__endswith=str(shipment.pk)).first()
        expected = Decimal("0") if shipment.voided else shipment.shipment_cost + shipment.insurance_cost
        assert journal_net(books, shipment) == expected, (shipment.pk, shipment.voided, posted and posted.status)
