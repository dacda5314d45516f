"""Sandbox helpers shared by the accounts server, the Books API, the demo and the tests."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.zoho.sandbox.models import SandboxZohoDocument, SandboxZohoOrg, SandboxZohoUser

REGION_CODES = ("us", "eu", "in", "au", "jp", "ca", "cn", "sa", "uk")
CODE_LIFETIME = timedelta(minutes=2)  # ZOHO.md §1.2
ACCESS_LIFETIME = timedelta(hours=1)  # ZOHO.md §1.3
MAX_ACCESS_PER_REFRESH = 10  # an 11th access token invalidates the oldest (ZOHO.md §1.3)
MAX_REFRESH_PER_USER = 20  # per client: a 21st refresh token silently invalidates the oldest (ZOHO.md §1.3)
REFRESH_THROTTLE = (10, timedelta(minutes=10))  # 10 access-token requests per 10 minutes per refresh token

DEFAULT_ACCOUNTS = (
    ("Shipping Expense", "expense", "6100"),
    ("Postage", "expense", "6110"),
    ("Accounts Payable", "accounts_payable", "2000"),
    ("Undeposited Funds", "cash", "1010"),
    ("Petty Cash", "cash", "1020"),
    ("Sales", "income", "4000"),
    ("Shipping Charge", "income", "4100"),
)
DEFAULT_TAXES = (("Sales Tax", "8.25"), ("Reduced Tax", "5"))


def new_id() -> str:
    """Zoho ids are long digit strings (ZOHO.md §8): parse them as strings, never numbers."""
    return str(460000000000000000 + secrets.randbelow(10**17))


def public_base() -> str:
    return settings.PUBLIC_BASE_URL


def accounts_server(region: str) -> str:
    return f"{public_base()}/sandbox/zoho/{region}/accounts"


def api_domain(region: str) -> str:
    return f"{public_base()}/sandbox/zoho/{region}"


def now_zoho(value=None) -> str:
    """Zoho's timestamp format, e.g. 2013-11-18T02:02:51-0800 (ZOHO.md §4)."""
    return (value or timezone.now()).strftime("%Y-%m-%dT%H:%M:%S%z")


@transaction.atomic
def create_org(region: str, email: str, name: str = "", *, organization, currency_code: str = "USD") -> SandboxZohoOrg:
    """A sandbox Zoho user (created when new, owned by `organization`) with one more Books
    organisation, chart and taxes seeded."""
    user, _ = SandboxZohoUser.objects.get_or_create(
        region=region, email=email.lower(), defaults={"name": email, "organization": organization}
    )
    org = SandboxZohoOrg.objects.create(
        user=user,
        organization_id=str(700000000 + secrets.randbelow(10**8)),
        name=name or f"{email.split('@')[0].title()} Books",
        currency_code=currency_code,
        is_default_org=not user.orgs.exists(),
    )
    for account_name, account_type, code in DEFAULT_ACCOUNTS:
        object_id = new_id()
        SandboxZohoDocument.objects.create(
            org=org,
            kind="account",
            object_id=object_id,
            name=account_name,
            data={
                "account_id": object_id,
                "account_name": account_name,
                "account_code": code,
                "account_type": account_type,
                "is_active": True,
                "currency_code": currency_code,
            },
        )
    for tax_name, percentage in DEFAULT_TAXES:
        object_id = new_id()
        SandboxZohoDocument.objects.create(
            org=org,
            kind="tax",
            object_id=object_id,
            name=tax_name,
            data={"tax_id": object_id, "tax_name": tax_name, "tax_percentage": percentage, "tax_type": "tax"},
        )
    return org


def account_id(org: SandboxZohoOrg, name: str) -> str:
    return SandboxZohoDocument.objects.get(org=org, kind="account", name=name).object_id


def documents(org: SandboxZohoOrg, kind: str):
    return SandboxZohoDocument.objects.filter(org=org, kind=kind)


# --- Sales orders: custom fields and what a person does in Zoho's UI ---------------------------

TRACKING_FIELDS = (
    ("Tracking Number", "cf_tracking_number"),
    ("Carrier", "cf_carrier"),
    ("Shipping Method", "cf_shipping_method"),
)


def add_custom_field(
    org: SandboxZohoOrg, entity: str, label: str, api_name: str = "", data_type: str = "string"
) -> dict:
    """What Settings → Preferences → Sales Orders → Custom Fields → New does in Zoho."""
    object_id = new_id()
    api_name = api_name or "cf_" + "_".join(label.lower().split())
    data = {
        "field_id": object_id,
        "customfield_id": object_id,
        "entity": entity,
        "label": label,
        "api_name": api_name,
        "placeholder": api_name,
        "data_type": data_type,
        "is_active": True,
    }
    SandboxZohoDocument.objects.create(
        org=org, kind="customfield", object_id=object_id, parent_id=entity, name=label, data=data
    )
    return data


def add_tracking_fields(org: SandboxZohoOrg) -> list[dict]:
    return [add_custom_field(org, "salesorder", label, api_name) for label, api_name in TRACKING_FIELDS]


def set_sales_order(org: SandboxZohoOrg, salesorder_id: str, *, status: str = "", **values: str) -> SandboxZohoDocument:
    """A person in Zoho's UI: fill custom fields by api name without `cf_` (tracking_number=...) and/or
    change the status (open, fulfilled, void). Bumps `last_modified_time` like any edit."""
    doc = SandboxZohoDocument.objects.get(org=org, kind="salesorder", object_id=salesorder_id)
    data = dict(doc.data)
    fields = {
        f["api_name"]: f
        for f in documents(org, "customfield").filter(parent_id="salesorder").values_list("data", flat=True)
    }
    current = {str(f.get("customfield_id") or f.get("label")): f for f in data.get("custom_fields", [])}
    for name, value in values.items():
        definition = fields.get(f"cf_{name}") or fields.get(name)
        if definition is None:
            raise KeyError(f"no sales-order custom field {name!r} in this organisation")
        current[definition["customfield_id"]] = {
            "customfield_id": definition["customfield_id"],
            "label": definition["label"],
            "api_name": definition["api_name"],
            "placeholder": definition["api_name"],
            "data_type": definition["data_type"],
            "value": str(value),
        }
    data["custom_fields"] = [f for f in current.values() if str(f.get("value", "")) != ""]
    if status:
        data["status"] = status
        if status == "fulfilled":
            data["shipped_status"] = "fulfilled"
    now = timezone.now()
    data["last_modified_time"] = now_zoho(now)
    doc.data, doc.last_modified_time = data, now
    doc.save()
    return doc
