"""Exact Online keeps the source contract (sales orders) and the target contract (shipping-cost journal
entries, and sales invoices or sales orders of store orders), against its sandbox company over real
HTTP."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from connector.adapters import Change, SourceAdapter, TargetAdapter
from connector.canonical import Customer, LineItem, Order, OrderStatus, Shipment
from integrations.exact.adapter import ExactSource, ExactTarget
from integrations.exact.sandbox import faults, state
from integrations.exact.sandbox.models import SandboxExactEntity, SandboxExactToken
from tests.contract.auth import TokenRefreshContract
from tests.contract.source import Seeded, SourceContract
from tests.contract.target import TargetContract
from tests.integrations.exact.conftest import age_tokens, make_connection

_numbers = itertools.count(100)
UNKNOWN_GL_ACCOUNT = "00000000-0000-4000-8000-000000000000"
ORDER_TYPES = ("invoice", "sales_order")  # store orders, written as Exact sales invoices or sales orders


class ExactSandbox:
    """A sandbox company of alice's organisation (seeded: GL accounts, a project, orders 1 and 2)."""

    @pytest.fixture(autouse=True)
    def sandbox(self, live_server, transactional_db, settings, alice):
        settings.PUBLIC_BASE_URL = live_server.url
        _user, divisions = state.create_company("nl", "owner@contract.example", "Contract BV", organization=alice.org)
        self.company = divisions[0]
        self.connection = make_connection(alice.org, self.company)
        gl = {row.data["Code"]: row.guid for row in self.company.entities.filter(entity="GLAccounts")}
        project = self.company.entities.get(entity="Projects").guid
        self.options = {
            "exact_expense_gl_account": gl["4600"],
            "exact_offset_gl_account": gl["1600"],
            "exact_journal_code": "90",
            "exact_project_cost_centers": {project: "CC100"},
            "exact_sales_journal": "70",
            "exact_vat_code": "2",
        }

    def add_sales_order(self, quantity: int = 3, price: float = 19.99) -> dict:
        """A new sales order of the seeded customer and item; its row as the sandbox holds it."""
        first = state.find(self.company, "SalesOrders", OrderNumber=1)
        line = state.find(self.company, "SalesOrderLines", OrderNumber=1)
        project = self.company.entities.get(entity="Projects").guid
        number = next(_numbers)
        state.add_sales_order(
            self.company,
            number,
            first["OrderedBy"],
            first["DeliveryAddress"],
            line["Item"],
            (quantity,),
            project=project,
            price=price,
        )
        return state.find(self.company, "SalesOrders", OrderNumber=number)

    def break_credentials(self) -> None:
        SandboxExactToken.objects.filter(user=self.company.user).delete()  # consent revoked at Exact

    def expire_access_token(self) -> None:
        age_tokens(self.connection, 700)  # Exact's access tokens live 10 minutes

    def set_fault(self, kind: str) -> None:
        knobs = {"error_rate": 1.0} if kind == "5xx" else {"rate_429": 1.0}
        assert faults.apply(self.company, {"reset": True, **knobs}) == {}


class TestExactSource(ExactSandbox, SourceContract, TokenRefreshContract):
    adapter_class = ExactSource
    system = "exact"

    delivered_types = ("order",)  # the body names the sales order; the adapter reads it
    delivery_topic = "SalesOrders"

    def delivery_for(self, change: Change) -> tuple[str, bytes]:
        content = {"Topic": "SalesOrders", "Action": "Update", "Division": self.company.code, "Key": change.source_id}
        return "SalesOrders", json.dumps({"Content": content, "HashCode": "0" * 40}).encode()

    def connect(self) -> SourceAdapter:
        return ExactSource(self.connection)

    def seed(self, source_type: str) -> Seeded:
        row = self.add_sales_order()
        return Seeded(str(row["OrderNumber"]), {"total": Decimal(str(row["AmountFC"]))})


