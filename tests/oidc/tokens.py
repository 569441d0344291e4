"""Keys and id_tokens for the oidc tests.

Keys are made with cryptography (RSA, EC, Ed25519, Ed448), published as JWKs built
here from their public numbers, and tokens are signed with PyJWT's algorithm
objects over header and payload bytes chosen by the test, so that a test can sign
anything: a payload with duplicate members, NaN, a claim of the wrong type.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

ISSUER = "https://op.example.com"
CLIENT_ID = "rp-client-1"
NONCE = "n-0S6_WzA2Mj-a-nonce-of-the-login"
SUBJECT = "248289761001"
#: The injected clock: November 2023, long before the wall clock of any test run.
NOW = 1_700_000_000.0
#: A client secret long enough for HS512 (PyJWT warns below the digest size).
CLIENT_SECRET = "a-client-secret-of-sixty-four-characters-or-more-for-hs512-0123456789"

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)

_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}


def b64(data: bytes) -> str:
    """base64url without padding (RFC 7515 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64(value.to_bytes(length, "big"))


@functools.cache
def rsa_private(index: int = 0) -> rsa.RSAPrivateKey:
    """The ``index``-th RSA-2048 test key (made once per run)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def ec_private(curve: str = "P-256", index: int = 0) -> ec.EllipticCurvePrivateKey:
    """The ``index``-th EC test key on ``curve`` (P-256, P-384, P-521)."""
    return ec.generate_private_key(_CURVES[curve])


@functools.cache
def ed25519_private(index: int = 0) -> ed25519.Ed25519PrivateKey:
    """The ``index``-th Ed25519 test key."""
    return ed25519.Ed25519PrivateKey.generate()


@functools.cache
def ed448_private() -> ed448.Ed448PrivateKey:
    """An Ed448 key: pkceflow ignores these (their at_hash would need SHAKE256)."""
    return ed448.Ed448PrivateKey.generate()


@dataclass(frozen=True)
class SigningKey:
    """A private key, the alg it signs with, and the kid it is published under."""

    private: PrivateKey
    alg: str
    kid: str | None = None

    def public_jwk(self, *, alg: bool = True, **members: Any) -> dict[str, Any]:
        """The public JWK; ``alg=False`` leaves ``alg`` out; ``members`` add or override."""
        jwk = public_jwk(self.private)
        if self.kid is not None:
            jwk["kid"] = self.kid
        if alg:
            jwk["alg"] = self.alg
        jwk["use"] = "sig"
        jwk.update(members)
        return jwk

    def public_pem(self) -> bytes:
        """The public key as PEM: what an HS256 key-confusion attack uses as secret."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def public_jwk(private: PrivateKey) -> dict[str, Any]:
    """The JWK (RFC 7517, 7518 6, 8037 2) of ``private``'s public key, without kid."""
    if isinstance(private, rsa.RSAPrivateKey):
        numbers = private.public_key().public_numbers()
        return {"kty": "RSA", "n": _uint(numbers.n), "e": _uint(numbers.e)}
    if isinstance(private, ec.EllipticCurvePrivateKey):
        point = private.public_key().public_numbers()
        size = (private.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return {
            "kty": "EC",
            "crv": crv[private.curve.name],
            "x": _uint(point.x, size),
            "y": _uint(point.y, size),
        }
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    crv_name = "Ed25519" if isinstance(private, ed25519.Ed25519PrivateKey) else "Ed448"
    return {"kty": "OKP", "crv": crv_name, "x": b64(raw)}


def jwks(*keys: dict[str, Any]) -> dict[str, Any]:
    """A JWK Set document."""
    return {"keys": list(keys)}


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid id_token claims at NOW; an override of ``DROP`` removes the claim."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": SUBJECT,
        "aud": CLIENT_ID,
        "exp": int(NOW) + 300,
        "iat": int(NOW),
        "nonce": NONCE,
        "email": "person@example.com",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not DROP}


DROP: Any = object()


def compact(header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes, sig: bytes) -> str:
    """A compact JWS from parts (dicts are JSON-encoded; bytes are taken as they are)."""
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return f"{b64(h)}.{b64(p)}.{b64(sig)}"


def sign(
    payload: dict[str, Any] | bytes,
    key: SigningKey,
    *,
    alg: str | None = None,
    kid: str | bool | None = True,
    **header: Any,
) -> str:
    """Sign ``payload`` with ``key``; ``kid=True`` names the key's kid, False/None none."""
    alg = alg or key.alg
    head: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid is True:
        if key.kid is not None:
            head["kid"] = key.kid
    elif isinstance(kid, str):
        head["kid"] = kid
    head.update(header)
    h = b64(json.dumps(head).encode())
    p = b64(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    algorithm = jwt.get_algorithm_by_name(alg)
    signature = algorithm.sign(f"{h}.{p}".encode(), algorithm.prepare_key(key.private))
    return f"{h}.{p}.{b64(signature)}"


def sign_hmac(
    payload: dict[str, Any], secret: bytes, *, alg: str = "HS256", kid: str | None = None
) -> str:
    """An HS* token made by hand (PyJWT refuses PEM keys as HMAC secrets, attackers do not)."""
    head: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        head["kid"] = kid
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    mac = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(mac)}"
