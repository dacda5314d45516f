"""The store side of a Zoho sales-order flow: what pull-back and the order rules ask of the store.

Its own module so rules, sales orders and pull-back all reach the store without importing each
other. The store is found through the registry, never by importing another integration: the
store's source adapter implements the optional methods of connector.adapters.SourceAdapter
(`mark_shipped`, `set_order_status`, `add_order_note`); one that does not raises `NotSupported`,
a Permanent error the caller records. Tests replace `store_side_for` with a fake.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from connector.adapters import NotSupported, Tracking
from connector.http import CallRecord
from connector.models import Connection, Flow
from connector.registry import get_system


@dataclass(frozen=True)
class TrackingInfo(Tracking):
    """The store-side Tracking plus the Zoho sales order it was read from."""

    salesorder_id: str = ""

    @property
    def order_source_id(self) -> str:
        return self.order_id

    def tracking(self) -> Tracking:
        return Tracking(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(Tracking)}  # the store needs no Zoho id
        )


class StoreSide(Protocol):
    """What pull-back and the order rules ask of the store (tests pass a fake)."""

    def mark_shipped(self, connection: Connection, info: TrackingInfo) -> dict: ...

    def set_status(self, connection: Connection, order_source_id: str, status: str) -> dict: ...

    def add_note(
        self, connection: Connection, order_source_id: str, text: str, customer_visible: bool = False
    ) -> dict: ...


class AdapterStoreSide:
    """The store's own source adapter, found through the registry: its optional store-side methods
    of connector.adapters (`mark_shipped`, `set_order_status`, `add_order_note`). A store that
    does not offer one raises `NotSupported`, a Permanent error the caller records. `on_call` logs
    the store's API calls (the engine's timeline of the record being written)."""

    def __init__(self, on_call: Callable[[CallRecord], None] | None = None):
        self.on_call = on_call

    def _adapter(self, connection: Connection):
        cls = get_system(connection.system).source_adapter
        if cls is None:
            raise NotSupported(f"{connection.system} is not a store the connector can send shipments to.")
        return cls(connection, on_call=self.on_call)

    def mark_shipped(self, connection: Connection, info: TrackingInfo) -> dict:
        return self._adapter(connection).mark_shipped(info.tracking()) or {}

    def set_status(self, connection: Connection, order_source_id: str, status: str) -> dict:
        return self._adapter(connection).set_order_status(order_source_id, status) or {}

    def add_note(self, connection: Connection, order_source_id: str, text: str, customer_visible: bool = False) -> dict:
        return self._adapter(connection).add_order_note(order_source_id, text, customer_visible) or {}


def store_side_for(flow: Flow, on_call: Callable[[CallRecord], None] | None = None) -> StoreSide:
    return AdapterStoreSide(on_call=on_call)
