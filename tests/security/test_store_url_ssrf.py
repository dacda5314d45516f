"""A WooCommerce store URL is the one host a tenant chooses for us to call: it must not reach inside.

The attacks: legacy IPv4 spellings that `ipaddress` refuses but getaddrinfo accepts (`127.1`,
`0x7f.0.0.1`), names that resolve to internal addresses (or switch to one after the check: DNS
rebinding), and the connect form as a port scanner (different answers for open and closed ports).
Internal addresses appear here only as validation inputs or fake resolver answers; every real
connection goes to a listener this test starts on 127.0.0.1, reached through the pinned adapter.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import socket
import ssl
import threading

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connector import netguard
from connector.http import Transient
from connector.netguard import PinnedAdapter, UnsafeDestination, resolve_public
from integrations.woocommerce import client as woo_client
from integrations.woocommerce import connect as woo_connect
from integrations.woocommerce.auth import InvalidStoreURL, normalize_store_url
from integrations.woocommerce.client import WooCommerceClient
from integrations.woocommerce.connect import UNREACHABLE, KeyCheckFailed, check_store, verify_keys
from integrations.woocommerce.models import WooAuthRequest

CONNECT = "/integrations/woocommerce/connect/"
MANUAL = "/integrations/woocommerce/connect/keys/"


@pytest.fixture
def no_network(monkeypatch):
    """Spies: any name resolution or socket connect fails the test's expectations (recorded)."""
    calls: list[tuple] = []

    def resolve(*args, **kwargs):
        calls.append(("getaddrinfo", args))
        raise AssertionError("resolved a refused host")

    def connect(self, address):
        calls.append(("connect", address))
        raise AssertionError("connected to a refused host")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    return calls


@pytest.mark.parametrize(
    "raw",
    [
        "https://127.1",
        "https://0177.0.0.1",
        "https://0x7f.0.0.1",
        "https://169.254.43518",
        "https://10.1",
        "https://2130706433",
        "https://0x7f000001",
        "https://017700000001",
        "https://shop.0x10",
        "https://[::ffff:127.0.0.1]",
        "https://[::ffff:a9fe:a9fe]",
        "https://[fe80::1]",
        "https://[fd00::1]",
        "https://100.64.0.1",
        "https://192.168.1.10",
        "https://224.0.0.1",
        "https://0.0.0.0",
        "https://shop.localhost",
        "https://metadata.internal",
        "https://shop.example.com:8443",
        "https://shop.example.com:80",
    ],
)
def test_legacy_and_private_forms_are_refused_without_connecting(raw, no_network):
    with pytest.raises(InvalidStoreURL):
        normalize_store_url(raw)
    assert no_network == []


@pytest.mark.parametrize("address", ["10.0.0.7", "169.254.169.254", "127.0.0.1", "::1", "fe80::1", "100.64.1.1"])
def test_a_public_looking_name_that_resolves_inside_is_refused_before_connecting(address, no_network, monkeypatch):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    asked = []

    def fake_getaddrinfo(host, port, *args, **kwargs):
        asked.append(host)
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    store = WooCommerceClient("https://shop.example.com", "ck_x", "cs_y", sleep=lambda s: None)
    with pytest.raises(Transient):
        store.check_access()
    with pytest.raises(KeyCheckFailed) as refused:
        check_store("https://shop.example.com")
    assert refused.value.message == UNREACHABLE
    assert asked and set(asked) == {"shop.example.com"}
    assert [c for c in no_network if c[0] == "connect"] == []


