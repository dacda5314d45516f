"""What an integration offers to flows, in canonical terms (DESIGN §5).

Each integration's `adapter.py` subclasses `SourceAdapter` and/or `TargetAdapter` and registers them
on its `SystemInfo` (`source_adapter=`, `target_adapter=`). The engine only talks to these
classes; it never names a vendor, and integration apps never import each other.

Object types are plain strings shared by all systems: "order", "shipment", "customer", "product"
as sources; "invoice", "cost_posting", "contact", "sales_order", "fulfilment_order", "stock_level" as
targets. A preset's capability pairs say which source type feeds which target type.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.http import CallRecord


@dataclass(frozen=True)
class Change:
    """One thing that changed at the source: becomes or updates one Record."""

    object_type: str
    source_id: str
    ref: str = ""  # order number, email: what a person searches for
    modified_at: datetime | None = None  # aware UTC; decides which version wins
    obj: Any = None  # the canonical object when the source already gave it whole
    search_text: str = ""


@dataclass(frozen=True)
class WriteResult:
    """What a target did: `action` is created, updated, unchanged, voided or reversed."""

    target_id: str
    action: str
    url: str = ""  # where a person can see it in the vendor's UI
    data: dict = field(default_factory=dict)


class Adapter:
    system: str = ""

    def __init__(self, connection, *, on_call: Callable[[CallRecord], None] | None = None, options: dict | None = None):
        self.connection = connection
        self.on_call = on_call
        self.options = options or {}
        # The Record the engine is running while it calls find/upsert/cancel (None outside the
        # engine). Deferred targets hand it to the queued job that later completes it.
        self.current_record = None


class SourceAdapter(Adapter, ABC):
    #: object types this system can be a source of
    source_types: tuple[str, ...] = ()

    @abstractmethod
    def changes_since(self, object_type: str, since: datetime | None, until: datetime) -> Iterator[Change]:
        """Poll: everything of `object_type` modified in [since, until] (with the caller's overlap)."""

    @abstractmethod
    def fetch(self, object_type: str, source_id: str) -> Any:
        """Load one object fresh from the source and return it in canonical form."""

    @abstractmethod
    def changes_from_delivery(self, delivery) -> list[Change]:
        """Turn a stored webhook Delivery into changes (following pointers where the vendor sends them)."""


class TargetAdapter(Adapter, ABC):
    #: object types this system can be a target for
    target_types: tuple[str, ...] = ()

    def choices(self, name: str) -> list[tuple[str, str]]:
        """Values a person picks from when setting up a flow, e.g. name="account" → the chart of
        accounts as (id, label). Systems without such a list return []: the form asks for an id."""
        return []

    @abstractmethod
    def find(self, object_type: str, obj: Any) -> str | None:
        """Search the target by the object's natural key; the id if it already exists."""

    @abstractmethod
    def upsert(self, object_type: str, obj: Any, *, target_id: str | None) -> WriteResult:
        """Create (target_id None) or update the target object. Idempotent for equal input."""

    @abstractmethod
    def cancel(self, object_type: str, obj: Any, *, target_id: str) -> WriteResult:
        """Void or reverse what `upsert` created (cancelled order, voided shipment)."""
