"""What an integration offers to flows, in canonical terms (DESIGN §5).

Each integration's `adapter.py` subclasses `SourceAdapter` and/or `TargetAdapter` and registers them
on its `SystemInfo` (`source_adapter=`, `target_adapter=`). The engine only talks to these
classes; it never names a vendor, and integration apps never import each other.

Object types are plain strings shared by all systems: "order", "shipment", "customer", "product"
as sources; "invoice", "cost_posting", "contact", "sales_order", "fulfilment_order", "stock_level" as
targets. A preset's capability pairs say which source type feeds which target type.

Stores (sources of orders) may also take instructions back from a flow: mark an order shipped with
its tracking, set its status, add a note (the store side of a shipment pull-back and of order
rules). These methods are optional: the defaults raise `NotSupported`, which is a
`Permanent` error, so a flow asking a store for something it cannot do fails visibly with a
remediation instead of silently doing nothing.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from connector.canonical import Customer, Order, Shipment, StockLevel
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


# How a write reads to a merchant, by WriteResult.action.
ACTION_STATUS = {
    "created": "created",
    "updated": "updated",
    "unchanged": "up to date",
    "voided": "voided",
    "reversed": "reversed",
    "skipped": "skipped",
    "queued": "queued",
}


@dataclass(frozen=True)
class DocumentSummary:
    """A written target document in a merchant's words: what it is, its number, amount and state.

    `kind` is the target's own document type ("invoice", "journal", "contact", "salesorder"): the
    adapter's `document_url` reads it back. `label` is what a person calls it ("Invoice"). Amounts
    are Decimal text, never floats.
    """

    kind: str
    label: str
    number: str = ""
    total: str = ""
    currency: str = ""
    status: str = ""
    extra: tuple[str, ...] = ()  # short facts beside it: "credit note CN-1001-1", "reverses JE 12"

    def as_dict(self) -> dict:
        data = {k: v for k, v in dataclasses.asdict(self).items() if v}
        if self.extra:
            data["extra"] = list(self.extra)
        return data


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


@dataclass(frozen=True)
class WriteContext:
    """What the engine tells a target about the write it asks for, passed to find / upsert / cancel
    instead of being set on the adapter.

    `record` is the Record being synced: a deferred target hands it to the job that later completes
    it, a batching one leases its siblings, rules record their events on it. `options` are the
    flow's options; `timeline` is where a target may add its own events (`add(kind, message, data)`).
    Outside the engine (tools, tests) the context is empty: `NO_CONTEXT`.
    """

    record: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)
    timeline: Any = None

    @property
    def record_id(self) -> int | None:
        return getattr(self.record, "pk", None)


NO_CONTEXT = WriteContext()


class NotSupported(Permanent):
    """The store cannot do what the flow asks (e.g. a customer-visible note in ShipStation)."""


class Adapter:
    system: str = ""

    def __init__(self, connection, *, on_call: Callable[[CallRecord], None] | None = None, options: dict | None = None):
        self.connection = connection
        self.on_call = on_call
        self.options = options or {}


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

    # --- Optional: instructions back to the store. Each is idempotent: a retry after a
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

    # --- Optional: how a written document reads to a merchant, and where they open it. Both run
    # --- on stored data only (no vendor call): pages call them on every view.

    def describe_result(self, object_type: str, obj: Any, result: WriteResult) -> DocumentSummary:
        """The document `upsert`/`cancel` wrote, in business terms. The default reads the canonical
        object (order number and total, shipment cost, contact email) and well-known keys of
        `result.data` ("number", "total", "currency", "status"); systems refine it."""
        number, total, currency = default_facts(obj)
        data = result.data or {}
        return DocumentSummary(
            kind=object_type,
            label=object_type.replace("_", " ").capitalize(),
            number=str(data.get("number") or number),
            total=str(data.get("total") or total),
            currency=str(data.get("currency") or currency),
            status=str(data.get("status") or ACTION_STATUS.get(result.action, result.action)),
        )

    def document_url(self, kind: str, target_id: str) -> str:
        """Where a person opens the document `kind`/`target_id` in the target's own UI (the sandbox's
        page for sandbox connections); "" when there is no such page. Never a guess that 404s."""
        return ""

    @abstractmethod
    def find(self, object_type: str, obj: Any, *, context: WriteContext = NO_CONTEXT) -> str | None:
        """Search the target by the object's natural key; the id if it already exists."""

    @abstractmethod
    def upsert(
        self, object_type: str, obj: Any, *, target_id: str | None, context: WriteContext = NO_CONTEXT
    ) -> WriteResult:
        """Create (target_id None) or update the target object. Idempotent for equal input."""

    @abstractmethod
    def cancel(self, object_type: str, obj: Any, *, target_id: str, context: WriteContext = NO_CONTEXT) -> WriteResult:
        """Void or reverse what `upsert` created (cancelled order, voided shipment)."""


def default_facts(obj: Any) -> tuple[str, str, str]:
    """(number, total, currency) a person recognises a canonical object by."""
    if isinstance(obj, Order):
        return obj.number, str(obj.total), obj.currency
    if isinstance(obj, Shipment):
        return obj.order_number, str(obj.total_cost), obj.currency
    if isinstance(obj, Customer):
        return obj.email or obj.name or obj.key, "", ""
    if isinstance(obj, StockLevel):
        return obj.sku, "", ""
    return "", "", ""