def test_one_internal_address_among_several_is_enough_to_refuse(monkeypatch, no_network):
    # Stand-in for "a global address": pretend 127.0.0.2 is one, so no real public address is used.
    monkeypatch.setattr(netguard, "is_public_ip", lambda ip: str(ip) == "127.0.0.2")
    answers = [("127.0.0.2", 443), ("10.0.0.1", 443)]

    def fake(host, port, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", a) for a in answers]

    with pytest.raises(UnsafeDestination):
        resolve_public("shop.example.com", 443, resolver=fake)
    answers.reverse()
    with pytest.raises(UnsafeDestination):
        resolve_public("shop.example.com", 443, resolver=fake)
    answers[:] = [("127.0.0.2", 443)]
    assert resolve_public("shop.example.com", 443, resolver=fake) == "127.0.0.2"
    assert [c for c in no_network if c[0] == "connect"] == []


def test_the_guarded_session_resolves_once_per_request_and_connects_to_the_checked_address(monkeypatch):
    """DNS rebinding: the name answers a checked address, then an internal one. The connection must
    go to the address that was checked (here the test's listener), never to a second lookup's."""
    server, port = _http_listener({"namespaces": ["wc/v3"]})
    monkeypatch.setattr(netguard, "is_public_ip", lambda ip: str(ip) == "127.0.0.1")
    lookups = []

    def rebinding(host, port, **kwargs):
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "10.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    session = netguard.guarded_session(resolver=rebinding)
    try:
        response = session.get(f"http://shop.example.com:{port}/wp-json/", timeout=5)
        assert response.json() == {"namespaces": ["wc/v3"]} and len(lookups) == 1
        assert server.seen[-1]["host"] == f"shop.example.com:{port}"
        with pytest.raises(requests.ConnectionError):  # the next request re-checks: now refused
            session.get(f"http://shop.example.com:{port}/wp-json/", timeout=5)
        assert len(server.seen) == 1
    finally:
        session.close()
        _stop(server)


# --- The pinned adapter against 127.0.0.1 -------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append({"path": self.path, "host": self.headers.get("Host")})
        status, body = self.server.answer
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        return


def _http_listener(body, status: int = 200, tls: ssl.SSLContext | None = None):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen, server.answer = [], (status, body)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_port


def _stop(server) -> None:
    server.shutdown()
    server.server_close()


def _certificate(tmp_path, name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


def test_pinned_adapter_sends_to_the_pinned_ip_with_the_store_host_header():
    server, port = _http_listener({"ok": True})
    session = requests.Session()
    session.mount("http://", PinnedAdapter("127.0.0.1"))
    try:
        response = session.get(f"http://shop.example.com:{port}/wp-json/?a=1", timeout=5)
        assert response.json() == {"ok": True}
        assert server.seen == [{"path": "/wp-json/?a=1", "host": f"shop.example.com:{port}"}]
    finally:
        session.close()
        _stop(server)


def test_pinned_adapter_keeps_brackets_of_an_ipv6_host_in_the_host_header():
    server, port = _http_listener({"ok": True})
    session = requests.Session()
    session.mount("http://", PinnedAdapter("127.0.0.1"))
    try:
        session.get(f"http://[::1]:{port}/", timeout=5)
        assert server.seen[-1]["host"] == f"[::1]:{port}"
    finally:
        session.close()
        _stop(server)


def test_pinned_adapter_uses_the_store_name_for_sni_and_the_certificate(tmp_path):
    cert, key = _certificate(tmp_path, "shop.example.com")
    names: list[str | None] = []
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    tls.sni_callback = lambda sock, name, ctx: names.append(name)
    server, port = _http_listener({"ok": True}, tls=tls)
    session = requests.Session()
    session.mount("https://", PinnedAdapter("127.0.0.1"))
    try:
        response = session.get(f"https://shop.example.com:{port}/wp-json/", timeout=5, verify=cert)
        assert response.json() == {"ok": True}
        assert names == ["shop.example.com"]
        assert server.seen[-1]["host"] == f"shop.example.com:{port}"
        # The certificate is checked against the store's name, not the address we connected to.
        with pytest.raises(requests.exceptions.SSLError):
            session.get(f"https://other.example.com:{port}/wp-json/", timeout=5, verify=cert)
    finally:
        session.close()
        _stop(server)


# --- One answer for open and closed ports; no body echoed ------------------------------------------


class _ToListener(PinnedAdapter):
    """Pins 127.0.0.1 and this test's port, as if the store's public address answered there."""

    def __init__(self, port: int):
        super().__init__("127.0.0.1")
        self.port = port

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        scheme, ip, _, pool_kwargs = request._pinned_to
        request._pinned_to = (scheme, ip, self.port, pool_kwargs)
        return super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)


def _closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _route_store_calls_to(monkeypatch, port: int) -> None:
    def session():
        s = requests.Session()
        s.mount("https://", _ToListener(port))
        return s

    monkeypatch.setattr(woo_connect, "guarded_session", session)
    monkeypatch.setattr(woo_client, "guarded_session", session)


def _form_errors(response) -> str:
    return " ".join(str(e) for e in response.context["form"].non_field_errors())


def test_open_and_closed_ports_get_the_same_answer(client, alice, monkeypatch, settings):
    settings.RATELIMIT_ENABLE = False
    client.force_login(alice)
    open_server, open_port = _http_listener(b"INTERNAL-SERVICE-BANNER", status=200)  # plain HTTP: TLS fails
    answers = {}
    try:
        for name, port in (("open", open_port), ("closed", _closed_port())):
            _route_store_calls_to(monkeypatch, port)
            started = client.post(CONNECT, {"store_url": "https://shop.example.com", "label": ""})
            assert started.status_code == 200  # no redirect to the store
            manual = client.post(
                MANUAL, {"store_url": "https://shop.example.com", "consumer_key": "ck_1", "consumer_secret": "cs_1"}
            )
            assert manual.status_code == 200
            answers[name] = (_form_errors(started), " ".join(manual.context["manual_form"].non_field_errors()))
    finally:
        _stop(open_server)
    assert answers["open"] == answers["closed"]
    assert all(text.startswith(UNREACHABLE) for text in answers["open"])
    assert not WooAuthRequest.objects.exists()


@pytest.fixture
def fake_store(live_server):
    """A loopback server under the sandbox path that is not a WooCommerce store."""
    server, port = _http_listener({"code": "x", "message": "INTERNAL-SECRET-BODY", "namespaces": ["wp/v2"]})
    yield server, f"http://127.0.0.1:{port}/sandbox/woocommerce/not-woo"
    _stop(server)


def test_connect_refuses_a_site_that_is_not_woocommerce_without_redirecting(client, alice, fake_store):
    server, url = fake_store
    client.force_login(alice)
    response = client.post(CONNECT, {"store_url": url, "label": ""})
    assert response.status_code == 200 and _form_errors(response).startswith(UNREACHABLE)
    assert server.seen[-1]["path"] == "/sandbox/woocommerce/not-woo/wp-json/"
    assert "INTERNAL-SECRET-BODY" not in response.content.decode()
    assert not WooAuthRequest.objects.exists()


def test_connect_refuses_a_sandbox_address_that_answers_404(client, alice, live_server):
    client.force_login(alice)
    response = client.post(CONNECT, {"store_url": f"{live_server.url}/sandbox/woocommerce/no-such-store"})
    assert response.status_code == 200 and _form_errors(response).startswith(UNREACHABLE)
    assert not WooAuthRequest.objects.exists()


def test_the_far_sides_body_is_never_shown(fake_store):
    server, url = fake_store
    server.answer = (500, {"code": "boom", "message": "INTERNAL-SECRET-BODY"})
    with pytest.raises(KeyCheckFailed) as failed:
        verify_keys(url, "ck_1", "cs_1")
    assert failed.value.message == UNREACHABLE and "INTERNAL-SECRET-BODY" not in failed.value.remediation
    server.answer = (401, {"code": "not_woo", "message": "INTERNAL-SECRET-BODY"})
    with pytest.raises(KeyCheckFailed) as failed:
        verify_keys(url, "ck_1", "cs_1")
    assert failed.value.message == UNREACHABLE


def test_the_sandbox_answers_the_rest_index_like_wordpress(client, alice, live_server):
    from integrations.woocommerce.sandbox.views import create_store

    create_store("idx-shop", name="Index Shop", currency="USD", tax_rate="0", organization=alice.org)
    index = requests.get(f"{live_server.url}/sandbox/woocommerce/idx-shop/wp-json/", timeout=10).json()
    assert "wc/v3" in index["namespaces"] and index["name"] == "Index Shop"
    assert {"url", "home", "gmt_offset", "timezone_string", "authentication", "routes"} <= set(index)
    check_store(f"{live_server.url}/sandbox/woocommerce/idx-shop")  # passes


def test_ipv4_mapped_ipv6_is_judged_by_its_ipv4_address():
    assert not netguard.is_public_ip(ipaddress.ip_address("::ffff:10.0.0.1"))
