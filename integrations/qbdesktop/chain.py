"""Per-order chains of qbXML jobs: an order becomes a QuickBooks invoice, sales receipt or journal entry,
and each of its refunds a credit memo.

QuickBooks only answers when the Web Connector polls, so every lookup is a queued job whose handler
queues the next one. `advance` decides the next step from what is already known (cached ListIDs in
Links), so a chain resumes from wherever it stopped:

    [Invoice/SalesReceipt/JournalEntryQuery by RefNumber]  only after a lost answer (uncertain write)
    CustomerQuery by FullName                      unless the customer's ListID is cached
    ItemQuery by FullName (= SKU)                  for items not cached
    InvoiceAdd, SalesReceiptAdd or JournalEntryAdd orders ready to post (shipped, or paid with post_when
                                                   = "paid"); the others end "skipped"
    then, per refund not credited yet (oldest first; also when the sale was posted by an earlier chain):
    CustomerQuery / ItemQuery (the refund item)    unless cached
    CreditMemoQuery by RefNumber                   always, right before the add: never a second memo
    CreditMemoAdd                                  RefNumber "<order>-R<n>", one line of the refunded amount

The last handler calls `engine.complete_deferred` with the version of the order its result is for (an
add job keeps the order it sends: a poll may refresh the record while it waits, and that newer
version must stay new to the record's own sync); a missing customer or item ends the chain with
NeedsReview (the engine marks the record needs_review and raises an Alert). Nothing is ever created
in QuickBooks' lists. A credit memo's Link (links.CREDIT_LINK, keyed by order and refund id) is written
in the transaction that applies QuickBooks' answer, so a Replay or a retry credits only what is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import F
from django.utils import timezone

from connector import engine
from connector.adapters import WriteResult
from connector.canonical import Order, OrderStatus, Refund, from_payload, to_payload
from connector.http import NeedsReview, Permanent, Uncertain
from connector.models import Connection, Event, Record, resolve_alerts
from integrations.qbdesktop import inventory, jobs, mapping, qbxml
from integrations.qbdesktop.company import company_tz, source_name, target_records
from integrations.qbdesktop.links import (
    CUSTOMER_LINK,
    ITEM_LINK,
    cached,
    credits_of,
    forget,
    inventory_items,
    remember,
    remember_credit,
    without_baseline,
)
from integrations.qbdesktop.models import QBXMLJob

H_LOOKUP = "qbdflow.lookup"
H_CUSTOMER = "qbdflow.customer"
H_ITEMS = "qbdflow.items"
H_WRITE = "qbdflow.write"
H_CREDIT_LOOKUP = "qbdflow.credit_lookup"
H_CREDIT = "qbdflow.credit"
CHAIN_HANDLERS = (H_LOOKUP, H_CUSTOMER, H_ITEMS, H_WRITE, H_CREDIT_LOOKUP, H_CREDIT)
# What a chain carries from job to job (besides the order and flow): lost-answer lookups, the sale's
# TxnID once QuickBooks has it, the refund whose RefNumber was just checked, memos added, the action.
CHAIN_STATE = ("looked_up", "lookups", "txn_id", "refund_checked", "credited", "action")
LIVE = (QBXMLJob.Status.QUEUED, QBXMLJob.Status.WAITING, QBXMLJob.Status.SENT)
MAX_LOOKUPS = 3  # lost answers in a row before the record is handed back to the engine's retries
WRITTEN = "written"  # a write job's context key: the canonical order (payload) the job sends


# --- What is known of an order ------------------------------------------------------------------


def load_order(record: Record) -> Order:
    return from_payload(Order, record.source_payload)


def written_order(job: QBXMLJob, record: Record) -> Order:
    """The version of the order a write job sent (kept on the job when it was queued). A poll or a
    webhook may refresh the record while the job waits for the Web Connector; finished with that newer
    version, the record would count it as written and its own sync would find it "unchanged" and never
    handle it (an edited total, a cancellation). Jobs queued before the version was kept: the record's."""
    written = job.context.get(WRITTEN)
    return from_payload(Order, written) if written else load_order(record)


def pending_chain_job(connection: Connection, number: str) -> QBXMLJob | None:
    """A job of this order's chain that is queued, waiting or out with the Web Connector."""
    return (
        QBXMLJob.objects.filter(connection=connection, handler__in=CHAIN_HANDLERS, status__in=LIVE)
        .filter(context__order=number)
        .first()
    )


