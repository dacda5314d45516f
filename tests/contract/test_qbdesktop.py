"""QuickBooks Desktop keeps the target contract (invoices) as a deferred target: `upsert` queues qbXML jobs
and answers "queued"; the Web Connector simulator (Intuit's WSDL over real HTTP against the live server)
then applies them to the simulated company file, and the record carries the outcome.

No vendor fault case: QuickBooks Desktop is never called by us (its Web Connector calls us), so it has no
5xx or 429 of its own to surface.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from connector import engine
from connector.adapters import Change, TargetAdapter, WriteContext, WriteResult
from connector.canonical import Address, Customer, LineItem, Order, OrderStatus
from connector.http import NeedsReview, Permanent
from connector.models import Connection, Event, Flow, Record
from integrations.qbdesktop.adapter import QBDesktopTarget
from integrations.qbdesktop.sandbox.client import WebConnectorSimulator
from integrations.qbdesktop.sandbox.company import SimulatedCompany
from tests.contract.target import TargetContract
from tests.integrations.qbdesktop.conftest import make_qbd_connection

_numbers = itertools.count(3001)
WRITE_EVENTS = (Event.Kind.CREATED, Event.Kind.UPDATED, Event.Kind.UNCHANGED)


def new_order(number: str) -> Order:
    """Shipped (only shipped orders are invoiced); 3 x 19.99 + 0.07 tax + 4.95 shipping = 64.99."""
    return Order(
        number=number,
        source_id=f"ss-{number}",
        status=OrderStatus.SHIPPED,
        currency="USD",
        order_date=datetime(2024, 3, 5, 15, 0, tzinfo=UTC),
        modified_at=datetime(2024, 3, 6, 12, 0, tzinfo=UTC),
        customer=Customer(key=f"{number}@example.test", email=f"{number}@example.test", name="Jane Buyer"),
        bill_to=Address(name="Jane Buyer", company="Acme Ltd"),
        lines=(LineItem("WIDGET-1", "Widget", Decimal("3"), Decimal("19.99"), tax=Decimal("0.07")),),
        shipping=Decimal("4.95"),
        total=Decimal("64.99"),
        ship_date=date(2024, 3, 6),
    )


class TestQBDesktopTarget(TargetContract):
    adapter_class = QBDesktopTarget
    system = "qbdesktop"
    # See the module docstring: no vendor faults; and the Web Connector's own password is checked by
    # integrations/qbdesktop (tests/integrations/qbdesktop/test_session.py), not by the adapter.
    test_vendor_faults_are_transient = None
    test_rejected_credentials_surface_as_the_auth_error = None

    @pytest.fixture(autouse=True)
    def sandbox(self, live_server, transactional_db, alice):
        self.live_server = live_server
        self.qbd = make_qbd_connection(alice.org)
        source = Connection.objects.create(organization=alice.org, system="shipstation", label="Store")
        self.flow = Flow.objects.create(
            organization=alice.org, preset="qbdesktop_shipstation", source=source, target=self.qbd[0]
        )
        self.company = SimulatedCompany("Contract books", seed=7)
        self.company.add_customer("Acme Ltd", email="ap@acme.test")
        self.company.add_item("WIDGET-1", price="12.50", quantity_on_hand="40")
        for name in ("Shipping", "Discount", "Sales Tax"):
            kind = "ItemService" if name == "Shipping" else "ItemOtherCharge"
            self.company.add_item(name, item_type=kind, price="0", quantity_on_hand=None)

    def connect(self) -> TargetAdapter:
        return QBDesktopTarget(self.qbd[0], options=self.flow.options)

    def run_web_connector(self) -> None:
        _connection, user, password = self.qbd
        log = WebConnectorSimulator(
            self.live_server.url, user.username, password, self.company, owner_id=user.owner_id, file_id=user.file_id
        ).run()
        assert log.auth_status == "", log

    def write(self, target: TargetAdapter, target_type: str, obj: Any, target_id: str | None) -> WriteResult:
        """The engine's deferred path: a record, `upsert` → "queued", the Web Connector's next run, and
        the outcome the job handlers left on the record (an error is raised as the engine recorded it)."""
        change = Change("order", obj.source_id, ref=obj.number, modified_at=obj.modified_at, obj=obj)
        record = engine.record_change(self.flow, change)
        context = WriteContext(record=record, options=self.flow.options)
        result = target.upsert(target_type, obj, target_id=target_id, context=context)
        if result.action != "queued":
            return result
        assert result.target_id == "", result  # nothing is known before QuickBooks answers
        self.run_web_connector()
        record = Record.objects.get(pk=record.pk)
        if record.status == Record.Status.FAILED:
            raise Permanent(record.last_error, remediation=record.remediation)
        if record.status == Record.Status.NEEDS_REVIEW:
            raise NeedsReview(record.last_error, remediation=record.remediation)
        assert record.status == Record.Status.SYNCED, (record.status, record.last_error)
        event = Event.objects.filter(record=record, kind__in=WRITE_EVENTS).order_by("-id").first()
        return WriteResult(record.target_id, str(event.kind))

    def new_object(self, target_type: str) -> Order:
        return new_order(str(next(_numbers)))

    def invalid_object(self, target_type: str) -> Order:
        # QuickBooks refuses the InvoiceAdd itself (the wording of a qbXML 3070 status).
        self.refusal = 'The string "WIDGET-1" in the field "ItemRef" is too long.'
        self.company.fail_next("InvoiceAdd", 3070, self.refusal)
        return self.new_object(target_type)

    def _invoices(self, number: str) -> list:
        return [t for t in self.company.invoices() if t.ref_number == number]

    def documents(self, target_type: str, obj: Order) -> int:
        return len(self._invoices(obj.number))

    def expected_amounts(self, target_type: str, obj: Order) -> dict[str, Decimal]:
        return {"total": obj.total}

    def stored_amounts(self, target_type: str, target_id: str, obj: Order) -> dict[str, Any]:
        (invoice,) = [t for t in self._invoices(obj.number) if t.txn_id == target_id]
        return {"total": sum((quantity * rate for _id, _item, quantity, rate in invoice.lines), Decimal("0.00"))}

    def test_a_second_upsert_while_queued_queues_nothing_more(self):
        """Deferred: until the Web Connector runs, a repeated write (a retry, a second poll) joins the
        queued chain instead of starting another, so QuickBooks still gets one invoice."""
        obj = self.new_object("invoice")
        change = Change("order", obj.source_id, ref=obj.number, modified_at=obj.modified_at, obj=obj)
        record = engine.record_change(self.flow, change)
        context = WriteContext(record=record, options=self.flow.options)
        first = self.connect().upsert("invoice", obj, target_id=None, context=context)
        again = self.connect().upsert("invoice", obj, target_id=None, context=context)
        assert (first.action, first.target_id, again.action, again.target_id) == ("queued", "", "queued", "")
        assert again.data.get("already_queued") is True, again
        self.run_web_connector()
        assert self.documents("invoice", obj) == 1
        assert self.connect().find("invoice", obj) == Record.objects.get(pk=record.pk).target_id != ""

    def test_a_cancel_while_queued_or_written_needs_review(self):
        """Nothing to void is a no-op only when QuickBooks will not get it either: a queued chain is
        carried out on the Web Connector's next run, so its cancel needs review, as does a written one
        (found without a target id: this flow never deletes QuickBooks transactions)."""
        obj = self.new_object("invoice")
        change = Change("order", obj.source_id, ref=obj.number, modified_at=obj.modified_at, obj=obj)
        record = engine.record_change(self.flow, change)
        context = WriteContext(record=record, options=self.flow.options)
        assert self.connect().upsert("invoice", obj, target_id=None, context=context).action == "queued"
        cancelled = self.cancelled("invoice", obj)
        with pytest.raises(NeedsReview, match="queued"):
            self.connect().cancel("invoice", cancelled, target_id="")
        self.run_web_connector()
        with pytest.raises(NeedsReview, match="already has its transaction"):
            self.connect().cancel("invoice", cancelled, target_id="")
        assert self.documents("invoice", obj) == 1
