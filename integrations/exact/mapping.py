"""Pure mappings between Exact Online documents and the canonical model (no I/O).

Sales orders: EXACT.md §6.1-6.4 (Status 12 open, 20 partial, 21 complete, 45 cancelled).
Journal entries: §6.6 (positive amounts debit, negative credit; the lines must sum to zero;
`CostCenter` is a code, `GLAccount`/`Project` are GUIDs; `AmountFC` with the company currency).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal

from connector.canonical import Address, Customer, LineItem, Order, OrderStatus, Shipment, money

STATUS_OPEN, STATUS_PARTIAL, STATUS_COMPLETE, STATUS_CANCELLED = 12, 20, 21, 45


class MappingError(ValueError):
    """The Exact document cannot be mapped; the message says what is missing."""


def _date(value) -> datetime | None:
    from integrations.exact.client import parse_date  # pure helper, no I/O

    return parse_date(value)


def order_status(so: dict) -> OrderStatus:
    status = so.get("Status")
    if status == STATUS_CANCELLED:
        return OrderStatus.CANCELLED
    if status == STATUS_COMPLETE or so.get("DeliveryStatus") == STATUS_COMPLETE:
        return OrderStatus.SHIPPED
    return OrderStatus.OPEN


def address_from_exact(addr: dict | None, *, name: str = "", company: str = "") -> Address | None:
    if not addr:
        return None
    return Address(
        name=str(addr.get("ContactName") or name or ""),
        company=company,
        street1=str(addr.get("AddressLine1") or ""),
        street2=str(addr.get("AddressLine2") or ""),
        street3=str(addr.get("AddressLine3") or ""),
        city=str(addr.get("City") or ""),
        state=str(addr.get("State") or ""),
        postal_code=str(addr.get("Postcode") or ""),
        country=str(addr.get("Country") or "").strip().upper()[:2],
        phone=str(addr.get("Phone") or ""),
    )


def customer_from_account(account: dict | None) -> Customer | None:
    if not account:
        return None
    email = str(account.get("Email") or "").strip().lower()
    code = str(account.get("Code") or "").strip()  # 18 chars with leading spaces (§5.1)
    name = str(account.get("Name") or "")
    return Customer(
        key=email or f"exact-account:{code or account.get('ID')}",
        email=email,
        name=name,
        company=name,
        phone=str(account.get("Phone") or ""),
        billing=address_from_exact(account, name=name, company=name),
        source_id=str(account.get("ID") or ""),
        modified_at=_date(account.get("Modified")),
    )


def line_from_exact(line: dict) -> LineItem:
    quantity = Decimal(str(line.get("Quantity") or 0))
    unit_price = money(line.get("UnitPrice") if line.get("NetPrice") is None else line.get("NetPrice"))
    gross = money(quantity * unit_price)
    amount = money(line.get("AmountFC")) if line.get("AmountFC") is not None else gross
    return LineItem(
        sku=str(line.get("ItemCode") or "").strip(),
        name=str(line.get("ItemDescription") or line.get("Description") or ""),
        quantity=quantity,
        unit_price=unit_price,
        discount=max(Decimal("0.00"), gross - amount),
        tax=money(line.get("VATAmount")),
        line_id=str(line.get("ID") or ""),
        metadata={k: str(line[k]) for k in ("Project", "CostCenter", "LineNumber") if line.get(k)},
    )


def order_from_exact(so: dict, lines: list[dict], account: dict | None, delivery: dict | None) -> Order:
    order_id = str(so.get("OrderID") or "")
    if not order_id or so.get("OrderNumber") in (None, ""):
        raise MappingError("Exact sales order without OrderID or OrderNumber")
    order_date = _date(so.get("OrderDate")) or _date(so.get("Created"))
    if order_date is None:
        raise MappingError(f"Exact sales order {so.get('OrderNumber')} has no OrderDate")
    customer = customer_from_account(account)
    company = str(so.get("DeliverToName") or so.get("OrderedByName") or "")
    ship_to = address_from_exact(delivery, name=company, company=company)
    mapped = tuple(line_from_exact(line) for line in sorted(lines, key=lambda x: x.get("LineNumber") or 0))
    delivery_date = _date(so.get("DeliveryDate"))
    return Order(
        number=str(so["OrderNumber"]),
        source_id=order_id,
        key=order_id,
        status=order_status(so),
        currency=str(so.get("Currency") or "EUR"),
        order_date=order_date,
        modified_at=_date(so.get("Modified")),
        customer=customer,
        bill_to=customer.billing if customer else None,
        ship_to=ship_to,
        lines=mapped,
        total=money(so.get("AmountFC")),
        notes=str(so.get("Remarks") or ""),
        internal_notes=str(so.get("Description") or ""),
        ship_date=delivery_date.date() if delivery_date else None,
    )


# --- Shipping cost → general journal entry --------------------------------------------------------


@dataclass(frozen=True)
class JournalOptions:
    expense_gl_account: str  # GUID of the shipping-cost GL account (debit)
    offset_gl_account: str  # GUID of the offset (credit), e.g. the carrier's clearing account
    journal_code: str  # a journal of Type 90
    project_cost_centers: dict[str, str] = field(default_factory=dict)  # project GUID → cost centre code
    default_cost_center: str = ""


def allocate(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Split `total` (cents) over `weights` pro rata; the parts sum exactly to `total`, the remainder
    lands on the last part. Zero or negative weights (trade-in lines) share nothing unless every
    weight is zero, when the split is even."""
    total = money(total)
    if not weights:
        return []
    usable = [w if w > 0 else Decimal(0) for w in weights]
    base = sum(usable, Decimal(0))
    if base == 0:
        usable, base = [Decimal(1)] * len(weights), Decimal(len(weights))
    parts = [(total * w / base).quantize(Decimal("0.01"), rounding=ROUND_DOWN) for w in usable[:-1]]
    parts.append(total - sum(parts, Decimal("0.00")))
    return parts