def lost_write(connection: Connection, number: str) -> bool:
    return QBXMLJob.objects.filter(
        connection=connection, handler=H_WRITE, status=QBXMLJob.Status.UNCERTAIN, context__order=number
    ).exists()


def written_txn_id(connection: Connection, number: str) -> str | None:
    """The TxnID a finished write of ours got for this order (unless QuickBooks deleted it since)."""
    done = QBXMLJob.objects.filter(
        connection=connection, handler=H_WRITE, status=QBXMLJob.Status.DONE, context__order=number
    ).order_by("-id")
    for job in done[:5]:
        if job.result.get("txn_id") and not job.context.get("deleted_in_qb"):
            return job.result["txn_id"]
    return None


def written_total(connection: Connection, number: str) -> Decimal | None:
    """The total of the transaction a finished write of ours added for this order (None: unknown)."""
    done = QBXMLJob.objects.filter(
        connection=connection, handler=H_WRITE, status=QBXMLJob.Status.DONE, context__order=number
    ).order_by("-id")
    for job in done[:5]:
        if job.result.get("txn_id") and not job.context.get("deleted_in_qb") and job.context.get("total"):
            return Decimal(str(job.context["total"]))
    return None


def record_for(connection: Connection, order: Order) -> Record | None:
    """The record syncing this order when the adapter is used outside the engine (the engine sets
    `current_record`); the one holding the lease wins."""
    candidates = target_records(connection).filter(object_type="order", source_id=order.source_id)
    return candidates.select_related("flow").order_by(F("lease_until").desc(nulls_last=True), "-id").first()


def _note(record: Record, message: str, data: dict | None = None) -> None:
    Event.objects.create(
        organization_id=record.organization_id,
        record=record,
        connection_id=record.flow.target_id,
        kind=Event.Kind.MAPPED,
        message=message,
        data=data or {},
    )


# --- The next step ------------------------------------------------------------------------------


@dataclass
class _Step:
    """One call of `advance`: the order, the flow's options, and what the lookups found so far."""

    record: Record
    connection: Connection
    order: Order
    options: dict
    context: dict  # carried by every job of the chain
    source: str  # the flow's source system as merchants know it, named in remediations ("Correct the order in …")
    customer: tuple[str, str] = ("", "")  # (FullName, ListID)
    item_names: list[str] = field(default_factory=list)
    items: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return mapping.ready_to_post(self.order, self.options)

    @property
    def posting(self) -> str:
        return self.options["posting"] if self.options["posting"] in mapping.POSTINGS else mapping.INVOICE

    @property
    def journal(self) -> bool:
        return self.posting == mapping.JOURNAL

    def queue(self, request: qbxml.Request, handler: str, **context) -> WriteResult:
        job = jobs.enqueue(
            self.connection,
            request,
            record=self.record,
            handler=handler,
            context={**self.context, **context},
            order_key=jobs.ORDER_KEY,
        )
        return WriteResult("", "queued", data={"job": job.pk, "request": request.kind})


def advance(
    record: Record,
    connection: Connection,
    *,
    looked_up: bool = False,
    lookups: int = 0,
    txn_id: str = "",
    refund_checked: str = "",
    credited: list[str] | tuple[str, ...] = (),
    action: str = "",
    order: Order | None = None,
) -> WriteResult:
    """Queue the next job this record's order needs (→ "queued"), or return the final result.

    `txn_id`: QuickBooks already has the order's sale (this chain wrote or found it, or the adapter was
    called with it): only its refunds remain. `order`: the version to work from (default: the record's
    latest). Raises NeedsReview when the order cannot go to QuickBooks as it is."""
    order = order or load_order(record)
    context = {
        "order": order.number,
        "flow": record.flow_id,
        "looked_up": looked_up,
        "lookups": lookups,
        "txn_id": txn_id,
        "refund_checked": refund_checked,
        "credited": list(credited),
        "action": action,
    }
    options = mapping.options_with_defaults(record.flow.options)
    step = _Step(record, connection, order, options, context, source_name(record.flow))
    if txn_id:
        return _credit_refunds(step, txn_id)
    if order.status == OrderStatus.CANCELLED:
        return WriteResult("", "skipped", data={"reason": f"Order {order.number} was cancelled before invoicing."})
    _check_order(step)
    if step.ready and not looked_up and lost_write(connection, order.number):
        # The answer to an earlier add was lost: it may exist. Look it up before adding again.
        return step.queue(_ref_query(step.posting, order.number), H_LOOKUP)
    for lookup in (_customer_lookup, _items_lookup):
        queued = lookup(step)
        if queued is not None:
            return queued
    if not step.ready:
        when = mapping.waiting_for(step.options)
        return WriteResult(
            "",
            "skipped",
            data={"reason": f"Customer and items found in QuickBooks; order {order.number} is invoiced when {when}."},
        )
    return _queue_write(step)


