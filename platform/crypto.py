"""Field encryption for personal data at rest (ID numbers): AES-256-GCM.

The key is derived from the platform secret with HKDF, per purpose and per tenant, so one
tenant's ciphertext never decrypts under another tenant's key. The stored value is
``version byte || 12-byte nonce || ciphertext+tag``.
"""

from __future__ import annotations

import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"


@lru_cache(maxsize=256)
def _key(secret: str, purpose: str, tenant: str) -> AESGCM:
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"wuye-field-v1",
        info=f"{purpose}:{tenant}".encode(),
    ).derive(secret.encode())
    return AESGCM(derived)


def encrypt_field(secret: str, *, purpose: str, tenant: str, plaintext: str) -> bytes:
    nonce = os.urandom(12)
    sealed = _key(secret, purpose, tenant).encrypt(nonce, plaintext.encode(), purpose.encode())
    return _VERSION + nonce + sealed


def decrypt_field(secret: str, *, purpose: str, tenant: str, blob: bytes) -> str:
    if not blob or blob[:1] != _VERSION:
        raise ValueError("unknown ciphertext version")
    try:
        plain = _key(secret, purpose, tenant).decrypt(blob[1:13], blob[13:], purpose.encode())
    except InvalidTag:
        raise ValueError("ciphertext does not decrypt under this tenant's key") from None
    return plain.decode()
