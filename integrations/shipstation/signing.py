"""V2 webhook signatures: RSA-SHA256 over ``"{timestamp}.{raw body}"`` with a key from a JWKS.

Source: SHIPSTATION.md §B4 (docs.shipstation.com /apis/docs/guides/webhooks-validation):
headers ``x-shipengine-rsa-sha256-key-id``, ``x-shipengine-rsa-sha256-signature`` (base64 of an RSA
PKCS#1 v1.5 / SHA-256 signature) and ``x-shipengine-timestamp`` (ISO-8601, within 5 minutes of now in
either direction); the key is the JWK whose ``kid`` equals the key-id header. The JWKS is cached per
URL and kid in Redis (every web process shares it) and refetched when an unknown kid arrives, at most
once per ``refetch_interval`` so forged kids cannot make us hammer the JWKS host. Keys are fetched only
from the one configured JWKS URL, never from anything a request names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connector.redis import get_redis

KEY_ID_HEADER = "x-shipengine-rsa-sha256-key-id"
SIGNATURE_HEADER = "x-shipengine-rsa-sha256-signature"
TIMESTAMP_HEADER = "x-shipengine-timestamp"
HEADERS = (KEY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER)
MAX_SKEW = timedelta(minutes=5)
PRODUCTION_JWKS_URL = "https://api.shipengine.com/jwks"  # §B4, medium-high confidence


class SignatureError(Exception):
    """The delivery is not provably from ShipStation (answer 401 and record it)."""


class KeysUnavailable(Exception):
    """The JWKS could not be read: we cannot decide (answer 503 so the sender retries)."""


def fetch_jwks(url: str) -> dict:
    try:
        response = requests.get(url, timeout=(3.05, 5), allow_redirects=False, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise KeysUnavailable(f"JWKS fetch failed ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise KeysUnavailable(f"JWKS answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise KeysUnavailable("JWKS answered with a body that is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        raise KeysUnavailable("JWKS has no 'keys' list")
    return body


@dataclass
class JwksCache:
    """RSA public JWKs by kid for one JWKS URL, shared through Redis."""

    url: str
    fetch: Callable[[str], dict] = fetch_jwks
    ttl_seconds: int = 24 * 3600
    refetch_interval: float = 10.0

    @property
    def _key(self) -> str:
        return "shipstation:jwks:" + hashlib.sha256(self.url.encode()).hexdigest()[:24]

    def _store(self, jwks: dict) -> dict[str, dict]:
        keys = {
            str(k["kid"]): k
            for k in jwks["keys"]
            if isinstance(k, dict) and k.get("kty") == "RSA" and k.get("kid") and k.get("n") and k.get("e")
        }
        redis = get_redis()
        pipe = redis.pipeline()
        pipe.delete(self._key)
        if keys:
            pipe.hset(self._key, mapping={kid: json.dumps(jwk) for kid, jwk in keys.items()})
            pipe.expire(self._key, self.ttl_seconds)
        pipe.execute()
        return keys

    def key_for(self, kid: str) -> rsa.RSAPublicKey:
        redis = get_redis()
        raw = redis.hget(self._key, kid)
        if raw is None:
            # Unknown kid: a rotation, or a forgery. Refetch, but not more often than refetch_interval
            # (the very first fetch for an empty cache is always allowed).
            if redis.exists(self._key) and not redis.set(
                self._key + ":refetch", "1", nx=True, px=int(self.refetch_interval * 1000)
            ):
                raise SignatureError(f"unknown signing key id {kid[:64]!r}")
            jwk = self._store(self.fetch(self.url)).get(kid)
            if jwk is None:
                raise SignatureError(f"unknown signing key id {kid[:64]!r}")
        else:
            jwk = json.loads(raw)
        return public_key_from_jwk(jwk)


def _b64url_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def public_key_from_jwk(jwk: Mapping) -> rsa.RSAPublicKey:
    try:
        return rsa.RSAPublicNumbers(_b64url_int(jwk["e"]), _b64url_int(jwk["n"])).public_key()
    except (KeyError, ValueError, binascii.Error, TypeError) as exc:
        raise SignatureError(f"signing key is not a usable RSA JWK: {exc}") from None


def parse_timestamp(value: str) -> datetime:
    """ISO-8601; a value without an offset is read as UTC (the docs show only UTC `Z` stamps)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise SignatureError("x-shipengine-timestamp is not an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def verify(headers: Mapping[str, str], body: bytes, keys: JwksCache, *, now: datetime | None = None) -> str:
    """Check a V2 delivery; returns the key id used. `headers` must be case-insensitive (Django's are)."""
    missing = [h for h in HEADERS if not headers.get(h)]
    if missing:
        raise SignatureError("missing signature header(s): " + ", ".join(missing))
    stamp = headers[TIMESTAMP_HEADER]
    moment = parse_timestamp(stamp)
    now = now or datetime.now(UTC)
    if abs(now - moment) > MAX_SKEW:
        raise SignatureError("x-shipengine-timestamp is more than 5 minutes from now (stale or replayed)")
    try:
        signature = base64.b64decode(headers[SIGNATURE_HEADER], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("signature header is not base64") from None
    kid = headers[KEY_ID_HEADER]
    public_key = keys.key_for(kid)
    # The message is the header's timestamp text exactly as sent, a dot, and the raw body bytes.
    message = stamp.encode() + b"." + body
    try:
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureError("signature does not match the body") from None
    return kid


# --- Signing (the sandbox's side, and tests) -----------------------------------------------------


def sign(private_key: rsa.RSAPrivateKey, timestamp: str, body: bytes) -> str:
    return base64.b64encode(
        private_key.sign(timestamp.encode() + b"." + body, padding.PKCS1v15(), hashes.SHA256())
    ).decode()


def _b64url(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()


def jwk_from_public_key(public_key: rsa.RSAPublicKey, kid: str) -> dict:
    numbers = public_key.public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": _b64url(numbers.n), "e": _b64url(numbers.e)}


def utc_stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
