"""Canonical objects → Zoho Books JSON. Pure functions: no I/O, no database.

Invoices (ZOHO.md §5): `reference_number` = order number; one line per order line with `item_id`
(resolved by the adapter from SKU, then name) plus the store's name, `rate` and `quantity`;
`shipping_charge`; all discounts as one entity-level amount `discount`; and `adjustment` for the
rest, so that Zoho's arithmetic (sum of rounded line totals − discount + shipping + adjustment)
lands exactly on the order total. Tax is carried in the adjustment ("Tax"), not through Zoho tax ids:
a store's tax is already computed to the cent, and Zoho would recompute it from percentages and
could miss by a cent. Merchants see it as a labelled adjustment line on the invoice.

Journals: a shipment's cost as balanced lines (debit the expense account, credit the offset account,
both chosen in the flow options), reference = order number, a marker in the notes naming the shipment
so it can be found again; a voided shipment is reversed by the same lines with sides swapped.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from connector.canonical import Address, Customer, LineItem, Order, Refund, Shipment, money

CENT = Decimal("0.01")


class MappingError(ValueError):
    """The canonical object cannot become a valid Zoho document; the message says why."""


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_key(line: LineItem) -> str:
    """How a line finds its Zoho item: the SKU, else its name."""
    return line.sku.strip() if line.sku.strip() else "name:" + line.name.strip().lower()


def shipment_marker(shipment: Shipment, *, reversal: bool = False) -> str:
    return f"[{'shipment-void' if reversal else 'shipment'}:{shipment.source_id}]"


# --- Invoices -----------------------------------------------------------------------------------


def invoice_lines(order: Order, item_ids: dict[str, str]) -> list[dict]:
    lines = []
    for line in order.lines:
        if line.quantity <= 0:
            continue  # Zoho refuses zero quantities; such a line adds nothing to the total
        entry: dict = {
            "name": line.name[:100] or line.sku or "Item",
            "rate": line.unit_price,
            "quantity": line.quantity,
        }
        item_id = item_ids.get(line_key(line))
        if item_id:
            entry["item_id"] = item_id
        if line.sku:
            entry["description"] = f"SKU {line.sku}"
        lines.append(entry)
    if not lines:
        raise MappingError(f"Order {order.number} has no lines with a quantity; Zoho needs at least one line item.")
    return lines


def order_to_invoice(order: Order, *, customer_id: str, item_ids: dict[str, str]) -> dict:
    """The invoice body for an order; `item_ids` maps `line_key(line)` → Zoho item id."""
    lines = invoice_lines(order, item_ids)
    sub_total = sum((cents(money_exact(entry["rate"]) * entry["quantity"]) for entry in lines), Decimal("0"))
    discount = max(Decimal("0.00"), money(order.discount + sum((ln.discount for ln in order.lines), Decimal("0"))))
    shipping = money(order.shipping)
    adjustment = money(order.total) - (sub_total - discount + shipping)
    tax = money(order.tax + sum((ln.tax for ln in order.lines), Decimal("0")))
    payload: dict = {
        "customer_id": customer_id,
        "reference_number": order.number,
        "date": order.order_date.date().isoformat(),
        "line_items": lines,
        "discount": discount,
        "discount_type": "entity_level",
        "is_discount_before_tax": True,
        "shipping_charge": str(shipping),  # typed string in the OAS
        "adjustment": adjustment,
        "adjustment_description": _adjustment_label(adjustment, tax),
    }
    notes = (order.notes or "").strip()
    if notes:
        payload["notes"] = notes[:5000]
    return payload


def money_exact(value: Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _adjustment_label(adjustment: Decimal, tax: Decimal) -> str:
    if adjustment == 0:
        return ""
    if adjustment == tax:
        return "Tax"
    if tax:
        return "Tax and rounding"
    return "Rounding"


def zoho_invoice_total(payload: dict) -> Decimal:
    """Zoho's arithmetic for an invoice without tax ids: rounded line totals − discount + shipping + adjustment."""
    sub_total = sum(
        (cents(money_exact(line["rate"]) * money_exact(line["quantity"])) for line in payload["line_items"]),
        Decimal("0"),
    )
    return cents(
        sub_total
        - money_exact(payload.get("discount", 0))
        + money_exact(payload.get("shipping_charge", "0"))
        + money_exact(payload.get("adjustment", 0))
    )


# --- Contacts -----------------------------------------------------------------------------------


def address_to_zoho(address: Address | None) -> dict:
    if address is None:
        return {}
    street2 = ", ".join(part for part in (address.street2, address.street3) if part)
    fields = {
        "attention": address.name or address.company,
        "address": address.street1,
        "street2": street2,
        "city": address.city,
        "state": address.state,
        "zip": address.postal_code,
        "country": address.country,
        "phone": address.phone,
    }
    return {k: v[:100] for k, v in fields.items() if v}


