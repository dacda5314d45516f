"""Credentials never leave for a host taken from vendor-supplied data (ShipStation `resource_url`).

The attack: anyone who knows a connection's webhook URL posts a ShipStation V1 body whose
`resource_url` points at their own host. `urlsplit` reads `http://<attacker>\\@<api host>/...` as the
API host while requests connects to the attacker, so the old same-origin check let the Basic
credentials go there. Here the attacker is a listener on 127.0.0.1 that this test starts; the
connection's API host is the ShipStation sandbox on the live server, named `localhost` as real bases
are named by host name. Every variant must be refused, and the listener must hear nothing at all.

The real thing the guard must still allow: V1 pointers on ShipStation's other API hosts
(`ssapi6.shipstation.com`, see integrations/shipstation/client.py for the sources). The sandbox sends its
pointers on its alias host (`127.0.0.1` for a `localhost` base): they are followed, rebuilt on the base
URL, and the orders arrive as records. Production pointers are checked without any network: a
capturing transport adapter stands in for the connection, so nothing leaves the process.
"""

from __future__ import annotations

import json

import pytest
import requests
from requests.adapters import BaseAdapter

from accounts.models import Organization
from connector import tasks
from connector.http import RefusedURL
from connector.models import Connection, Delivery, Event, Flow, Record
from integrations.shipstation.client import V1_BASE_URL, ShipStationClient
from integrations.shipstation.connection import client_for
from integrations.shipstation.sandbox.delivery import deliver_pending
from integrations.shipstation.sandbox.models import SandboxAccount
from tests.connector.vendor_stub import StubServer
from tests.integrations.shipstation.conftest import order_body

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def attacker():
    server = StubServer()
    yield server
    server.close()


@pytest.fixture
def sandbox_root(live_server, settings) -> str:
    settings.PUBLIC_BASE_URL = live_server.url
    assert live_server.url.startswith("http://localhost:")
    return live_server.url + "/sandbox/shipstation"


@pytest.fixture
def account() -> SandboxAccount:
    return SandboxAccount.objects.create(
        name="Victim store", seed=3, organization=Organization.objects.create(name="Victim")
    )


@pytest.fixture
def connection(alice, account, sandbox_root) -> Connection:
    conn = Connection.objects.create(
        organization=alice.org,
        system="shipstation",
        label="Victim",
        credentials={"api_key": account.api_key, "api_secret": account.api_secret},
        settings={"base_url": sandbox_root},
    )
    books = Connection.objects.create(organization=alice.org, system="zoho", label="Books")
    Flow.objects.create(organization=alice.org, preset="shipstation_zoho", source=conn, target=books, enabled=True)
    return conn


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Records the engine queues for syncing (no worker in this test)."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.sync_record, "delay", lambda record_id, **kwargs: ids.append(record_id))
    return ids


