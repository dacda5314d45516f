"""Zoho Books as a flow target (DESIGN §5): invoices, cost postings (journal or comment) and contacts.

Calls are the scarce resource (100/minute/organisation), so ids are cached as Links on the Zoho
connection: contacts by customer key (lower-cased email), items by SKU (or "name:<name>"),
invoices by order number, journals and comments by "shipment:<id>" / "shipment-void:<id>". In the
steady state (contact and items known) a new order costs one call: the create.

Exactly-once invoices: by default (`invoice_number_mode` = "order_number") the invoice number is
the order number (with an optional `invoice_number_prefix`) and sent with
`ignore_auto_number_generation=true`; Zoho refuses a second invoice with the same number, and that
refusal is resolved to the existing invoice (then updated). So a create can never duplicate, and
`find` needs no search when no Link exists. With `invoice_number_mode` = "zoho" (Zoho numbers the
invoices) `find` searches by `reference_number` before every create.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from connector.adapters import NO_CONTEXT, DocumentSummary, SourceAdapter, TargetAdapter, WriteContext, WriteResult
from connector.canonical import Customer, LineItem, Order, OrderStatus, Shipment
from connector.http import NeedsReview, Permanent, Transient
from connector.models import Link
from connector.redis import get_redis
from integrations.zoho import mapping
from integrations.zoho.client import Duplicate, NotFound, ZohoBooksClient, remember_item
from integrations.zoho.oauth import region, sandbox_mode, web_url
from integrations.zoho.salesorders import TRACKING
from integrations.zoho.tracking import shipment_of

CONTACT_DIGEST_TTL = 30 * 24 * 3600

# Zoho Books document kinds a person can open, and what they call them.
DOCUMENT_LABELS = {
    "invoice": "Invoice",
    "journal": "Journal entry",
    "contact": "Contact",
    "salesorder": "Sales order",
    "creditnote": "Credit note",
}
# What a write did, in Zoho's own status words where Zoho has one.
JOURNAL_STATUS = {"created": "posted", "unchanged": "posted", "reversed": "reversed"}
INVOICE_STATUS = {"voided": "void"}


def _invoice_facts(invoice: dict) -> dict:
    """What Zoho answered about an invoice that a merchant reads: its number, total, currency, status."""
    facts = {
        "total": str(invoice.get("total", "")),
        "number": str(invoice.get("invoice_number") or ""),
        "currency": str(invoice.get("currency_code") or ""),
        "status": str(invoice.get("status") or ""),
    }
    return {k: v for k, v in facts.items() if v}


def _stale_item(exc: Permanent) -> bool:
    """Zoho refused a line's item id: the item we linked was deleted since. Zoho documents no error
    code for it; it (and the sandbox) answers 400 "Invalid value passed for item_id"."""
    message = exc.message.lower()
    return "invalid value passed for item_id" in message or "item does not exist" in message


def _entry_number(journal: dict) -> str:
    return str(journal.get("entry_number") or journal.get("journal_number") or "")


def _contact_digest(customer: Customer) -> str:
    payload = mapping.customer_to_contact(customer, include_person=False)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()


class ZohoBooksSource(SourceAdapter):
    """Zoho Books as a source of "tracking" only: a sales order's shipment, read back for the store.

    No poll of the engine lists it (`source_types` is empty, so `run_flow` passes it by): pull-back
    (pullback.py) lists a flow's sales orders on its own schedule, because telling the flow's sales
    orders from another flow's needs the flow. `fetch` is what Replay reads fresh."""

    system = "zoho"
    source_types = ()

    def changes_since(self, object_type, since, until):
        return iter(())

    def changes_from_delivery(self, delivery) -> list:
        return []  # Zoho Books sends no webhooks to the connector

    def fetch(self, object_type: str, source_id: str) -> Shipment:
        if object_type != TRACKING:
            raise Permanent(f"Zoho Books is not a source of {object_type} records.")
        try:
            salesorder = ZohoBooksClient(self.connection, on_call=self.on_call).get_sales_order(source_id)
        except NotFound as exc:
            raise Permanent(f"Sales order {source_id} no longer exists in Zoho Books.") from exc
        return shipment_of(salesorder)