def contact_name(customer: Customer) -> str:
    return (customer.name or customer.company or customer.email or customer.key).strip()[:200]


REFUND_ITEM = "Refund"


def credit_note_number(invoice_number: str, refund: Refund) -> str:
    """One credit note per refund, numbered from the invoice: the number makes a repeat a Duplicate."""
    return f"CN-{invoice_number}-{refund.source_id}"[:100]


def refund_to_credit_note(
    order: Order, refund: Refund, *, customer_id: str, item_id: str, invoice_number: str, when: date
) -> dict:
    """A Zoho credit note for one refund: a single "Refund" line of the refunded amount (tax
    included, as the store refunded it), so the credit equals the money returned to the cent."""
    text = f"Refund {refund.source_id} of order {order.number} (invoice {invoice_number})"
    if refund.reason:
        text += f": {refund.reason}"
    return {
        "customer_id": customer_id,
        "date": when.isoformat(),
        "reference_number": order.number[:100],
        "line_items": [
            {
                "item_id": item_id,
                "name": REFUND_ITEM,
                "description": text[:2000],
                "rate": str(money(refund.amount)),
                "quantity": "1",
            }
        ],
        "notes": text[:5000],
    }


def contact_key(customer_key: str, currency: str | None = None) -> str:
    """A contact's Link key: the customer key, plus the currency for a contact kept in a foreign one."""
    return f"{customer_key}|{currency}" if currency else customer_key


def customer_to_contact(
    customer: Customer, *, include_person: bool = True, currency: tuple[str, str] | None = None
) -> dict:
    """A Zoho contact. `currency` = (code, Zoho currency_id) for a contact kept in a foreign currency:
    named "<name> (<code>)" so it never clashes with the buyer's base-currency contact."""
    name = contact_name(customer)
    if not name:
        raise MappingError("The customer has no name, company or email to name a Zoho contact.")
    if currency:
        name = f"{name} ({currency[0]})"[:200]
    payload: dict = {
        "contact_name": name,
        "contact_type": "customer",
        "customer_sub_type": "business" if customer.company else "individual",
    }
    if customer.company:
        payload["company_name"] = customer.company[:200]
    billing = address_to_zoho(customer.billing)
    shipping = address_to_zoho(customer.shipping)
    if billing:
        payload["billing_address"] = billing
    if shipping:
        payload["shipping_address"] = shipping
    if include_person and (customer.email or customer.name):
        first, _, last = (customer.name or "").strip().partition(" ")
        person = {"first_name": first, "last_name": last, "email": customer.email, "is_primary_contact": True}
        if customer.phone:
            person["phone"] = customer.phone
        payload["contact_persons"] = [{k: v for k, v in person.items() if v != ""}]
    if currency:
        payload["currency_id"] = currency[1]
    return payload


# --- Shipments ----------------------------------------------------------------------------------


def shipment_description(shipment: Shipment) -> str:
    parts = [f"Shipment {shipment.source_id} of order {shipment.order_number}"]
    how = " ".join(p for p in (shipment.carrier, shipment.service) if p)
    if how:
        parts.append(f"via {how}")
    if shipment.tracking_number:
        parts.append(f"tracking {shipment.tracking_number}")
    return ", ".join(parts)


def shipment_to_journal(
    shipment: Shipment,
    *,
    expense_account_id: str,
    offset_account_id: str,
    insurance_account_id: str = "",
    reversal: bool = False,
    journal_date: date | None = None,
) -> dict:
    """A balanced journal: debit the cost accounts, credit the offset (sides swapped for a reversal)."""
    if not expense_account_id or not offset_account_id:
        raise MappingError("Choose the expense and offset accounts for shipment journals in the flow options.")
    total = shipment.total_cost
    if total <= 0:
        raise MappingError(f"Shipment {shipment.source_id} has no cost to post.")
    debit, credit = ("credit", "debit") if reversal else ("debit", "credit")
    description = shipment_description(shipment)
    lines = []
    if money(shipment.shipping_cost):
        lines.append((expense_account_id, debit, money(shipment.shipping_cost), "Shipping cost"))
    if money(shipment.insurance_cost):
        lines.append((insurance_account_id or expense_account_id, debit, money(shipment.insurance_cost), "Insurance"))
    lines.append((offset_account_id, credit, total, description[:500]))
    when = journal_date or shipment.ship_date or (shipment.created_at.date() if shipment.created_at else None)
    if when is None:
        raise MappingError(f"Shipment {shipment.source_id} has no ship date for the journal.")
    label = "Reversal of voided shipment" if reversal else "Shipping cost"
    return {
        "journal_date": when.isoformat(),
        "reference_number": shipment.order_number,
        "notes": f"{label}: {description}. {shipment_marker(shipment, reversal=reversal)}"[:2000],
        "journal_type": "both",
        "line_items": [
            {"account_id": account, "debit_or_credit": side, "amount": amount, "description": text}
            for account, side, amount, text in lines
        ],
    }