def shipment_reference(shipment: Shipment) -> str:
    """The tag written into each line description; `find` searches for it."""
    return f"SHIP-{shipment.source_id}"


def journal_entry_from_shipment(
    shipment: Shipment, order_lines: tuple[LineItem, ...], options: JournalOptions, *, reverse: bool = False
) -> dict:
    """A balanced general journal entry: the cost (+ insurance) debited on the expense account, split
    over the order's lines pro rata to their amounts (each with its project's cost centre), and one
    credit on the offset account. `reverse` flips every sign (a voided shipment)."""
    cost = _postable_cost(shipment, options)
    sign = Decimal(-1) if reverse else Decimal(1)
    when = (shipment.ship_date or datetime.now(UTC).date()).isoformat()
    entry_lines = _expense_rows(shipment, order_lines, options, cost, sign, when)
    entry_lines.append(
        {
            "GLAccount": options.offset_gl_account,
            "AmountFC": float(-cost * sign),
            "Date": when,
            "Description": f"Shipping cost {shipment_reference(shipment)} SO {shipment.order_number}"[:80],
        }
    )
    payload = {"JournalCode": options.journal_code, "GeneralJournalEntryLines": entry_lines}
    if shipment.currency:
        payload["Currency"] = shipment.currency
    if reverse:
        payload["Reversal"] = True
    return payload


def _postable_cost(shipment: Shipment, options: JournalOptions) -> Decimal:
    """The shipment's cost to post; a MappingError when there is none or the accounts are not mapped."""
    cost = shipment.total_cost
    if cost <= 0:
        raise MappingError(f"Shipment {shipment.source_id} has no shipping cost to post")
    if not options.expense_gl_account or not options.offset_gl_account or not options.journal_code:
        raise MappingError("Map the shipping expense and offset GL accounts and the journal first")
    return cost


def _expense_rows(
    shipment: Shipment,
    order_lines: tuple[LineItem, ...],
    options: JournalOptions,
    cost: Decimal,
    sign: Decimal,
    when: str,
) -> list[dict]:
    """The cost over the order's lines pro rata to their amounts (one row when the order has none);
    a line whose share is zero gets no row."""
    carrier = " ".join(x for x in (shipment.carrier, shipment.service, shipment.tracking_number) if x)
    lines = order_lines or (LineItem(sku="", name="shipping", quantity=Decimal(1), unit_price=cost),)
    parts = allocate(cost, [line.net for line in lines])
    return [
        _expense_row(line, part * sign, options, when, f"{carrier} SO {shipment.order_number} {line.sku}")
        for line, part in zip(lines, parts, strict=True)
        if part != 0
    ]


def cost_center_for(line: LineItem, options: JournalOptions) -> str:
    """The cost centre of the line's project (its exact name, else lower-cased), else the default."""
    project = line.metadata.get("Project", "")
    centres = options.project_cost_centers
    cost_center = (centres.get(project) or centres.get(project.lower(), "")) if project else ""
    return cost_center or options.default_cost_center


def _expense_row(line: LineItem, amount: Decimal, options: JournalOptions, when: str, description: str) -> dict:
    """One debit (credit when reversing) of the expense account for one order line's share."""
    row = {
        "GLAccount": options.expense_gl_account,
        "AmountFC": float(amount),
        "Date": when,
        "Description": description.strip()[:80],
    }
    cost_center = cost_center_for(line, options)
    if cost_center:
        row["CostCenter"] = cost_center
    project = line.metadata.get("Project", "")
    if project:
        row["Project"] = project
    return row


def entry_balance(payload: dict) -> Decimal:
    return sum((money(line["AmountFC"]) for line in payload["GeneralJournalEntryLines"]), Decimal("0.00"))


