"""QuickBooks Desktop as a deferred sync target for any order source (DESIGN §5, §8).

Nothing reaches QuickBooks until the Web Connector polls, so `upsert` never writes: it queues the
first job of the order's chain (chain.py) and returns WriteResult("", "queued"). The record stays
pending under the engine's long lease until a job handler calls `engine.complete_deferred`.

- Only shipped orders become invoices (or sales receipts or journal entries, per flow option `posting`);
  with `post_when` = "paid", paid ones too. An order not ready is validated (customer and items must
  exist) and then "skipped"; it is posted when it is ready.
- Refunds (canonical `Order.refunds`) become one QuickBooks credit memo each, after the sale is posted:
  an order edited with a new refund, or refunded in full (cancelled with refunds), queues the credit
  memos it lacks (chain.py); the sale itself is never changed or voided for them.
- `find` never waits for QuickBooks: the engine's Link, else a finished write job of ours.
- At most one chain per order is in the queue; after a lost answer the chain starts with a lookup by
  RefNumber (= order number) before any new add.
- Shipped orders are immutable at the source: with a TxnID known, `upsert` changes nothing but
  refunds (credit memos); an order whose total changed since (a paid order edited before it
  shipped) needs review.
- `cancel` of an order QuickBooks never received (no TxnID, nothing queued) is "skipped".
- `cancel` with a TxnID: our specs (tests/specs/qbdesktop/QBWC.md) document neither TxnDelRq nor a
  void for invoices, so we do not delete QuickBooks transactions; the record needs review instead (as
  for every source). A cancellation with refunds (WooCommerce "refunded") credits them instead.
"""

from __future__ import annotations

from typing import Any

from connector.adapters import NO_CONTEXT, DocumentSummary, TargetAdapter, WriteContext, WriteResult
from connector.canonical import Order, money
from connector.http import NeedsReview, Permanent
from integrations.qbdesktop import chain
from integrations.qbdesktop.company import target_flows
from integrations.qbdesktop.mapping import INVOICE, JOURNAL, SALES_RECEIPT

DOCUMENTS = {
    INVOICE: ("invoice", "QuickBooks invoice"),
    SALES_RECEIPT: ("sales_receipt", "QuickBooks sales receipt"),
    JOURNAL: ("journal", "QuickBooks journal entry"),
}
STOCK_LEVEL_SOURCES = "stock_level_sources"
STOCK_LEVEL_UNAVAILABLE = "stock_level_unavailable"
PAYMENT_METHODS = "payment_methods"
DEPOSIT_ACCOUNTS = "deposit_accounts"


