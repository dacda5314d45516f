"""`manage.py demo` hook: a sandbox ShipStation account with a few orders, connected for the org.

The web server is not running during the demo command, so everything is created in-process. Webhook
subscriptions are stored straight in the sandbox (what `POST /webhooks/subscribe` would store).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from connector.models import Connection
from integrations.shipstation import timeutil
from integrations.shipstation.connection import EVENTS, sandbox_base_url, webhook_url
from integrations.shipstation.sandbox import state
from integrations.shipstation.sandbox.models import SandboxAccount, SandboxWebhook

DEMO_ORDERS = (
    ("SS-1001", "ada@example.com", "Ada Lovelace", "MUG-01", "Coffee mug", 2, 12.50, "awaiting_shipment"),
    ("SS-1002", "grace@example.com", "Grace Hopper", "TEE-M", "T-shirt M", 1, 24.00, "awaiting_shipment"),
    ("SS-1003", "alan@example.com", "Alan Turing", "CAP-01", "Cap", 3, 9.99, "awaiting_payment"),
)


def demo_setup(organization, user) -> dict:
    account = SandboxAccount.objects.create(
        name=f"{organization.name} demo store", organization=organization, auto_deliver_webhooks=False
    )
    connection = Connection.objects.create(
        organization=organization,
        system="shipstation",
        label="ShipStation (sandbox)",
        credentials={"api_key": account.api_key, "api_secret": account.api_secret},
        settings={"base_url": sandbox_base_url(), "store_ids": [account.store_id]},
    )
    url = webhook_url(connection)
    ids = {}
    for event in EVENTS:
        ids[event] = SandboxWebhook.objects.create(
            account=account, event=event, target_url=url, friendly_name=f"Connector {event.lower()}"
        ).pk
    connection.settings = {**connection.settings, "webhook_ids": ids}
    connection.save(update_fields=["settings"])
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
                    {"lineItemKey": "1", "sku": sku, "name": item, "quantity": qty, "unitPrice": price, "taxAmount": 0}
                ],
                "amountPaid": round(qty * price + 5, 2),
                "shippingAmount": 5,
                "taxAmount": 0,
            },
            notify=False,
        )
    # auto delivery is off during the command (no server to receive); the page turns it on.
    SandboxAccount.objects.filter(pk=account.pk).update(auto_deliver_webhooks=True)
    return {
        "ShipStation sandbox page": settings.PUBLIC_BASE_URL + "/sandbox/shipstation/",
        "ShipStation sandbox API": sandbox_base_url(),
        "ShipStation sandbox API key": account.api_key,
        "ShipStation sandbox API secret": account.api_secret,
        "ShipStation sandbox V2 API key": account.v2_api_key,
        "ShipStation orders": len(DEMO_ORDERS),
    }
