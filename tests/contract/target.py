"""The target adapter contract (DESIGN §5.2-5.6, §5.9): what the engine relies on from every target.

A vendor's test class subclasses `TargetContract`, sets `adapter_class` and `system`, prepares its
sandbox in an autouse fixture and implements the hooks below. Effects are asserted in the sandbox's
own state (`documents`, `stored_amounts`), not on our return values alone.

A deferred target (QuickBooks Desktop) answers "queued" and applies the write when its vendor next
connects: its `write` hook drives that connection and reports the record's outcome, so the same cases
hold for it.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from connector.adapters import TargetAdapter, WriteResult
from connector.canonical import Order, OrderStatus, Shipment
from connector.http import AuthExpired, Permanent, Transient
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

# Object types a target may declare (connector/adapters.py), plus one no system knows.
TARGET_TYPES = ("invoice", "cost_posting", "contact", "sales_order", "fulfilment_order", "stock_level")
UNKNOWN_TYPE = "no_such_type"
SECOND_ACTIONS = ("unchanged", "updated")
NO_OP_ACTIONS = ("unchanged", "skipped")


class TargetContract:
    adapter_class: ClassVar[type[TargetAdapter]]
    system: ClassVar[str]
    known_bugs: ClassVar[dict[str, str]] = {}
    #: types that cannot be cancelled: `cancel` raises a Permanent (NotSupported) saying so
    uncancellable: ClassVar[tuple[str, ...]] = ()
    #: what a first write answers per type when not "created" (a stock level is adjusted: "updated")
    first_actions: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: types whose target object exists before the first write (a SKU whose stock level is set): `find`
    #: may name it, and the write changes it rather than adding one
    preexisting: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def contract_parameters(cls) -> dict[str, list]:
        declared = list(cls.adapter_class.target_types)
        return {
            "target_type": declared,
        }

    # --- Hooks a vendor implements ------------------------------------------------------------------

    def connect(self) -> TargetAdapter:
        """A new adapter on the sandbox connection (a new task's adapter: no state carried over)."""
        raise NotImplementedError

    def new_object(self, target_type: str) -> Any:
        """A canonical object of a kind `target_type` takes, never written before (unique key)."""
        raise NotImplementedError

    def invalid_object(self, target_type: str) -> Any:
        """A canonical object the vendor itself refuses with a validation error (4xx). Set `self.refusal`
        to words of the vendor's own message: the error must pass them on to the merchant."""
        raise NotImplementedError

    def documents(self, target_type: str, obj: Any) -> int:
        """How many documents the sandbox holds for `obj`'s natural key (any kind: it, its reversal)."""
        raise NotImplementedError

    def expected_amounts(self, target_type: str, obj: Any) -> dict[str, Decimal]:
        """The money the written document must hold, by name."""
        return {}

    def stored_amounts(self, target_type: str, target_id: str, obj: Any) -> dict[str, Any]:
        """The money the sandbox's document holds, by the same names, read from its own state."""
        return {}

    def break_credentials(self) -> None:
        """Make the connection's credentials ones the vendor rejects (revoked, expired for good)."""
        raise NotImplementedError

    def set_fault(self, kind: str) -> None:
        """Make every later vendor call answer `kind`: "5xx" or "429"."""
        raise NotImplementedError

    def write(self, target: TargetAdapter, target_type: str, obj: Any, target_id: str | None) -> WriteResult:
        """What the engine does to write `obj`: `upsert`. A deferred target completes the write here."""
        return target.upsert(target_type, obj, target_id=target_id)

    def read_once(self, target: TargetAdapter) -> None:
        """One ordinary vendor read (the OAuth refresh case): a search by natural key."""
        target_type = self.adapter_class.target_types[0]
        target.find(target_type, self.new_object(target_type))

    def cancelled(self, target_type: str, obj: Any) -> Any:
        """`obj` as its source reports it once cancelled (a cancelled order, a voided shipment)."""
        if isinstance(obj, Order):
            return dataclasses.replace(obj, status=OrderStatus.CANCELLED)
        if isinstance(obj, Shipment):
            return dataclasses.replace(obj, voided=True, void_date=datetime.now(UTC))
        return obj

    # --- Cases ----------------------------------------------------------------------------------------

    def test_created_once_with_its_money_to_the_cent_then_found_never_duplicated(self, target_type):
        declared = set(self.adapter_class.target_types)
        assert get_system(self.system).target_adapter is self.adapter_class  # what the engine will use
        assert preset_types(self.system)[1] <= declared, "a flow preset writes a type the adapter lacks"
        obj = self.new_object(target_type)
        target = self.connect()
        if target_type in self.preexisting:
            assert self.documents(target_type, obj) == 1
        else:
            assert target.find(target_type, obj) is None
        first = self.write(target, target_type, obj, None)
        assert isinstance(first, WriteResult)
        assert first.action in self.first_actions.get(target_type, ("created",)), first
        assert first.target_id, first
        assert self.documents(target_type, obj) == 1
        expected = self.expected_amounts(target_type, obj)
        stored = self.stored_amounts(target_type, first.target_id, obj)
        assert set(stored) == set(expected), (stored, expected)
        for name, amount in expected.items():
            assert_cents(stored[name], amount, f"{target_type} {name} in the sandbox")
        # A later run (a new adapter: only what the vendor and our Links hold) finds it and writes no second.
        target = self.connect()
        found = target.find(target_type, obj)
        assert found == first.target_id
        again = self.write(target, target_type, obj, found)
        assert again.action in SECOND_ACTIONS, again
        assert again.target_id in ("", first.target_id), again
        assert self.documents(target_type, obj) == 1

    def test_cancel_of_an_unwritten_object_writes_nothing(self, target_type):
        obj = self.cancelled(target_type, self.new_object(target_type))
        before = self.documents(target_type, obj)
        target = self.connect()
        answers: list[WriteResult] = []
        exc = error_of(lambda: answers.append(target.cancel(target_type, obj, target_id="")))
        if target_type in self.uncancellable:
            assert_readable(assert_error(exc, Permanent, "cancel"))
        else:
            assert exc is None, f"cancel of an unwritten {target_type} raised {type(exc).__name__}: {exc}"
            assert isinstance(answers[0], WriteResult) and answers[0].action in NO_OP_ACTIONS, answers[0]
        assert self.documents(target_type, obj) == before

    def test_a_validation_error_is_permanent_and_readable(self, target_type):
        obj = self.invalid_object(target_type)
        before = self.documents(target_type, obj)
        target = self.connect()
        exc = assert_error(error_of(lambda: self.write(target, target_type, obj, None)), Permanent, "write")
        assert_readable(exc)
        refusal = getattr(self, "refusal", "")
        assert refusal.lower() in exc.message.lower(), f"the vendor's words {refusal!r} are lost: {exc.message!r}"
        assert self.documents(target_type, obj) == before

    def test_rejected_credentials_surface_as_the_auth_error(self, target_type):
        obj = self.new_object(target_type)
        before = self.documents(target_type, obj)
        self.break_credentials()
        target = self.connect()
        assert_error(error_of(lambda: self.write(target, target_type, obj, None)), AuthExpired, "write")
        assert self.documents(target_type, obj) == before

    def test_vendor_faults_are_transient(self, target_type, surface_429):
        """A 5xx and a 429 reach the engine as Transient (it retries): not swallowed, not Permanent."""
        obj = self.new_object(target_type)
        before = self.documents(target_type, obj)
        for kind in FAULTS:
            self.set_fault(kind)
            forget_rate_limits()
            target = self.connect()
            exc = error_of(lambda t=target: self.write(t, target_type, obj, None))
            assert_error(exc, Transient, f"write answered {kind}")
        assert self.documents(target_type, obj) == before

    def test_undeclared_and_unknown_types_are_permanent(self):
        declared = self.adapter_class.target_types
        obj = self.new_object(declared[0])
        before = self.documents(declared[0], obj)
        target = self.connect()
        problems = []
        for target_type in sorted(set(TARGET_TYPES) - set(declared)) + [UNKNOWN_TYPE]:
            calls = {
                "find": lambda t=target_type: target.find(t, obj),
                "upsert": lambda t=target_type: target.upsert(t, obj, target_id=None),
            }
            for name, call in calls.items():
                exc = error_of(call)
                if not isinstance(exc, Permanent):
                    problems.append(f"{name}({target_type}): {type(exc).__name__ if exc else 'no error'}")
        assert not problems, f"types {self.system} does not declare: {problems}"
        assert self.documents(declared[0], obj) == before
