"""Zoho Books keeps the target contract (invoices, cost postings, contacts, sales orders), against its
sandbox organisation over real HTTP."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from connector.adapters import TargetAdapter
from connector.canonical import Address, Customer, LineItem, Order, OrderStatus, Shipment
from connector.models import Link
from integrations.zoho.adapter import ZohoBooksTarget
from integrations.zoho.mapping import contact_key
from integrations.zoho.sandbox import faults, state
from integrations.zoho.sandbox.models import SandboxZohoDocument, SandboxZohoToken
from tests.contract.auth import TokenRefreshContract
from tests.contract.target import TargetContract
from tests.integrations.zoho.conftest import make_connection

_numbers = itertools.count(1)
# The sandbox's kind of document per target type, and the money it holds.
KINDS = {"invoice": "invoice", "sales_order": "salesorder", "cost_posting": "journal", "contact": "contact"}


def new_order(number: str, **changes) -> Order:
    """Cents a float would lose: 3 x 19.99 + 0.07 tax + 4.95 shipping = 64.99."""
    email = f"buyer-{number.lower()}@example.com"
    base = Order(
        number=number,
        source_id=f"src-{number}",
        status=OrderStatus.OPEN,
        currency="USD",
        order_date=datetime(2024, 3, 1, 18, 0, tzinfo=UTC),
        customer=Customer(key=email, email=email, name=f"Ada Buyer {number}"),
        bill_to=Address(name=f"Ada Buyer {number}", street1="1 Main St", city="Austin", country="US"),
        lines=(LineItem("MUG-1", "Mug", Decimal("3"), Decimal("19.99"), tax=Decimal("0.07")),),
        shipping=Decimal("4.95"),
        total=Decimal("64.99"),
    )
    return dataclasses.replace(base, **changes)


def new_shipment(number: str) -> Shipment:
    """Cost 7.25 + insurance 1.10: the journal's total is 8.35."""
    return Shipment(
        source_id=f"ship-{number}",
        order_id=f"src-{number}",
        order_number=number,
        ship_date=date(2024, 3, 2),
        carrier="ups",
        tracking_number=f"1Z{number}",
        shipping_cost=Decimal("7.25"),
        insurance_cost=Decimal("1.10"),
        currency="USD",
    )


class TestZohoBooksTarget(TargetContract, TokenRefreshContract):
    adapter_class = ZohoBooksTarget
    system = "zoho"
    uncancellable = ("contact",)  # a contact is never voided: "Zoho Books cannot cancel 'contact'"

    @pytest.fixture(autouse=True)
    def sandbox(self, live_server, transactional_db, settings, alice):
        settings.PUBLIC_BASE_URL = live_server.url
        self.org = state.create_org("us", "owner@books.example", "Contract Books", organization=alice.org)
        self.connection = make_connection(alice.org, self.org)
        self.options = {
            "shipment_mode": "journal",
            "expense_account_id": state.account_id(self.org, "Shipping Expense"),
            "offset_account_id": state.account_id(self.org, "Petty Cash"),
        }
        self.adapters: list[ZohoBooksTarget] = []
        yield
        for adapter in self.adapters:
            if adapter._client is not None:
                adapter._client.session.close()

    def connect(self) -> TargetAdapter:
        adapter = ZohoBooksTarget(self.connection, options=dict(self.options))
        self.adapters.append(adapter)
        return adapter

    def new_object(self, target_type: str) -> Any:
        number = f"Z{next(_numbers)}"
        if target_type == "cost_posting":
            return new_shipment(number)
        if target_type == "contact":
            email = f"contact-{number.lower()}@example.com"
            return Customer(key=email, email=email, name=f"Contact {number}", phone="555-0100")
        return new_order(number)

    def invalid_object(self, target_type: str) -> Any:
        number = f"Z{next(_numbers)}"
        if target_type == "cost_posting":
            self.options["expense_account_id"] = "460000000099999"
            self.refusal = "Invalid value passed for account_id"
            return new_shipment(number)
        if target_type == "contact":
            # Refused before Zoho is asked (Zoho itself would say "Contact name is required"): our words.
            self.refusal = "no name, company or email"
            return Customer(key=f"blank-{number}", name=" ")
        if target_type == "sales_order":  # a line's Zoho tax override names no Zoho tax
            self.refusal = "Invalid value passed for tax_id"
            line = LineItem("MUG-1", "Mug", Decimal("3"), Decimal("19.99"), metadata={"tax_id": "460000000099999"})
            return new_order(number, lines=(line,), total=Decimal("64.92"))
        # The contact we linked for this buyer names no Zoho contact (an item deleted since is resolved
        # again, so it is no longer a refusal that reaches the merchant).
        order = new_order(number)
        Link.objects.create(
            organization=self.connection.organization,
            connection=self.connection,
            object_type="contact",
            canonical_key=contact_key(order.customer.key, None),
            external_id="460000000099999",
        )
        self.refusal = "Invalid value passed for customer_id"
        return order

    def documents(self, target_type: str, obj: Any) -> int:
        docs = SandboxZohoDocument.objects.filter(org=self.org, kind=KINDS[target_type])
        if target_type == "contact":
            return docs.filter(email=obj.email).count() if obj.email else docs.filter(name=obj.name.strip()).count()
        number = obj.order_number if isinstance(obj, Shipment) else obj.number
        return docs.filter(reference_number=number).count()

    def expected_amounts(self, target_type: str, obj: Any) -> dict[str, Decimal]:
        if target_type == "contact":
            return {}
        if target_type == "cost_posting":
            return {"total": obj.total_cost}
        return {"total": obj.total, "shipping_charge": obj.shipping}

    def stored_amounts(self, target_type: str, target_id: str, obj: Any) -> dict[str, Any]:
        data = SandboxZohoDocument.objects.get(org=self.org, kind=KINDS[target_type], object_id=target_id).data
        return {name: Decimal(str(data[name])) for name in self.expected_amounts(target_type, obj)}

    def read_once(self, target: TargetAdapter) -> None:
        assert target.choices("account")  # a find by order number needs no call in numbered mode

    def break_credentials(self) -> None:
        SandboxZohoToken.objects.filter(user=self.org.user).delete()  # consent revoked at Zoho

    def expire_access_token(self) -> None:
        past = timezone.now() - timedelta(minutes=1)
        SandboxZohoToken.objects.filter(token=self.connection.credentials["access_token"]).update(expires_at=past)
        self.connection.credentials = {**self.connection.credentials, "expires_at": int(past.timestamp())}
        self.connection.save(update_fields=["credentials"])

    def set_fault(self, kind: str) -> None:
        knobs = {"error_rate": 1.0} if kind == "5xx" else {"rate_429": 1.0, "retry_after_seconds": 1}
        assert faults.apply_settings(self.org, {"reset": True, **knobs}) == {}
