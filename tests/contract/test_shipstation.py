"""ShipStation keeps the source contract (orders, shipments, customers) and the target contract
(fulfilment orders, V2 stock levels), against its sandbox over real HTTP."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from connector.adapters import Change, SourceAdapter, TargetAdapter
from connector.canonical import Address, Customer, LineItem, Order, OrderStatus, StockLevel
from connector.models import Connection
from integrations.shipstation.adapter import ShipStationSource, ShipStationTarget
from integrations.shipstation.client import ShipStationClient
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxOrder, SandboxProduct, SandboxShipment
from tests.contract.source import Seeded, SourceContract
from tests.contract.target import TargetContract
from tests.integrations.shipstation.conftest import order_body

_numbers = itertools.count(1)


class ShipStationSandbox:
    """A sandbox account of alice's organisation and a V1 connection to it (with a V2 key)."""

    @pytest.fixture(autouse=True)
    def sandbox(self, live_server, transactional_db, settings, alice):
        settings.PUBLIC_BASE_URL = live_server.url
        self.root = live_server.url + "/sandbox/shipstation"
        self.account = SandboxAccount.objects.create(name="Contract store", seed=7, organization=alice.org)
        self.connection = Connection.objects.create(
            organization=alice.org,
            system="shipstation",
            label="ShipStation",
            credentials={
                "api_key": self.account.api_key,
                "api_secret": self.account.api_secret,
                "v2_api_key": self.account.v2_api_key,
            },
            settings={"base_url": self.root},
        )
        self.api = ShipStationClient(self.root, api_key=self.account.api_key, api_secret=self.account.api_secret)
        yield
        self.api.session.close()

    def break_credentials(self) -> None:
        self.connection.credentials = {"api_key": "revoked", "api_secret": "revoked", "v2_api_key": "revoked"}
        self.connection.save(update_fields=["credentials"])

    def set_fault(self, kind: str) -> None:
        rates = {"fault_5xx_rate": float(kind == "5xx"), "fault_429_rate": float(kind == "429")}
        SandboxAccount.objects.filter(pk=self.account.pk).update(**rates)


class TestShipStationSource(ShipStationSandbox, SourceContract):
    adapter_class = ShipStationSource
    system = "shipstation"
    delivered_types = ("order", "shipment")  # ORDER_NOTIFY and SHIP_NOTIFY name a list to follow
    delivery_topic = "ORDER_NOTIFY"

    def delivery_for(self, change: Change) -> tuple[str, bytes]:
        """The pointer ShipStation sends: the import batch of the order, the label batch of the shipment."""
        store = self.account.store_id
        if change.object_type == "order":
            batch = SandboxOrder.objects.get(account=self.account, order_number=change.ref).import_batch
            kind, url = "ORDER_NOTIFY", f"{self.root}/orders?storeID={store}&importBatch={batch}"
        else:
            batch = SandboxShipment.objects.get(pk=int(change.source_id.partition(":")[2])).batch
            kind, url = (
                "SHIP_NOTIFY",
                f"{self.root}/shipments?storeID={store}&batchId={batch}&includeShipmentItems=False",
            )
        return kind, json.dumps({"resource_url": url, "resource_type": kind}).encode()

    def connect(self) -> SourceAdapter:
        return ShipStationSource(self.connection)

    def seed(self, source_type: str) -> Seeded:
        n = next(_numbers)
        number, email = f"C{n}", f"Buyer{n}@Example.com"
        self.api.create_orders([order_body(number, email=email)])
        if source_type == "order":
            return Seeded(number, {"total": Decimal("27.05"), "shipping": Decimal("5.00")})
        if source_type == "customer":
            return Seeded(email.lower())
        label = self.api.request_json(
            "POST",
            "orders/createlabelfororder",
            json={
                "orderId": SandboxOrder.objects.get(account=self.account, order_number=number).pk,
                "carrierCode": "ups",
                "serviceCode": "ups_ground",
                "shipDate": "2024-03-02",
            },
        )
        return Seeded(number, {"shipping_cost": Decimal(str(label["shipmentCost"])).quantize(Decimal("0.01"))})


def new_order(number: str, **changes) -> Order:
    """An order with cents that a float would lose: 3 x 19.99 + 0.07 tax + 4.95 shipping = 64.99."""
    base = Order(
        number=number,
        source_id=f"src-{number}",
        status=OrderStatus.OPEN,
        currency="USD",
        order_date=datetime(2024, 3, 1, 18, 0, tzinfo=UTC),
        key=f"contract-{number}",
        customer=Customer(key=f"{number.lower()}@example.com", email=f"{number.lower()}@example.com", name="Ada"),
        bill_to=Address(name="Ada", street1="1 Main St", city="Austin", state="TX", postal_code="78701", country="US"),
        lines=(LineItem("MUG-1", "Mug", Decimal("3"), Decimal("19.99"), tax=Decimal("0.07")),),
        shipping=Decimal("4.95"),
        total=Decimal("64.99"),
    )
    return dataclasses.replace(base, **changes)


class TestShipStationTarget(ShipStationSandbox, TargetContract):
    adapter_class = ShipStationTarget
    system = "shipstation"
    uncancellable = ("stock_level",)  # set to the source's count, never cancelled (NotSupported)
    first_actions = {"stock_level": ("updated",)}  # a SKU's level is adjusted, not created
    preexisting = ("stock_level",)  # the SKU is in ShipStation before its level is set

    def connect(self) -> TargetAdapter:
        return ShipStationTarget(self.connection)

    def new_object(self, target_type: str) -> Any:
        n = next(_numbers)
        if target_type == "stock_level":
            SandboxProduct.objects.create(account=self.account, sku=f"STOCK-{n}", name="Stocked", on_hand=2)
            return StockLevel(sku=f"STOCK-{n}", on_hand=Decimal("7"))
        return new_order(f"T{n}")

    def invalid_object(self, target_type: str) -> Any:
        if target_type == "stock_level":
            self.refusal = "was not found"  # V2's 400 "SKU '...' was not found."
            return StockLevel(sku=f"NO-SUCH-{next(_numbers)}", on_hand=Decimal("3"))
        self.refusal = "orderNumber"  # 400 "The orderNumber field is required."
        return new_order("", key=f"no-number-{next(_numbers)}")

    def documents(self, target_type: str, obj: Any) -> int:
        if target_type == "stock_level":
            return SandboxProduct.objects.filter(account=self.account, sku=obj.sku).count()
        return SandboxOrder.objects.filter(account=self.account, order_key=obj.key).count()

    def expected_amounts(self, target_type: str, obj: Any) -> dict[str, Decimal]:
        if target_type == "stock_level":
            return {}
        return {"amountPaid": obj.total, "shippingAmount": obj.shipping, "taxAmount": Decimal("0.07")}

    def stored_amounts(self, target_type: str, target_id: str, obj: Any) -> dict[str, Any]:
        if target_type == "stock_level":
            on_hand = SandboxProduct.objects.get(account=self.account, sku=obj.sku).on_hand
            assert on_hand == obj.on_hand, f"ShipStation holds {on_hand} of {obj.sku}, not {obj.on_hand}"
            return {}
        data = SandboxOrder.objects.get(pk=int(target_id)).data
        return {name: Decimal(str(data[name])) for name in ("amountPaid", "shippingAmount", "taxAmount")}