def post_pointer(client, connection: Connection, resource_url: str) -> Delivery:
    body = json.dumps({"resource_url": resource_url, "resource_type": "ORDER_NOTIFY"})
    response = client.post(
        f"/hooks/shipstation/{connection.webhook_token}/", data=body, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return Delivery.objects.filter(connection=connection).latest("id")


def attack_urls(attacker_port: int, api_port: int) -> list[str]:
    api = f"localhost:{api_port}"
    evil = f"127.0.0.1:{attacker_port}"
    path = "/sandbox/shipstation/orders?storeID=10001&importBatch=x"
    return [
        f"http://{evil}\\@{api}{path}",  # urlsplit: host = the API host; requests: host = the attacker
        f"http://{evil}\\\\@{api}{path}",
        f"http://{evil}%5C@{api}{path}",
        f"http://{evil}@{api}{path}",  # userinfo
        f"http://{api}@{evil}{path}",
        f"http://user:pw@{evil}{path}",
        f"http://{evil}\t@{api}{path}",  # control characters, which urlsplit silently drops
        f"http://{evil}\n@{api}{path}",
        f"http://{evil}\r\n{path}",
        f"http://{evil}/\x00{path}",
        f"http://{evil}{path}",  # plainly another host (the alias name, but not the API's port)
        f"http://attacker.invalid{path}",
        f"https://{api}{path}",  # another scheme than the connection's
        f"http://{api}/sandbox/shipstation/../../admin/",  # dot segments
        "http://[::1/sandbox/shipstation/orders",  # urlsplit raises on this one
    ]


def test_no_variant_of_a_foreign_pointer_makes_us_call_out(client, connection, attacker, live_server, queued):
    api_port = int(live_server.url.rsplit(":", 1)[1])
    for url in attack_urls(attacker.server.server_port, api_port):
        delivery = post_pointer(client, connection, url)
        tasks.process_delivery.run(delivery.pk)
        leaked = [r["headers"].get("Authorization", "") for r in attacker.requests]
        assert leaked == [], f"{url!r} made us call the attacker, with Authorization {leaked}"
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.FAILED, url
        assert "refused" in delivery.error, (url, delivery.error)
        assert connection.credentials["api_secret"] not in delivery.error
    assert attacker.requests == []  # no request at all, so no Authorization header ever reached it
    assert queued == [] and not Record.objects.exists()
    refusals = Event.objects.filter(connection=connection, kind=Event.Kind.FAILED)
    assert refusals.count() == len(attack_urls(1, 1))


def test_the_backslash_pointer_would_pass_urlsplit(attacker, live_server):
    """Why the old check failed: urlsplit and requests disagree about this URL's host."""
    from urllib.parse import urlsplit

    api_port = int(live_server.url.rsplit(":", 1)[1])
    url = attack_urls(attacker.server.server_port, api_port)[0]
    assert (urlsplit(url).hostname, urlsplit(url).port) == ("localhost", api_port)
    prepared = requests.Request("GET", url).prepare()
    assert prepared.url.startswith(f"http://127.0.0.1:{attacker.server.server_port}/")


def test_a_pointer_on_the_alias_host_is_followed_and_becomes_records(
    client, connection, account, sandbox_root, attacker, queued
):
    """The sandbox sends V1 pointers on 127.0.0.1 while the connection calls localhost: followed,
    rebuilt on the connection's own base URL, and the orders arrive as records."""
    from integrations.shipstation import connection as conn

    SandboxAccount.objects.filter(pk=account.pk).update(auto_deliver_webhooks=False)
    conn.ensure_webhooks(connection, client_for(connection))
    ss = client_for(connection)
    ss.create_orders([order_body("SEC-1"), order_body("SEC-2")])
    (call,) = deliver_pending()
    assert call.response_status == 200
    assert call.body["resource_url"].startswith(sandbox_root.replace("://localhost:", "://127.0.0.1:") + "/orders?")
    delivery = Delivery.objects.get(connection=connection)
    tasks.process_delivery.run(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.PROCESSED, delivery.error
    records = Record.objects.filter(flow__source=connection, object_type="order")
    assert sorted(records.values_list("source_ref", flat=True)) == ["SEC-1", "SEC-2"]
    assert len(queued) == 2 and attacker.requests == []
    # The URL followed is the pointer's path and query on our own base host.
    assert ss.pointer_url(call.body["resource_url"]).startswith(sandbox_root + "/orders?storeID=")


def test_sandbox_connections_accept_only_their_base_host_and_one_alias(connection, live_server):
    ss = client_for(connection)
    port = int(live_server.url.rsplit(":", 1)[1])
    assert ss.alias_origins == {ss.origin._replace(host="127.0.0.1")}
    assert ss.pointer_url(f"http://127.0.0.1:{port}/sandbox/shipstation/shipments?batchId=1") == (
        f"http://localhost:{port}/sandbox/shipstation/shipments?batchId=1"
    )
    for url in (
        "https://ssapi6.shipstation.com/sandbox/shipstation/shipments?batchId=1",  # production hosts: not here
        f"http://127.0.0.1:{port}/other/shipments",  # outside the sandbox's API path
        f"http://0.0.0.0:{port}/sandbox/shipstation/shipments",
    ):
        with pytest.raises(RefusedURL):
            ss.pointer_url(url)


# --- Production pointers: ShipStation's own API hosts, https only -------------------------------


class CapturingAdapter(BaseAdapter):
    """Stands in for the network: records what would be sent and answers an empty orders list."""

    def __init__(self):
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"orders": [], "shipments": [], "page": 1, "pages": 1}'
        response.headers["Content-Type"] = "application/json"
        response.url = request.url
        response.request = request
        return response

    def close(self):
        pass


@pytest.fixture
def production():
    adapter = CapturingAdapter()
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    client = ShipStationClient(V1_BASE_URL, api_key="K-live", api_secret="S-live", session=session)
    client.rate_limit = None  # no shared bucket needed: nothing leaves the process
    client.sent = adapter.sent
    return client


@pytest.mark.parametrize(
    "pointer",
    [
        "https://ssapi.shipstation.com/orders?storeID=1&importBatch=abc",
        "https://ssapi6.shipstation.com/shipments?batchId=190671332&includeShipmentItems=False",
        "https://SSAPI2.ShipStation.com:443/orders?importBatch=abc",
    ],
)
def test_production_pointers_on_shipstation_api_hosts_are_rebuilt_on_our_base(production, pointer):
    assert list(production.follow(pointer)) == []
    (sent,) = production.sent
    assert sent.url.startswith("https://ssapi.shipstation.com/")
    # The pointer's own path and query (a shipments list is always asked for with its items).
    wanted = pointer.split("/", 3)[3].replace("includeShipmentItems=False", "includeShipmentItems=true")
    assert sent.url.split("/", 3)[3] == wanted
    assert sent.headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    "pointer",
    [
        "http://ssapi6.shipstation.com/shipments?batchId=1",  # http on a real host
        "http://ssapi.shipstation.com/orders",
        "https://ssapi6.shipstation.com:8443/shipments",
        "https://ssapi100.shipstation.com/shipments",
        "https://ssapi0.shipstation.com/shipments",
        "https://xssapi.shipstation.com/shipments",
        "https://ssapi6.shipstation.com.attacker.invalid/shipments",
        "https://ssapi6-shipstation.com/shipments",
        "https://api.shipstation.com/v2/labels",  # the V2 host is not a V1 pointer host
        "https://shipstation.com/shipments",
        "https://attacker.invalid\\@ssapi6.shipstation.com/shipments",
        "https://ssapi6.shipstation.com@attacker.invalid/shipments",
    ],
)
def test_production_refuses_everything_else(production, pointer):
    with pytest.raises(RefusedURL):
        list(production.follow(pointer))
    assert production.sent == []


