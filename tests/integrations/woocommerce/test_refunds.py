"""Refunds: the WooCommerce sandbox's /orders/<id>/refunds and their mapping to canonical Refunds."""

from decimal import Decimal

import pytest
import requests

from connector.canonical import Refund
from integrations.woocommerce.mapping import MappingError, map_order, map_refunds
from integrations.woocommerce.sandbox.models import SandboxDeliveryLog
from integrations.woocommerce.sandbox.store import create_order

pytestmark = pytest.mark.django_db(transaction=True)


def api(shop, method: str, path: str, body: dict | None = None) -> requests.Response:
    return requests.request(
        method,
        f"{shop.url}/wp-json/wc/v3/{path}",
        json=body,
        auth=(shop.key.consumer_key, shop.key.consumer_secret),
        timeout=10,
    )


def test_refunds_summary_maps_to_positive_amounts():
    assert map_refunds([{"id": 726, "reason": "Damaged", "total": "-10.00"}, {"id": 727, "total": "-0.00"}]) == (
        Refund(source_id="726", amount=Decimal("10.00"), reason="Damaged"),
    )
    assert map_refunds([]) == map_refunds(None) == ()
    with pytest.raises(MappingError):
        map_refunds([{"reason": "no id", "total": "-1"}])
    with pytest.raises(MappingError):
        map_refunds([{"id": 1, "total": "ten"}])


def test_a_partial_then_full_refund_in_the_sandbox(shop):
    order = create_order(shop, {"status": "processing", "line_items": [{"sku": "WOO-MUG", "quantity": 2}]})
    total = Decimal(order.data["total"])
    part = api(shop, "POST", f"orders/{order.pk}/refunds", {"amount": "3.00", "reason": "Chipped"})
    assert part.status_code == 201 and part.json()["amount"] == "3.00"
    after = api(shop, "GET", f"orders/{order.pk}").json()
    assert after["status"] == "processing"
    assert after["refunds"] == [{"id": part.json()["id"], "reason": "Chipped", "total": "-3.00"}]
    assert map_order(after).refunds == (Refund(str(part.json()["id"]), Decimal("3.00"), "Chipped"),)

    too_much = api(shop, "POST", f"orders/{order.pk}/refunds", {"amount": str(total)})
    assert too_much.status_code == 500 and too_much.json()["code"] == "woocommerce_rest_cannot_create_order_refund"
    zero = api(shop, "POST", f"orders/{order.pk}/refunds", {"amount": "0"})
    assert zero.status_code == 400 and zero.json()["code"] == "woocommerce_rest_invalid_order_refund"

    rest = api(shop, "POST", f"orders/{order.pk}/refunds", {"amount": str(total - Decimal("3.00"))})
    assert rest.status_code == 201
    final = api(shop, "GET", f"orders/{order.pk}").json()
    assert final["status"] == "refunded"  # refunded in full, as WooCommerce marks it
    assert [r["total"] for r in final["refunds"]] == [f"-{total - Decimal('3.00')}", "-3.00"]  # newest first
    listed = api(shop, "GET", f"orders/{order.pk}/refunds").json()
    assert [r["id"] for r in listed] == [rest.json()["id"], part.json()["id"]]
    assert sum(Decimal(r.amount) for r in map_order(final).refunds) == total


def test_a_refund_fires_order_updated(shop, woo_client):
    hook = woo_client.create_webhook(name="t", topic="order.updated", delivery_url="http://127.0.0.1/x", secret="s")
    order = create_order(shop, {"status": "processing", "line_items": [{"sku": "WOO-MUG", "quantity": 1}]})
    before = SandboxDeliveryLog.objects.filter(webhook_id=hook["id"]).count()
    assert api(shop, "POST", f"orders/{order.pk}/refunds", {"amount": "1.00"}).status_code == 201
    assert SandboxDeliveryLog.objects.filter(webhook_id=hook["id"]).count() == before + 1
