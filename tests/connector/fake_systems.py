"""In-memory source and target systems for testing the engine without any vendor.

The engine is vendor-agnostic, so its own rules (idempotency, ordering, errors, cursors, leases)
are tested against these fakes; each integration's adapter is tested against its sandbox.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from connector.adapters import NO_CONTEXT, Change, SourceAdapter, TargetAdapter, WriteResult
from connector.canonical import Customer, LineItem, Order, OrderStatus, natural_key
from connector.http import CallRecord, Permanent
from connector.registry import AuthKind, FlowPreset, Role, SystemInfo, register_preset, register_system


class FakeWorld:
    """Shared state of both fake vendors, reset per test."""

    def __init__(self):
        self.orders: dict[str, Order] = {}
        self.documents: dict[str, dict] = {}  # target id -> {"key", "total", "status"}
        self.creates = 0
        self.updates = 0
        self.cancels = 0
        self.fail_next: list[Exception] = []
        self.lose_commit = False  # the vendor applies the write, then the call "fails"
        self.poll_error: Exception | None = None

    def add_order(self, number: str, total: str = "10.00", modified: datetime | None = None, **kw) -> Order:
        order = Order(
            number=number,
            source_id=f"src-{number}",
            status=kw.pop("status", OrderStatus.OPEN),
            currency="USD",
            order_date=datetime(2026, 11, 1, tzinfo=UTC),
            modified_at=modified or datetime.now(UTC),
            customer=Customer(key=f"{number}@example.com", email=f"{number}@example.com"),
            lines=(LineItem(sku="SKU-1", name="Thing", quantity=Decimal("1"), unit_price=Decimal(total)),),
            total=Decimal(total),
            **kw,
        )
        self.orders[order.source_id] = order
        return order

    def edit(self, source_id: str, **changes) -> Order:
        self.orders[source_id] = replace(self.orders[source_id], modified_at=datetime.now(UTC), **changes)
        return self.orders[source_id]


WORLD = FakeWorld()


class FakeSource(SourceAdapter):
    system = "fakesrc"
    source_types = ("order",)

    def changes_since(self, object_type, since, until):
        if WORLD.poll_error:
            raise WORLD.poll_error
        for order in list(WORLD.orders.values()):
            if since is None or order.modified_at >= since:
                yield Change("order", order.source_id, ref=order.number, modified_at=order.modified_at, obj=order)

    def fetch(self, object_type, source_id):
        self._call("GET", f"/orders/{source_id}")
        if source_id not in WORLD.orders:
            raise Permanent("order not found", status=404)
        return WORLD.orders[source_id]

    def changes_from_delivery(self, delivery):
        source_id = delivery.body.decode()
        order = WORLD.orders[source_id]
        return [Change("order", source_id, ref=order.number, modified_at=order.modified_at, obj=order)]

    def _call(self, method, url, status=200):
        if self.on_call:
            self.on_call(CallRecord(method, "https://fake.example" + url, status, 1))


class FakeTarget(TargetAdapter):
    system = "faketgt"
    target_types = ("invoice",)

    def _maybe_fail(self):
        if WORLD.fail_next:
            raise WORLD.fail_next.pop(0)

    def find(self, object_type, obj, *, context=NO_CONTEXT):
        key = natural_key(obj)
        return next((tid for tid, doc in WORLD.documents.items() if doc["key"] == key), None)

    def upsert(self, object_type, obj, *, target_id, context=NO_CONTEXT):
        self._maybe_fail()
        if self.on_call:
            self.on_call(CallRecord("POST" if target_id is None else "PUT", "https://books.fake/invoices", 201, 2))
        if target_id is None:
            WORLD.creates += 1
            target_id = f"inv-{len(WORLD.documents) + 1}"
            WORLD.documents[target_id] = {"key": natural_key(obj), "total": obj.total, "status": "open"}
            action = "created"
        else:
            WORLD.updates += 1
            WORLD.documents[target_id].update(total=obj.total)
            action = "updated"
        if WORLD.lose_commit:
            WORLD.lose_commit = False
            raise RuntimeError("worker killed after the vendor's 2xx")
        return WriteResult(target_id, action, url=f"https://books.fake/{target_id}")

    def cancel(self, object_type, obj, *, target_id, context=NO_CONTEXT):
        self._maybe_fail()
        WORLD.cancels += 1
        WORLD.documents[target_id]["status"] = "void"
        return WriteResult(target_id, "voided")


def register_fakes() -> None:
    register_system(SystemInfo("fakesrc", "Fake Store", AuthKind.API_KEY, Role.STORE, source_adapter=FakeSource))
    register_system(SystemInfo("faketgt", "Fake Books", AuthKind.API_KEY, Role.ACCOUNTING, target_adapter=FakeTarget))
    register_preset(FlowPreset("fake_flow", "Fake → Books", "fakesrc", "faketgt", (("order", "invoice"),)))
    register_system(
        SystemInfo(
            "fakeboth", "Fake Both", AuthKind.API_KEY, Role.STORE, source_adapter=FakeSource, target_adapter=FakeTarget
        )
    )
    # Orders are read from the flow's *target* connection and written to its source.
    register_preset(
        FlowPreset("fake_reverse", "Books ← Both", "faketgt", "fakeboth", (("order", "invoice", "reverse"),))
    )
