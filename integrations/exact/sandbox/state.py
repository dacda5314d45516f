"""Sandbox Exact companies: creation and seed data (used by the consent page, tests and the demo)."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.exact.sandbox.models import SandboxExactDivision, SandboxExactEntity, SandboxExactUser

COUNTRY_CODES = ("nl", "be", "uk", "us", "de", "es", "fr")
ACCESS_SECONDS = 600
#: Entity sets whose changes notify webhook subscribers, and the topic they notify (EXACT.md §7).
WEBHOOK_ENTITIES = {"SalesOrders": "SalesOrders"}
REFRESH_DAYS = 30


def host(country: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/sandbox/exact/{country}"


def odate(value: datetime) -> str:
    return f"/Date({int(value.timestamp() * 1000)})/"


def entry_date(value) -> str:
    """A date as Exact stores and answers it: `/Date(ms)/` at midnight (EXACT.md §5.2); a POST may send
    "YYYY-MM-DD" or an ISO datetime; none is today. Raises ValueError for anything else."""
    if isinstance(value, str) and re.match(r"^/Date\(-?\d+\)/$", value):
        return value
    day = date.fromisoformat(str(value)[:10]) if value else timezone.now().date()
    return odate(datetime.combine(day, time.min, tzinfo=UTC))


def new_guid() -> str:
    return str(uuid.uuid4())


def put(division: SandboxExactDivision, entity: str, data: dict, *, guid: str | None = None) -> SandboxExactEntity:
    """Create or replace an entity row, stamping Modified and the sync Timestamp."""
    now = timezone.now()
    key_field = {
        "GeneralJournalEntries": "EntryID",
        "GoodsDeliveries": "EntryID",
        "SalesOrders": "OrderID",
        "SalesInvoices": "InvoiceID",
    }.get(entity, "ID")
    guid = guid or data.get(key_field) or new_guid()
    stamp = SandboxExactEntity.objects.filter(division=division).count() + int(now.timestamp() * 1000)
    data = {**data, key_field: guid, "Modified": odate(now), "Division": division.code}
    row, _ = SandboxExactEntity.objects.update_or_create(
        division=division,
        entity=entity,
        guid=guid,
        defaults={"data": data, "modified_at": now, "timestamp": stamp},
    )
    if entity in WEBHOOK_ENTITIES:
        from integrations.exact.sandbox import webhooks

        webhooks.notify(division, WEBHOOK_ENTITIES[entity], guid, "Update")  # creates arrive as Update too
    return row


def delete_sales_order(division: SandboxExactDivision, order_id: str) -> None:
    """Remove a sales order and its lines; subscribers get a `Delete` notification."""
    from integrations.exact.sandbox import webhooks

    with transaction.atomic():
        lines = [
            r.pk
            for r in SandboxExactEntity.objects.filter(division=division, entity="SalesOrderLines")
            if r.data.get("OrderID") == order_id
        ]
        SandboxExactEntity.objects.filter(pk__in=lines).delete()
        SandboxExactEntity.objects.filter(division=division, entity="SalesOrders", guid=order_id).delete()
        webhooks.notify(division, "SalesOrders", order_id, "Delete")


def _next_division_code() -> int:
    last = SandboxExactDivision.objects.order_by("-code").values_list("code", flat=True).first()
    return (last or 100000) + 1 + secrets.randbelow(50)


@transaction.atomic
def create_company(country: str, email: str, name: str, *, organization, divisions: int = 1, seed: bool = True):
    """A sandbox user (owned by `organization` when new) with `divisions` companies, each seeded with
    GL accounts, a journal, cost centres, a project, an item, a customer with a delivery address and
    two sales orders."""
    user, _ = SandboxExactUser.objects.get_or_create(
        country=country, email=email, defaults={"full_name": name, "organization": organization}
    )
    created = []
    for n in range(divisions):
        division = SandboxExactDivision.objects.create(
            user=user, code=_next_division_code(), description=name if n == 0 else f"{name} {n + 1}"
        )
        if seed:
            seed_company(division)
        created.append(division)
    if user.current_division is None:
        user.current_division = created[0].code
        user.save(update_fields=["current_division"])
    return user, created


def find(division: SandboxExactDivision, entity: str, **match) -> dict | None:
    for row in SandboxExactEntity.objects.filter(division=division, entity=entity):
        if all(row.data.get(k) == v for k, v in match.items()):
            return row.data
    return None


def seed_company(division: SandboxExactDivision) -> None:
    for code, description, kind in (
        ("4600", "Shipping costs", 120),
        ("1600", "Carrier clearing", 40),
        ("8000", "Revenue", 110),
    ):
        put(division, "GLAccounts", {"Code": code, "Description": description, "Type": kind, "IsBlocked": False})
    put(division, "Journals", {"Code": "90", "Description": "Memoriaal", "Type": 90, "IsBlocked": False})
    put(division, "Journals", {"Code": "70", "Description": "Verkoopboek", "Type": 20, "IsBlocked": False})
    for code, description, percentage in (
        ("2", "BTW hoog 21%", 0.21),
        ("1", "BTW laag 9%", 0.09),
        ("0", "Geen BTW", 0),
    ):
        put(division, "VATCodes", {"Code": code, "Description": description, "Percentage": percentage})
    for code, description in (("CC100", "Webshop"), ("CC200", "Wholesale")):
        put(division, "Costcenters", {"Code": code, "Description": description})
    project = put(division, "Projects", {"Code": "P-WEB", "Description": "Web orders", "Type": 4}).guid
    item = put(division, "Items", {"Code": "MUG-01", "Description": "Blue mug", "StandardSalesPrice": 12.5})
    account = put(
        division,
        "Accounts",
        {
            "Code": "25".rjust(18),
            "Name": "De Vries BV",
            "Email": "inkoop@devries.example",
            "Phone": "+31 20 555 0101",
            "AddressLine1": "Kalverstraat 1",
            "City": "Amsterdam",
            "Postcode": "1012 NX",
            "Country": "NL",
            "Status": "C",
        },
    ).guid
    delivery = put(
        division,
        "Addresses",
        {
            "Account": account,
            "Type": 4,
            "Main": True,
            "AddressLine1": "Damrak 70",
            "City": "Amsterdam",
            "Postcode": "1012 LM",
            "Country": "NL",
            "ContactName": "Sanne de Vries",
        },
    ).guid
    for number, quantities in ((1, (2, 1)), (2, (5,))):
        add_sales_order(division, number, account, delivery, item.guid, quantities, project=project)


def add_sales_order(division, number, account, delivery, item, quantities, *, project="", status=12, price=12.5):
    order_id = new_guid()
    amount = 0.0
    for n, qty in enumerate(quantities, start=1):
        line_amount = round(qty * price, 2)
        amount += line_amount
        put(
            division,
            "SalesOrderLines",
            {
                "OrderID": order_id,
                "OrderNumber": number,
                "LineNumber": n,
                "Item": item,
                "ItemCode": "MUG-01",
                "ItemDescription": "Blue mug",
                "Description": "Blue mug",
                "Quantity": qty,
                "UnitPrice": price,
                "NetPrice": price,
                "Discount": 0,
                "AmountFC": line_amount,
                "VATAmount": round(line_amount * 0.21, 2),
                "Project": project or None,
                "CostCenter": None,
            },
        )
    today = datetime.now(UTC)
    return put(
        division,
        "SalesOrders",
        {
            "OrderID": order_id,
            "OrderNumber": number,
            "OrderDate": odate(today),
            "DeliveryDate": odate(today + timedelta(days=2)),
            "Description": f"Webshop order {number}",
            "YourRef": f"WEB-{number}",
            "Remarks": "",
            "Currency": "EUR",
            "AmountFC": round(amount * 1.21, 2),
            "AmountFCExclVat": round(amount, 2),
            "AmountDiscount": 0,
            "OrderedBy": account,
            "OrderedByName": "De Vries BV",
            "DeliverTo": account,
            "DeliverToName": "De Vries BV",
            "DeliveryAddress": delivery,
            "InvoiceTo": account,
            "ShippingMethodDescription": "UPS Standard",
            "Status": status,
            "DeliveryStatus": 12,
            "Created": odate(today),
        },
        guid=order_id,
    )
