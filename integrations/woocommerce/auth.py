"""How a WooCommerce connection authenticates: store URLs, webhook signatures, app-key requests.

Store URLs are the one per-tenant host we send credentials to, so they are validated and
normalised before anything is stored (DESIGN §12, like allauth's Shopify provider): HTTPS only,
no credentials, query or fragment in the URL, no path tricks, no private or legacy-numeric hosts, port 443 only. The
sandbox is the one exception: with SANDBOX_ENABLED a URL under `/sandbox/woocommerce/` may be
plain HTTP on a loopback host (the tests' live server and the demo).

Signatures follow WooCommerce's `WC_Webhook::generate_signature()` (tests/specs/woocommerce/WOO.md
§1.2): base64 of the raw HMAC-SHA256 digest of the exact body bytes, keyed with the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
from urllib.parse import SplitResult, urlsplit, urlunsplit

from django.conf import settings

from connector.netguard import literal_problem

API_PATH = "wp-json/wc/v3/"
SANDBOX_PATH_PREFIX = "/sandbox/woocommerce/"
_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")
_HOST = re.compile(r"^[a-z0-9.-]+$")


class InvalidStoreURL(ValueError):
    """A store URL we refuse; the message is shown to the merchant as is."""


def normalize_store_url(raw: str) -> str:
    """The canonical form of a store URL (`https://host[:port][/subdir]`, no trailing slash).

    Raises InvalidStoreURL with a plain explanation for anything we will not send keys to.
    """
    parts = _split(raw)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidStoreURL("The port in the store address is not a number.") from exc
    host = _host_of(parts)
    path = _path_of(parts)
    sandbox = is_sandbox_path(path + "/")
    if scheme != "https" and not (scheme == "http" and sandbox):
        raise InvalidStoreURL("WooCommerce keys are only sent over HTTPS: the address must start with https://.")
    if not sandbox:
        _refuse_private_host(host)
        if port not in (None, 443):
            raise InvalidStoreURL("Enter the store's address without a port: stores are reached on HTTPS port 443.")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and not (scheme == "https" and port == 443) and not (scheme == "http" and port == 80):
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, path, "", ""))


def _split(raw: str) -> SplitResult:
    """The typed address split into parts, refusing what a store address never holds (characters
    that parsers read differently, credentials, a query or fragment)."""
    text = (raw or "").strip()
    if not text:
        raise InvalidStoreURL("Enter your store's address, for example https://shop.example.com.")
    if "://" not in text:
        text = "https://" + text
    if any(ch in text for ch in "\\\r\n\t @") or any(ord(ch) < 32 for ch in text):
        raise InvalidStoreURL("The store address contains characters a web address cannot have.")
    parts = urlsplit(text)
    if parts.username or parts.password:
        raise InvalidStoreURL("Leave user names and passwords out of the store address.")
    if parts.query or parts.fragment:
        raise InvalidStoreURL("Enter only the store's address, without ?query or #fragment.")
    return parts


def _host_of(parts: SplitResult) -> str:
    """The host name in its ASCII (IDNA), lower-case form, without a trailing dot."""
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidStoreURL("The store address has no host name.")
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidStoreURL("The store's host name is not valid.") from exc


def _path_of(parts: SplitResult) -> str:
    """The site's sub-folder ("" or "/shop"): plain segments only, never an admin or API address."""
    segments = [s for s in parts.path.split("/") if s]
    for segment in segments:
        if segment in (".", "..") or not _SEGMENT.match(segment):
            raise InvalidStoreURL("The store address has a path we cannot use; enter the site's home address.")
    path = "/" + "/".join(segments) if segments else ""
    if path.lower().startswith(("/wp-json", "/wp-admin", "/wc-auth")):
        raise InvalidStoreURL("Enter the store's home address, not an admin or API address.")
    return path


def is_sandbox_path(path: str) -> bool:
    return bool(getattr(settings, "SANDBOX_ENABLED", False)) and path.startswith(SANDBOX_PATH_PREFIX)


def is_sandbox_store(store_url: str) -> bool:
    """A normalised store URL served by our own sandbox (the only stores not reached through netguard)."""
    return is_sandbox_path(urlsplit(store_url).path + "/")


def _refuse_private_host(host: str) -> None:
    """Refuse, without resolving, local names, non-global IP literals and every legacy IPv4 spelling
    (`127.1`, `0x7f.0.0.1`: a numeric last label). Names are resolved and checked again at call time
    (connector.netguard), where the connection is pinned to the checked address."""
    problem = literal_problem(host)
    if problem:
        raise InvalidStoreURL("The store must be reachable on the internet, not a local or private address.")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST.match(host) or "." not in host:
            raise InvalidStoreURL("The store's host name is not valid.") from None


def api_base_url(store_url: str) -> str:
    """`<site>/wp-json/wc/v3/` for a normalised store URL."""
    return store_url.rstrip("/") + "/" + API_PATH


# --- Webhook signatures -------------------------------------------------------------------------


def sign(body: bytes, secret: str) -> str:
    """X-WC-Webhook-Signature for `body`: base64(HMAC-SHA256(secret, body))."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(body: bytes, secret: str, header: str) -> bool:
    """Constant-time comparison of the received signature with the one we compute."""
    if not secret or not header:
        return False
    return hmac.compare_digest(sign(body, secret).encode("ascii"), header.strip().encode("ascii", "replace"))


def new_webhook_secret() -> str:
    """A fresh per-connection secret of [A-Za-z0-9] only (WOO.md §1.2: WordPress decodes HTML entities)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(48))


def new_auth_token() -> str:
    """The one-time, unguessable value we put in `user_id` (the app-key flow has no `state`)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Stored form of a one-time token: a lookup hash, so a database read cannot replay it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
