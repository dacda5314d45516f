"""Orders into Exact Online as sales invoices (the `invoice` target type of ExactTarget).

Customers are Exact accounts found by email, created (Status C) when missing; items are found by
code and never created (a missing one is for a person to add). The order number is the invoice's
`YourRef`, so `find` locates an invoice written before a lost answer or a crash.

Editing: EXACT.md says nothing about sales invoices; Exact's own model has an invoice open (Status
20) until it is processed (50), after which it is final and only a credit note corrects it.
An order changed while its invoice is open gets the invoice's lines replaced (deleted, then added);
once processed, the change goes to review. Cancelling posts a credit note (Type 8021, the
invoice's lines negated), found again by `CR-<order number>` so a retry credits once. A refunded
order keeps its invoice: each refund becomes a credit note of its own (refunds.py), and a refunded
order that is then cancelled credits its refunds, not the whole invoice (the sale happened).
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager, suppress

from redis.exceptions import LockError

from connector.adapters import WriteResult
from connector.canonical import Order
from connector.http import NeedsReview, Transient
from connector.redis import get_redis
from integrations.exact import refunds
from integrations.exact.client import ExactClient
from integrations.exact.invoice_mapping import (
    STATUS_PROCESSED,
    InvoiceOptions,
    MissingSetup,
    account_from_order,
    credit_note,
    credit_ref,
    invoice_lines,
    invoice_total,
    sales_invoice,
    same_lines,
    vat_gap,
)

SETUP_REMEDIATION = "Complete the Exact invoice settings of the flow, then replay."


def invoice_options(options: dict) -> InvoiceOptions:
    journal = str(options.get("exact_sales_journal") or "")
    vat_code = str(options.get("exact_vat_code") or "")
    if not journal or not vat_code:
        raise NeedsReview("Choose the Exact sales journal and VAT code in the flow settings.")
    return InvoiceOptions(journal, vat_code, str(options.get("exact_shipping_item") or ""))


def find_invoice(client: ExactClient, order: Order) -> str | None:
    rows = [r for r in client.sales_invoices_with_ref(order.number) if r.get("Type") in (None, 8020)]
    return str(rows[0]["InvoiceID"]) if rows else None


def customer_account(client: ExactClient, order: Order) -> str:
    """The Exact account of the order's email: the first found, else a new customer account."""
    email = (order.customer.email if order.customer else "").strip()
    if not email:
        raise NeedsReview(
            f"Order {order.number} has no customer email to find the Exact account by.",
            remediation="Add the customer's email to the order in the store, then replay.",
        )
    found = client.accounts_with_email(email)
    if found:
        return str(found[0]["ID"])
    with _account_lock(client, email):
        found = client.accounts_with_email(email)  # another worker may have created it meanwhile
        if found:
            return str(found[0]["ID"])
        return str(client.create_account(account_from_order(order))["ID"])


@contextmanager
def _account_lock(client: ExactClient, email: str):
    """Two orders of a new customer written at once by two workers create one account, not two."""
    digest = hashlib.sha256(email.lower().encode()).hexdigest()[:32]  # no address in a Redis key
    lock = get_redis().lock(f"exact:account:{client.connection.pk}:{digest}", timeout=120, blocking_timeout=60)
    if not lock.acquire():
        raise Transient("Another worker is creating this customer in Exact Online; retrying.")
    try:
        yield
    finally:
        with suppress(LockError):
            lock.release()


def item_ids(client: ExactClient, order: Order, options: InvoiceOptions) -> dict[str, str]:
    """Exact item id by code for every line (and the shipping item); missing ones go to review."""
    codes = {line.sku for line in order.lines}
    if order.shipping and options.shipping_item:
        codes.add(options.shipping_item)
    ids: dict[str, str] = {}
    for code in sorted(codes):
        rows = client.items_with_code(code) if code else []
        if rows:
            ids[code] = str(rows[0]["ID"])
    missing = sorted(codes - set(ids))
    if missing:
        raise NeedsReview(
            f"Exact has no item with code {', '.join(repr(c) for c in missing)} (order {order.number}).",
            remediation="Create the item in Exact with this code (or fix the SKU in the store), then replay.",
        )
    return ids


def wanted_lines(client: ExactClient, order: Order, options: InvoiceOptions) -> list[dict]:
    try:
        return invoice_lines(order, item_ids(client, order, options), options)
    except MissingSetup as exc:
        raise NeedsReview(str(exc), remediation=SETUP_REMEDIATION) from exc