def _check_order(step: _Step) -> None:
    """NeedsReview for what no QuickBooks lookup can fix."""
    bad = mapping.problems(step.order)
    if bad:
        raise NeedsReview(" ".join(bad), remediation=f"Correct the order in {step.source}, then press Replay.")


def _customer_lookup(step: _Step) -> WriteResult | None:
    """The customer's cached ListID, else a queued CustomerQuery for the candidate names."""
    names = mapping.customer_candidates(step.order, step.options)
    if not names:
        raise NeedsReview(
            f"Order {step.order.number} has no customer or bill-to name to look up in QuickBooks.",
            remediation=f"Add a bill-to name in {step.source} or set a fixed QuickBooks customer in the flow's "
            "options, then press Replay.",
        )
    customers = cached(step.connection, CUSTOMER_LINK, names)
    customer = next((customers[n.lower()] for n in names if n.lower() in customers), None)
    if customer is None:
        return step.queue(qbxml.customer_query(full_names=names), H_CUSTOMER, names=names)
    step.customer = customer
    return None


def _items_lookup(step: _Step) -> WriteResult | None:
    """The items' cached ListIDs, else a queued ItemQuery for those not known."""
    step.item_names = mapping.required_items(step.order, step.options)
    step.items = cached(step.connection, ITEM_LINK, step.item_names)
    # An inventory item known only from the list sync has no reconciliation baseline yet: look it up
    # once more, so on_items reads QuantityOnHand before our invoice takes stock.
    unbased = without_baseline(step.connection, step.item_names)
    missing = [n for n in step.item_names if n.lower() not in step.items or n.lower() in unbased]
    if missing:
        return step.queue(qbxml.item_query(full_names=missing), H_ITEMS, names=missing)
    return None


def _queue_write(step: _Step) -> WriteResult:
    """InvoiceAdd, SalesReceiptAdd or JournalEntryAdd; the job carries what its answer must record
    (total, quantities)."""
    tz = company_tz(step.connection)
    if step.journal:
        spec = mapping.journal_spec(step.order, step.customer[0], step.options, tz, source=step.source)
        request = qbxml.journal_entry_add(spec)
        summary = {"total": str(spec.debits[0].amount), "txn_date": spec.txn_date.isoformat(), "quantities": {}}
    else:
        resolved = mapping.Resolved(step.customer[0], step.customer[1], step.items)
        spec = mapping.invoice_spec(step.order, resolved, step.options, tz, source=step.source)
        if step.posting == mapping.SALES_RECEIPT:
            request = qbxml.sales_receipt_add(
                spec,
                payment_method=step.options.get("payment_method") or "",
                deposit_account=step.options.get("deposit_account") or "",
            )
        else:
            request = qbxml.invoice_add(spec)
        summary = {
            "total": str(mapping.invoice_total(spec)),
            "txn_date": spec.txn_date.isoformat(),
            "quantities": _invoiced_quantities(step),
        }
    return step.queue(
        request,
        H_WRITE,
        **summary,
        customer=step.customer[0],
        items=step.item_names,
        journal=step.journal,
        posting=step.posting,
        **{WRITTEN: to_payload(step.order)},  # the answer finishes the record with this version
    )


def _invoiced_quantities(step: _Step) -> dict[str, str]:
    """FullName -> quantity the invoice takes, for its inventory items (the reconciliation's input)."""
    inventory_keys = inventory_items(step.connection, [line.sku for line in step.order.lines])
    quantities: dict[str, str] = {}
    for line in step.order.lines:
        if line.sku.lower() in inventory_keys:
            name = step.items[line.sku.lower()][0]
            quantities[name] = str(Decimal(quantities.get(name, "0")) + line.quantity)
    return quantities


def _ref_query(posting: str, number: str) -> qbxml.Request:
    if posting == mapping.JOURNAL:
        return qbxml.journal_entry_query(ref_numbers=[number])
    if posting == mapping.SALES_RECEIPT:
        return qbxml.sales_receipt_query(ref_numbers=[number])
    return qbxml.invoice_query(ref_numbers=[number])