def journal_balance(payload: dict) -> Decimal:
    """Debits minus credits: zero for every journal this module builds."""
    total = Decimal("0")
    for line in payload["line_items"]:
        amount = money_exact(line["amount"])
        total += amount if line["debit_or_credit"] == "debit" else -amount
    return total


def shipment_comment(shipment: Shipment, *, reversal: bool = False) -> str:
    """The invoice comment in comment mode (shipping cost, carrier, service, tracking)."""
    currency = f" {shipment.currency}" if shipment.currency else ""
    if reversal:
        return f"{shipment_description(shipment)} was voided; its cost is reversed. {shipment_marker(shipment, reversal=True)}"
    when = f" on {shipment.ship_date.isoformat()}" if shipment.ship_date else ""
    cost = f"Shipping cost {money(shipment.shipping_cost)}{currency}"
    if money(shipment.insurance_cost):
        cost += f", insurance {money(shipment.insurance_cost)}{currency}"
    return f"{shipment_description(shipment)}{when}. {cost}. {shipment_marker(shipment)}"


# --- Sales orders -------------------------------------------------------------------------------
# Per-line overrides come from the store line's metadata (the Order Desk convention): `description`
# (else the item name), `tax_id` (a Zoho tax id: Zoho computes that line's tax), `zohobooks_item_id`
# (used as the item, skipping the SKU lookup).

ITEM_ID_KEY = "zohobooks_item_id"


def line_override(line: LineItem, key: str) -> str:
    value = (line.metadata or {}).get(key)
    return str(value).strip() if value not in (None, "") else ""


def sales_order_lines(order: Order, item_ids: dict[str, str]) -> list[dict]:
    lines = []
    for line in order.lines:
        if line.quantity <= 0:
            continue
        item_id = line_override(line, ITEM_ID_KEY) or item_ids.get(line_key(line), "")
        if not item_id:
            raise MappingError(f"Line {line.sku or line.name!r} of order {order.number} has no Zoho item.")
        entry: dict = {
            "item_id": item_id,
            "name": line.name[:100] or line.sku or "Item",
            "description": (line_override(line, "description") or line.name)[:2000],
            "rate": line.unit_price,
            "quantity": line.quantity,
        }
        tax_id = line_override(line, "tax_id")
        if tax_id:
            entry["tax_id"] = tax_id
        lines.append(entry)
    if not lines:
        raise MappingError(f"Order {order.number} has no lines with a quantity; Zoho needs at least one line item.")
    return lines


def order_notes(order: Order) -> str:
    """The customer-visible notes of a sales order: the store's customer note."""
    return (order.notes or "").strip()[:5000]


def order_to_sales_order(
    order: Order, *, customer_id: str, item_ids: dict[str, str], zoho_tax: Decimal = Decimal("0")
) -> dict:
    """The sales-order body. As for invoices, discounts are one entity-level amount and the
    `adjustment` makes Zoho's total land on the order total to the cent. `zoho_tax` is the tax Zoho
    itself adds for lines carrying a `tax_id` (0 on the first write; the adapter passes Zoho's own
    `tax_total` back when a correction is needed), so that tax is not counted twice."""
    lines = sales_order_lines(order, item_ids)
    sub_total = sum((cents(money_exact(e["rate"]) * money_exact(e["quantity"])) for e in lines), Decimal("0"))
    discount = max(Decimal("0.00"), money(order.discount + sum((ln.discount for ln in order.lines), Decimal("0"))))
    shipping = money(order.shipping)
    adjustment = money(order.total) - (sub_total - discount + shipping + money(zoho_tax))
    tax = money(order.tax + sum((ln.tax for ln in order.lines), Decimal("0"))) - money(zoho_tax)
    payload: dict = {
        "customer_id": customer_id,
        "reference_number": order.number,
        "date": order.order_date.date().isoformat(),
        "line_items": lines,
        "discount": discount,
        "discount_type": "entity_level",
        "is_discount_before_tax": True,
        "shipping_charge": shipping,  # a number in the sales-order OAS
        "adjustment": adjustment,
        "adjustment_description": _adjustment_label(adjustment, tax),
        "notes": order_notes(order),
    }
    if order.ship_date:
        payload["shipment_date"] = order.ship_date.isoformat()
    return payload


def zoho_sales_order_total(payload: dict, zoho_tax: Decimal = Decimal("0")) -> Decimal:
    """Zoho's arithmetic for the body above: rounded line totals − discount + shipping + adjustment + tax."""
    return cents(zoho_invoice_total(payload) + money_exact(zoho_tax))


def internal_note_comment(order: Order) -> str:
    """Internal notes never go on the customer's document: they become a comment on the sales order."""
    text = (order.internal_notes or "").strip()
    return f"Internal note from the store (order {order.number}): {text}"[:2000] if text else ""
