"""The sandbox's V2 webhook signing keys: RSA 2048 pairs kept in `SandboxSigningKey`, served as a JWKS."""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from integrations.shipstation.sandbox.models import SandboxSigningKey
from integrations.shipstation.signing import jwk_from_public_key


def create_key() -> SandboxSigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return SandboxSigningKey.objects.create(kid="sandbox-" + secrets.token_hex(8), private_pem=pem)


def current_key() -> SandboxSigningKey:
    """The newest key pair, generated once on first use."""
    return SandboxSigningKey.objects.order_by("-id").first() or create_key()


def private_key(key: SandboxSigningKey) -> rsa.RSAPrivateKey:
    loaded = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def jwks() -> dict:
    current_key()
    return {"keys": [jwk_from_public_key(private_key(k).public_key(), k.kid) for k in SandboxSigningKey.objects.all()]}