# --- Refunds: one credit memo each ----------------------------------------------------------------


def uncredited(connection: Connection, order: Order) -> list[Refund]:
    """The order's refunds QuickBooks has no credit memo of ours for yet, oldest first."""
    done = credits_of(connection, order.number)
    return sorted((r for r in order.refunds if r.source_id not in done), key=_refund_order)


def _refund_order(refund: Refund) -> tuple[int, str]:
    return (int(refund.source_id), "") if refund.source_id.isdigit() else (0, refund.source_id)


_ORDINAL = re.compile(r"-R(\d+)$")


def credit_ref_number(connection: Connection, order: Order, refund: Refund) -> str:
    """The refund's credit memo RefNumber: the one it was given before (by a lookup or an add of an
    earlier chain, kept on our jobs and Links), else the order's next "-R<n>". Given once, kept for good,
    so a lost answer's retry checks and adds the same number."""
    given: dict[str, str] = {
        rid: data.get("ref_number", "") for rid, data in credits_of(connection, order.number).items()
    }
    jobs_of_order = QBXMLJob.objects.filter(
        connection=connection, handler__in=(H_CREDIT_LOOKUP, H_CREDIT), context__order=order.number
    ).values_list("context", flat=True)
    for context in jobs_of_order:
        given.setdefault(str(context.get("refund", "")), context.get("ref_number", ""))
    if given.get(refund.source_id):
        return given[refund.source_id]
    ordinals = [int(m.group(1)) for ref in given.values() if (m := _ORDINAL.search(ref or ""))]
    return mapping.credit_memo_ref(order.number, max(ordinals, default=0) + 1)


def _credit_refunds(step: _Step, txn_id: str) -> WriteResult:
    """The sale is in QuickBooks: queue the next job for the first refund not credited yet, or return
    the final result once every refund has its credit memo."""
    order = step.order
    for refund in uncredited(step.connection, order):
        ref = credit_ref_number(step.connection, order, refund)
        bad = mapping.refund_problems(order, refund, ref)
        if bad:
            raise NeedsReview(
                " ".join(bad),
                remediation=f"Enter a credit memo for refund {refund.source_id} in QuickBooks by hand, "
                f"or correct the refund in {step.source}, then press Replay.",
            )
        queued = _customer_lookup(step) or _refund_item_lookup(step)
        if queued is not None:
            return queued
        if step.context.get("refund_checked") != refund.source_id:
            # Right before each add: is this RefNumber already in QuickBooks (a lost answer, a replay)?
            request = qbxml.credit_memo_query(ref_numbers=[ref])
            return step.queue(request, H_CREDIT_LOOKUP, refund=refund.source_id, ref_number=ref)
        return _queue_credit(step, refund, ref)
    return _sale_with_credits(step, txn_id)


def _refund_item_lookup(step: _Step) -> WriteResult | None:
    name = step.options["refund_item"]
    step.items = {**step.items, **cached(step.connection, ITEM_LINK, [name])}
    if name.lower() not in step.items:
        return step.queue(qbxml.item_query(full_names=[name]), H_ITEMS, names=[name], refund_item=True)
    return None


def _queue_credit(step: _Step, refund: Refund, ref: str) -> WriteResult:
    resolved = mapping.Resolved(step.customer[0], step.customer[1], step.items)
    day = timezone.now().astimezone(company_tz(step.connection)).date()  # the day QuickBooks learns of it
    spec = mapping.credit_memo_spec(
        step.order, refund, ref, resolved, step.options["refund_item"], day, source=step.source
    )
    return step.queue(
        qbxml.credit_memo_add(spec),
        H_CREDIT,
        refund=refund.source_id,
        ref_number=ref,
        amount=str(refund.amount),
        customer=step.customer[0],
        items=[step.options["refund_item"]],
    )


