"""WooCommerceClient against the sandbox store over real HTTP (live server), and store URL rules."""

import pytest
import requests

from connector.http import AuthExpired, Permanent, RateLimited, Transient
from integrations.woocommerce.auth import InvalidStoreURL, normalize_store_url
from integrations.woocommerce.client import WooCommerceClient, WooNotFound
from integrations.woocommerce.sandbox.models import SandboxOrder, SandboxOrderNote, SandboxStore
from integrations.woocommerce.sandbox.store import create_order
from tests.sandbox_session import member_of


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("shop.example.com", "https://shop.example.com"),
        ("HTTPS://Shop.Example.com/", "https://shop.example.com"),
        ("https://example.com/store/", "https://example.com/store"),
        ("https://example.com:443", "https://example.com"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
    ],
)
def test_store_urls_are_normalised(raw, expected, settings):
    assert normalize_store_url(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "http://shop.example.com",
        "ftp://shop.example.com",
        "https://user:pw@shop.example.com",
        "https://shop.example.com/?a=1",
        "https://shop.example.com/#x",
        "https://shop.example.com/../etc",
        "https://shop.example.com/a%2F..",
        "https://shop.example.com\\@evil.com",
        "https://127.0.0.1",
        "https://10.0.0.5",
        "https://[::1]",
        "https://169.254.169.254",
        "https://localhost",
        "https://shop.example.com/wp-json/wc/v3",
        "https://shop.example.com:99999",
        "https://example.com:8443",  # production stores only on 443
        "http://127.0.0.1:8000/not-sandbox/woocommerce/x",
    ],
)
def test_store_urls_we_refuse(raw):
    with pytest.raises(InvalidStoreURL):
        normalize_store_url(raw)


def test_sandbox_urls_only_when_sandboxes_are_on(settings):
    assert (
        normalize_store_url("http://127.0.0.1:8000/sandbox/woocommerce/a")
        == "http://127.0.0.1:8000/sandbox/woocommerce/a"
    )
    settings.SANDBOX_ENABLED = False
    with pytest.raises(InvalidStoreURL):
        normalize_store_url("http://127.0.0.1:8000/sandbox/woocommerce/a")


def _orders(shop, n, **extra):
    return [
        create_order(
            shop,
            {
                "status": "processing",
                "billing": {"first_name": "A", "last_name": "B", "email": f"buyer{i}@example.com"},
                "line_items": [{"sku": "WOO-HAT", "quantity": 1 + i % 3}],
                **extra,
            },
        )
        for i in range(n)
    ]


def test_basic_auth_paging_and_modified_after(shop, woo_client):
    orders = _orders(shop, 105)
    listed = list(woo_client.list_orders())
    assert [o["id"] for o in listed] == [o.pk for o in orders]  # oldest first, across two pages
    pages = [c for c in woo_client.recorded if "orders" in c.url]
    assert len(pages) == 2 and "per_page=100" in pages[0].url and "page=2" in pages[1].url

    # Bump one order's modification time: only it is "modified after" the cut.
    cut = max(o.date_modified_gmt for o in orders)
    target = SandboxOrder.objects.get(pk=orders[7].pk)
    import time_machine

    from integrations.woocommerce.sandbox.store import update_order

    with time_machine.travel(cut.timestamp() + 5):
        update_order(shop, target, {"status": "completed"})
    changed = list(woo_client.list_orders(modified_after=cut))
    assert [o["id"] for o in changed] == [target.pk]
    assert changed[0]["status"] == "completed"
    assert "dates_are_gmt=true" in woo_client.recorded[-1].url


def test_get_update_status_and_notes(shop, woo_client):
    (order,) = _orders(shop, 1)
    assert woo_client.get_order(order.pk)["number"] == str(order.pk)
    updated = woo_client.update_order_status(order.pk, "on-hold")
    assert updated["status"] == "on-hold"
    order.refresh_from_db()
    assert order.status == "on-hold" and order.date_modified_gmt > order.date_created_gmt
    woo_client.add_order_note(order.pk, "Invoice INV-1 created")
    assert SandboxOrderNote.objects.get(order=order).note == "Invoice INV-1 created"
    assert woo_client.get_product_by_sku("WOO-MUG")["name"] == "Woo Mug"
    assert woo_client.get_product_by_sku("NOPE") is None


def test_errors_are_typed(shop, woo_client):
    with pytest.raises(WooNotFound) as missing:
        woo_client.get_order(999999)
    assert missing.value.vendor_code == "woocommerce_rest_shop_order_invalid_id"
    with pytest.raises(Permanent) as invalid:
        woo_client.update_order_status(SandboxOrder.objects.create(store=shop, data={}).pk, "shipped-ish")
    assert invalid.value.status == 400 and invalid.value.vendor_code == "rest_invalid_param"

    bad_key = WooCommerceClient(shop.url, "ck_wrong", "cs_wrong")
    with pytest.raises(AuthExpired, match="Consumer key is invalid"):
        bad_key.check_access()
    bad_secret = WooCommerceClient(shop.url, shop.key.consumer_key, "cs_wrong")
    with pytest.raises(AuthExpired, match="Consumer secret is invalid"):
        bad_secret.check_access()


