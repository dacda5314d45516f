"""`manage.py demo` hook: a sandbox store with a few orders, connected to the demo organisation.

The web server is not running during `demo`, so everything happens in-process: the store rows,
the Connection with the store's key, and the store's webhooks pointing at our receiver.
"""

from __future__ import annotations

from django.conf import settings

from .auth import normalize_store_url
from .connect import VerifiedKeys, delivery_url, save_connection
from .sandbox.models import SandboxStore, SandboxWebhook
from .sandbox.store import create_order
from .sandbox.views import create_store

DEMO_STORE = "demo-store"
DEMO_ORDERS = (
    {"email": "ada@example.com", "first": "Ada", "last": "Lovelace", "sku": "WOO-HAT", "qty": 2, "currency": "USD"},
    {"email": "grace@example.com", "first": "Grace", "last": "Hopper", "sku": "WOO-TEE", "qty": 1, "currency": "USD"},
    {"email": "alan@example.co.uk", "first": "Alan", "last": "Turing", "sku": "WOO-MUG", "qty": 3, "currency": "GBP"},
)


def demo_setup(organization, user) -> dict:
    shop = SandboxStore.objects.filter(slug=DEMO_STORE).first()
    if shop is None:
        shop = create_store(DEMO_STORE, name="Demo WooCommerce store", currency="USD", tax_rate="0.1")
        for o in DEMO_ORDERS:
            create_order(
                shop,
                {
                    "status": "processing",
                    "currency": o["currency"],
                    "billing": {"first_name": o["first"], "last_name": o["last"], "email": o["email"]},
                    "line_items": [{"sku": o["sku"], "quantity": o["qty"]}],
                    "shipping_lines": [{"method_title": "Flat rate", "total": "5.00"}],
                },
            )
    key = shop.keys.first()
    store_url = normalize_store_url(f"{settings.PUBLIC_BASE_URL}/sandbox/woocommerce/{shop.slug}")
    connection = save_connection(
        organization,
        VerifiedKeys(store_url, key.consumer_key, key.consumer_secret, query_string_auth=False),
        label="Demo WooCommerce store",
        key_id=key.pk,
    )
    ids = {}
    for topic in ("order.created", "order.updated", "customer.created"):
        hook, _ = SandboxWebhook.objects.update_or_create(
            store=shop,
            topic=topic,
            delivery_url=delivery_url(connection),
            defaults={"name": f"Connector: {topic}", "secret": connection.webhook_secret, "status": "active"},
        )
        ids[topic] = hook.pk
    connection.settings = {**connection.settings, "webhooks": ids}
    connection.save(update_fields=["settings"])
    return {
        "store_url": store_url,
        "orders_page": f"{store_url}/admin/orders/",
        "consumer_key": key.consumer_key,
        "consumer_secret": key.consumer_secret,
    }