def _sale_with_credits(step: _Step, txn_id: str) -> WriteResult:
    """Every refund credited: the record's result (the sale's TxnID, the memos beside it). A cancelled
    order whose refunds do not cover it still has the rest posted: that needs a person."""
    order = step.order
    memos = sorted(data.get("ref_number", "") for data in credits_of(step.connection, order.number).values())
    refunded = sum((r.amount for r in order.refunds), Decimal("0.00"))
    if order.status == OrderStatus.CANCELLED and refunded < order.total:
        raise NeedsReview(
            f"Order {order.number} was cancelled at its source; its refunds ({refunded}) are credited in QuickBooks, "
            f"but {order.total - refunded} of it stays posted.",
            remediation=f"Credit or void the rest of transaction {order.number} in QuickBooks by hand; this flow "
            "never deletes QuickBooks transactions.",
        )
    action = step.context.get("action") or ("updated" if step.context.get("credited") else "unchanged")
    data = {"ref_number": order.number, "credit_memos": memos, "posting": step.posting}
    if step.context.get("credited"):
        data["credited_now"] = list(step.context["credited"])
    return WriteResult(txn_id, action, data=data)


# --- Answers ------------------------------------------------------------------------------------


def _succeed(record: Record, result: WriteResult, written: Order) -> None:
    """complete_deferred with the version of the order this result is for (`written`: what went to
    QuickBooks, not the record's payload, which a poll may have made newer meanwhile), and close this
    record's alerts: the engine only resolves them when the record is still needs_review, but Replay
    first sets it back to pending."""
    if result.action in ("created", "updated", "unchanged"):
        resolve_alerts(record.organization, f"record:{record.pk}")
        resolve_alerts(record.organization, f"qbd-deleted:{record.pk}")
    engine.complete_deferred(record.pk, result=result, written=written)


def _continue(job: QBXMLJob, record: Record, **kwargs) -> None:
    kwargs.setdefault("looked_up", bool(job.context.get("looked_up")))
    kwargs.setdefault("lookups", int(job.context.get("lookups") or 0))
    for key in ("txn_id", "refund_checked", "action"):
        kwargs.setdefault(key, str(job.context.get(key) or ""))
    kwargs.setdefault("credited", list(job.context.get("credited") or []))
    order = kwargs.pop("order", None) or load_order(record)
    try:
        result = advance(record, job.connection, order=order, **kwargs)
    except NeedsReview as exc:
        engine.complete_deferred(record.pk, error=exc)
        return
    if result.action != "queued":
        _succeed(record, result, order)  # the result was decided from this version


def _chain_record(job: QBXMLJob) -> Record | None:
    if job.record_id is None:
        return None
    return Record.objects.select_related("flow").filter(pk=job.record_id).first()


def _answered_record(job: QBXMLJob, result: jobs.JobResult) -> Record | None:
    """The record a lookup answer continues, or None: no record waits, or QuickBooks answered with
    an error, which completes the record as failed here."""
    record = _chain_record(job)
    if record is not None and result.error is not None:
        engine.complete_deferred(record.pk, error=result.error)
        return None
    return record


def on_lookup(job: QBXMLJob, result: jobs.JobResult) -> None:
    record = _answered_record(job, result)
    if record is None:
        return
    number = job.context["order"]
    found = next((o for o in result.objects if isinstance(o, qbxml.Transaction) and o.ref_number == number), None)
    if found is not None:
        QBXMLJob.objects.filter(pk=job.pk).update(result={**job.result, "txn_id": found.txn_id})
        written = _lost_write_order(job, record)
        if uncredited(job.connection, written):
            _continue(job, record, txn_id=found.txn_id, action="created", order=written)
            return
        action = WriteResult(found.txn_id, "created", data={"found_by": "RefNumber", "ref_number": number})
        _succeed(record, action, written)
        return
    _note(record, f"No QuickBooks transaction has RefNumber {number}: the lost add was not applied; adding it.")
    _continue(job, record, looked_up=True)


def _lost_write_order(lookup: QBXMLJob, record: Record) -> Order:
    """The version the lost add sent: what QuickBooks holds when the lookup finds it."""
    lost = (
        QBXMLJob.objects.filter(
            connection_id=lookup.connection_id,
            record_id=record.pk,
            handler=H_WRITE,
            status=QBXMLJob.Status.UNCERTAIN,
            context__order=lookup.context["order"],
        )
        .order_by("-id")
        .first()
    )
    return written_order(lost, record) if lost is not None else load_order(record)


def on_customer(job: QBXMLJob, result: jobs.JobResult) -> None:
    record = _answered_record(job, result)
    if record is None:
        return
    names = job.context.get("names") or []
    found_inactive = []
    for obj in result.objects:
        if not isinstance(obj, qbxml.Customer):
            continue
        if obj.is_active:
            remember(job.connection, CUSTOMER_LINK, obj.full_name, obj.list_id, {"full_name": obj.full_name})
        else:
            found_inactive.append(obj.full_name)
    if not cached(job.connection, CUSTOMER_LINK, names):
        engine.complete_deferred(record.pk, error=_customer_missing(names, found_inactive))
        return
    _continue(job, record)


