"""Zoho Books sales orders as a flow target (DESIGN §5): target type "sales_order".

A flow whose capability is ("order", "sales_order") sends store orders as sales orders instead of
invoices. `ZohoBooksTarget` hands that type to `SalesOrders`:

- natural key: `reference_number` = order number (Link "sales_order" on the Zoho connection; before a
  create, `GET /salesorders?reference_number=` heals a lost Link; a duplicate refused by Zoho resolves
  to the existing sales order, which is then updated);
- contact by the order's email; flow option `create_contact_if_missing` (default on). Off: a missing
  contact fails the record with the remediation to create it;
- lines: metadata `zohobooks_item_id` is used as the item directly (also when the store keeps it
  in the line's own meta list, WooCommerce line `meta_data`: lift_line_overrides); other lines
  find their item by SKU then name (created when `create_missing_items` is on, the default; off:
  an unknown SKU fails the record naming the SKUs); metadata `description` and `tax_id` override
  per line;
- totals to the cent through the adjustment (see mapping.order_to_sales_order); when a line carries a
  Zoho `tax_id`, Zoho's own `tax_total` is read back and the adjustment corrected once;
- notes: the store's customer note in `notes`; internal notes as one comment on the sales order;
- an edit updates the sales order until Zoho has fulfilled it (then "unchanged", with the reason);
  a cancelled order voids it; a sales order voided in Zoho is "canceled in Zoho": the record is
  skipped with that reason and store edits are no longer sent.

Order rules (rules.py) run here around the submit: "scheduled", "before_submit" (may change the
order), "after_submit" and the "not submitted" events; each firing is an Event on the record.

The client calls not in client.py yet go through `client.call` (sales-order search, void, comments,
custom-field definitions), so this module needs no change to the shared client.
"""

from __future__ import annotations

import dataclasses
import hashlib
from decimal import Decimal
from typing import Any

from connector.adapters import NO_CONTEXT, WriteContext, WriteResult
from connector.canonical import Order, OrderStatus, money
from connector.http import NeedsReview, Permanent
from integrations.zoho import mapping, rules
from integrations.zoho.client import Duplicate, NotFound

LINK = "sales_order"
COMMENT_LINK = "sales_order_comment"
# Pull-back (tracking.py): a sales order's tracking is a Record of the flow, object type TRACKING
# (source id = sales order id), written to the store as STORE_TRACKING. The record exists before the
# store is told: an edit the store makes because of it (WooCommerce "completed") must not move the
# order's stage back from shipped to submitted.
TRACKING = "tracking"
STORE_TRACKING = "store_tracking"
# The shipment Link (on the store connection, key = sales order id) pull-back kept before it ran
# through the engine: data["state"] "sent" still means the store has the tracking.
LEGACY_SHIPMENT_LINK = "store_shipment"
# Statuses after which Zoho owns the order: store edits no longer change it (sales-order.yml `status`).
FULFILLED_STATUSES = frozenset(
    {"fulfilled", "shipped", "shipped_not_invoiced", "invoiced", "partially_invoiced", "closed"}
)
FULFILLED_SHIPPED = frozenset({"shipped", "fulfilled"})
VOID_STATUSES = frozenset({"void", "cancelled"})


class MissingContact(Permanent):
    """No Zoho contact has the order's email and creating contacts is off."""


class InvalidSku(Permanent):
    """Lines whose SKU has no Zoho item, and creating items is off."""

    def __init__(self, message: str, skus: list[str], **kwargs):
        super().__init__(message, **kwargs)
        self.skus = skus


class NoProducts(Permanent):
    """The order has no line Zoho could take."""


# Flow option: when on, an order goes to Zoho only if a scheduled/before-submit rule submits it.
RULE_SUBMIT_ONLY = "rule_submit_only"
OVERRIDE_KEYS = ("description", "tax_id", mapping.ITEM_ID_KEY)


def lift_line_overrides(order: Order) -> Order:
    """Per-line overrides kept by the store in the line's own metadata list (WooCommerce line
    `meta_data` [{"key", "value"}], item `options` [{"name", "value"}]) as the top-level line
    metadata keys mapping.line_override reads. A key already set at the top level wins."""
    lines = []
    for line in order.lines:
        found = {}
        for entry in [*(line.metadata or {}).get("meta_data", []), *(line.metadata or {}).get("options", [])]:
            if not isinstance(entry, dict):
                continue
            key = str(entry.get("key") or entry.get("name") or "").strip().lower()
            value = entry.get("value")
            if key in OVERRIDE_KEYS and isinstance(value, str | int) and str(value).strip():
                found.setdefault(key, str(value).strip())
        missing = {k: v for k, v in found.items() if not mapping.line_override(line, k)}
        lines.append(dataclasses.replace(line, metadata={**(line.metadata or {}), **missing}) if missing else line)
    return dataclasses.replace(order, lines=tuple(lines))