class ZohoBooksTarget(TargetAdapter):
    system = "zoho"
    target_types = ("invoice", "cost_posting", "contact", "sales_order")

    def __init__(self, connection, *, on_call=None, options: dict | None = None, client: ZohoBooksClient | None = None):
        super().__init__(connection, on_call=on_call, options=options)
        self._client = client
        self._items_refreshed = False
        self._contacts_missing: set[str] = set()

    @property
    def client(self) -> ZohoBooksClient:
        if self._client is None:
            self._client = ZohoBooksClient(self.connection, on_call=self.on_call)
        return self._client

    # --- Links ------------------------------------------------------------------------------------
    # Public like the contact and item resolvers below: the sales-order target type uses them too.

    def links(self, object_type: str):
        return Link.objects.for_org(self.connection.organization).filter(
            connection=self.connection, object_type=object_type
        )

    def linked(self, object_type: str, key: str) -> str | None:
        return self.links(object_type).filter(canonical_key=key).values_list("external_id", flat=True).first()

    def remember(self, object_type: str, key: str, external_id: str) -> None:
        if object_type == "item":
            remember_item(self.connection, key, external_id)
            return
        links = self.links(object_type)
        try:
            with transaction.atomic():
                links.filter(external_id=external_id).exclude(canonical_key=key).delete()
                links.update_or_create(
                    organization=self.connection.organization,
                    connection=self.connection,
                    object_type=object_type,
                    canonical_key=key,
                    defaults={"external_id": external_id},
                )
        except IntegrityError:  # a concurrent worker linked it first: its row says the same thing
            pass

    def forget(self, object_type: str, key: str) -> None:
        self.links(object_type).filter(canonical_key=key).delete()

    def write_result(self, kind: str, target_id: str, action: str, **data: Any) -> WriteResult:
        return WriteResult(target_id=target_id, action=action, url=self.document_url(kind, target_id), data=data)

    # --- Results in business terms ------------------------------------------------------------------

    def document_url(self, kind: str, target_id: str) -> str:
        """Books' web page of the document (https://books.zoho.com/app/<org>#/invoices/<id>), or in
        sandbox mode the sandbox's page of it: a sandbox id means nothing to Zoho's own web app."""
        org = (self.connection.settings or {}).get("organization_id", "")
        if kind not in DOCUMENT_LABELS or not target_id or not org:
            return ""
        if sandbox_mode():
            code = (self.connection.settings or {}).get("region", "us")
            return f"{region(code).web_app}/{org}/{kind}/{target_id}/"
        return web_url(self.connection, kind, target_id)

    def describe_result(self, object_type: str, obj: Any, result: WriteResult) -> DocumentSummary:
        summary = super().describe_result(object_type, obj, result)
        data = result.data or {}
        if object_type == "cost_posting":
            kind = "journal" if self._mode() == "journal" else "invoice"
            status = JOURNAL_STATUS.get(result.action, summary.status) if kind == "journal" else "comment added"
            label = DOCUMENT_LABELS[kind] if kind == "journal" else "Invoice comment"
            number = str(data.get("number") or summary.number)
            return DocumentSummary(kind, label, number, summary.total, summary.currency, status)
        kind = {"invoice": "invoice", "contact": "contact", "sales_order": "salesorder"}.get(object_type, object_type)
        number = summary.number
        if object_type == "invoice" and not data.get("number") and self._numbered():
            number = self._invoice_number(obj)  # the number we gave Zoho
        status = summary.status
        if object_type == "invoice":
            status = INVOICE_STATUS.get(result.action, status)
        extra = tuple(f"Credit note {n}" for n in data.get("credit_notes", ()))
        return DocumentSummary(
            kind,
            DOCUMENT_LABELS.get(kind, summary.label),
            number,
            summary.total,
            summary.currency or self._base_currency(),
            status,
            extra,
        )

    # --- Contract ---------------------------------------------------------------------------------

    def choices(self, name: str) -> list[tuple[str, str]]:
        """The chart of accounts for the flow's journal options (expense and offset accounts)."""
        if name != "account":
            return []
        accounts = self.client.chart_of_accounts()
        return [
            (str(a["account_id"]), f"{a.get('account_name', '')} ({a.get('account_type', '')})".strip())
            for a in accounts
            if a.get("account_id") and a.get("is_active", True)
        ]

    def find(self, object_type: str, obj: Any, *, context: WriteContext = NO_CONTEXT) -> str | None:
        if object_type == "sales_order":
            return self.sales_orders(context).find(obj)
        if object_type == "invoice":
            return self._find_invoice(obj)
        if object_type == "cost_posting":
            return self._find_cost_posting(obj, reversal=False)
        if object_type == "contact":
            found = self.find_contact(obj)
            if found is None:
                self._contacts_missing.add(obj.key)  # the engine's search; the upsert that follows trusts it
            return found
        raise Permanent(f"Zoho Books cannot be a target for {object_type!r}.")

    def upsert(
        self, object_type: str, obj: Any, *, target_id: str | None, context: WriteContext = NO_CONTEXT
    ) -> WriteResult:
        if object_type == "sales_order":
            return self.sales_orders(context).upsert(obj, target_id)
        if object_type == "invoice":
            if obj.status == OrderStatus.CANCELLED and target_id:
                return self.cancel(object_type, obj, target_id=target_id, context=context)
            return self._upsert_invoice(obj, target_id)
        if object_type == "cost_posting":
            if obj.voided:
                return self.cancel(object_type, obj, target_id=target_id or "", context=context)
            return self._post_shipment(obj, target_id)
        if object_type == "contact":
            try:
                return self._upsert_contact(obj, target_id)
            except mapping.MappingError as exc:  # e.g. nothing to name the contact by
                raise Permanent(
                    str(exc), remediation="Complete the customer in the source system, then press Replay."
                ) from exc
        raise Permanent(f"Zoho Books cannot be a target for {object_type!r}.")

    def cancel(self, object_type: str, obj: Any, *, target_id: str, context: WriteContext = NO_CONTEXT) -> WriteResult:
        if object_type == "sales_order":
            return self.sales_orders(context).cancel(obj, target_id)
        if object_type == "invoice":
            return self._void_invoice(obj, target_id)
        if object_type == "cost_posting":
            return self._reverse_shipment(obj)
        raise Permanent(f"Zoho Books cannot cancel {object_type!r}.")

    def sales_orders(self, context: WriteContext = NO_CONTEXT):
        """The "sales_order" target type (integrations/zoho/salesorders.py)."""
        from integrations.zoho.salesorders import SalesOrders

        return SalesOrders(self, context)

    # --- Contacts ---------------------------------------------------------------------------------

    def find_contact(self, customer: Customer, *, currency: str | None = None) -> str | None:
        """The Link, then Zoho's search by email (the contact in `currency`, default the base
        currency's), else by name."""
        key = mapping.contact_key(customer.key, currency)
        linked = self.linked("contact", key)
        if linked:
            return linked
        found = None
        if customer.email:
            base = self._base_currency()
            wanted = currency or base
            found = next(
                (
                    c
                    for c in self.client.find_contacts_by_email(customer.email)
                    if not wanted or str(c.get("currency_code") or base).upper() == wanted
                ),
                None,
            )
        elif currency is None:
            found = self.client.find_contact_by_name(mapping.contact_name(customer))
        if found is None:
            return None
        self.remember("contact", key, str(found["contact_id"]))
        return str(found["contact_id"])

    def _create_contact(self, customer: Customer, *, currency: tuple[str, str] | None = None) -> str:
        key = mapping.contact_key(customer.key, currency[0] if currency else None)
        payload = mapping.customer_to_contact(customer, currency=currency)
        try:
            contact = self.client.create_contact(payload)
        except Duplicate:
            if not customer.email:
                raise
            # Another worker may have just created this very person (two orders of a new buyer synced
            # at once): the email finds it. No lock is held across Zoho calls, so none can stall.
            raced = self.find_contact(customer, currency=currency[0] if currency else None)
            if raced is not None:
                return raced
            # Zoho contact names are unique; two customers may share a name: tell them apart by email.
            payload["contact_name"] = f"{payload['contact_name']} ({customer.email})"[:200]
            contact = self.client.create_contact(payload)
        contact_id = str(contact["contact_id"])
        self.remember("contact", key, contact_id)
        self._contact_written(contact_id, customer)
        return contact_id

    def _contact_digest_key(self, contact_id: str) -> str:
        return f"zoho:contact-written:{self.connection.pk}:{contact_id}"

    def _contact_written(self, contact_id: str, customer: Customer) -> None:
        """Remember what we last wrote to a contact, so the same details are not PUT again
        (an order's buyer arrives right after the invoice created the contact from the same data)."""
        get_redis().set(self._contact_digest_key(contact_id), _contact_digest(customer), ex=CONTACT_DIGEST_TTL)

    def _contact_unchanged(self, contact_id: str, customer: Customer) -> bool:
        stored = get_redis().get(self._contact_digest_key(contact_id))
        return stored is not None and stored.decode() == _contact_digest(customer)

    def _upsert_contact(self, customer: Customer, target_id: str | None) -> WriteResult:
        if target_id is None and customer.key in self._contacts_missing:
            self._contacts_missing.discard(customer.key)  # `find` just searched: do not ask Zoho twice
            contact_id = None
        else:
            contact_id = target_id or self.find_contact(customer)
        if contact_id is None:
            return self.write_result("contact", self._create_contact(customer), "created")
        if self._contact_unchanged(contact_id, customer):
            self.remember("contact", customer.key, contact_id)
            return self.write_result("contact", contact_id, "unchanged")
        payload = mapping.customer_to_contact(customer, include_person=False)
        try:
            try:
                self.client.update_contact(contact_id, payload)
            except Duplicate:
                # The name belongs to another contact (names are unique in Zoho, people's are not):
                # keep the name this contact already has and update the rest.
                payload.pop("contact_name", None)
                self.client.update_contact(contact_id, payload)
        except NotFound:
            self.forget("contact", customer.key)
            return self.write_result("contact", self._create_contact(customer), "created")
        self.remember("contact", customer.key, contact_id)
        self._contact_written(contact_id, customer)
        return self.write_result("contact", contact_id, "updated")

    def resolve_contact(self, order: Order) -> str:
        """The order's contact id (found, else created), in the order's currency: Zoho gives a document its contact's currency,
        so a buyer paying in EUR to a USD organisation gets a second contact "Name (EUR)"."""
        customer = order.customer
        if customer is None or not (customer.key or customer.email):
            name = (order.bill_to.name if order.bill_to else "") or f"Order {order.number}"
            customer = Customer(key=f"guest:{order.number}", name=name, billing=order.bill_to, shipping=order.ship_to)
        code = self.foreign_currency(order)
        found = self.find_contact(customer, currency=code)
        if found:
            return found
        return self._create_contact(customer, currency=(code, self._currency_id(code, order)) if code else None)

    # --- Items ------------------------------------------------------------------------------------

    def resolve_items(self, order: Order) -> dict[str, str]:
        """The Zoho item id of each line with a quantity, by line key (found, else created)."""
        lines = {mapping.line_key(line): line for line in order.lines if line.quantity > 0}
        known = dict(
            self.links("item").filter(canonical_key__in=list(lines)).values_list("canonical_key", "external_id")
        )
        missing = [key for key in lines if key not in known]
        if any(not key.startswith("name:") for key in missing) and not self._items_refreshed:
            # Books' item list has no SKU filter: refresh the SKU map from the list once (ZOHO.md §5).
            self._items_refreshed = True
            known.update({k: v for k, v in self.client.item_ids_by_sku(refresh=True).items() if k in lines})
            missing = [key for key in lines if key not in known]
        for key in missing:
            known[key] = self.resolve_item(key, lines[key])
        return known

    def resolve_item(self, key: str, line) -> str:
        """One line's Zoho item id: the Link, else Zoho's item of that name (created when missing)."""
        return self.linked("item", key) or self._find_or_create_item(key, line)

    def _find_or_create_item(self, key: str, line) -> str:
        name = (line.name or line.sku or "Item").strip()[:100]
        found = self.client.find_item_by_name(name)
        if found is None or (line.sku and found.get("sku") and found.get("sku") != line.sku):
            payload: dict = {"name": name, "rate": line.unit_price, "product_type": "goods"}
            if line.sku:
                payload["sku"] = line.sku
            if found is not None:  # the name belongs to another SKU: keep both apart
                payload["name"] = f"{name} ({line.sku})"[:100]
            try:
                found = self.client.create_item(payload)
            except Duplicate as exc:
                # Another worker may have created this very item a moment ago: take it if it is ours.
                raced = self.client.find_item_by_name(payload["name"])
                if raced is not None and (not line.sku or raced.get("sku") in (None, "", line.sku)):
                    item_id = str(raced["item_id"])
                    self.remember("item", key, item_id)
                    return item_id
                raise NeedsReview(
                    f"Zoho Books already has an item that clashes with {line.sku or name}: {exc.message}",
                    remediation="Give the Zoho item this SKU (or rename it), then press Replay.",
                ) from exc
        item_id = str(found["item_id"])
        self.remember("item", key, item_id)
        return item_id

    # --- Invoices ---------------------------------------------------------------------------------

    def _numbered(self) -> bool:
        return self.options.get("invoice_number_mode", "order_number") == "order_number"

    def _invoice_number(self, order: Order) -> str:
        return f"{self.options.get('invoice_number_prefix', '')}{order.number}"[:100]

    def _find_invoice(self, order: Order) -> str | None:
        linked = self.linked("invoice", order.number)
        if linked or self._numbered():
            return linked  # numbered creates are refused by Zoho when they exist: no search needed
        found = self.client.find_invoice_by_reference(order.number)
        if found is None:
            return None
        self.remember("invoice", order.number, str(found["invoice_id"]))
        return str(found["invoice_id"])

    def _base_currency(self) -> str:
        return str((self.connection.settings or {}).get("currency_code") or "").upper()

    def foreign_currency(self, order: Order) -> str | None:
        """The order's currency when it is not the organisation's base currency, else None."""
        code = (order.currency or "").upper()
        base = self._base_currency()
        return code if code and base and code != base else None

    def _currency_id(self, code: str, order: Order) -> str:
        """Zoho's id for a currency the organisation has added; cached as a Link, listed once on a miss."""
        linked = self.linked("currency", code)
        if linked:
            return linked
        for currency in self.client.currencies():
            found_code = str(currency.get("currency_code") or "").upper()
            if found_code and currency.get("currency_id"):
                self.remember("currency", found_code, str(currency["currency_id"]))
        linked = self.linked("currency", code)
        if linked:
            return linked
        raise NeedsReview(
            f"Order {order.number} is in {code}, which the Zoho Books organisation has not added "
            f"(its base currency is {self._base_currency()}); it was not sent.",
            remediation=f"In Zoho Books open Settings → Currencies → New Currency, add {code}, then press Replay.",
        )

    def _check_currency(self, order: Order) -> None:
        """An order in another currency needs that currency in Zoho (its contact is kept in it);
        amounts are never booked in the base currency silently."""
        code = self.foreign_currency(order)
        if code:
            self._currency_id(code, order)

    def _upsert_invoice(self, order: Order, target_id: str | None) -> WriteResult:
        if order.status == OrderStatus.CANCELLED and not target_id and not order.refunds:
            return WriteResult(target_id="", action="unchanged", data={"reason": "cancelled before it was invoiced"})
        self._check_currency(order)
        payload = self._invoice_payload(order)
        try:
            result = self._write_invoice(order, target_id, payload)
        except Permanent as exc:
            if not _stale_item(exc):
                raise
            # An item we linked was deleted in Zoho since: resolve this order's items again, once.
            self.links("item").filter(canonical_key__in=[mapping.line_key(line) for line in order.lines]).delete()
            self._items_refreshed = False
            payload = self._invoice_payload(order)
            result = self._write_invoice(order, target_id, payload)
        return self._with_refunds(order, result, payload)

    def _invoice_payload(self, order: Order) -> dict:
        try:
            return mapping.order_to_invoice(
                order, customer_id=self.resolve_contact(order), item_ids=self.resolve_items(order)
            )
        except mapping.MappingError as exc:
            raise Permanent(str(exc), remediation="Correct the order in the source system, then press Replay.") from exc

    def _write_invoice(self, order: Order, target_id: str | None, payload: dict) -> WriteResult:
        target_id = target_id or self.linked("invoice", order.number)
        if not target_id:
            return self._create_invoice(order, payload)
        try:
            invoice = self.client.update_invoice(target_id, payload)
        except NotFound as exc:
            if _stale_item(exc):  # the invoice is there; one of its items is not
                raise
            self.forget("invoice", order.number)
            return self._create_invoice(order, payload)
        self.remember("invoice", order.number, target_id)
        return self.write_result("invoice", target_id, "updated", **_invoice_facts(invoice))

    # --- Refunds: one credit note each -----------------------------------------------------------

    def _with_refunds(self, order: Order, result: WriteResult, payload: dict | None = None) -> WriteResult:
        """Credit the order's refunds not yet credited; the invoice itself is never voided for them."""
        if not order.refunds:
            return result
        customer_id = (payload or {}).get("customer_id") or self.resolve_contact(order)
        created = [self._credit_refund(order, refund, customer_id) for refund in order.refunds]
        new = [number for number in created if number]
        if not new:
            return result
        return WriteResult(
            target_id=result.target_id,
            action=result.action if result.action != "unchanged" else "updated",
            url=result.url,
            data={**result.data, "credit_notes": new},
        )

    def _credit_refund(self, order: Order, refund, customer_id: str) -> str | None:
        """The credit note's number when this call created it; None when it already existed."""
        key = f"{order.number}/refund/{refund.source_id}"
        if self.linked("creditnote", key):
            return None
        invoice_number = self._invoice_number(order)
        number = mapping.credit_note_number(invoice_number, refund)
        item_id = self.resolve_item(
            f"name:{mapping.REFUND_ITEM}",
            LineItem(sku="", name=mapping.REFUND_ITEM, quantity=Decimal("1"), unit_price=Decimal("0.00")),
        )
        payload = mapping.refund_to_credit_note(
            order,
            refund,
            customer_id=customer_id,
            item_id=item_id,
            invoice_number=invoice_number,
            when=timezone.now().date(),
        )
        try:
            note = self.client.create_credit_note(payload, creditnote_number=number)
        except Duplicate:
            # Created before and the Link was lost (a crash after Zoho's answer): find it by number.
            found = self.client.find_credit_notes(creditnote_number=number)
            if not found:
                raise
            self.remember("creditnote", key, str(found[0]["creditnote_id"]))
            return None
        self.remember("creditnote", key, str(note["creditnote_id"]))
        return number

    def _create_invoice(self, order: Order, payload: dict) -> WriteResult:
        number = self._invoice_number(order) if self._numbered() else None
        try:
            invoice = self.client.create_invoice(payload, invoice_number=number)
        except Duplicate:
            existing = self._existing_invoice(order, number)
            if existing is None:
                raise
            invoice = self.client.update_invoice(existing, payload)
            self.remember("invoice", order.number, existing)
            return self.write_result("invoice", existing, "updated", **_invoice_facts(invoice))
        invoice_id = str(invoice["invoice_id"])
        self.remember("invoice", order.number, invoice_id)
        return self.write_result("invoice", invoice_id, "created", **_invoice_facts(invoice))

    def _existing_invoice(self, order: Order, number: str | None) -> str | None:
        found = self.client.find_invoices(invoice_number=number) if number else []
        if not found:
            match = self.client.find_invoice_by_reference(order.number)
            found = [match] if match else []
        return str(found[0]["invoice_id"]) if found else None

    def _void_invoice(self, order: Order, target_id: str) -> WriteResult:
        invoice_id = target_id or self._find_invoice(order)
        if not invoice_id:
            return WriteResult(target_id="", action="unchanged", data={"reason": "no invoice to void"})
        if order.refunds:
            # Refunded, not merely cancelled: the money went back, so the books show the invoice and
            # its credit notes (voiding would erase a sale that happened, paid or not).
            result = self.write_result("invoice", invoice_id, "unchanged", reason="refunded: credited, not voided")
            return self._with_refunds(order, result)
        try:
            self.client.void_invoice(invoice_id)
        except Permanent as exc:
            if "already" not in exc.message.lower():
                raise
        return self.write_result("invoice", invoice_id, "voided")

    # --- Shipment costs ---------------------------------------------------------------------------

    def _mode(self) -> str:
        mode = self.options.get("shipment_mode", "journal")
        if mode not in ("journal", "comment"):
            raise Permanent(f"Unknown shipment mode {mode!r}.", remediation="Choose journal or comment in the flow.")
        return mode

    def _key(self, shipment: Shipment, *, reversal: bool) -> str:
        return mapping.shipment_marker(shipment, reversal=reversal).strip("[]")

    def _find_cost_posting(self, shipment: Shipment, *, reversal: bool) -> str | None:
        kind = "journal" if self._mode() == "journal" else "invoice_comment"
        key = self._key(shipment, reversal=reversal)
        linked = self.linked(kind, key)
        if linked:
            return linked
        marker = mapping.shipment_marker(shipment, reversal=reversal)
        if kind == "journal":
            for journal in self.client.find_journals_by_reference(shipment.order_number):
                if marker in str(journal.get("notes", "")):
                    self.remember(kind, key, str(journal["journal_id"]))
                    return str(journal["journal_id"])
            return None
        invoice_id = self._invoice_for_shipment(shipment, required=False)
        if invoice_id and any(
            marker in str(c.get("description", "")) for c in self.client.invoice_comments(invoice_id)
        ):
            target = f"{invoice_id}#{key}"
            self.remember(kind, key, target)
            return target
        return None

    def _invoice_for_shipment(self, shipment: Shipment, *, required: bool = True) -> str | None:
        invoice_id = self.linked("invoice", shipment.order_number)
        if not invoice_id:
            found = self.client.find_invoice_by_reference(shipment.order_number)
            invoice_id = str(found["invoice_id"]) if found else None
            if invoice_id:
                self.remember("invoice", shipment.order_number, invoice_id)
        if invoice_id is None and required:
            raise Transient(
                f"Order {shipment.order_number} has no Zoho invoice yet; the shipment comment waits for it.",
                remediation="The order's invoice is synced first; this retries by itself.",
            )
        return invoice_id

    def _journal(self, shipment: Shipment, *, reversal: bool) -> dict:
        try:
            return mapping.shipment_to_journal(
                shipment,
                expense_account_id=str(self.options.get("expense_account_id", "")),
                offset_account_id=str(self.options.get("offset_account_id", "")),
                insurance_account_id=str(self.options.get("insurance_account_id", "")),
                reversal=reversal,
                journal_date=shipment.void_date.date() if reversal and shipment.void_date else None,
            )
        except mapping.MappingError as exc:
            raise NeedsReview(
                str(exc), remediation="Set the shipment accounts in the flow options, then Replay."
            ) from exc

    def _post_shipment(self, shipment: Shipment, target_id: str | None) -> WriteResult:
        if shipment.total_cost <= 0:
            return WriteResult(target_id="", action="unchanged", data={"reason": "no shipping cost"})
        existing = target_id or self._find_cost_posting(shipment, reversal=False)
        kind = "journal" if self._mode() == "journal" else "invoice"
        if existing:
            return self.write_result(kind, existing.split("#")[0], "unchanged")
        key = self._key(shipment, reversal=False)
        if kind == "journal":
            journal = self.client.create_journal(self._journal(shipment, reversal=False))
            self.remember("journal", key, str(journal["journal_id"]))
            return self.write_result("journal", str(journal["journal_id"]), "created", number=_entry_number(journal))
        invoice_id = self._invoice_for_shipment(shipment)
        self.client.add_invoice_comment(invoice_id, mapping.shipment_comment(shipment))
        self.remember("invoice_comment", key, f"{invoice_id}#{key}")
        return self.write_result("invoice", invoice_id, "created", comment=key)

    def _reverse_shipment(self, shipment: Shipment) -> WriteResult:
        original = self._find_cost_posting(shipment, reversal=False)
        if not original:
            return WriteResult(target_id="", action="unchanged", data={"reason": "nothing was posted"})
        reversed_id = self._find_cost_posting(shipment, reversal=True)
        kind = "journal" if self._mode() == "journal" else "invoice"
        if reversed_id:
            return self.write_result(kind, reversed_id.split("#")[0], "unchanged")
        key = self._key(shipment, reversal=True)
        if kind == "journal":
            journal = self.client.create_journal(self._journal(shipment, reversal=True))
            self.remember("journal", key, str(journal["journal_id"]))
            return self.write_result(
                "journal", str(journal["journal_id"]), "reversed", original=original, number=_entry_number(journal)
            )
        invoice_id = original.split("#")[0]
        self.client.add_invoice_comment(invoice_id, mapping.shipment_comment(shipment, reversal=True))
        self.remember("invoice_comment", key, f"{invoice_id}#{key}")
        return self.write_result("invoice", invoice_id, "reversed", comment=key)