def _customer_missing(names: list[str], inactive: list[str]) -> NeedsReview:
    if inactive:
        name = inactive[0]
        return NeedsReview(
            f"Customer '{name}' is inactive in QuickBooks.",
            remediation=f"Make customer '{name}' active in QuickBooks, then press Replay.",
        )
    tried = f" (also tried {', '.join(repr(n) for n in names[1:])})" if len(names) > 1 else ""
    return NeedsReview(
        f"Customer '{names[0]}' is not in QuickBooks{tried}.",
        remediation=f"Create customer '{names[0]}' in QuickBooks, then press Replay.",
    )


def on_items(job: QBXMLJob, result: jobs.JobResult) -> None:
    record = _answered_record(job, result)
    if record is None:
        return
    names = job.context.get("names") or []
    inactive = []
    for obj in result.objects:
        if not isinstance(obj, qbxml.Item):
            continue
        if not obj.is_active:
            inactive.append(obj.full_name)
            continue
        data = {"full_name": obj.full_name, "item_type": obj.item_type}
        remember(job.connection, ITEM_LINK, obj.full_name, obj.list_id, data)
        inventory.track(job.connection, obj)
    known = cached(job.connection, ITEM_LINK, names)
    missing = [n for n in names if n.lower() not in known]
    if missing:
        if job.context.get("refund_item") and not set(missing) <= set(inactive):
            error = NeedsReview(
                f"Item '{missing[0]}' for refunds is not in QuickBooks.",
                remediation=f"Create item '{missing[0]}' in QuickBooks (an other-charge item: refunds are credited "
                "on it), or name another refund item in the flow's options, then press Replay.",
            )
        else:
            error = _items_missing(missing, inactive, source_name(record.flow))
        engine.complete_deferred(record.pk, error=error)
        return
    _continue(job, record)


def _items_missing(missing: list[str], inactive: list[str], source: str) -> NeedsReview:
    listed = ", ".join(f"'{n}'" for n in missing)
    plural = "s" if len(missing) > 1 else ""
    if set(missing) <= set(inactive):
        return NeedsReview(
            f"Item{plural} {listed} inactive in QuickBooks.",
            remediation=f"Make item{plural} {listed} active in QuickBooks, then press Replay.",
        )
    return NeedsReview(
        f"Item{plural} {listed} not in QuickBooks.",
        remediation=f"Create item{plural} {listed} in QuickBooks (the item name must be the {source} SKU), "
        "then press Replay.",
    )


def on_write(job: QBXMLJob, result: jobs.JobResult) -> None:
    record = _chain_record(job)
    if record is None:
        return
    if isinstance(result.error, Uncertain):
        lookups = int(job.context.get("lookups") or 0) + 1
        if lookups > MAX_LOOKUPS:
            engine.complete_deferred(record.pk, error=result.error)
            return
        _note(record, f"QuickBooks' answer was lost; looking up RefNumber {job.context['order']} before adding again.")
        _continue(job, record, looked_up=False, lookups=lookups)
        return
    if result.error is not None:
        error = result.error
        if error.vendor_code == 3140:
            # A cached ListID may be stale (deleted or merged in QuickBooks): look everything up again.
            forget(job.connection, CUSTOMER_LINK, [job.context.get("customer", "")])
            forget(job.connection, ITEM_LINK, job.context.get("items") or [])
            error = _receipt_reference(error)
        engine.complete_deferred(record.pk, error=error)
        return
    txn_id = job.result.get("txn_id", "")
    if not txn_id:
        engine.complete_deferred(record.pk, error=Permanent(f"QuickBooks answered {job.kind} without a TxnID."))
        return
    inventory.note_invoiced(job.connection, job.context.get("quantities") or {})
    inventory.ensure_inventory_check(job.connection)
    written = written_order(job, record)
    if uncredited(job.connection, written):
        # Refunded before it was posted: credit them, from the version that was posted.
        _continue(job, record, txn_id=txn_id, action="created", order=written)
        return
    data = {k: job.context.get(k) for k in ("txn_date", "total") if job.context.get(k)}
    # Finished with the version QuickBooks received: a newer one seen meanwhile is still new to the
    # record's own sync (the adapter sends it to review: an edited total, a cancellation).
    _succeed(record, WriteResult(txn_id, "created", data={"ref_number": job.context["order"], **data}), written)


