"""An organisation's own WooCommerce sandbox store, made on demand and connected.

One function serves the Connect page's "Try with sandbox accounts" button and `manage.py demo`: the
store (three products, a few orders, one read/write key) is made the first time; the connection and
the store's webhooks to our receiver whenever the organisation has none for it. Every call answers
the store's address and keys again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils.text import slugify

from connector.models import Connection
from connector.sandbox.pages import AccountCard, connect_try_view, connected_with, home_view, provisioner
from integrations.woocommerce.auth import normalize_store_url
from integrations.woocommerce.connect import VerifiedKeys, delivery_url, save_connection

from .models import SandboxStore, SandboxWebhook
from .store import create_order
from .views import create_store

TOPICS = ("order.created", "order.updated", "customer.created")
DEMO_ORDERS = (
    {"email": "ada@example.com", "first": "Ada", "last": "Lovelace", "sku": "WOO-HAT", "qty": 2, "currency": "USD"},
    {"email": "grace@example.com", "first": "Grace", "last": "Hopper", "sku": "WOO-TEE", "qty": 1, "currency": "USD"},
    {"email": "alan@example.co.uk", "first": "Alan", "last": "Turing", "sku": "WOO-MUG", "qty": 3, "currency": "GBP"},
)


def store_url(shop: SandboxStore) -> str:
    return normalize_store_url(f"{settings.PUBLIC_BASE_URL}/sandbox/woocommerce/{shop.slug}")


def store_for(organization) -> SandboxStore:
    """The organisation's sandbox store, made with a few orders the first time."""
    with transaction.atomic():
        shop = SandboxStore.objects.for_org(organization).order_by("id").first()
        if shop is not None:
            return shop
        slug = f"{slugify(organization.name)[:40] or 'store'}-{organization.pk}"
        shop = create_store(
            slug, name=f"{organization.name} sandbox store", currency="USD", tax_rate="0.1", organization=organization
        )
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
        return shop


def connect(organization, shop: SandboxStore) -> Connection:
    """The organisation's connection to `shop` with our three webhooks on the store, made when missing.

    The webhooks are stored straight in the store — what `POST /webhooks` stores — so this works
    while no web server runs (`manage.py demo`)."""
    url = store_url(shop)
    existing = connected_with(organization, "woocommerce", lambda c: (c.settings or {}).get("store_url") == url)
    if existing is not None and (existing.settings or {}).get("webhooks"):
        return existing
    key = shop.keys.order_by("id").first()
    connection = save_connection(
        organization,
        VerifiedKeys(url, key.consumer_key, key.consumer_secret, query_string_auth=False),
        label=f"{shop.name} (sandbox)",
        key_id=key.pk,
    )
    ids = {}
    for topic in TOPICS:
        hook, _ = SandboxWebhook.objects.update_or_create(
            store=shop,
            topic=topic,
            delivery_url=delivery_url(connection),
            defaults={"name": f"Connector: {topic}", "secret": connection.webhook_secret, "status": "active"},
        )
        ids[topic] = hook.pk
    connection.settings = {**connection.settings, "webhooks": ids}
    connection.save(update_fields=["settings"])
    return connection


def facts(shop: SandboxStore, connection: Connection | None = None) -> dict:
    key = shop.keys.order_by("id").first()
    url = store_url(shop)
    out = {
        "store_url": url,
        "orders_page": f"{url}/admin/orders/",
        "consumer_key": key.consumer_key if key else "",
        "consumer_secret": key.consumer_secret if key else "",
    }
    if connection is not None:
        out["connection_id"] = connection.pk
    return out


provision = provisioner(store_for, connect, facts)
try_view = connect_try_view(
    store_for, connect, "WooCommerce sandbox store connected: its keys are on the sandbox page."
)


def _card(shop: SandboxStore) -> AccountCard:
    shown = facts(shop)
    return AccountCard(
        shop.name,
        [
            ("Store URL", shown["store_url"]),
            ("Consumer key", shown["consumer_key"]),
            ("Consumer secret", shown["consumer_secret"]),
        ],
        [("Orders", shown["orders_page"])],
    )


home = home_view("woocommerce", lambda org: SandboxStore.objects.for_org(org).order_by("id"), _card)