class QBDesktopTarget(TargetAdapter):
    system = "qbdesktop"
    target_types = ("invoice",)

    def _order(self, object_type: str, obj: Any) -> Order:
        if object_type != "invoice" or not isinstance(obj, Order):
            raise Permanent(f"QuickBooks Desktop cannot receive {object_type} records from this flow.")
        return obj

    def choices(self, name: str) -> list[tuple[str, str]]:
        """For the inventory push option, over the sources of this connection's flows (whatever system):
        "stock_level_sources" those that can take stock levels now (id, label); "stock_level_unavailable"
        those that cannot (id, their adapter's reason). For the sales receipt options, QuickBooks' lists
        as the Web Connector last read them (lists.py): "payment_methods", "deposit_accounts" (empty
        until it has run). [] for any other name."""
        if name in (PAYMENT_METHODS, DEPOSIT_ACCOUNTS):
            from integrations.qbdesktop import lists

            read = lists.payment_methods if name == PAYMENT_METHODS else lists.deposit_accounts
            return read(self.connection)
        if name not in (STOCK_LEVEL_SOURCES, STOCK_LEVEL_UNAVAILABLE):
            return []
        from integrations.qbdesktop.inventory_push import unavailable_reason

        flows = target_flows(self.connection).select_related("source")
        reasons = {f.source_id: (f.source, unavailable_reason(f.source)) for f in flows}
        if name == STOCK_LEVEL_SOURCES:
            return [(str(pk), source.label) for pk, (source, why) in reasons.items() if not why]
        return [(str(pk), why) for pk, (_source, why) in reasons.items() if why]

    def describe_result(self, object_type: str, obj: Any, result: WriteResult) -> DocumentSummary:
        """The QuickBooks invoice, sales receipt or journal entry, by its RefNumber (the order number),
        with its credit memos beside it. No link: QuickBooks Desktop runs on the merchant's own machine
        and has no web page for it."""
        summary = super().describe_result(object_type, obj, result)
        data = result.data or {}
        posting = data.get("posting") or self.options.get("posting") or INVOICE
        kind, label = DOCUMENTS.get(posting, DOCUMENTS[INVOICE])
        number = str(data.get("ref_number") or summary.number)
        memos = tuple(f"credit memo {ref}" for ref in data.get("credit_memos") or ())
        return DocumentSummary(kind, label, number, summary.total, summary.currency, summary.status, extra=memos)

    def find(self, object_type: str, obj: Any, *, context: WriteContext = NO_CONTEXT) -> str | None:
        order = self._order(object_type, obj)
        return chain.written_txn_id(self.connection, order.number)

    def upsert(
        self, object_type: str, obj: Any, *, target_id: str | None, context: WriteContext = NO_CONTEXT
    ) -> WriteResult:
        order = self._order(object_type, obj)
        if target_id:
            self._check_amount_kept(order, target_id)
        if target_id and not chain.uncredited(self.connection, order):
            return WriteResult(
                target_id,
                "unchanged",
                data={"reason": "Shipped orders are immutable: the QuickBooks transaction stays as created."},
            )
        return self._advance(order, target_id or "", context)

    def _advance(self, order: Order, txn_id: str, context: WriteContext) -> WriteResult:
        """Queue the order's next job (the sale, or with `txn_id` its refunds' credit memos)."""
        pending = chain.pending_chain_job(self.connection, order.number)
        if pending is not None:
            return WriteResult("", "queued", data={"job": pending.pk, "request": pending.kind, "already_queued": True})
        record = context.record or chain.record_for(self.connection, order)
        if record is None:
            raise Permanent(f"No record of this flow holds order {order.number}.")
        return chain.advance(record, self.connection, txn_id=txn_id)

    def _check_amount_kept(self, order: Order, target_id: str) -> None:
        """The transaction is never changed after it was added; a paid order edited in the store since
        (WooCommerce lets a merchant change a processing order's lines) would leave QuickBooks holding
        another amount behind a "synced" record, so it goes to review instead."""
        posted = chain.written_total(self.connection, order.number)
        now = money(order.computed_total)
        if posted is not None and money(posted) != now:
            raise NeedsReview(
                f"Order {order.number} changed after its QuickBooks transaction ({target_id}) was added: "
                f"QuickBooks holds {money(posted)}, the order now totals {now}.",
                remediation=f"Edit transaction {order.number} in QuickBooks to match the order (this flow never "
                "changes a QuickBooks transaction once added), then mark this record resolved.",
            )

    def cancel(self, object_type: str, obj: Any, *, target_id: str, context: WriteContext = NO_CONTEXT) -> WriteResult:
        order = self._order(object_type, obj)
        target_id = target_id or chain.written_txn_id(self.connection, order.number) or ""
        if not target_id:
            return self._cancel_unwritten(order)
        if order.refunds:
            # Refunded, not merely cancelled: the money went back, so the books keep the sale and credit
            # each refund (a credit memo), as a bookkeeper would; the sale is never voided for them.
            return self._advance(order, target_id, context)
        raise NeedsReview(
            f"Order {order.number} was cancelled at its source, but QuickBooks already has its transaction "
            f"({target_id}).",
            remediation=f"Void or delete transaction {order.number} in QuickBooks by hand; this flow never deletes "
            "QuickBooks transactions.",
        )

    def _cancel_unwritten(self, order: Order) -> WriteResult:
        """No transaction of ours in QuickBooks: nothing to void, unless a chain is still queued (the
        Web Connector's next run carries it out) or a write's answer was lost (it may have been added)."""
        number = order.number
        if chain.pending_chain_job(self.connection, number) is not None or chain.lost_write(self.connection, number):
            raise NeedsReview(
                f"Order {number} was cancelled at its source while its QuickBooks transaction is queued or its "
                "outcome is unknown.",
                remediation=f"After the Web Connector has run, void or delete transaction {number} in "
                "QuickBooks by hand if it was added; this flow never deletes QuickBooks transactions.",
            )
        return WriteResult("", "skipped", data={"reason": "QuickBooks never received this order: nothing to void."})
