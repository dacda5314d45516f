"""Client IPs for throttles: headers count only behind our own proxy, and only the hop it wrote.

Addresses here are loopback (127.0.0.0/8, ::1) or the IPv6 documentation prefix (2001:db8::/32,
RFC 3849); nothing connects to them, they are parsed only.
"""

from __future__ import annotations

import pytest
from allauth.account.adapter import get_adapter
from django.test import RequestFactory, override_settings

from connector.clientip import client_ip, throttle_key


def _request(remote="127.0.0.1", **headers):
    return RequestFactory().get("/", REMOTE_ADDR=remote, **headers)


def test_direct_ignores_forwarded_headers():
    request = _request(HTTP_X_FORWARDED_FOR="127.0.0.9", HTTP_X_REAL_IP="127.0.0.8")
    assert client_ip(request) == "127.0.0.1"


@override_settings(BEHIND_PROXY=True, TRUSTED_PROXY_COUNT=1, TRUSTED_CLIENT_IP_HEADER="")
def test_behind_one_proxy_takes_the_hop_it_appended_not_the_spoofed_left_entries():
    # The client sent "X-Forwarded-For: 127.0.0.66"; our proxy appended the real peer 127.0.0.5.
    request = _request(HTTP_X_FORWARDED_FOR="127.0.0.66, 127.0.0.5")
    assert client_ip(request) == "127.0.0.5"


@override_settings(BEHIND_PROXY=True, TRUSTED_PROXY_COUNT=2, TRUSTED_CLIENT_IP_HEADER="")
def test_behind_two_proxies():
    request = _request(HTTP_X_FORWARDED_FOR="127.0.0.66, 127.0.0.5, 127.0.0.3")
    assert client_ip(request) == "127.0.0.5"


@override_settings(BEHIND_PROXY=True, TRUSTED_PROXY_COUNT=2, TRUSTED_CLIENT_IP_HEADER="")
def test_too_few_hops_or_garbage_fall_back_to_the_peer():
    assert client_ip(_request(HTTP_X_FORWARDED_FOR="127.0.0.5")) == "127.0.0.1"
    assert client_ip(_request(HTTP_X_FORWARDED_FOR="not-an-ip, 127.0.0.3")) == "127.0.0.1"
    assert client_ip(_request()) == "127.0.0.1"


@override_settings(BEHIND_PROXY=True, TRUSTED_CLIENT_IP_HEADER="X-Real-IP")
def test_trusted_header_is_the_only_source_when_configured():
    request = _request(HTTP_X_REAL_IP="127.0.0.7", HTTP_X_FORWARDED_FOR="127.0.0.66")
    assert client_ip(request) == "127.0.0.7"
    assert client_ip(_request(HTTP_X_REAL_IP="[::1]:443")) == "::1"
    assert client_ip(_request(HTTP_X_REAL_IP="127.0.0.7:5100")) == "127.0.0.7"


def test_ipv6_is_canonical_and_throttles_group_by_64():
    a = _request(remote="2001:db8:0:0:0:0:0:1")
    b = _request(remote="2001:db8::ffff:2")
    assert client_ip(a) == "2001:db8::1"
    assert throttle_key(a) == throttle_key(b) == "2001:db8::/64"
    assert throttle_key(_request()) == "127.0.0.1"


@pytest.mark.parametrize(
    "behind_proxy,header,expected",
    [(False, "", "127.0.0.1"), (True, "", "127.0.0.5"), (True, "X-Real-IP", "127.0.0.7")],
)
def test_allauth_rate_limits_see_the_same_client(behind_proxy, header, expected):
    request = _request(HTTP_X_FORWARDED_FOR="127.0.0.66, 127.0.0.5", HTTP_X_REAL_IP="127.0.0.7")
    with override_settings(BEHIND_PROXY=behind_proxy, TRUSTED_PROXY_COUNT=1, TRUSTED_CLIENT_IP_HEADER=header):
        assert client_ip(request) == expected
        assert get_adapter(request).get_client_ip(request) == expected


@pytest.mark.django_db
def test_login_throttle_counts_each_client_behind_the_proxy_not_the_proxy(client):
    """Behind a balancer every request's REMOTE_ADDR is the balancer: allauth's per-IP limits must
    count the client the balancer saw, and spoofed X-Forwarded-For entries must not help."""
    from django.urls import reverse

    def attempt(hop: str, spoofed: str, n: int):
        headers = {"HTTP_X_FORWARDED_FOR": f"{spoofed}, {hop}", "REMOTE_ADDR": "127.0.0.2"}
        data = {"login": f"nobody{n}@example.com", "password": "wrong"}
        return client.post(reverse("account_login"), data, **headers).content

    with override_settings(BEHIND_PROXY=True, TRUSTED_PROXY_COUNT=1, TRUSTED_CLIENT_IP_HEADER=""):
        for n in range(10):  # allauth: 10 failed logins a minute per IP
            assert b"Too many" not in attempt("127.0.0.10", f"127.0.1.{n}", n)
        assert b"Too many" in attempt("127.0.0.10", "127.0.1.99", 99)  # a new spoofed entry buys nothing
        assert b"Too many" not in attempt("127.0.0.11", "127.0.1.99", 100)  # another client is not locked out
