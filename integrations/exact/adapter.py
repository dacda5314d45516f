"""Exact Online as a source of sales orders and a target for shipping-cost postings, sales invoices
and sales orders (DESIGN §5)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from connector.adapters import (
    NO_CONTEXT,
    Change,
    DocumentSummary,
    SourceAdapter,
    TargetAdapter,
    WriteContext,
    WriteResult,
)
from connector.canonical import Order, Shipment
from connector.http import NeedsReview, Permanent
from connector.oauth import OAuthRefused
from integrations.exact import invoicing, salesorders
from integrations.exact.client import ExactClient, parse_date
from integrations.exact.mapping import (
    DEFAULT_TRACKING_FIELD,
    NO_TRACKING_FIELD,
    STATUS_CANCELLED,
    STATUS_COMPLETE,
    TRACKING_FIELDS,
    JournalOptions,
    MappingError,
    goods_delivery_from_shipment,
    journal_entry_from_shipment,
    line_from_exact,
    order_from_exact,
    shipment_reference,
    with_tracking,
)
from integrations.exact.oauth import host, sandbox_mode

GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _client(adapter) -> ExactClient:
    if not (adapter.connection.settings or {}).get("division"):
        raise NeedsReview("Choose the Exact Online company (division) on the Connections page first.")
    return ExactClient(adapter.connection, on_call=adapter.on_call)


def _offered(object_type: str, offered: tuple[str, ...], role: str) -> None:
    """A type this side of Exact does not offer is a flow set up wrong, never an empty answer."""
    if object_type not in offered:
        raise Permanent(f"Exact Online is not {role} {object_type!r} records (only {', '.join(offered)}).")


class ExactSource(SourceAdapter):
    system = "exact"
    source_types = ("order",)

    def _order(self, client: ExactClient, so: dict, cache: dict) -> Order:
        order_id = so["OrderID"]
        expanded = so.get("SalesOrderLines")
        if isinstance(expanded, dict) and isinstance(expanded.get("results"), list):
            lines = expanded["results"]
        else:  # not expanded: Exact sends {"__deferred": ...}
            lines = client.sales_order_lines(order_id)
        account = None
        account_id = so.get("DeliverTo") or so.get("OrderedBy")
        if account_id:
            if ("account", account_id) not in cache:
                cache[("account", account_id)] = client.account(account_id)
            account = cache[("account", account_id)]
        delivery = None
        if so.get("DeliveryAddress"):
            if ("address", so["DeliveryAddress"]) not in cache:
                cache[("address", so["DeliveryAddress"])] = client.address(so["DeliveryAddress"])
            delivery = cache[("address", so["DeliveryAddress"])]
        try:
            return order_from_exact(so, lines, account, delivery)
        except MappingError as exc:
            raise Permanent(str(exc), remediation="Complete the sales order in Exact, then replay.") from exc

    def changes_since(self, object_type: str, since: datetime | None, until: datetime) -> Iterator[Change]:
        _offered(object_type, self.source_types, "a source of")
        client = _client(self)
        cache: dict[str, Any] = {}
        since = since or datetime.fromtimestamp(0).astimezone()
        for so in client.sales_orders_modified_since(since):
            modified = parse_date(so.get("Modified"))
            if modified and modified > until:
                continue  # the next poll takes it
            yield self._change(self._order(client, so, cache))

    @staticmethod
    def _change(order: Order) -> Change:
        return Change(
            "order",
            order.source_id,
            ref=order.number,
            modified_at=order.modified_at,
            obj=order,
            search_text=" ".join(x for x in (order.number, order.customer.name if order.customer else "") if x),
        )

    def fetch(self, object_type: str, source_id: str) -> Order:
        _offered(object_type, self.source_types, "a source of")
        client = _client(self)
        so = client.sales_order(source_id)
        if so is None:
            raise Permanent(f"Exact sales order {source_id} no longer exists", status=404)
        return self._order(client, so, {})

    def changes_from_delivery(self, delivery) -> list[Change]:
        """An Exact webhook names a changed sales order (`Content.Key`) and carries no data (EXACT.md
        §7.2): we read the order ourselves, on the connection's own host (never `ExactOnlineEndpoint`),
        so the record holds the fresh version rather than the one the last poll stored."""
        try:
            body = json.loads(bytes(delivery.body) or b"{}")
            content = body["Content"]
            topic, key, action = str(content["Topic"]), str(content["Key"]), str(content.get("Action") or "")
        except (ValueError, KeyError, TypeError) as exc:
            raise Permanent("Exact webhook body is not the documented {Content, HashCode} shape") from exc
        if topic.lower() != "salesorders" or action.lower() == "delete":
            return []  # a deleted order has nothing left to send; cancellations arrive as updates
        try:
            order = self.fetch("order", key)
        except Permanent as exc:
            if exc.status == 404:
                return []
            raise
        return [self._change(order)]


#: A shipment of a store's order (ShipStation → Exact): its cost is posted as one journal entry
#: referencing the store's order number, because no Exact sales order lines exist to split it over.
#: "cost_posting" stays the shipment of an Exact sales order (Exact ↔ ShipStation): split over its lines,
#: tracking written back on it. presets.resolve_capability picks the one a flow's capability means.
STORE_COST_POSTING = "store_cost_posting"


class ExactTarget(TargetAdapter):
    system = "exact"
    target_types = ("cost_posting", STORE_COST_POSTING, "invoice", "sales_order")

    def choices(self, name: str) -> list[tuple[str, str]]:
        client = _client(self)
        if name in ("account", "gl_account"):
            return [(r["ID"], f"{r.get('Code', '')} {r.get('Description', '')}".strip()) for r in client.gl_accounts()]
        if name == "cost_center":
            return [(r["Code"], f"{r['Code']} {r.get('Description', '')}".strip()) for r in client.cost_centers()]
        if name == "project":
            return [(r["ID"], f"{r.get('Code', '')} {r.get('Description', '')}".strip()) for r in client.projects()]
        if name == "journal":
            return [(r["Code"], f"{r['Code']} {r.get('Description', '')}".strip()) for r in client.journals()]
        if name == "sales_journal":
            return [(r["Code"], f"{r['Code']} {r.get('Description', '')}".strip()) for r in client.sales_journals()]
        if name == "vat_code":
            return [(r["Code"], f"{r['Code']} {r.get('Description', '')}".strip()) for r in client.vat_codes()]
        return []

    def _options(self, client: ExactClient) -> JournalOptions:
        o = self.options
        return JournalOptions(
            expense_gl_account=str(o.get("exact_expense_gl_account") or ""),
            offset_gl_account=str(o.get("exact_offset_gl_account") or ""),
            journal_code=str(o.get("exact_journal_code") or ""),
            project_cost_centers=self._project_cost_centers(client),
            default_cost_center=str(o.get("exact_default_cost_center") or ""),
        )

    def _project_cost_centers(self, client: ExactClient) -> dict[str, str]:
        """The flow maps projects by code (what the form asks for) or by id; lines name the id."""
        wanted = self.options.get("exact_project_cost_centers") or {}
        if not isinstance(wanted, dict):
            raise NeedsReview("The project → cost centre mapping must be a JSON object of project code → cost centre.")
        mapped = {str(k): str(v) for k, v in wanted.items() if v}
        by_code = {k: v for k, v in mapped.items() if not GUID_RE.fullmatch(k)}
        if by_code:
            ids = {str(p.get("Code") or "").strip(): str(p["ID"]) for p in client.projects()}
            unknown = sorted(code for code in by_code if code not in ids)
            if unknown:
                raise NeedsReview(
                    f"Exact has no project with code {', '.join(unknown)}.",
                    remediation="Correct the project codes in the flow settings, then replay.",
                )
            mapped = {
                **{k: v for k, v in mapped.items() if k not in by_code},
                **{ids[c]: v for c, v in by_code.items()},
            }
        return {k.lower(): v for k, v in mapped.items()}

    def _store_options(self) -> JournalOptions:
        """The ledger options of a store's shipment: no projects (store orders have none), so no call
        to Exact's project list."""
        o = self.options
        return JournalOptions(
            expense_gl_account=str(o.get("exact_expense_gl_account") or ""),
            offset_gl_account=str(o.get("exact_offset_gl_account") or ""),
            journal_code=str(o.get("exact_journal_code") or ""),
            default_cost_center=str(o.get("exact_default_cost_center") or ""),
        )

    def _order_lines(self, client: ExactClient, shipment: Shipment, options: JournalOptions):
        order_id = shipment.order_key
        if not order_id:
            raise NeedsReview(f"Shipment {shipment.source_id} has no order key to find its Exact sales order.")
        lines = tuple(line_from_exact(row) for row in client.sales_order_lines(order_id))
        if not lines:
            raise NeedsReview(f"No Exact sales order lines for order key {order_id}; is it an Exact order?")
        unmapped = {
            line.metadata["Project"]
            for line in lines
            if line.metadata.get("Project") and line.metadata["Project"].lower() not in options.project_cost_centers
        }
        if unmapped and not options.default_cost_center:
            raise NeedsReview(
                f"Exact project(s) {', '.join(sorted(unmapped))} have no cost centre mapped and there is no default.",
                remediation="Map the project to a cost centre (or set a default) in the flow settings, then replay.",
            )
        return lines

    def _find_entry(self, client: ExactClient, tag: str) -> str | None:
        rows = client.journal_entries_with_reference(tag)
        return str(rows[0]["EntryID"]) if rows else None

    def find(self, object_type: str, obj: Any, *, context: WriteContext = NO_CONTEXT) -> str | None:
        _offered(object_type, self.target_types, "a target for")
        if object_type == "invoice":
            return invoicing.find_invoice(_client(self), obj)
        if object_type == "sales_order":
            return salesorders.find_sales_order(_client(self), obj)
        return self._find_entry(_client(self), f"[{shipment_reference(obj)}]")

    def _post(self, client: ExactClient, shipment: Shipment, *, reverse: bool, on_order_lines: bool = True) -> dict:
        """`on_order_lines`: split the cost over the Exact sales order's lines; otherwise one debit
        (the default cost centre's) referencing the order number."""
        options = self._options(client) if on_order_lines else self._store_options()
        lines = self._order_lines(client, shipment, options) if on_order_lines else ()
        try:
            payload = journal_entry_from_shipment(shipment, lines, options, reverse=reverse)
        except MappingError as exc:
            raise NeedsReview(str(exc), remediation="Complete the Exact mapping in the flow settings.") from exc
        tag = f"[{'VOID' if reverse else 'SHIP'}-{shipment.source_id}]"
        for line in payload["GeneralJournalEntryLines"]:
            line["Description"] = f"{tag} {line['Description']}"[:100]
        return client.create_journal_entry(payload)

    def _write_tracking(self, client: ExactClient, shipment: Shipment) -> dict:
        """Tracking back on the sales order, in the text field the flow names (EXACT.md §6.10: sales
        orders have no tracking field). Idempotent: a field that already holds the number is left."""
        field = str(self.options.get("exact_tracking_field") or DEFAULT_TRACKING_FIELD)
        if field == NO_TRACKING_FIELD or not shipment.tracking_number or not shipment.order_key:
            return {}
        if field not in TRACKING_FIELDS:
            raise NeedsReview(f"Exact sales orders have no text field {field!r} for tracking numbers.")
        so = client.sales_order(shipment.order_key)
        if so is None:
            return {"tracking": "the sales order no longer exists in Exact"}
        text = with_tracking(str(so.get(field) or ""), shipment, field)
        if text is None:
            return {"tracking_field": field}
        if so.get("Status") in (STATUS_COMPLETE, STATUS_CANCELLED):
            return {"tracking": f"sales order {so.get('OrderNumber')} is closed in Exact; tracking not written"}
        client.update_sales_order(shipment.order_key, {field: text})
        return {"tracking_field": field, "tracking_written": True}

    def _goods_delivery(self, client: ExactClient, shipment: Shipment) -> dict:
        """With the flow option `exact_create_goods_delivery`, record the shipment in Exact as a goods
        delivery of the shipped quantities (EXACT.md §6.10: it moves stock, so only on request). Found
        again by the `[SHIP-<id>]` tag in its description, so a retry never delivers twice."""
        if not self.options.get("exact_create_goods_delivery") or not shipment.order_key:
            return {}
        tag = f"[SHIP-{shipment.source_id}]"
        existing = client.goods_deliveries_with_reference(tag)
        if existing:
            return {"goods_delivery": existing[0].get("DeliveryNumber")}
        so = client.sales_order(shipment.order_key)
        if so is None or so.get("Status") == STATUS_CANCELLED:
            raise NeedsReview(
                f"Exact sales order {shipment.order_number or shipment.order_key} is cancelled or gone; "
                "no goods delivery was made for this shipment.",
                remediation="Deliver it in Exact by hand if the goods did leave, then mark this record resolved.",
            )
        try:
            payload = goods_delivery_from_shipment(
                shipment, client.sales_order_lines_to_deliver(shipment.order_key), tag
            )
        except MappingError as exc:
            raise NeedsReview(
                str(exc), remediation="Check the shipment against the sales order in Exact, then replay."
            ) from exc
        delivery = client.create_goods_delivery(payload)
        return {"goods_delivery": delivery.get("DeliveryNumber"), "goods_delivery_created": True}

    def describe_result(self, object_type: str, obj: Any, result: WriteResult) -> DocumentSummary:
        """A general journal entry: Exact's entry number, the shipping cost posted, posted/reversed.
        No link to Exact itself: we know of no documented, stable Exact Online web address for one
        entry, and a guessed one would only send the merchant to an error page."""
        summary = super().describe_result(object_type, obj, result)
        data = result.data or {}
        credits = tuple(f"Credit note {n}" for n in data.get("credit_notes") or ())
        if object_type == "invoice":
            credit = result.action == "reversed"
            label = "Credit note" if credit else "Sales invoice"
            status = "credited" if credit else summary.status
            return DocumentSummary("invoice", label, summary.number, summary.total, summary.currency, status, credits)
        if object_type == "sales_order":
            status = "deleted" if result.action == "voided" else summary.status
            return DocumentSummary(
                "salesorder", "Sales order", summary.number, summary.total, summary.currency, status, credits
            )
        status = "reversed" if result.action == "reversed" else "posted"
        extra = (f"Goods delivery {data['goods_delivery']}",) if data.get("goods_delivery") else ()
        number = str(data.get("entry_number") or summary.number)
        return DocumentSummary("journal", "Journal entry", number, summary.total, summary.currency, status, extra)

    def document_url(self, kind: str, target_id: str) -> str:
        """The sandbox's page of a sandbox entry; none for Exact itself (see describe_result)."""
        settings = self.connection.settings or {}
        if kind != "journal" or not target_id or not settings.get("division") or not sandbox_mode():
            return ""
        try:
            base = host(settings.get("country", ""))
        except OAuthRefused:
            return ""
        return f"{base}/docs/{settings['division']}/journal/{target_id}/"

    def upsert(
        self, object_type: str, obj: Any, *, target_id: str | None, context: WriteContext = NO_CONTEXT
    ) -> WriteResult:
        _offered(object_type, self.target_types, "a target for")
        client = _client(self)
        if object_type == "invoice":
            return invoicing.upsert_invoice(client, obj, self.options, target_id)
        if object_type == "sales_order":
            return salesorders.upsert_sales_order(client, obj, self.options, target_id)
        if object_type == STORE_COST_POSTING:
            return self._post_store_cost(client, obj, target_id)
        if target_id:
            # Posted entries are not edited; a changed cost is voided and posted again by the source.
            # Still finish the tracking note and the goods delivery (a crash may have come after the entry).
            data = {**self._write_tracking(client, obj), **self._goods_delivery(client, obj)}
            return WriteResult(target_id, "unchanged", data=data)
        entry = self._post(client, obj, reverse=False)
        data = {"entry_number": entry.get("EntryNumber"), **self._write_tracking(client, obj)}
        data.update(self._goods_delivery(client, obj))
        return WriteResult(str(entry["EntryID"]), "created", data=data)

    def cancel(self, object_type: str, obj: Any, *, target_id: str, context: WriteContext = NO_CONTEXT) -> WriteResult:
        _offered(object_type, self.target_types, "a target for")
        client = _client(self)
        if object_type == "invoice":
            return invoicing.credit_invoice(client, obj, target_id, self.options)
        if object_type == "sales_order":
            return salesorders.cancel_sales_order(client, obj, target_id, self.options)
        existing = self._find_entry(client, f"[VOID-{obj.source_id}]")
        if existing:
            return WriteResult(existing, "reversed")
        target_id = target_id or self._find_entry(client, f"[{shipment_reference(obj)}]") or ""
        if not target_id:  # a reversal of a cost never booked would credit money never spent
            return WriteResult(
                "", "skipped", data={"reason": "No shipping cost was posted in Exact: nothing to reverse."}
            )
        entry = self._post(client, obj, reverse=True, on_order_lines=object_type != STORE_COST_POSTING)
        return WriteResult(
            str(entry["EntryID"]), "reversed", data={"reverses": target_id, "entry_number": entry.get("EntryNumber")}
        )

    def _post_store_cost(self, client: ExactClient, shipment: Shipment, target_id: str | None) -> WriteResult:
        """A store shipment's cost, posted once: a known entry (Link, or found by its tag before this
        call) is left as it is; posted entries are not edited (a changed cost comes as a void and a
        new shipment). Nothing is written back on any Exact order: the store's order is not one."""
        if target_id:
            return WriteResult(target_id, "unchanged")
        if shipment.total_cost <= 0:  # e.g. marked shipped without a label: no cost, no entry
            return WriteResult("", "skipped", data={"reason": "The shipment has no shipping cost to post."})
        entry = self._post(client, shipment, reverse=False, on_order_lines=False)
        return WriteResult(str(entry["EntryID"]), "created", data={"entry_number": entry.get("EntryNumber")})
