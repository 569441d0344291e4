"""Proof Key for Code Exchange (RFC 7636): the code verifier and its challenge."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from typing import Literal

import attrs

from .errors import UsageError

__all__ = ["ChallengeMethod", "Pkce", "TokenBytes", "random_token", "s256"]

#: Where randomness comes from: a function returning n unpredictable bytes.
TokenBytes = Callable[[int], bytes]
ChallengeMethod = Literal["S256", "plain"]

# RFC 7636 4.1: code-verifier = 43*128unreserved
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}\Z")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def s256(verifier: str) -> str:
    """Return ``BASE64URL(SHA256(ASCII(verifier)))`` (RFC 7636 4.2)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def random_token(nbytes: int = 32, token_bytes: TokenBytes = os.urandom) -> str:
    """Return ``nbytes`` of entropy from ``token_bytes`` as base64url text.

    Used for ``state`` and ``nonce``: 32 bytes give 256 bits, twice the 128 bits
    RFC 6749 10.10 and OpenID Connect ask for as a floor.
    """
    if nbytes < 16:
        raise UsageError("state and nonce need at least 16 bytes (128 bits) of entropy")
    return _b64url(token_bytes(nbytes))


def _check_verifier(_: object, __: object, value: str) -> None:
    if not _VERIFIER.match(value):
        raise UsageError(
            "a code verifier is 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636 4.1)"
        )


def _check_method(_: object, __: object, value: str) -> None:
    if value not in ("S256", "plain"):
        raise UsageError("code_challenge_method must be 'S256' (or 'plain' by name)")


@attrs.frozen
class Pkce:
    """A code verifier (kept out of repr) with its challenge.

    Make one with :meth:`generate`; ``plain`` is used only when asked for by name
    and never as a fallback (RFC 7636 4.2, RFC 9700 2.1.1).
    """

    verifier: str = attrs.field(repr=False, validator=_check_verifier)
    method: ChallengeMethod = attrs.field(default="S256", validator=_check_method)

    @property
    def challenge(self) -> str:
        """The ``code_challenge`` sent in the authorization request."""
        return s256(self.verifier) if self.method == "S256" else self.verifier

    @classmethod
    def generate(
        cls,
        method: ChallengeMethod = "S256",
        *,
        length: int = 64,
        token_bytes: TokenBytes = os.urandom,
    ) -> Pkce:
        """Make a verifier of ``length`` characters (43-128) from ``token_bytes``.

        The default length of 64 characters carries 384 bits of entropy, above the
        256 bits RFC 7636 7.1 recommends.
        """
        if not 43 <= length <= 128:
            raise UsageError("a code verifier is 43 to 128 characters long (RFC 7636 4.1)")
        _check_method(None, None, method)
        verifier = _b64url(token_bytes(-(-length * 3 // 4)))[:length]
        if len(verifier) != length:
            raise UsageError(f"token_bytes gave too few bytes for {length} characters")
        # base64url of the right length is a valid verifier by construction, so the
        # validators (a regular expression per call) are skipped on this hot path.
        pkce = object.__new__(cls)
        object.__setattr__(pkce, "verifier", verifier)
        object.__setattr__(pkce, "method", method)
        return pkce
