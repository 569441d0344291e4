"""The RSA keys that sign ID tokens, the JWK Set that publishes them, and the rogue key
of the ``bad_signature`` defect."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa

from .digests import b64url, b64url_uint


@dataclass(frozen=True)
class SigningKey:
    """An RSA key and its ``kid``."""

    kid: str
    private: rsa.RSAPrivateKey

    def public_jwk(self) -> dict[str, str]:
        """The public half as a JWK (RFC 7517)."""
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": b64url_uint(numbers.n),
            "e": b64url_uint(numbers.e),
        }


def new_key() -> SigningKey:
    """A fresh 2048-bit key whose ``kid`` is its RFC 7638 thumbprint."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.public_key().public_numbers()
    members = {"e": b64url_uint(numbers.e), "kty": "RSA", "n": b64url_uint(numbers.n)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("ascii")
    return SigningKey(kid=b64url(hashlib.sha256(canonical).digest()), private=private)


class KeyRing:
    """The published keys, newest last; the first is generated in the background."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = []
        self._rogue: SigningKey | None = None
        self._keygen: threading.Thread | None = None
        self._first: SigningKey | None = None

    def prepare(self) -> None:
        """Start generating the first key, unless there is one already or on its way."""
        with self._lock:
            if self._keys or self._keygen is not None:
                return
            # Generated in the background (cryptography releases the GIL); whatever
            # needs the key first waits for it.  Not a daemon thread: one killed
            # inside OpenSSL at interpreter exit would abort the process.
            self._keygen = threading.Thread(
                target=self._generate_first, name="pkceflow-testing-keygen"
            )
            self._keygen.start()

    def _generate_first(self) -> None:
        # Takes no lock: signing_key may join this thread while a caller holds a lock.
        self._first = new_key()

    def signing_key(self) -> SigningKey:
        """The key that signs new ID tokens (waiting for the first one if need be)."""
        keygen = self._keygen
        if keygen is not None:
            keygen.join()
        with self._lock:
            if not self._keys:
                self._keys.append(self._first or new_key())
            return self._keys[-1]

    def rogue_key(self) -> SigningKey:
        """A key never published, made once."""
        with self._lock:
            if self._rogue is None:
                self._rogue = new_key()
            return self._rogue

    def rotate(self, *, keep_previous: bool) -> str:
        """Sign with a new key from now on; returns its kid."""
        self.signing_key()
        key = new_key()
        with self._lock:
            self._keys = [*self._keys, key] if keep_previous else [key]
        return key.kid

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set: the newest key first."""
        self.signing_key()
        with self._lock:
            return {"keys": [key.public_jwk() for key in reversed(self._keys)]}
