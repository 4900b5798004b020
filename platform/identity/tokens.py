"""Signed access tokens (JWT, HS256) and opaque refresh tokens.

Every audience -- ``tenant:<slug>`` for a tenant's users, ``admin`` for operators -- signs
with its own key derived from the platform secret, and the audience claim is checked too:
a token of tenant A is worthless at tenant B and on the admin API, and vice versa.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import jwt

from wuye.errors import AppError

ADMIN_AUDIENCE = "admin"
_VERIFIED_CACHE_SIZE = 10_000


def tenant_audience(slug: str) -> str:
    return f"tenant:{slug}"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_opaque_token() -> tuple[str, str]:
    """(raw token for the client, hash to store)."""
    raw = secrets.token_urlsafe(32)
    return raw, hash_token(raw)


@dataclass(frozen=True)
class AccessClaims:
    subject_id: int
    kind: str  # staff | resident | operator
    audience: str


class Tokens:
    def __init__(self, secret_key: str, access_ttl_s: int) -> None:
        if len(secret_key) < 32:
            raise ValueError("secret_key must be at least 32 characters")
        self._secret = secret_key.encode()
        self.access_ttl_s = access_ttl_s
        self._keys: dict[str, bytes] = {}
        self._verified: dict[tuple[str, str], tuple[AccessClaims, float]] = {}

    def _key(self, audience: str) -> bytes:
        key = self._keys.get(audience)
        if key is None:
            key = self._keys[audience] = hmac.new(
                self._secret, audience.encode(), hashlib.sha256
            ).digest()
        return key

    def issue_access(self, *, subject_id: int, kind: str, audience: str) -> str:
        now = int(time.time())
        claims = {
            "sub": str(subject_id),
            "kind": kind,
            "aud": audience,
            "iat": now,
            "exp": now + self.access_ttl_s,
        }
        return jwt.encode(claims, self._key(audience), algorithm="HS256")

    def verify_access(self, token: str, audience: str) -> AccessClaims:
        # A client sends the same token with every request for 15 minutes: remember what a
        # verified token says until it expires (decoding costs more than the GraphQL layer).
        key = (token, audience)
        hit = self._verified.get(key)
        if hit is not None:
            claims, expires = hit
            if time.time() < expires:
                return claims
            del self._verified[key]
        try:
            decoded = jwt.decode(
                token,
                self._key(audience),
                algorithms=["HS256"],
                audience=audience,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AppError("TOKEN_EXPIRED") from None
        except jwt.PyJWTError:
            raise AppError("UNAUTHENTICATED") from None
        claims = AccessClaims(int(decoded["sub"]), str(decoded.get("kind", "")), audience)
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))  # oldest first
        self._verified[key] = (claims, float(decoded["exp"]))
        return claims
