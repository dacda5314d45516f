"""V2 signature verification (signing.verify) against a JWKS, without HTTP: the fetcher is injected.

Scheme from SHIPSTATION.md §B4: RSA PKCS#1 v1.5 / SHA-256 over "{x-shipengine-timestamp}.{raw body}",
key chosen by x-shipengine-rsa-sha256-key-id, timestamp within 5 minutes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from integrations.shipstation import signing

BODY = b'{"resource_url":"https://api.shipstation.com/v2/labels/se-1","resource_type":"LABEL_CREATED_V2"}'
URL = "https://api.shipengine.com/jwks"


@cache
def private(name: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeJwks:
    """What the JWKS URL serves right now; counts fetches and the URLs asked for."""

    def __init__(self, *kids: str):
        self.kids = list(kids)
        self.fetched: list[str] = []

    def __call__(self, url: str) -> dict:
        self.fetched.append(url)
        ec = {"kty": "EC", "kid": "ec-key", "crv": "P-256", "x": "AA", "y": "AA"}  # sets may hold EC keys too
        return {"keys": [ec, *(signing.jwk_from_public_key(private(k).public_key(), k) for k in self.kids)]}


def headers(kid: str, body: bytes = BODY, *, key: str | None = None, at: datetime | None = None) -> dict:
    stamp = signing.utc_stamp(at)
    return {
        signing.KEY_ID_HEADER: kid,
        signing.TIMESTAMP_HEADER: stamp,
        signing.SIGNATURE_HEADER: signing.sign(private(key or kid), stamp, body),
    }


@pytest.fixture
def jwks():
    return FakeJwks("k1")


@pytest.fixture
def cache_(jwks):
    return signing.JwksCache(URL, fetch=jwks)


def test_good_signature_is_accepted_and_keys_are_cached(cache_, jwks):
    assert signing.verify(headers("k1"), BODY, cache_) == "k1"
    assert signing.verify(headers("k1"), BODY, cache_) == "k1"
    assert jwks.fetched == [URL]  # cached by kid: one fetch, and only from the configured URL


def test_tampered_body_is_rejected(cache_):
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify(headers("k1"), BODY.replace(b"se-1", b"se-2"), cache_)


def test_signature_by_another_key_is_rejected(cache_, jwks):
    jwks.kids.append("k2")
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify(headers("k1", key="k2"), BODY, cache_)  # names k1, signed with k2


def test_unknown_kid_is_rejected_and_refetches_are_throttled(cache_, jwks):
    signing.verify(headers("k1"), BODY, cache_)
    with pytest.raises(signing.SignatureError, match="unknown signing key"):
        signing.verify(headers("forged"), BODY, cache_)
    with pytest.raises(signing.SignatureError, match="unknown signing key"):
        signing.verify(headers("forged-again"), BODY, cache_)
    assert jwks.fetched == [URL, URL]  # one refetch for the unknown kid, then throttled


def test_key_rotation_new_kid_is_fetched_and_accepted(cache_, jwks):
    signing.verify(headers("k1"), BODY, cache_)
    jwks.kids.append("k2")  # ShipStation publishes a new key and starts signing with it
    assert signing.verify(headers("k2"), BODY, cache_) == "k2"
    assert signing.verify(headers("k1"), BODY, cache_) == "k1"  # the old key still verifies
    assert len(jwks.fetched) == 2


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6), timedelta(days=-1)])
def test_stale_or_future_timestamps_are_rejected(cache_, offset):
    with pytest.raises(signing.SignatureError, match="5 minutes"):
        signing.verify(headers("k1", at=datetime.now(UTC) + offset), BODY, cache_)


def test_timestamps_within_five_minutes_are_accepted(cache_):
    assert signing.verify(headers("k1", at=datetime.now(UTC) - timedelta(minutes=4)), BODY, cache_) == "k1"


def test_the_timestamp_is_part_of_the_signed_message(cache_):
    good = headers("k1", at=datetime.now(UTC) - timedelta(minutes=1))
    good[signing.TIMESTAMP_HEADER] = signing.utc_stamp()  # replayed with a fresh timestamp
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify(good, BODY, cache_)


@pytest.mark.parametrize("missing", signing.HEADERS)
def test_missing_headers_are_rejected_before_any_fetch(cache_, jwks, missing):
    sent = headers("k1")
    del sent[missing]
    with pytest.raises(signing.SignatureError, match="missing"):
        signing.verify(sent, BODY, cache_)
    assert jwks.fetched == []


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [(signing.SIGNATURE_HEADER, "%%%not-base64", "base64"), (signing.TIMESTAMP_HEADER, "yesterday", "ISO-8601")],
)
def test_garbled_headers_are_rejected(cache_, header, value, reason):
    sent = {**headers("k1"), header: value}
    with pytest.raises(signing.SignatureError, match=reason):
        signing.verify(sent, BODY, cache_)
