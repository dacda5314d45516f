"""WooCommerce → Zoho Books, end to end, the way a merchant uses it.

A real Celery worker process, the live server, PostgreSQL/SQLite and Redis, and both sandboxes over
real HTTP. Alice connects her store through WooCommerce's app-key authorisation page and Zoho Books
through the sandbox consent page, then creates and starts the `woocommerce_zoho` flow from the
flow pages. Orders placed and edited through the store's REST API make the sandbox store POST
signed webhooks to our hook URL; the worker turns them into Zoho invoices. Every assertion about
the result is on the Zoho sandbox's own documents.
"""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests
from django.urls import reverse

from connector.models import Connection, Delivery, Flow, Record
from integrations.woocommerce.sandbox.models import SandboxDeliveryLog, SandboxStore, SandboxWebhook
from integrations.woocommerce.sandbox.views import create_store
from integrations.woocommerce.tasks import repair_all_webhooks
from integrations.zoho.sandbox import state as zoho_state
from integrations.zoho.sandbox.models import SandboxZohoDocument
from tests.e2e.conftest import wait_until
from tests.integrations.zoho.consent import connect_through_consent
from tests.sandbox_session import member_of

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


ITEMS = ["Cotton T-shirt", "Gift Card", "Gift wrap", "Woo Hat", "Woo Mug", "Woo Scarf"]


class Store:
    """The merchant's store, driven through its REST v3 API like any shop front or admin would."""

    def __init__(self, url: str, key):
        self.url = url
        self.api = url + "/wp-json/wc/v3/"
        self.auth = (key.consumer_key, key.consumer_secret)
        self.session = requests.Session()

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        response = self.session.request(method, self.api + path, json=body, auth=self.auth, timeout=30)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def place(self, body: dict) -> dict:
        return self.call("POST", "orders", {"status": "processing", **body})

    def edit(self, order: dict, body: dict) -> dict:
        return self.call("PUT", f"orders/{order['id']}", body)

    def faults(self, live_server, **knobs) -> None:
        slug = urlsplit(self.url).path.rstrip("/").rsplit("/", 1)[-1]
        response = member_of(SandboxStore.objects.get(slug=slug).organization).post(
            f"{live_server.url}/sandbox/woocommerce/_control/faults",
            data=json.dumps({"store": urlsplit(self.url).path.rstrip("/").rsplit("/", 1)[-1], **knobs}),
            timeout=10,
        )
        assert response.status_code == 200, response.text


def billing(first: str, last: str, email: str, **extra) -> dict:
    return {"first_name": first, "last_name": last, "email": email, "city": "London", "country": "GB", **extra}


# --- What Zoho Books holds ----------------------------------------------------------------------


def docs(org, kind: str, **filters):
    return list(SandboxZohoDocument.objects.filter(org=org, kind=kind, **filters))


def invoice(org, order: dict):
    found = docs(org, "invoice", reference_number=order["number"])
    assert len(found) <= 1, f"{len(found)} invoices for order {order['number']}"
    return found[0] if found else None


def invoice_total(org, order: dict) -> Decimal | None:
    doc = invoice(org, order)
    return Decimal(doc.data["total"]) if doc else None


def credit_notes(org, order: dict):
    return docs(org, "creditnote", reference_number=order["number"])


def contacts(org, email: str):
    return docs(org, "contact", email=email)


def items(org, **filters):
    return [d for d in docs(org, "item") if all(d.data.get(k) == v for k, v in filters.items())]


def seed_item(org, name: str, rate: str, sku: str = "") -> str:
    """An item the accountant already keeps in Zoho Books (same shape the sandbox API stores)."""
    object_id = zoho_state.new_id()
    SandboxZohoDocument.objects.create(
        org=org,
        kind="item",
        object_id=object_id,
        name=name,
        data={
            "item_id": object_id,
            "name": name,
            "rate": rate,
            "sku": sku,
            "description": "",
            "product_type": "goods",
            "status": "active",
        },
    )
    return object_id


def status_of(order: dict) -> str | None:
    return (
        Record.objects.filter(object_type="order", source_id=str(order["id"])).values_list("status", flat=True).first()
    )


def synced(*orders: dict) -> bool:
    return all(status_of(o) == "synced" for o in orders)


