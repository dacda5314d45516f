"""WooCommerce keeps the source contract (orders and customers), against its sandbox store over real HTTP."""

from __future__ import annotations

import gc
import itertools
import json
from decimal import Decimal

import pytest

from connector.adapters import Change, SourceAdapter
from connector.models import Connection
from integrations.woocommerce.adapter import WooCommerceSource
from integrations.woocommerce.client import WooCommerceClient
from integrations.woocommerce.sandbox.models import SandboxStore
from integrations.woocommerce.sandbox.store import create_customer, create_order
from integrations.woocommerce.sandbox.views import create_store
from tests.contract.source import Seeded, SourceContract

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