def test_anonymous_request_gets_woocommerce_401_body(shop):
    response = requests.get(f"{shop.url}/wp-json/wc/v3/orders", timeout=5)
    assert response.status_code == 401
    assert response.json() == {
        "code": "woocommerce_rest_cannot_view",
        "message": "Sorry, you cannot list resources.",
        "data": {"status": 401},
    }
    assert requests.get(f"{shop.url}/wp-json/wc/v3/nope", timeout=5).json()["code"] == "rest_no_route"


def test_query_string_auth_when_a_proxy_strips_authorization(shop, woo_client, settings):
    SandboxStore.objects.filter(pk=shop.pk).update(faults={"strip_authorization": True})
    with pytest.raises(AuthExpired) as refused:
        woo_client.check_access()
    assert refused.value.vendor_code == "woocommerce_rest_cannot_view"
    calls = []
    query_client = WooCommerceClient(
        shop.url, shop.key.consumer_key, shop.key.consumer_secret, query_string_auth=True, on_call=calls.append
    )
    query_client.check_access()
    assert "consumer_key=%5Bredacted%5D" in calls[0].url or "consumer_key=[redacted]" in calls[0].url
    assert shop.key.consumer_key not in calls[0].url and shop.key.consumer_secret not in calls[0].url


def test_fault_knobs_500_429_and_timeouts(shop, woo_client):
    control = f"{woo_client.store_url.split('/sandbox/')[0]}/sandbox/woocommerce/_control/faults"
    assert requests.post(control, json={"store": shop.slug, "error_rate": 1}, timeout=5).status_code == 401
    owner = member_of(shop.organization)
    assert owner.post(control, json={"store": shop.slug, "error_rate": 1}, timeout=5).status_code == 200
    with pytest.raises(Transient):
        woo_client.check_access()
    owner.post(control, json={"store": shop.slug, "reset": True, "rate_429": 1, "retry_after": 2}, timeout=5)
    slept = []
    woo_client.sleep = slept.append
    woo_client.rate_limit = None  # the shared bucket's own 2 s block is tested in tests/connector
    with pytest.raises(RateLimited) as limited:
        woo_client.check_access()
    assert limited.value.retry_after == 2 and len(slept) == woo_client.max_429_retries
    owner.post(control, json={"store": shop.slug, "reset": True, "timeout_rate": 1, "timeout_seconds": 0.8}, timeout=5)
    woo_client.timeout = (2.0, 0.3)
    with pytest.raises(Transient, match="no answer in time"):
        woo_client.check_access()
    bad = owner.post(control, json={"store": shop.slug, "error_rate": 7}, timeout=5)
    assert bad.status_code == 400 and "between 0 and 1" in bad.json()["error"]


def test_seeded_faults_are_reproducible(shop):
    from integrations.woocommerce.sandbox.faults import reset_generator, roll

    shop.faults = {"error_rate": 0.5, "seed": 7}
    reset_generator(shop)
    first = [roll(shop, "error_rate") for _ in range(20)]
    reset_generator(shop)
    assert [roll(shop, "error_rate") for _ in range(20)] == first
    assert any(first) and not all(first)


def test_sandbox_rejects_what_woocommerce_rejects(shop):
    auth = (shop.key.consumer_key, shop.key.consumer_secret)
    api = f"{shop.url}/wp-json/wc/v3"
    assert requests.get(f"{api}/orders?per_page=101", auth=auth, timeout=5).json()["code"] == "rest_invalid_param"
    assert requests.get(f"{api}/orders?page=5", auth=auth, timeout=5).status_code == 200  # empty store: no error
    _orders(shop, 1)
    page = requests.get(f"{api}/orders?page=5", auth=auth, timeout=5)
    assert page.status_code == 400 and page.json()["code"] == "rest_post_invalid_page_number"
    bad_json = requests.post(
        f"{api}/orders", data="{nope", auth=auth, timeout=5, headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["code"] == "rest_invalid_json"
    no_product = requests.post(f"{api}/orders", json={"line_items": [{"sku": "NOPE"}]}, auth=auth, timeout=5)
    assert no_product.status_code == 400
    trash = requests.delete(f"{api}/webhooks/1", auth=auth, timeout=5)
    assert trash.status_code == 404
    read_only = shop.keys.create(description="ro", consumer_key="ck_ro", consumer_secret="cs_ro", permissions="read")
    refused = requests.post(f"{api}/orders", json={}, auth=(read_only.consumer_key, "cs_ro"), timeout=5)
    assert refused.status_code == 401 and "write permissions" in refused.json()["message"]