def settled() -> bool:
    """No delivery waiting and no record pending: the worker has caught up."""
    return (
        not Delivery.objects.filter(status=Delivery.Status.RECEIVED).exists()
        and not Record.objects.filter(status=Record.Status.PENDING).exists()
    )


@pytest.fixture
def merchant(client, alice, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    client.force_login(alice)
    return client


def connect_store(merchant, live_server, shop) -> Connection:
    """Connections → WooCommerce → store address → WooCommerce's authorise page → Approve."""
    store_url = f"{live_server.url}/sandbox/woocommerce/{shop.slug}"
    started = merchant.post(reverse("woocommerce_connect"), {"store_url": store_url, "label": "Alice's shop"})
    assert started.status_code == 302 and started["Location"].startswith(store_url + "/wc-auth/v1/authorize?")
    owner = member_of(shop.organization)  # the store's page needs the login of its organisation's member
    page = owner.get(started["Location"], timeout=10)  # the page is the store's, not ours
    assert page.status_code == 200, page.text
    nonce = re.search(r'name="wc_auth_nonce" value="([^"]+)"', page.text).group(1)
    action = re.search(r'action="([^"]*/authorize/approve)"', page.text).group(1)
    approved = owner.post(live_server.url + action, data={"wc_auth_nonce": nonce}, allow_redirects=False, timeout=30)
    assert approved.status_code == 302, approved.text  # our callback answered 200: the key is kept
    back = urlsplit(approved.headers["Location"])
    landed = merchant.get(f"{back.path}?{back.query}")
    assert landed.status_code == 302
    connection = Connection.objects.get(system="woocommerce")
    assert landed["Location"] == reverse("woocommerce_connection", args=[connection.pk])
    return connection


def test_woocommerce_to_zoho_books_end_to_end(merchant, alice, live_server, celery_worker):
    shop = create_store("alice-shop", name="Alice's shop", currency="USD", tax_rate="0.1", organization=alice.org)
    store = Store(f"{live_server.url}/sandbox/woocommerce/{shop.slug}", shop.keys.first())
    store.call("POST", "products", {"name": "Gift Card", "regular_price": "25.00"})  # no SKU: matched by name
    store.call("POST", "products", {"name": "Woo Scarf", "sku": "WOO-SCARF", "regular_price": "15.50"})

    # Zoho Books already has two of the store's products: one under the same name without a SKU,
    # one with the same SKU under another name.
    books = zoho_state.create_org("us", "books@alice.example", "Alice Books", organization=alice.org)
    mug_item = seed_item(books, "Woo Mug", "8.50")
    tee_item = seed_item(books, "Cotton T-shirt", "19.99", sku="WOO-TEE")

    # --- Connect the store (app-key flow) and Zoho Books (consent page) ---------------------------
    woo = connect_store(merchant, live_server, shop)
    assert woo.organization_id == alice.org.pk and woo.status == "active"
    hooks = SandboxWebhook.objects.filter(store=shop)
    assert sorted(h.topic for h in hooks) == ["customer.created", "order.created", "order.updated"]
    assert all(h.status == "active" and not h.pending_delivery for h in hooks)  # the creation ping got 200
    zoho = connect_through_consent(merchant, "us", "books@alice.example")
    assert zoho is not None and zoho.organization_id == alice.org.pk and zoho.status == "active"

    # --- Create the flow from the connection page's link (15-minute poll by default), start it ---
    page = merchant.get(reverse("woocommerce_connection", args=[woo.pk])).content.decode()
    new_flow = re.search(rf'href="({reverse("flow_create")}[^"]*)"', page).group(1).replace("&amp;", "&")
    form = merchant.get(new_flow).content.decode()
    assert 'value="900"' in form and "woocommerce_zoho" in form
    response = merchant.post(
        reverse("flow_create"),
        {"preset": "woocommerce_zoho", "source": woo.pk, "target": zoho.pk, "interval_seconds": 900},
    )
    flow = Flow.objects.get(organization=alice.org)
    assert response.status_code == 302 and flow.interval_seconds == 900
    assert merchant.get(reverse("flow_detail", args=[flow.pk])).status_code == 200
    merchant.post(reverse("flow_toggle", args=[flow.pk]))
    flow.refresh_from_db()
    assert flow.enabled

    # --- customer.created makes a contact --------------------------------------------------------
    ada = store.call(
        "POST",
        "customers",
        {
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "billing": billing("Ada", "Lovelace", ""),
        },
    )
    wait_until(lambda: contacts(books, "ada@example.com"), timeout=30, message="Ada's contact from customer.created")

    # --- Orders: known and new SKUs, a name-only product, coupons, fees, shipping, tax, a guest ---
    order_a = store.place(
        {
            "customer_id": ada["id"],
            "billing": billing("Ada", "Lovelace", "ada@example.com"),
            "line_items": [{"sku": "WOO-HAT", "quantity": 2}, {"sku": "WOO-MUG", "quantity": 1}],
            "coupon_lines": [{"code": "save10"}],
            "fee_lines": [{"name": "Gift wrap", "total": "2.50"}],
            "shipping_lines": [{"method_title": "Flat rate", "total": "5.00"}],
            "customer_note": "Leave at the door",
        }
    )
    order_b = store.place(
        {
            "billing": billing("Grace", "Hopper", "grace@example.com"),  # a guest
            "line_items": [
                {"sku": "WOO-TEE", "quantity": 3},
                {"sku": "WOO-HAT", "quantity": 1},
                {"product_id": _product_id(store, "Gift Card"), "quantity": 1},
            ],
            "coupon_lines": [{"code": "fiver"}],
            "shipping_lines": [{"method_title": "Express", "total": "7.25"}],
        }
    )
    order_c = store.place(  # Ada again, now with her company and phone: same contact, updated
        {
            "customer_id": ada["id"],
            "billing": billing(
                "Ada", "Lovelace", "ada@example.com", company="Analytical Engines", phone="+44 20 7946 0001"
            ),
            "line_items": [
                {"sku": "WOO-SCARF", "quantity": 1},
                {"product_id": _product_id(store, "Gift Card"), "quantity": 2},
            ],
            "shipping_lines": [{"method_title": "Flat rate", "total": "5.00"}],
        }
    )
    order_eur = store.place(
        {
            "currency": "EUR",
            "billing": billing("Alan", "Turing", "alan@example.com"),
            "line_items": [{"sku": "WOO-HAT", "quantity": 1}],
        }
    )
    # Ada pays in EUR too: a second contact for her, kept in EUR; her USD contact is untouched.
    order_ada_eur = store.place(
        {
            "currency": "EUR",
            "billing": billing(
                "Ada", "Lovelace", "ada@example.com", company="Analytical Engines", phone="+44 20 7946 0001"
            ),
            "line_items": [{"sku": "WOO-HAT", "quantity": 2}],
        }
    )
    # A currency the Zoho organisation has not added: held for review, never booked in USD.
    order_jpy = store.place(
        {
            "currency": "JPY",
            "billing": billing("Alan", "Turing", "alan@example.com"),
            "line_items": [{"sku": "WOO-HAT", "quantity": 1}],
        }
    )
    wait_until(
        lambda: synced(order_a, order_b, order_c, order_eur, order_ada_eur), timeout=45, message="orders invoiced"
    )
    wait_until(lambda: status_of(order_jpy) == "needs_review", timeout=30, message="the JPY order held for review")

    for order in (order_a, order_b, order_c, order_eur, order_ada_eur):
        doc = invoice(books, order)
        assert doc is not None and Decimal(doc.data["total"]) == Decimal(order["total"]), order["number"]
        assert doc.data["currency_code"] == order["currency"], order["number"]
    eur_contact = docs(books, "contact", object_id=invoice(books, order_eur).data["customer_id"])[0]
    assert eur_contact.name == "Alan Turing (EUR)" and eur_contact.data["currency_code"] == "EUR"
    ada_eur = docs(books, "contact", object_id=invoice(books, order_ada_eur).data["customer_id"])[0]
    assert ada_eur.name == "Ada Lovelace (EUR)" and ada_eur.data["currency_code"] == "EUR"
    assert invoice(books, order_jpy) is None  # never booked in the wrong currency
    jpy = Record.objects.get(source_id=str(order_jpy["id"]), object_type="order")
    assert "JPY" in jpy.last_error and "Currencies" in jpy.remediation

    # Items: by SKU, then by name; missing ones created once, with their SKU.
    lines_a = {li["name"]: li for li in invoice(books, order_a).data["line_items"]}
    lines_b = {li["name"]: li for li in invoice(books, order_b).data["line_items"]}
    assert lines_a["Woo Mug"]["item_id"] == mug_item  # matched by name
    assert lines_b["Woo Tee"]["item_id"] == tee_item  # matched by SKU
    (hat,) = items(books, sku="WOO-HAT")
    assert lines_a["Woo Hat"]["item_id"] == lines_b["Woo Hat"]["item_id"] == hat.object_id
    assert len(items(books, sku="WOO-SCARF")) == 1 and len(items(books, name="Gift Card")) == 1
    # Fees are lines too (Zoho wants an item on every line): "Gift wrap" is an item, made once.
    assert sorted(d.name for d in docs(books, "item")) == ITEMS
    assert docs(books, "invoice", reference_number=order_a["number"])[0].data["notes"] == "Leave at the door"

    # Contacts: one per email; Ada's updated from her latest order.
    (ada_contact,) = [c for c in contacts(books, "ada@example.com") if c.data["currency_code"] == "USD"]
    assert len(contacts(books, "grace@example.com")) == 1
    assert invoice(books, order_a).data["customer_id"] == invoice(books, order_c).data["customer_id"]
    assert invoice(books, order_c).data["customer_id"] == ada_contact.object_id
    wait_until(
        lambda: contacts(books, "ada@example.com")[0].data.get("company_name") == "Analytical Engines",
        timeout=30,
        message="Ada's contact updated with her company",
    )
    assert contacts(books, "ada@example.com")[0].data["billing_address"]["phone"] == "+44 20 7946 0001"

    # --- Edit one order, cancel one, refund one --------------------------------------------------
    invoice_a = invoice(books, order_a).object_id
    line_hat = next(li for li in order_a["line_items"] if li["sku"] == "WOO-HAT")
    order_a = store.edit(order_a, {"line_items": [{"id": line_hat["id"], "quantity": 4}]})
    store.edit(order_b, {"status": "cancelled"})
    # Refunds are credit notes, never voids: C refunded in full (WooCommerce marks it "refunded"),
    # Alan's EUR order refunded in part (a credit note in EUR, on his EUR contact).
    store.call("POST", f"orders/{order_c['id']}/refunds", {"amount": order_c["total"], "reason": "Damaged"})
    store.call("POST", f"orders/{order_eur['id']}/refunds", {"amount": "5.00", "reason": "Late"})
    wait_until(
        lambda: (
            invoice_total(books, order_a) == Decimal(order_a["total"])
            and invoice(books, order_b).data.get("status") == "void"
            and len(credit_notes(books, order_c)) == 1
            and len(credit_notes(books, order_eur)) == 1
        ),
        timeout=30,
        message="edit, cancel and refunds applied in Zoho",
    )
    assert invoice(books, order_a).object_id == invoice_a  # the same invoice, updated
    assert store.call("GET", f"orders/{order_c['id']}")["status"] == "refunded"
    assert invoice(books, order_c).data["status"] != "void"  # the sale happened; the credit note returns it
    (full,) = credit_notes(books, order_c)
    assert Decimal(full.data["total"]) == Decimal(order_c["total"]) and "Damaged" in full.data["notes"]
    (part,) = credit_notes(books, order_eur)
    assert Decimal(part.data["total"]) == Decimal("5.00") and part.data["currency_code"] == "EUR"
    assert part.data["customer_id"] == invoice(books, order_eur).data["customer_id"]

    # --- Duplicate deliveries, then an older version arriving after a newer one -----------------
    store.faults(live_server, duplicate_rate=1)
    order_a = store.edit(order_a, {"line_items": [{"id": line_hat["id"], "quantity": 5}]})
    store.faults(live_server, reset=True, out_of_order_rate=1, seed=7)
    store.edit(order_a, {"line_items": [{"id": line_hat["id"], "quantity": 6}]})  # held back
    store.faults(live_server, reset=True)
    time.sleep(1.0)  # WooCommerce stamps modifications to the second
    order_a = store.edit(order_a, {"line_items": [{"id": line_hat["id"], "quantity": 7}]})  # sent, then the held one
    assert not SandboxDeliveryLog.objects.filter(webhook__store=shop, held=True).exists()
    arrived = Delivery.objects.filter(topic="order.updated").exclude(status=Delivery.Status.DUPLICATE).order_by("-id")
    assert [json.loads(bytes(d.body))["line_items"][0]["quantity"] for d in arrived[:2]] == [6, 7]  # older came last
    wait_until(settled, timeout=30, message="all deliveries processed")
    assert invoice_total(books, order_a) == Decimal(order_a["total"])  # the newest version won
    assert Delivery.objects.filter(status=Delivery.Status.DUPLICATE, topic="order.updated").count() == 1
    assert len(docs(books, "invoice", reference_number=order_a["number"])) == 1

    # --- A forged delivery is refused and recorded, never processed ------------------------------
    forged_body = json.dumps({**order_a, "total": "0.01"}).encode()
    hook_url = f"{live_server.url}/hooks/woocommerce/{woo.webhook_token}/"
    forged = requests.post(
        hook_url,
        data=forged_body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.updated",
            "X-WC-Webhook-Signature": "bm90IHRoZSByaWdodCBzaWduYXR1cmU=",
            "X-WC-Webhook-Delivery-ID": "forged-1",
        },
        timeout=10,
    )
    assert forged.status_code == 401
    rejected = Delivery.objects.get(status=Delivery.Status.REJECTED)
    assert rejected.signature_valid is False and bytes(rejected.body) == forged_body
    assert invoice_total(books, order_a) == Decimal(order_a["total"])

    # --- Deliveries fail until WooCommerce disables the webhook; the scheduled repair re-enables
    # --- it and backfills the gap by polling orders modified since the flow's cursor -------------
    store.faults(live_server, max_delivery_failures=0)
    SandboxWebhook.objects.filter(store=shop, topic="order.created").update(secret="changed-in-wp-admin")
    order_e = store.place(
        {
            "billing": billing("Edsger", "Dijkstra", "edsger@example.com"),
            "line_items": [{"sku": "WOO-MUG", "quantity": 2}],
        }
    )
    order_f = store.place(
        {
            "billing": billing("Barbara", "Liskov", "barbara@example.com"),
            "line_items": [{"sku": "WOO-TEE", "quantity": 1}],
        }
    )
    assert SandboxWebhook.objects.get(store=shop, topic="order.created").status == "disabled"
    assert Delivery.objects.filter(status=Delivery.Status.REJECTED).count() == 3  # ours answered 401
    assert status_of(order_e) is None and status_of(order_f) is None
    time.sleep(1.0)  # the poll window ends at the current second
    repair_all_webhooks.delay()  # what beat runs every hour
    wait_until(lambda: synced(order_e, order_f), timeout=30, message="the gap backfilled by polling")
    hook = SandboxWebhook.objects.get(store=shop, topic="order.created")
    assert hook.status == "active" and hook.secret == Connection.objects.get(pk=woo.pk).webhook_secret
    order_g = store.place(
        {"billing": billing("Ada", "Lovelace", "ada@example.com"), "line_items": [{"sku": "WOO-HAT", "quantity": 1}]}
    )
    wait_until(lambda: synced(order_g), timeout=30, message="webhooks flowing again")
    for order in (order_e, order_f, order_g):
        assert invoice_total(books, order) == Decimal(order["total"])

    # --- The end state, as the accountant sees it ------------------------------------------------
    wait_until(settled, timeout=30, message="the worker caught up")
    for order in (order_a, order_b, order_c, order_e, order_f, order_g):
        assert len(docs(books, "invoice", reference_number=order["number"])) == 1
    assert len(credit_notes(books, order_c)) == len(credit_notes(books, order_eur)) == 1  # never twice
    assert invoice_total(books, order_a) == Decimal(order_a["total"])
    for email in ("grace@example.com", "edsger@example.com", "barbara@example.com"):
        assert len(contacts(books, email)) == 1, email
    assert sorted(c.data["currency_code"] for c in contacts(books, "ada@example.com")) == ["EUR", "USD"]
    assert sorted(d.name for d in docs(books, "item")) == sorted([*ITEMS, "Refund"])  # refunds credit one item


def _product_id(store: Store, name: str) -> int:
    return next(p["id"] for p in store.call("GET", "products?per_page=100") if p["name"] == name)
