"""WooCommerce keeps the source contract (orders and customers) and the target contract (stock levels),
against its sandbox store over real HTTP."""

from __future__ import annotations

import gc
import itertools
import json
from decimal import Decimal
from typing import Any

import pytest

from connector.adapters import Change, SourceAdapter, TargetAdapter
from connector.canonical import StockLevel
from connector.models import Connection
from integrations.woocommerce.adapter import WooCommerceSource, WooCommerceTarget
from integrations.woocommerce.client import WooCommerceClient
from integrations.woocommerce.sandbox.models import SandboxProduct, SandboxStore
from integrations.woocommerce.sandbox.store import create_customer, create_order, create_product
from integrations.woocommerce.sandbox.views import create_store
from tests.contract.source import Seeded, SourceContract
from tests.contract.target import TargetContract

_numbers = itertools.count(1)


class TestWooCommerceSource(SourceContract):
    adapter_class = WooCommerceSource
    system = "woocommerce"

    @pytest.fixture(autouse=True)
    def sandbox(self, live_server, transactional_db, settings, alice):
        settings.PUBLIC_BASE_URL = live_server.url
        self.shop = create_store("contract-shop", name="Contract shop", tax_rate="0.1", organization=alice.org)
        key = self.shop.keys.first()
        self.connection = Connection.objects.create(
            organization=alice.org,
            system="woocommerce",
            label="Contract shop",
            credentials={"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
            settings={"store_url": f"{live_server.url}/sandbox/woocommerce/{self.shop.slug}"},
        )
        yield
        gc.collect()  # keep-alive sessions pin live-server threads and their database connections

    delivered_types = ("order", "customer")  # the whole object in the body, as its REST GET gives it
    delivery_topic = "order.updated"

    def delivery_for(self, change: Change) -> tuple[str, bytes]:
        client = WooCommerceClient.for_connection(self.connection)
        try:
            if change.object_type == "order":
                return "order.updated", json.dumps(client.get_order(change.source_id)).encode()
            return "customer.updated", json.dumps(client.get_customer(change.source_id)).encode()
        finally:
            client.session.close()

    def connect(self) -> SourceAdapter:
        return WooCommerceSource(self.connection)

    def seed(self, source_type: str) -> Seeded:
        n = next(_numbers)
        email = f"buyer{n}@example.com"
        if source_type == "customer":
            create_customer(self.shop, {"email": email, "first_name": "Ada", "last_name": f"Buyer {n}"})
            return Seeded(email)
        order = create_order(
            self.shop,
            {
                "status": "processing",
                "billing": {"first_name": "Ada", "last_name": "Buyer", "email": email},
                "line_items": [{"sku": "WOO-HAT", "quantity": 3}],
                "shipping_lines": [{"method_id": "flat_rate", "total": "4.95"}],
            },
        )
        money = {"total": Decimal(order.data["total"]), "shipping": Decimal("4.95")}
        return Seeded(str(order.data.get("number") or order.pk), money)

    def break_credentials(self) -> None:
        self.connection.credentials = {"consumer_key": "ck_revoked", "consumer_secret": "cs_revoked"}
        self.connection.save(update_fields=["credentials"])

    def set_fault(self, kind: str) -> None:
        faults = {"error_rate": 1.0} if kind == "5xx" else {"rate_429": 1.0, "retry_after": 1}
        SandboxStore.objects.filter(pk=self.shop.pk).update(faults=faults)


class TestWooCommerceTarget(TargetContract):
    """The store as a target of stock levels (QuickBooks Desktop's QuantityOnHand pushed back)."""

    adapter_class = WooCommerceTarget
    system = "woocommerce"
    uncancellable = ("stock_level",)  # set to the source's count, never cancelled (NotSupported)
    first_actions = {"stock_level": ("updated",)}  # a product's quantity is set, not created
    preexisting = ("stock_level",)  # the product is in the store before its quantity is set

    @pytest.fixture(autouse=True)
    def sandbox(self, live_server, transactional_db, settings, alice):
        settings.PUBLIC_BASE_URL = live_server.url
        self.shop = create_store("contract-stock", name="Contract stock", tax_rate="0", organization=alice.org)
        key = self.shop.keys.first()
        self.connection = Connection.objects.create(
            organization=alice.org,
            system="woocommerce",
            label="Contract stock",
            credentials={"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
            settings={"store_url": f"{live_server.url}/sandbox/woocommerce/{self.shop.slug}"},
        )
        yield
        gc.collect()

    def connect(self) -> TargetAdapter:
        return WooCommerceTarget(self.connection)

    def new_object(self, target_type: str) -> Any:
        sku = f"STOCK-{next(_numbers)}"
        create_product(
            self.shop, {"name": sku, "sku": sku, "regular_price": "1.00", "manage_stock": True, "stock_quantity": 2}
        )
        return StockLevel(sku=sku, on_hand=Decimal("7"))

    def invalid_object(self, target_type: str) -> Any:
        self.refusal = "no WooCommerce product has this SKU"  # the store lists no product for it
        return StockLevel(sku=f"NO-SUCH-{next(_numbers)}", on_hand=Decimal("3"))

    def documents(self, target_type: str, obj: Any) -> int:
        return SandboxProduct.objects.filter(store=self.shop, sku=obj.sku).count()

    def stored_amounts(self, target_type: str, target_id: str, obj: Any) -> dict[str, Any]:
        held = SandboxProduct.objects.get(store=self.shop, sku=obj.sku).data["stock_quantity"]
        assert held == obj.on_hand, f"WooCommerce holds {held} of {obj.sku}, not {obj.on_hand}"
        return {}

    def break_credentials(self) -> None:
        self.connection.credentials = {"consumer_key": "ck_revoked", "consumer_secret": "cs_revoked"}
        self.connection.save(update_fields=["credentials"])

    def set_fault(self, kind: str) -> None:
        faults = {"error_rate": 1.0} if kind == "5xx" else {"rate_429": 1.0, "retry_after": 1}
        SandboxStore.objects.filter(pk=self.shop.pk).update(faults=faults)
