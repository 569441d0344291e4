"""The hashes both sides of a flow compute: the PKCE S256 challenge and the ID token's
``at_hash``, with the base64url encoding they share."""

from __future__ import annotations

import base64
import hashlib


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_uint(value: int) -> str:
    """An unsigned integer as a JWK writes it: big-endian, base64url (RFC 7518 6.3.1)."""
    return b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def s256_challenge(verifier: str) -> str:
    """The PKCE S256 code challenge of `verifier` (RFC 7636 section 4.2)."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def at_hash(access_token: str) -> str:
    """The ``at_hash`` of `access_token` for RS256 (OpenID Connect Core 3.1.3.6)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return b64url(digest[: len(digest) // 2])