_REFERENCE = re.compile(r'invalid reference to QuickBooks (PaymentMethod|Account) "([^"]*)"')


def _receipt_reference(error):
    """QuickBooks' 3140 for a sales receipt's payment method or deposit account, in the flow's words."""
    match = _REFERENCE.search(error.message)
    if match is None:
        return error
    what = "payment method" if match.group(1) == "PaymentMethod" else "account"
    return NeedsReview(
        error.message,
        remediation=f"Create {what} '{match.group(2)}' in QuickBooks, or choose another in the flow's sales receipt "
        "options, then press Replay.",
        vendor_code=error.vendor_code,
    )


def _refund_of(record: Record, refund_id: str) -> Refund | None:
    return next((r for r in load_order(record).refunds if r.source_id == refund_id), None)


def on_credit_lookup(job: QBXMLJob, result: jobs.JobResult) -> None:
    """The CreditMemoQuery before an add: our memo for this refund is there (a lost answer, a replay)
    → linked, nothing added; another transaction holds the number → needs review; none → add."""
    record = _answered_record(job, result)
    if record is None:
        return
    ref, refund_id = job.context["ref_number"], str(job.context["refund"])
    found = next((o for o in result.objects if isinstance(o, qbxml.Transaction) and o.ref_number == ref), None)
    refund = _refund_of(record, refund_id)
    if found is None or refund is None:
        _continue(job, record, refund_checked=refund_id)
        return
    order = load_order(record)
    marker = mapping.credit_memo_marker(order, refund, source=source_name(record.flow))
    if not found.memo.startswith(marker):
        engine.complete_deferred(
            record.pk,
            error=NeedsReview(
                f"QuickBooks already has a credit memo numbered {ref} ({found.txn_id}) that is not this flow's "
                f"credit for refund {refund_id} of order {order.number}.",
                remediation="Give that credit memo another number in QuickBooks (or delete it if it was entered for "
                "this refund by mistake), then press Replay.",
            ),
        )
        return
    total = str(found.total) if found.total is not None else str(refund.amount)
    remember_credit(
        job.connection, order.number, refund_id, found.txn_id, {"ref_number": ref, "amount": total, "found": True}
    )
    _note(record, f"QuickBooks already has credit memo {ref} for refund {refund_id}; it is not added again.")
    _continue(job, record, refund_checked="")


def on_credit(job: QBXMLJob, result: jobs.JobResult) -> None:
    record = _chain_record(job)
    if record is None:
        return
    ref, refund_id = job.context["ref_number"], str(job.context["refund"])
    if isinstance(result.error, Uncertain):
        lookups = int(job.context.get("lookups") or 0) + 1
        if lookups > MAX_LOOKUPS:
            engine.complete_deferred(record.pk, error=result.error)
            return
        _note(record, f"QuickBooks' answer was lost; looking up credit memo {ref} before adding it again.")
        _continue(job, record, refund_checked="", lookups=lookups)
        return
    if result.error is not None:
        if result.error.vendor_code == 3140:
            forget(job.connection, CUSTOMER_LINK, [job.context.get("customer", "")])
            forget(job.connection, ITEM_LINK, job.context.get("items") or [])
        engine.complete_deferred(record.pk, error=result.error)
        return
    txn_id = job.result.get("txn_id", "")
    if not txn_id:
        engine.complete_deferred(record.pk, error=Permanent(f"QuickBooks answered {job.kind} without a TxnID."))
        return
    order_number = job.context["order"]
    remember_credit(
        job.connection, order_number, refund_id, txn_id, {"ref_number": ref, "amount": job.context["amount"]}
    )
    _note(record, f"Credit memo {ref} added for refund {refund_id} ({job.context['amount']}).", {"txn_id": txn_id})
    credited = [*(job.context.get("credited") or []), ref]
    _continue(job, record, refund_checked="", credited=credited)


HANDLERS = {
    H_LOOKUP: on_lookup,
    H_CUSTOMER: on_customer,
    H_ITEMS: on_items,
    H_WRITE: on_write,
    H_CREDIT_LOOKUP: on_credit_lookup,
    H_CREDIT: on_credit,
}
