"""Systems and presets whose work takes a while and counts itself in Redis, for worker processes.

Installed only in the worker processes a reliability test starts (tests.reliability.polls_worker_settings):
a real worker cannot see the test's in-memory registrations. A test sees what happened through Redis.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

from django.apps import AppConfig

from connector.adapters import NO_CONTEXT, SourceAdapter, TargetAdapter, WriteResult
from connector.canonical import Customer, LineItem, Order, OrderStatus, natural_key
from connector.http import RateLimited

SLOW_POLL = "slow_poll"
SLOW_SYNC = "slow_sync"


def started_key(flow_id: int) -> str:
    return f"slowpoll:started:{flow_id}"


def finished_key(flow_id: int) -> str:
    return f"slowpoll:finished:{flow_id}"


def writes_key(source_id: str) -> str:
    return f"slowtgt:writes:{source_id}"


def _redis():
    from connector.redis import get_redis

    return get_redis()


def slow_runner(flow) -> dict:
    """A poll that says it started, takes `options["seconds"]`, says it finished (one entry a run)."""
    _redis().rpush(started_key(flow.pk), "1")
    time.sleep(float(flow.options.get("seconds", 2)))
    _redis().rpush(finished_key(flow.pk), "1")
    return {}


class OrdersSource(SourceAdapter):
    """Every order it is asked for exists, made from its id."""

    system = "slowsrc"
    source_types = ("order",)

    def changes_since(self, object_type, since, until):
        return iter(())

    def changes_from_delivery(self, delivery):
        return []

    def fetch(self, object_type, source_id):
        return Order(
            number=source_id,
            source_id=source_id,
            status=OrderStatus.OPEN,
            currency="USD",
            order_date=datetime(2026, 11, 1, tzinfo=UTC),
            modified_at=datetime(2026, 11, 1, tzinfo=UTC),
            customer=Customer(key=f"{source_id}@example.com", email=f"{source_id}@example.com"),
            lines=(LineItem(sku="SKU-1", name="Thing", quantity=Decimal("1"), unit_price=Decimal("10.00")),),
            total=Decimal("10.00"),
        )


class SlowBooks(TargetAdapter):
    """A ledger whose writes take `options["seconds"]`; it keeps what it wrote, so `find` knows it.
    With `options["busy_first"]` it answers a record's first write "busy, come back in that many s"."""

    system = "slowtgt"
    target_types = ("invoice",)

    def find(self, object_type, obj, *, context=NO_CONTEXT):
        found = _redis().hget("slowtgt:documents", natural_key(obj))
        return found.decode() if found else None

    def upsert(self, object_type, obj, *, target_id, context=NO_CONTEXT):
        busy_for = context.options.get("busy_first")
        if busy_for and not _redis().llen(writes_key(obj.source_id)):  # its first write: "come back later"
            _redis().rpush(writes_key(obj.source_id), "busy")
            raise RateLimited("Busy, try again later.", retry_after=float(busy_for))
        _redis().rpush(writes_key(obj.source_id), "started")
        time.sleep(float(context.options.get("seconds", 2)))
        target_id = target_id or f"inv-{obj.source_id}"
        _redis().hset("slowtgt:documents", natural_key(obj), target_id)
        _redis().rpush(writes_key(obj.source_id), "done")
        return WriteResult(target_id, "created", url=f"https://books.invalid/{target_id}")

    def cancel(self, object_type, obj, *, target_id, context=NO_CONTEXT):
        return WriteResult(target_id, "skipped")


class WorkerAppConfig(AppConfig):
    name = "tests.reliability"
    label = "reliability_polls_worker_app"

    def ready(self) -> None:
        from connector.registry import AuthKind, FlowPreset, Role, SystemInfo, register_preset, register_system

        register_system(SystemInfo("slowsrc", "Slow Store", AuthKind.API_KEY, Role.STORE, source_adapter=OrdersSource))
        register_system(
            SystemInfo("slowtgt", "Slow Books", AuthKind.API_KEY, Role.ACCOUNTING, target_adapter=SlowBooks)
        )
        register_preset(FlowPreset(SLOW_POLL, "Slow poll", "slowsrc", "slowtgt", (), runner=slow_runner))
        register_preset(FlowPreset(SLOW_SYNC, "Slow sync", "slowsrc", "slowtgt", (("order", "invoice"),)))
