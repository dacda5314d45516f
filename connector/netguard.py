"""Outbound calls to tenant-supplied hosts: refuse internal addresses, then connect to the checked one.

A host name a tenant types (a WooCommerce store) may resolve inside our network, and may resolve
differently a second later (DNS rebinding). So, at call time, the name is resolved once, every
address must be global, and the connection goes to one of those checked addresses while the
Host header, TLS SNI and certificate check still use the name (urllib3 pool keywords
`server_hostname` and `assert_hostname`). Nothing here connects before the check passes.

Literal checks come first and never resolve: Python's `ipaddress` refuses the legacy IPv4 forms
that inet_aton (and so getaddrinfo) still accepts (`127.1`, `0177.0.0.1`, `0x7f.0.0.1`,
`169.254.43518`, `10.1`), so a host whose last label is numeric or hex-numeric is refused outright:
no real top-level domain is numeric.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

# The last label of a legacy IPv4 form: decimal, octal (leading 0) or hex (0x...) digits.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)

Resolver = Callable[..., list]


class UnsafeDestination(requests.ConnectionError):
    """The host is, or resolves to, an address we never call. A ConnectionError on purpose: callers
    treat it exactly like an unreachable host, so the answer does not reveal which it was."""


def is_public_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def literal_problem(host: str) -> str | None:
    """Why `host` (lower-case, IDNA-encoded, no brackets) is refused without resolving it, or None."""
    host = host.rstrip(".")
    if not host:
        return "empty host"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        return None if is_public_ip(ip) else "not a public address"
    if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
        return "numeric host"  # every legacy IPv4 spelling ends in a numeric label
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return "local name"
    return None


def resolve_public(host: str, port: int, *, resolver: Resolver | None = None) -> str:
    """The first address of `host`, after checking that EVERY address it resolves to is public.

    Raises UnsafeDestination for a refused literal, a name that does not resolve, or any address
    that is not global (one internal address is enough: the client library could pick it).
    """
    problem = literal_problem(host)
    if problem:
        raise UnsafeDestination(f"refused destination ({problem})")
    resolve = resolver or socket.getaddrinfo
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeDestination("host does not resolve") from None
    addresses = []
    for info in infos:
        try:
            ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        except ValueError:
            raise UnsafeDestination("refused destination (unparseable address)") from None
        if not is_public_ip(ip):
            raise UnsafeDestination("refused destination (resolves to a non-public address)")
        addresses.append(str(ip))
    if not addresses:
        raise UnsafeDestination("host does not resolve")
    return addresses[0]


class PinnedAdapter(HTTPAdapter):
    """Sends every request to the address `pick_ip` returns, keeping the URL's host for the Host
    header, SNI and the certificate check. The base class pins one fixed address (`ip`)."""

    def __init__(self, ip: str | None = None, **kwargs):
        self.ip = ip
        super().__init__(**kwargs)

    def pick_ip(self, host: str, port: int) -> str:
        if not self.ip:
            raise UnsafeDestination("no address pinned")
        return self.ip

    def send(self, request: requests.PreparedRequest, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        parts = urlsplit(request.url or "")
        host = (parts.hostname or "").lower()
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        ip = self.pick_ip(host, port)
        default_port = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
        shown = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets (RFC 7230 §5.4)
        request.headers["Host"] = shown if default_port else f"{shown}:{port}"
        pool_kwargs = {"server_hostname": host, "assert_hostname": host} if scheme == "https" else {}
        # Carried on the request (not the adapter) so concurrent requests cannot mix their addresses.
        request._pinned_to = (scheme, ip, port, pool_kwargs)
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies={})

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        scheme, ip, port, pool_kwargs = request._pinned_to
        _, kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        kwargs.update(pool_kwargs)
        return self.poolmanager.connection_from_host(ip, port=port, scheme=scheme, pool_kwargs=kwargs)


class GuardedAdapter(PinnedAdapter):
    """Resolves and checks the host at each request, then pins the checked address."""

    def __init__(self, resolver: Resolver | None = None, **kwargs):
        self.resolver = resolver
        super().__init__(None, **kwargs)

    def pick_ip(self, host: str, port: int) -> str:
        return resolve_public(host, port, resolver=self.resolver)


def guarded_session(resolver: Resolver | None = None) -> requests.Session:
    """A Session whose every http(s) request goes through the resolve-check-pin path; proxies from
    the environment are ignored (a proxy would resolve the name itself)."""
    session = requests.Session()
    session.trust_env = False
    adapter = GuardedAdapter(resolver)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
