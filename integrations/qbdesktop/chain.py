"""Per-order chains of qbXML jobs: an order becomes a QuickBooks invoice or journal entry.

QuickBooks only answers when the Web Connector polls, so every lookup is a queued job whose handler
queues the next one. `advance` decides the next step from what is already known (cached ListIDs in
Links), so a chain resumes from wherever it stopped:

    [InvoiceQuery/JournalEntryQuery by RefNumber]  only after a lost answer (uncertain write)
    CustomerQuery by FullName                      unless the customer's ListID is cached
    ItemQuery by FullName (= SKU)                  for items not cached
    InvoiceAdd or JournalEntryAdd                  orders ready to post (shipped, or paid with post_when
                                                   = "paid"); the others end "skipped"

The write's handler calls `engine.complete_deferred`; a missing customer or item ends the chain with
NeedsReview (the engine marks the record needs_review and raises an Alert). Nothing is ever created
in QuickBooks' lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import F

from connector import engine
from connector.adapters import WriteResult
from connector.canonical import Order, OrderStatus, from_payload
from connector.http import NeedsReview, Permanent, Uncertain
from connector.models import Connection, Event, Record, resolve_alerts
from integrations.qbdesktop import inventory, jobs, mapping, qbxml
from integrations.qbdesktop.company import company_tz, source_name, target_records
from integrations.qbdesktop.links import (
    CUSTOMER_LINK,
    ITEM_LINK,
    cached,
    forget,
    inventory_items,
    remember,
    without_baseline,
)
from integrations.qbdesktop.models import QBXMLJob

H_LOOKUP = "qbdflow.lookup"
H_CUSTOMER = "qbdflow.customer"
H_ITEMS = "qbdflow.items"
H_WRITE = "qbdflow.write"
CHAIN_HANDLERS = (H_LOOKUP, H_CUSTOMER, H_ITEMS, H_WRITE)
LIVE = (QBXMLJob.Status.QUEUED, QBXMLJob.Status.WAITING, QBXMLJob.Status.SENT)
MAX_LOOKUPS = 3  # lost answers in a row before the record is handed back to the engine's retries


# --- What is known of an order ------------------------------------------------------------------


def load_order(record: Record) -> Order:
    return from_payload(Order, record.source_payload)


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
    def journal(self) -> bool:
        return self.options["posting"] == "journal"

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


def advance(record: Record, connection: Connection, *, looked_up: bool = False, lookups: int = 0) -> WriteResult:
    """Queue the next job this record's order needs (→ "queued"), or return the final result.

    Raises NeedsReview when the order cannot go to QuickBooks as it is."""
    order = load_order(record)
    context = {"order": order.number, "flow": record.flow_id, "looked_up": looked_up, "lookups": lookups}
    options = mapping.options_with_defaults(record.flow.options)
    step = _Step(record, connection, order, options, context, source_name(record.flow))
    if order.status == OrderStatus.CANCELLED:
        return WriteResult("", "skipped", data={"reason": f"Order {order.number} was cancelled before invoicing."})
    _check_order(step)
    if step.ready and not looked_up and lost_write(connection, order.number):
        # The answer to an earlier add was lost: it may exist. Look it up before adding again.
        return step.queue(_ref_query(step.journal, order.number), H_LOOKUP)
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
    """InvoiceAdd or JournalEntryAdd; the job carries what its answer must record (total, quantities)."""
    tz = company_tz(step.connection)
    if step.journal:
        spec = mapping.journal_spec(step.order, step.customer[0], step.options, tz, source=step.source)
        request = qbxml.journal_entry_add(spec)
        summary = {"total": str(spec.debits[0].amount), "txn_date": spec.txn_date.isoformat(), "quantities": {}}
    else:
        resolved = mapping.Resolved(step.customer[0], step.customer[1], step.items)
        spec = mapping.invoice_spec(step.order, resolved, step.options, tz, source=step.source)
        request = qbxml.invoice_add(spec)
        summary = {
            "total": str(mapping.invoice_total(spec)),
            "txn_date": spec.txn_date.isoformat(),
            "quantities": _invoiced_quantities(step),
        }
    return step.queue(
        request, H_WRITE, **summary, customer=step.customer[0], items=step.item_names, journal=step.journal
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


def _ref_query(journal: bool, number: str) -> qbxml.Request:
    return qbxml.journal_entry_query(ref_numbers=[number]) if journal else qbxml.invoice_query(ref_numbers=[number])


# --- Answers ------------------------------------------------------------------------------------


def _succeed(record: Record, result: WriteResult) -> None:
    """complete_deferred, and close this record's alerts: the engine only resolves them when the record
    is still needs_review, but Replay first sets it back to pending."""
    if result.action in ("created", "updated", "unchanged"):
        resolve_alerts(record.organization, f"record:{record.pk}")
        resolve_alerts(record.organization, f"qbd-deleted:{record.pk}")
    engine.complete_deferred(record.pk, result=result)


def _continue(job: QBXMLJob, record: Record, **kwargs) -> None:
    kwargs.setdefault("looked_up", bool(job.context.get("looked_up")))
    kwargs.setdefault("lookups", int(job.context.get("lookups") or 0))
    try:
        result = advance(record, job.connection, **kwargs)
    except NeedsReview as exc:
        engine.complete_deferred(record.pk, error=exc)
        return
    if result.action != "queued":
        _succeed(record, result)


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
        action = WriteResult(found.txn_id, "created", data={"found_by": "RefNumber", "ref_number": number})
        QBXMLJob.objects.filter(pk=job.pk).update(result={**job.result, "txn_id": found.txn_id})
        _succeed(record, action)
        return
    _note(record, f"No QuickBooks transaction has RefNumber {number}: the lost add was not applied; adding it.")
    _continue(job, record, looked_up=True)


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
        engine.complete_deferred(record.pk, error=_items_missing(missing, inactive, source_name(record.flow)))
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
        if result.error.vendor_code == 3140:
            # A cached ListID may be stale (deleted or merged in QuickBooks): look everything up again.
            forget(job.connection, CUSTOMER_LINK, [job.context.get("customer", "")])
            forget(job.connection, ITEM_LINK, job.context.get("items") or [])
        engine.complete_deferred(record.pk, error=result.error)
        return
    txn_id = job.result.get("txn_id", "")
    if not txn_id:
        engine.complete_deferred(record.pk, error=Permanent(f"QuickBooks answered {job.kind} without a TxnID."))
        return
    inventory.note_invoiced(job.connection, job.context.get("quantities") or {})
    inventory.ensure_inventory_check(job.connection)
    data = {k: job.context.get(k) for k in ("txn_date", "total") if job.context.get(k)}
    _succeed(record, WriteResult(txn_id, "created", data={"ref_number": job.context["order"], **data}))


HANDLERS = {H_LOOKUP: on_lookup, H_CUSTOMER: on_customer, H_ITEMS: on_items, H_WRITE: on_write}