# --- Tracking back on the sales order -------------------------------------------------------------

#: Sales orders have no tracking field (EXACT.md §6.10); the merchant picks one of these text fields.
TRACKING_FIELDS = ("Remarks", "Description", "YourRef")
DEFAULT_TRACKING_FIELD = "Remarks"
NO_TRACKING_FIELD = "none"  # the merchant wants tracking written nowhere


def tracking_note(shipment: Shipment) -> str:
    carrier = " ".join(x for x in (shipment.carrier, shipment.service) if x)
    return f"Tracking: {carrier} {shipment.tracking_number}".replace("  ", " ").strip()


def with_tracking(current: str, shipment: Shipment, field: str = DEFAULT_TRACKING_FIELD) -> str | None:
    """The field's new text with the tracking note appended, or None when it is already there.
    YourRef is one line; the others are free text and get the note on a line of its own."""
    current = current or ""
    if not shipment.tracking_number or shipment.tracking_number in current:
        return None
    note = tracking_note(shipment) if field != "YourRef" else shipment.tracking_number
    if not current.strip():
        return note
    return f"{current.rstrip()}{' ' if field == 'YourRef' else chr(10)}{note}"


# --- Goods deliveries (flow option `exact_create_goods_delivery`) ---------------------------------


def _quantity(value) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def delivered_quantities(shipment: Shipment, rows: list[dict]) -> dict[str, Decimal]:
    """What this shipment delivers, by sales order line ID, from the order `rows` in line order:
    each shipped SKU fills the open quantity of its lines in turn; no shipment lines → all that is
    open. More of a SKU than is open (or a SKU not on the order) is a MappingError."""
    still_open = {str(r["ID"]): _quantity(r.get("Quantity")) - _quantity(r.get("QuantityDelivered")) for r in rows}
    if not shipment.lines:
        return {line_id: q for line_id, q in still_open.items() if q > 0}
    shipped: dict[str, Decimal] = {}
    for sku, quantity in _shipped_by_sku(shipment).items():
        left = _fill_open_lines(sku, quantity, rows, still_open, shipped)
        if left > 0:
            raise MappingError(
                f"Shipment {shipment.source_id} ships {left} more of {sku or 'an item without SKU'} "
                "than the Exact sales order has open."
            )
    return shipped


def _shipped_by_sku(shipment: Shipment) -> dict[str, Decimal]:
    """The shipment's quantities added up per SKU, in the order the SKUs first appear."""
    wanted: dict[str, Decimal] = {}
    for line in shipment.lines:
        wanted[line.sku.strip()] = wanted.get(line.sku.strip(), Decimal(0)) + _quantity(line.quantity)
    return wanted


def _fill_open_lines(
    sku: str, quantity: Decimal, rows: list[dict], still_open: dict[str, Decimal], shipped: dict[str, Decimal]
) -> Decimal:
    """Put `quantity` of `sku` on the order lines of that item in turn, each up to what it still has
    open, adding to `shipped`; what did not fit."""
    for row in rows:
        line_id = str(row["ID"])
        if quantity <= 0 or str(row.get("ItemCode") or "").strip() != sku:
            continue
        take = min(quantity, still_open[line_id] - shipped.get(line_id, Decimal(0)))
        if take > 0:
            shipped[line_id] = shipped.get(line_id, Decimal(0)) + take
            quantity -= take
    return quantity


def goods_delivery_from_shipment(shipment: Shipment, order_lines: list[dict], tag: str) -> dict:
    """The POST body of `salesorder/GoodsDeliveries` for what this shipment shipped (EXACT.md §6.10).

    The shipment's lines name SKUs and quantities; each is matched to the order's lines with that
    `ItemCode` in line order, a line taking at most what is still open (`Quantity` minus
    `QuantityDelivered`). A shipment without lines ships everything still open. A SKU that is not on
    the order, or more than is open, is a MappingError: a goods delivery moves stock, so we never guess."""
    rows = sorted(order_lines, key=lambda r: int(r.get("LineNumber") or 0))
    shipped = delivered_quantities(shipment, rows)
    if not shipped:
        raise MappingError(f"The Exact sales order of shipment {shipment.source_id} has nothing left to deliver.")
    carrier = " ".join(x for x in (shipment.carrier, shipment.service) if x)
    body: dict = {
        "Description": f"{tag} {carrier}".strip()[:60],
        "GoodsDeliveryLines": [
            {"SalesOrderLineID": str(r["ID"]), "QuantityDelivered": float(shipped[str(r["ID"])])}
            for r in rows
            if str(r["ID"]) in shipped
        ],
    }
    if shipment.tracking_number:
        body["TrackingNumber"] = shipment.tracking_number
    if shipment.ship_date:
        body["DeliveryDate"] = f"{shipment.ship_date.isoformat()}T00:00:00"
    return body