def option(options: dict, name: str, default: bool = True) -> bool:
    value = options.get(name, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "yes")
    return bool(value)


def is_fulfilled(salesorder: dict) -> bool:
    return (
        str(salesorder.get("status", "")).lower() in FULFILLED_STATUSES
        or str(salesorder.get("shipped_status", "")).lower() in FULFILLED_SHIPPED
    )


def is_void(salesorder: dict) -> bool:
    return str(salesorder.get("status", "")).lower() in VOID_STATUSES


class SalesOrders:
    """The "sales_order" target type of ZohoBooksTarget (which owns the client, Links and options),
    for one write: `context.record` is the Record the engine runs (none outside the engine)."""

    def __init__(self, target, context: WriteContext = NO_CONTEXT):
        self.target = target
        self.record = context.record

    @property
    def client(self):
        return self.target.client

    @property
    def options(self) -> dict:
        return self.target.options

    def _result(self, salesorder_id: str, action: str, **data: Any) -> WriteResult:
        return self.target.write_result("salesorder", salesorder_id, action, **data)

    # --- Zoho calls not in the shared client ------------------------------------------------------

    def find_by_reference(self, reference: str) -> dict | None:
        found = self.client.call("GET", "salesorders", params={"reference_number": reference}).get("salesorders") or []
        live = [s for s in found if not is_void(s)]
        return (live or found or [None])[0]

    def void(self, salesorder_id: str, reason: str) -> None:
        self.client.call("POST", f"salesorders/{salesorder_id}/status/void", json={"reason": reason[:500]})

    def add_comment(self, salesorder_id: str, description: str) -> None:
        self.client.call("POST", f"salesorders/{salesorder_id}/comments", json={"description": description})

    # --- Contract ---------------------------------------------------------------------------------

    def find(self, order: Order) -> str | None:
        linked = self.target.linked(LINK, order.number)
        if linked:
            return linked
        found = self.find_by_reference(order.number)
        if found is None:
            return None
        self.target.remember(LINK, order.number, str(found["salesorder_id"]))
        return str(found["salesorder_id"])

    def upsert(self, order: Order, target_id: str | None) -> WriteResult:
        if order.status == OrderStatus.CANCELLED:
            return self.cancel(order, target_id or "")
        order = lift_line_overrides(order)
        context = rules.Context(order=order, store=self._store_label())
        # "scheduled" may already hold, skip or change the order; "before submit" sees its changes.
        order, scheduled = self._fire(rules.SCHEDULED, context)
        context = dataclasses.replace(context, order=order)
        order, verdict = self._fire(rules.BEFORE_SUBMIT, context)
        verdict = rules.strongest(scheduled, verdict)
        if verdict == rules.HOLD:
            raise NeedsReview(
                f"Order {order.number} is held by an order rule.",
                remediation="Check the order, then press Replay (or change the rule).",
            )
        if verdict == rules.SKIP:
            return WriteResult(
                "", "skipped", data={"reason": "Not submitted: skipped by an order rule.", "stage": "not_submitted"}
            )
        if not rules.submits(verdict, submit_by_default=not option(self.options, RULE_SUBMIT_ONLY, default=False)):
            return WriteResult(
                "",
                "skipped",
                data={
                    "reason": "Not submitted: this flow sends only orders a rule submits, and none did.",
                    "stage": "not_submitted",
                },
            )
        try:
            result = self._submit(order, target_id or self.target.linked(LINK, order.number))
        except InvalidSku as exc:
            self._fire(rules.INVALID_SKU, dataclasses.replace(context, order=order, error=str(exc)))
            raise
        except NoProducts as exc:
            self._fire(rules.NO_PRODUCTS, dataclasses.replace(context, order=order, error=str(exc)))
            raise
        except Permanent as exc:
            self._fire(rules.GENERAL_ERROR, dataclasses.replace(context, order=order, error=str(exc)))
            raise
        if result.data.get("stage") == "canceled":
            self._fire(rules.CANCELED_IN_ZOHO, dataclasses.replace(context, order=order))
        elif result.action in ("created", "updated"):
            _, after = self._fire(rules.AFTER_SUBMIT, dataclasses.replace(context, order=order))
            if after == rules.CANCEL:
                self.void(result.target_id, f"Order {order.number} was cancelled by an order rule.")
                return self._result(result.target_id, "voided", stage="canceled", reason="Canceled by an order rule.")
        return result

    def cancel(self, order: Order, target_id: str) -> WriteResult:
        salesorder_id = target_id or self.find(order)
        if not salesorder_id:
            return WriteResult("", "skipped", data={"reason": "Cancelled before it was sent to Zoho: nothing to void."})
        try:
            current = self.client.get_sales_order(salesorder_id)
        except NotFound:
            self.target.forget(LINK, order.number)
            return WriteResult("", "skipped", data={"reason": "The sales order no longer exists in Zoho."})
        if not is_void(current):
            self.void(salesorder_id, f"Order {order.number} was cancelled in the store.")
        return self._result(salesorder_id, "voided", stage="canceled")

    # --- Submitting -------------------------------------------------------------------------------

    def _submit(self, order: Order, salesorder_id: str | None) -> WriteResult:
        current = self._current(order, salesorder_id) if salesorder_id else None
        if salesorder_id and current is not None:
            return self._update(order, salesorder_id, current)
        return self._create(order)

    def _current(self, order: Order, salesorder_id: str) -> dict | None:
        """The linked sales order as Zoho has it now; None (and the Link forgotten) when it is gone."""
        try:
            return self.client.get_sales_order(salesorder_id)
        except NotFound:
            self.target.forget(LINK, order.number)
            return None

    def _update(self, order: Order, salesorder_id: str, current: dict) -> WriteResult:
        if is_void(current):
            return WriteResult(
                salesorder_id,
                "skipped",
                url=self._result(salesorder_id, "skipped").url,
                data={
                    "reason": f"Canceled in Zoho: sales order {current.get('salesorder_number', '')} is void; "
                    "store changes are no longer sent.",
                    "stage": "canceled",
                    "canceled_in_zoho": True,
                },
            )
        if is_fulfilled(current):
            return self._result(
                salesorder_id,
                "unchanged",
                reason="Zoho has fulfilled this sales order; store edits no longer change it.",
                stage=self._submitted_stage(salesorder_id),
            )
        payload, item_ids = self._payload(order)
        written = self.client.update_sales_order(salesorder_id, payload)
        written = self._correct_total(order, salesorder_id, written, item_ids, payload)
        self.target.remember(LINK, order.number, salesorder_id)
        self._internal_note(order, salesorder_id)
        return self._result(
            salesorder_id,
            "updated",
            total=str(written.get("total", "")),
            stage=self._submitted_stage(salesorder_id),
        )

    def _create(self, order: Order) -> WriteResult:
        payload, item_ids = self._payload(order)
        try:
            written = self.client.create_sales_order(payload)
        except Duplicate:
            existing = self.find_by_reference(order.number)
            if existing is None:
                raise
            self.target.remember(LINK, order.number, str(existing["salesorder_id"]))
            return self._submit(order, str(existing["salesorder_id"]))
        salesorder_id = str(written["salesorder_id"])
        self.target.remember(LINK, order.number, salesorder_id)
        written = self._correct_total(order, salesorder_id, written, item_ids, payload)
        self._internal_note(order, salesorder_id)
        return self._result(salesorder_id, "created", total=str(written.get("total", "")), stage="submitted")

    def _payload(self, order: Order) -> tuple[dict, dict[str, str]]:
        if not any(line.quantity > 0 for line in order.lines):
            raise NoProducts(
                f"Order {order.number} has no products to send (no line with a quantity).",
                remediation="Add products to the order in the store, then press Replay.",
            )
        customer_id = self._contact(order)
        item_ids = self._item_ids(order)
        try:
            return mapping.order_to_sales_order(order, customer_id=customer_id, item_ids=item_ids), item_ids
        except mapping.MappingError as exc:
            raise Permanent(str(exc), remediation="Correct the order in the store, then press Replay.") from exc

    def _correct_total(self, order: Order, salesorder_id: str, written: dict, item_ids: dict, payload: dict) -> dict:
        """Zoho adds its own tax for lines with a tax_id: correct the adjustment once so the total is the order's."""
        if money(written.get("total")) == money(order.total):
            return written
        zoho_tax = money(written.get("tax_total") or Decimal("0"))
        fixed = mapping.order_to_sales_order(
            order, customer_id=payload["customer_id"], item_ids=item_ids, zoho_tax=zoho_tax
        )
        return self.client.update_sales_order(
            salesorder_id,
            {"adjustment": fixed["adjustment"], "adjustment_description": fixed["adjustment_description"]},
        )

    def _internal_note(self, order: Order, salesorder_id: str) -> None:
        text = mapping.internal_note_comment(order)
        if not text:
            return
        key = f"{salesorder_id}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
        if self.target.linked(COMMENT_LINK, key):
            return
        self.add_comment(salesorder_id, text)
        self.target.remember(COMMENT_LINK, key, key)

    # --- Contacts and items -----------------------------------------------------------------------

    def _contact(self, order: Order) -> str:
        if option(self.options, "create_contact_if_missing"):
            return self.target.resolve_contact(order)  # find by email; a duplicate-name refusal re-finds it
        customer = order.customer
        email = (customer.email or customer.key) if customer else ""
        # Zoho gives a document its contact's currency: an order in another currency than the
        # organisation's needs the buyer's contact in that currency (as for invoices).
        foreign = self.target.foreign_currency(order)
        found = self.target.find_contact(customer, currency=foreign) if customer and email else None
        if found:
            return found
        in_currency = f" and the currency {foreign}" if foreign else ""
        raise MissingContact(
            f"Not submitted: no Zoho Books contact has the email {email}{in_currency}."
            if email
            else f"Not submitted: order {order.number} has no customer email to find a Zoho contact by.",
            remediation=(
                f"Create a contact in Zoho Books whose primary contact person has the email {email}{in_currency}"
                if email
                else "Add the customer's email to the order in the store"
            )
            + " (or turn on 'Create contact if missing' in the flow), then press Replay.",
        )

    def _item_ids(self, order: Order) -> dict[str, str]:
        lookup = tuple(
            line for line in order.lines if line.quantity > 0 and not mapping.line_override(line, mapping.ITEM_ID_KEY)
        )
        if not lookup:
            return {}
        if option(self.options, "create_missing_items"):
            return self.target.resolve_items(dataclasses.replace(order, lines=lookup))
        lines = {mapping.line_key(line): line for line in lookup}
        known = dict(
            self.target.links("item").filter(canonical_key__in=list(lines)).values_list("canonical_key", "external_id")
        )
        if any(key not in known for key in lines):
            known.update({k: v for k, v in self.client.item_ids_by_sku(refresh=True).items() if k in lines})
        unknown = []
        for key, line in lines.items():
            if key in known:
                continue
            found = self.client.find_item_by_name((line.name or line.sku).strip()[:100])
            if found is not None and (not line.sku or not found.get("sku") or found.get("sku") == line.sku):
                known[key] = str(found["item_id"])
                self.target.remember("item", key, known[key])
            else:
                unknown.append(line.sku or line.name)
        if unknown:
            raise InvalidSku(
                f"Not submitted: no Zoho Books item for SKU {', '.join(unknown)}.",
                unknown,
                remediation="Create the items in Zoho Books with these SKUs (or turn on 'Create missing items' in "
                "the flow, or set zohobooks_item_id on the store line), then press Replay.",
            )
        return known

    # --- Rules ------------------------------------------------------------------------------------

    def _submitted_stage(self, salesorder_id: str) -> str:
        """ "shipped" once pull-back has found this sales order's tracking, else "submitted"."""
        from connector.models import Link, Record

        record = self.record
        if record is None:
            return "submitted"
        found = Record.objects.filter(flow_id=record.flow_id, object_type=TRACKING, source_id=salesorder_id).exists()
        legacy = Link.objects.filter(
            connection_id=record.flow.source_id, object_type=LEGACY_SHIPMENT_LINK, canonical_key=salesorder_id
        )
        return "shipped" if found or legacy.exists() else "submitted"

    def _store_label(self) -> str:
        record = self.record
        return record.flow.source.system if record is not None else ""

    def _fire(self, event: str, context: rules.Context) -> tuple[Order, str]:
        return rules.run(event, context, self.options.get("rules") or [], record=self.record)
