"""The source adapter contract (DESIGN §5.1, §5.3): what the engine relies on from every source.

A vendor's test class subclasses `SourceContract`, sets `adapter_class` and `system`, prepares its
sandbox in an autouse fixture and implements the hooks below. Every case runs once per declared
source type (or per type and fault).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from connector.adapters import Change, SourceAdapter
from connector.canonical import CANONICAL_TYPES, to_payload
from connector.http import ApiError, AuthExpired, Permanent, Transient
from connector.models import Delivery
from connector.registry import get_system
from tests.contract.common import (
    FAULTS,
    assert_cents,
    assert_error,
    assert_readable,
    error_of,
    forget_rate_limits,
    preset_types,
)

UNKNOWN_TYPE = "no_such_type"
SOURCE_CALLS = ("changes_since", "fetch")


@dataclass(frozen=True)
class Seeded:
    """An object a test put into the sandbox: the `ref` its Change carries, and its money as the
    canonical object must hold it (attribute name → Decimal)."""

    ref: str
    money: dict[str, Decimal] = field(default_factory=dict)


def window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """A poll's [since, until] around now, as the engine asks it (aware UTC)."""
    now = now or datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(minutes=5)


class SourceContract:
    adapter_class: ClassVar[type[SourceAdapter]]
    system: ClassVar[str]
    auth_error: ClassVar[type[ApiError]] = AuthExpired  # what rejected credentials surface as
    delivered_types: ClassVar[tuple[str, ...]] = ()  # types the vendor's webhooks announce
    delivery_topic: ClassVar[str] = ""  # a topic the vendor's webhooks use (the malformed-body case)
    known_bugs: ClassVar[dict[str, str]] = {}

    @classmethod
    def contract_parameters(cls) -> dict[str, list]:
        declared = list(cls.adapter_class.source_types)
        return {
            "source_type": declared,
            "source_call": list(SOURCE_CALLS),
            "delivered_type": list(cls.delivered_types),
        }

    # --- Hooks a vendor implements ------------------------------------------------------------------

    def connect(self) -> SourceAdapter:
        """A new adapter on the sandbox connection, with its current credentials."""
        raise NotImplementedError

    def seed(self, source_type: str) -> Seeded:
        """Create one new object of `source_type` in the sandbox, modified now."""
        raise NotImplementedError

    def break_credentials(self) -> None:
        """Make the connection's credentials ones the vendor rejects (revoked, expired for good)."""
        raise NotImplementedError

    def set_fault(self, kind: str) -> None:
        """Make every later vendor call answer `kind`: "5xx" or "429"."""
        raise NotImplementedError

    def delivery_for(self, change: Change) -> tuple[str, bytes]:
        """(topic, body) of the webhook the vendor sends about the object of `change`."""
        raise NotImplementedError

    # --- Helpers --------------------------------------------------------------------------------------

    def read_once(self, source: SourceAdapter) -> None:
        """One ordinary vendor read (the OAuth refresh case)."""
        since, until = window()
        list(source.changes_since(self.adapter_class.source_types[0], since, until))

    def seeded_change(self, source: SourceAdapter, source_type: str) -> tuple[Seeded, Change]:
        seeded = self.seed(source_type)
        since, until = window()
        changes = [c for c in source.changes_since(source_type, since, until) if c.object_type == source_type]
        mine = [c for c in changes if c.ref == seeded.ref]
        assert len(mine) == 1, f"{source_type} {seeded.ref!r} polled {len(mine)} times: {[c.ref for c in changes]}"
        return seeded, mine[0]

    # --- Cases ----------------------------------------------------------------------------------------

    def test_changes_in_the_window_are_refetched_as_the_same_object(self, source_type):
        declared = set(self.adapter_class.source_types)
        assert get_system(self.system).source_adapter is self.adapter_class  # what the engine will use
        assert preset_types(self.system)[0] <= declared, "a flow preset reads a type the adapter lacks"
        source = self.connect()
        seeded, change = self.seeded_change(source, source_type)
        since, until = window()
        for other in source.changes_since(source_type, since, until):
            assert isinstance(other, Change)
            assert other.object_type in declared, other
            if other.modified_at is not None:
                assert other.modified_at.tzinfo is not None, f"naive modified_at on {other}"
                assert since <= other.modified_at <= until, f"{other.modified_at} outside [{since}, {until}]"
            if other.object_type == source_type:  # each change is fetched again as the same object
                again = source.fetch(source_type, other.source_id)
                assert isinstance(again, CANONICAL_TYPES[source_type])
                if other.obj is not None:
                    assert to_payload(again) == to_payload(other.obj)
        fetched = source.fetch(source_type, change.source_id)
        for name, expected in seeded.money.items():
            assert_cents(getattr(fetched, name), expected, f"fetched {source_type}.{name}")
            if change.obj is not None:
                assert_cents(getattr(change.obj, name), expected, f"polled {source_type}.{name}")
        # Modified now, so neither a window that ended before nor one that starts later holds it.
        now = datetime.now(UTC)
        for since, until in ((now - timedelta(hours=3), now - timedelta(hours=2)), window(now + timedelta(hours=2))):
            refs = [c.ref for c in source.changes_since(source_type, since, until) if c.object_type == source_type]
            assert seeded.ref not in refs, f"{source_type} {seeded.ref!r} modified now was polled in [{since}, {until}]"

    def test_undeclared_and_unknown_types_are_permanent(self, source_call):
        declared = self.adapter_class.source_types
        source = self.connect()
        _, change = self.seeded_change(source, declared[0])  # a real id: only the type is wrong
        since, until = window()
        problems = []
        for object_type in sorted(set(CANONICAL_TYPES) - set(declared)) + [UNKNOWN_TYPE]:
            if source_call == "fetch":
                exc = error_of(lambda t=object_type: source.fetch(t, change.source_id))
            else:
                exc = error_of(lambda t=object_type: list(source.changes_since(t, since, until)))
            if not isinstance(exc, Permanent):
                problems.append(f"{object_type}: {f'{type(exc).__name__}: {exc}' if exc else 'no error'}")
        assert not problems, f"{source_call} of types {self.system} does not declare: {problems}"

    def deliver(self, topic: str, body: bytes) -> Delivery:
        return Delivery.objects.create(
            organization=self.connection.organization,
            connection=self.connection,
            topic=topic,
            dedupe_key=f"contract:{hashlib.sha256(body).hexdigest()}",
            body=body,
        )

    def test_a_delivery_gives_the_change_a_poll_gives(self, delivered_type):
        source = self.connect()
        _, polled = self.seeded_change(source, delivered_type)
        changes = source.changes_from_delivery(self.deliver(*self.delivery_for(polled)))
        assert all(isinstance(c, Change) and c.object_type in self.adapter_class.source_types for c in changes)
        mine = [c for c in changes if c.object_type == delivered_type and c.source_id == polled.source_id]
        assert len(mine) == 1, changes
        delivered = mine[0].obj if mine[0].obj is not None else source.fetch(delivered_type, polled.source_id)
        assert to_payload(delivered) == to_payload(polled.obj or source.fetch(delivered_type, polled.source_id))
        assert (mine[0].ref, mine[0].modified_at) == (polled.ref, polled.modified_at)

    def test_a_malformed_delivery_is_permanent_and_readable(self):
        source = self.connect()
        delivery = self.deliver(self.delivery_topic, b'{"not what this vendor sends": ')
        assert_readable(assert_error(error_of(lambda: source.changes_from_delivery(delivery)), Permanent, "delivery"))

    def test_rejected_credentials_surface_as_the_auth_error(self, source_type):
        _, change = self.seeded_change(self.connect(), source_type)
        self.break_credentials()
        source = self.connect()
        since, until = window()
        assert_error(error_of(lambda: list(source.changes_since(source_type, since, until))), self.auth_error, "poll")
        assert_error(error_of(lambda: source.fetch(source_type, change.source_id)), self.auth_error, "fetch")

    def test_vendor_faults_are_transient(self, source_type, surface_429):
        """A 5xx and a 429 reach the engine as Transient (it retries): not swallowed, not Permanent."""
        _, change = self.seeded_change(self.connect(), source_type)
        since, until = window()
        for kind in FAULTS:
            self.set_fault(kind)
            for call in ("poll", "fetch"):
                forget_rate_limits()
                source = self.connect()
                if call == "poll":
                    exc = error_of(lambda s=source: list(s.changes_since(source_type, since, until)))
                else:
                    exc = error_of(lambda s=source: s.fetch(source_type, change.source_id))
                assert_error(exc, Transient, f"{call} answered {kind}")