def check_vat(client: ExactClient, order: Order, settings: InvoiceOptions, lines: list[dict]) -> None:
    """The lines go out net and Exact adds the VAT of the flow's one VAT code; when that VAT is not
    the tax the order charged (to the cent), the invoice would book another amount than the
    customer paid, so the order waits for a person instead."""
    rate = client.vat_percentage(settings.vat_code)
    if rate is None:
        raise NeedsReview(
            f"Exact has no VAT code {settings.vat_code!r} with a percentage to invoice order {order.number} with.",
            remediation="Pick a VAT code from Exact's list in the flow settings, then replay.",
        )
    gap = vat_gap(order, lines, rate)
    if gap is not None:
        charged, computed = gap
        raise NeedsReview(
            f"Order {order.number} charges {charged} {order.currency} tax but VAT code {settings.vat_code} "
            f"({(rate * 100).normalize():f}%) gives {computed}: pick the right VAT code.",
            remediation=(
                "Pick the Exact VAT code whose percentage is the store's tax rate in the flow settings "
                "(or correct the order's tax in the store), then replay."
            ),
        )


def upsert_invoice(client: ExactClient, order: Order, options: dict, target_id: str | None) -> WriteResult:
    settings = invoice_options(options)
    lines = wanted_lines(client, order, settings)
    check_vat(client, order, settings, lines)
    if target_id:
        result = _compare(client, order, target_id, lines)
        account = ""
    else:
        account = customer_account(client, order)
        invoice = client.create_sales_invoice(sales_invoice(order, account, lines, settings))
        result = WriteResult(str(invoice["InvoiceID"]), "created", data=_facts(invoice, lines))
    if not order.refunds:
        return result
    credited = refunds.credit_refunds(client, order, options, settings, account or customer_account(client, order))
    return refunds.with_refunds(result, credited)


def _facts(invoice: dict, lines: list[dict]) -> dict:
    return {
        "number": str(invoice.get("InvoiceNumber") or ""),
        "total": str(invoice_total(lines)),  # net: the lines as sent, before Exact adds VAT
        "currency": str(invoice.get("Currency") or ""),
    }


def _compare(client: ExactClient, order: Order, target_id: str, lines: list[dict]) -> WriteResult:
    """Unchanged when Exact holds these lines; an open invoice gets its lines replaced (a retry after a
    crash midway compares again and finishes); a processed one is final and goes to review."""
    written = client.sales_invoice_lines(target_id)
    if same_lines(written, lines):
        return WriteResult(target_id, "unchanged")
    invoice = next((r for r in client.sales_invoices_with_ref(order.number) if str(r["InvoiceID"]) == target_id), {})
    if not invoice or invoice.get("Status") == STATUS_PROCESSED:
        raise NeedsReview(
            f"Order {order.number} changed after its Exact invoice {invoice.get('InvoiceNumber', '')} was processed; "
            "a processed invoice cannot be changed.",
            remediation="Credit the invoice in Exact and invoice the order again by hand, then mark this resolved.",
        )
    for line in written:
        client.delete_sales_invoice_line(str(line["ID"]))
    for line in lines:
        client.add_sales_invoice_line(target_id, line)
    return WriteResult(target_id, "updated", data=_facts(invoice, lines))


def credit_invoice(client: ExactClient, order: Order, target_id: str, options: dict | None = None) -> WriteResult:
    """A credit note for the written invoice; one only, however often a cancel is retried. A refunded
    order is not voided: its refunds are credited, one credit note each."""
    if order.refunds:
        settings = invoice_options(options or {})
        credited = refunds.credit_refunds(client, order, options or {}, settings, customer_account(client, order))
        result = WriteResult(target_id, "unchanged", data={"reason": "refunded: credited, not voided"})
        return refunds.with_refunds(result, credited)
    existing = client.sales_invoices_with_ref(credit_ref(order.number))
    if existing:
        return WriteResult(str(existing[0]["InvoiceID"]), "reversed", data={"credits": target_id})
    target_id = target_id or find_invoice(client, order) or ""
    if not target_id:
        return WriteResult("", "skipped", data={"reason": "No Exact invoice was written: nothing to credit."})
    invoice = next((r for r in client.sales_invoices_with_ref(order.number) if str(r["InvoiceID"]) == target_id), None)
    if invoice is None:
        raise NeedsReview(
            f"The Exact invoice of order {order.number} is gone; nothing was credited.",
            remediation="Check the invoice in Exact, then mark this record resolved.",
        )
    payload = credit_note(invoice, client.sales_invoice_lines(target_id), order.number)
    credit = client.create_sales_invoice(payload)
    data = {**_facts(credit, payload["SalesInvoiceLines"]), "credits": target_id}
    return WriteResult(str(credit["InvoiceID"]), "reversed", data=data)