# --- Exact Online's `__next` paging links: vendor data, through the same guard --------------------


@pytest.fixture
def exact_api(monkeypatch):
    """An Exact-shaped API on a 127.0.0.1 stub, named `localhost` in the connection's base URL."""
    from integrations.exact import client as exact_client

    monkeypatch.setattr(exact_client.provider, "access_token", lambda connection: "EXACT-TOKEN")
    server = StubServer()
    yield server
    server.close()


def exact_client_for(api: StubServer):
    from integrations.exact.client import ExactClient

    base = f"http://localhost:{api.server.server_port}"
    connection = Connection(system="exact", settings={"base_url": base, "division": 7, "country": "nl"})
    return ExactClient(connection, sleep=lambda s: None)


def test_exact_next_links_to_another_host_are_refused_before_anything_is_sent(exact_api, attacker):
    port, evil = exact_api.server.server_port, attacker.server.server_port
    for next_link in (
        f"http://127.0.0.1:{evil}\\@localhost:{port}/api/v1/7/crm/Accounts?$skiptoken=guid'1'",
        f"http://localhost:{port}@127.0.0.1:{evil}/api/v1/7/crm/Accounts?$skiptoken=guid'1'",
        f"http://127.0.0.1:{evil}/api/v1/7/crm/Accounts?$skiptoken=guid'1'",
        f"http://localhost:{port}/api/v1/8/crm/Accounts?$skiptoken=guid'1'",  # another division's path
        "/api/v1/7/crm/Accounts?$skiptoken=guid'1'",  # not an absolute link
    ):
        exact_api.queue(200, {"d": {"results": [{"ID": "a"}], "__next": next_link}})
        client = exact_client_for(exact_api)
        with pytest.raises(RefusedURL):
            list(client.iter_results("crm/Accounts", {"$select": "ID"}))
        assert client.calls == 1, next_link
    assert attacker.requests == []
    assert all(r["headers"]["Authorization"] == "Bearer EXACT-TOKEN" for r in exact_api.requests)


def test_exact_next_links_on_the_own_host_are_followed_as_path_and_query(exact_api):
    port = exact_api.server.server_port
    exact_api.queue(
        200, {"d": {"results": [{"ID": "a"}], "__next": f"HTTP://LOCALHOST:{port}/api/v1/7/crm/Accounts?$skiptoken=2"}}
    )
    exact_api.queue(200, {"d": {"results": [{"ID": "b"}]}})
    rows = list(exact_client_for(exact_api).iter_results("crm/Accounts", {"$select": "ID"}))
    assert [r["ID"] for r in rows] == ["a", "b"]
    assert exact_api.requests[1]["path"] == "/api/v1/7/crm/Accounts?$skiptoken=2"