class TestExactTarget(ExactSandbox, TargetContract, TokenRefreshContract):
    adapter_class = ExactTarget
    system = "exact"

    def connect(self) -> TargetAdapter:
        return ExactTarget(self.connection, options=dict(self.options))

    def new_object(self, target_type: str) -> Shipment | Order:
        if target_type in ORDER_TYPES:
            return self.new_order()
        return self.new_shipment()

    def new_order(self) -> Order:
        """A store order of 3 × 3.33 + 0.07 (10.06 net) taxed at 21 %, the rate of the flow's VAT code "2"
        (2.10 + 0.01 tax per line: 12.17 in all), its number never used before, a new customer."""
        number = f"WO{next(_numbers)}"
        email = f"buyer-{number.lower()}@example.com"
        return Order(
            number=number,
            source_id=number,
            status=OrderStatus.OPEN,
            currency="EUR",
            order_date=datetime(2026, 5, 1, tzinfo=UTC),
            customer=Customer(key=email, email=email, name=f"Buyer {number}"),
            lines=(
                LineItem(
                    sku="MUG-01",
                    name="Blue mug",
                    quantity=Decimal("3"),
                    unit_price=Decimal("3.33"),
                    tax=Decimal("2.10"),
                ),
                LineItem(
                    sku="MUG-01",
                    name="Gift wrap",
                    quantity=Decimal("1"),
                    unit_price=Decimal("0.07"),
                    tax=Decimal("0.01"),
                ),
            ),
            total=Decimal("12.17"),
        )

    def new_shipment(self) -> Shipment:
        """Cost 9.99 + insurance 0.07 (the entry's debits add up to 10.06), on a new sales order."""
        row = self.add_sales_order()
        return Shipment(
            source_id=f"S{next(_numbers)}",
            order_id=str(row["OrderNumber"]),
            order_number=str(row["OrderNumber"]),
            ship_date=date(2024, 5, 2),
            carrier="ups",
            tracking_number="1Z1",
            shipping_cost=Decimal("9.99"),
            insurance_cost=Decimal("0.07"),
            currency="EUR",
            order_key=row["OrderID"],
        )

    def invalid_object(self, target_type: str) -> Shipment | Order:
        if target_type == "invoice":
            # An unknown VAT code is caught before writing (the order's tax is checked against its
            # percentage: NeedsReview); a journal that is not a sales journal only Exact refuses.
            self.options["exact_sales_journal"] = "90"
            self.refusal = "is not a sales journal"  # Exact's 400
            return self.new_order()
        if target_type in ORDER_TYPES:
            self.options["exact_vat_code"] = "99"
            self.refusal = "VAT code not found"  # Exact's 400
            return self.new_order()
        self.options["exact_expense_gl_account"] = UNKNOWN_GL_ACCOUNT
        self.refusal = "GL account not found"  # Exact's 400
        return self.new_object(target_type)

    def _lines(self, shipment: Shipment) -> list[dict]:
        rows = SandboxExactEntity.objects.filter(division=self.company, entity="GeneralJournalEntryLines")
        tags = (f"[SHIP-{shipment.source_id}]", f"[VOID-{shipment.source_id}]")
        return [r.data for r in rows if any(t in str(r.data.get("Description", "")) for t in tags)]

    def _invoices(self, order: Order) -> list[dict]:
        rows = SandboxExactEntity.objects.filter(division=self.company, entity="SalesInvoices")
        return [r.data for r in rows if r.data.get("YourRef") in (order.number, f"CR-{order.number}")]

    def _sales_orders(self, order: Order) -> list[dict]:
        rows = SandboxExactEntity.objects.filter(division=self.company, entity="SalesOrders")
        return [r.data for r in rows if r.data.get("YourRef") == order.number]

    def documents(self, target_type: str, obj: Shipment | Order) -> int:
        if target_type == "sales_order":
            return len(self._sales_orders(obj))
        if target_type == "invoice":
            return len(self._invoices(obj))
        return len({line["EntryID"] for line in self._lines(obj)})

    def expected_amounts(self, target_type: str, obj: Shipment | Order) -> dict[str, Decimal]:
        if target_type in ORDER_TYPES:
            return {"net": Decimal("10.06"), "total": Decimal("12.17")}  # Exact adds the 21 % VAT
        return {"debit": obj.total_cost, "balance": Decimal("0.00")}

    def stored_amounts(self, target_type: str, target_id: str, obj: Shipment | Order) -> dict[str, Any]:
        if target_type == "sales_order":
            (so,) = [s for s in self._sales_orders(obj) if s["OrderID"] == target_id]
            return {"net": Decimal(str(so["AmountFCExclVat"])), "total": Decimal(str(so["AmountFC"]))}
        if target_type == "invoice":
            (invoice,) = [i for i in self._invoices(obj) if i["InvoiceID"] == target_id]
            return {"net": Decimal(str(invoice["AmountFCExclVat"])), "total": Decimal(str(invoice["AmountFC"]))}
        amounts = [Decimal(str(line["AmountFC"])) for line in self._lines(obj) if line["EntryID"] == target_id]
        return {"debit": sum(a for a in amounts if a > 0), "balance": sum(amounts, Decimal("0.00"))}
