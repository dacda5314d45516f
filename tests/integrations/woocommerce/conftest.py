import gc
import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def woo_live(live_server, transactional_db, settings):
    """The live server with our public URL pointing at it (callbacks and webhook deliveries)."""
    settings.PUBLIC_BASE_URL = live_server.url
    yield live_server
    # Keep-alive HTTP sessions pin a live-server thread and its database connection until the
    # client socket closes; collect the clients so those threads end before the test DB is dropped.
    gc.collect()


@pytest.fixture
def shop(woo_live, alice):
    """A sandbox store of alice's organisation: its pages and control endpoints need her login."""
    from integrations.woocommerce.sandbox.views import create_store

    store = create_store("shop-one", name="Shop One", currency="USD", tax_rate="0.1", organization=alice.org)
    store.url = f"{woo_live.url}/sandbox/woocommerce/{store.slug}"
    store.key = store.keys.first()
    return store


@pytest.fixture
def woo_client(shop):
    from integrations.woocommerce.client import WooCommerceClient

    calls = []
    client = WooCommerceClient(
        shop.url, shop.key.consumer_key, shop.key.consumer_secret, on_call=calls.append, sleep=lambda s: None
    )
    client.recorded = calls
    yield client
    client.session.close()
