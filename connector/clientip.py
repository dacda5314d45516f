"""The client's IP address: the one answer every throttle and lockout in the project uses.

Directly on the internet (the default) the client is the socket peer, REMOTE_ADDR; request headers
are ignored because anyone can send them. With BEHIND_PROXY on, the proxies we run are trusted:

- TRUSTED_CLIENT_IP_HEADER (e.g. "X-Real-IP", "CF-Connecting-IP") names a header our proxy sets
  to the client's address; it is then the only source.
- otherwise X-Forwarded-For is read from the right: each of our TRUSTED_PROXY_COUNT proxies
  appends the address it received from, so the entry TRUSTED_PROXY_COUNT places from the end is the
  first one a proxy of ours wrote. Everything to its left came from the client and is ignored.

allauth's login/signup/reset rate limits read the same settings (ALLAUTH_TRUSTED_PROXY_COUNT and
ALLAUTH_TRUSTED_CLIENT_IP_HEADER are derived from them in settings, and the account adapter returns
`client_ip`), so a spoofed header cannot buy an attacker fresh buckets anywhere.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

UNKNOWN = "unknown"


def _clean(value: str | None) -> str | None:
    """The address in canonical form, or None when `value` is not one IP address."""
    if not value:
        return None
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443" as some proxies write it
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "203.0.113.9:51234"
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The address of the client that sent `request`, as a canonical string ("unknown" if none).

    Falls back to the socket peer whenever the trusted source is missing or malformed: the throttle
    then counts the proxy itself, which is stricter, never looser.
    """
    peer = _clean(request.META.get("REMOTE_ADDR")) or UNKNOWN
    if not getattr(settings, "BEHIND_PROXY", False):
        return peer
    header = getattr(settings, "TRUSTED_CLIENT_IP_HEADER", "")
    if header:
        return _clean(request.headers.get(header)) or peer
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 1)
    hops = [hop for hop in request.headers.get("X-Forwarded-For", "").split(",") if hop.strip()]
    if count < 1 or len(hops) < count:
        return peer
    return _clean(hops[-count]) or peer


def throttle_key(request: HttpRequest) -> str:
    """`client_ip` as a throttle bucket name: IPv6 clients are grouped by /64, because one
    subscriber usually owns a whole /64 and could otherwise take a fresh bucket per address."""
    ip = client_ip(request)
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return ip
