"""What an integration offers to flows, in canonical terms (DESIGN §5).

Each integration's `adapter.py` subclasses `SourceAdapter` and/or `TargetAdapter` and registers them
on its `SystemInfo` (`source_adapter=`, `target_adapter=`). The engine only talks to these
classes; it never names a vendor, and integration apps never import each other.

Object types are plain strings shared by all systems: "order", "shipment", "customer", "product"
as sources; "invoice", "cost_posting", "contact", "sales_order", "fulfilment_order", "stock_level" as
targets. A preset's capability pairs say which source type feeds which target type.

Stores (sources of orders) may also take instructions back from a flow: mark an order shipped with
its tracking, set its status, add a note (the store side of Zoho's shipment pull-back and order
rules, issue 10). These methods are optional: the defaults raise `NotSupported`, which is a
`Permanent` error, so a flow asking a store for something it cannot do fails visibly with a
remediation instead of silently doing nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from connector.http import CallRecord, Permanent


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


@dataclass(frozen=True)
class Tracking:
    """A shipment to tell the store about: which order, by which carrier, with which tracking number."""

    order_id: str  # the store's order id (the Record's source id)
    order_number: str
    carrier: str
    tracking_number: str
    shipping_method: str = ""
    ship_date: date | None = None

    def note(self) -> str:
        """The customer-facing sentence stores show (WooCommerce order note, emails)."""
        how = " ".join(p for p in (self.carrier, self.shipping_method) if p)
        return f"Your order {self.order_number} has shipped via {how}. Tracking number: {self.tracking_number}."


class NotSupported(Permanent):
    """The store cannot do what the flow asks (e.g. a customer-visible note in ShipStation)."""


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

    # --- Optional: instructions back to the store (issue 10). Each is idempotent: a retry after a
    # --- crash or a store error repeats nothing the store already has.

    def mark_shipped(self, tracking: Tracking) -> dict:
        """Mark the order shipped with carrier, tracking number and date; returns what the store did
        ({"already": True} when it was shipped before)."""
        raise self._not_supported("mark orders shipped")

    def set_order_status(self, order_id: str, status: str) -> dict:
        """Set the order's status in the store's own vocabulary; a no-op when it already has it."""
        raise self._not_supported("set order statuses")

    def add_order_note(self, order_id: str, text: str, customer_visible: bool = False) -> dict:
        """Add a note to the order (visible to the customer when asked and the store can); a note
        with the same text already on the order is not added again."""
        raise self._not_supported("add order notes")

    def _not_supported(self, what: str) -> NotSupported:
        return NotSupported(
            f"{self.system or type(self).__name__} cannot {what} through the connector.",
            remediation="Do it by hand in the store, or change the flow's rules so they do not ask for it.",
        )


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
