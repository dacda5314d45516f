"""An organisation's own ShipStation sandbox account, made on demand and connected.

One function serves the Connect page's "Try with sandbox accounts" button and `manage.py demo`:
the account (with a few open orders) is made the first time, the connection the first time or
whenever the organisation has none for it; every call answers the keys again.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connector.models import Connection
from connector.sandbox.pages import connect_try_view, connected_with, provisioner
from integrations.shipstation import timeutil
from integrations.shipstation.connection import EVENTS, sandbox_base_url, webhook_url
from integrations.shipstation.sandbox import state
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxWebhook

DEMO_ORDERS = (
    ("SS-1001", "ada@example.com", "Ada Lovelace", "MUG-01", "Coffee mug", 2, 12.50, "awaiting_shipment"),
    ("SS-1002", "grace@example.com", "Grace Hopper", "TEE-M", "T-shirt M", 1, 24.00, "awaiting_shipment"),
    ("SS-1003", "alan@example.com", "Alan Turing", "CAP-01", "Cap", 3, 9.99, "awaiting_payment"),
)


def account_for(organization) -> SandboxAccount:
    """The organisation's sandbox account, made with a few orders the first time."""
    with transaction.atomic():
        account = SandboxAccount.objects.for_org(organization).order_by("id").first()
        if account is not None:
            return account
        account = SandboxAccount.objects.create(name=f"{organization.name} sandbox store", organization=organization)
        now = timezone.now()
        for i, (number, email, name, sku, item, qty, price, status) in enumerate(DEMO_ORDERS):
            address = {
                "name": name,
                "street1": f"{i + 1} Demo Street",
                "city": "Austin",
                "state": "TX",
                "postalCode": "78701",
                "country": "US",
            }
            state.upsert_order(
                account,
                {
                    "orderNumber": number,
                    "orderKey": f"demo-{number}",
                    "orderDate": timeutil.to_filter(now - timedelta(hours=3 - i)),
                    "orderStatus": status,
                    "customerEmail": email,
                    "customerUsername": email,
                    "billTo": address,
                    "shipTo": address,
                    "items": [
                        {
                            "lineItemKey": "1",
                            "sku": sku,
                            "name": item,
                            "quantity": qty,
                            "unitPrice": price,
                            "taxAmount": 0,
                        }
                    ],
                    "amountPaid": round(qty * price + 5, 2),
                    "shippingAmount": 5,
                    "taxAmount": 0,
                },
                notify=False,
            )
        return account


def connect(organization, account: SandboxAccount) -> Connection:
    """The organisation's connection to `account`, made (with its webhooks subscribed) when missing.

    Subscriptions are stored straight in the sandbox — what `POST /webhooks/subscribe` stores — so
    this works while no web server runs (`manage.py demo`)."""
    existing = connected_with(
        organization, "shipstation", lambda c: (c.credentials or {}).get("api_key") == account.api_key
    )
    if existing is not None:
        return existing
    connection = Connection.objects.create(
        organization=organization,
        system="shipstation",
        label="ShipStation (sandbox)",
        credentials={"api_key": account.api_key, "api_secret": account.api_secret},
        settings={"base_url": sandbox_base_url(), "store_ids": [account.store_id]},
    )
    url = webhook_url(connection)
    ids = {
        event: SandboxWebhook.objects.create(
            account=account, event=event, target_url=url, friendly_name=f"Connector {event.lower()}"
        ).pk
        for event in EVENTS
    }
    connection.settings = {**connection.settings, "webhook_ids": ids}
    connection.save(update_fields=["settings"])
    return connection


def facts(account: SandboxAccount, connection: Connection | None = None) -> dict:
    out = {
        "ShipStation sandbox page": settings.PUBLIC_BASE_URL + "/sandbox/shipstation/",
        "ShipStation sandbox API": sandbox_base_url(),
        "ShipStation sandbox API key": account.api_key,
        "ShipStation sandbox API secret": account.api_secret,
        "ShipStation sandbox V2 API key": account.v2_api_key,
        "ShipStation orders": account.orders.count(),
    }
    if connection is not None:
        out["connection_id"] = connection.pk
    return out


provision = provisioner(account_for, connect, facts)
try_view = connect_try_view(
    account_for, connect, "ShipStation sandbox account connected: its keys are on the sandbox page."
)
