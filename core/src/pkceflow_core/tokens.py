"""The token set: what a successful token response leaves the client holding."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import attrs

from .errors import RestoreError
from .scope import Scope

__all__ = ["TokenSet"]

_VERSION = 1


@attrs.frozen
class TokenSet:
    """Access token with its type, absolute expiry, refresh token, id_token and scope.

    Tokens are left out of repr and str; read them as attributes. ``expires_at`` is
    seconds since the epoch from the clock the response was parsed with, or None
    when the server gave no lifetime. ``scope`` is what the server granted (RFC 6749
    5.1: when omitted, what was asked for), or None when unknown.
    """

    access_token: str = attrs.field(repr=False)
    token_type: str = "Bearer"
    expires_at: float | None = None
    refresh_token: str | None = attrs.field(default=None, repr=False)
    id_token: str | None = attrs.field(default=None, repr=False)
    scope: Scope | None = None
    #: Other members of the token response, as received (may hold secrets).
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False, hash=False)

    def expires_in(self, now: float) -> float | None:
        """Seconds left at ``now``, or None when the lifetime is unknown."""
        return None if self.expires_at is None else self.expires_at - now

    def is_fresh(self, now: float, min_ttl: float = 0.0) -> bool:
        """True when the access token stays valid for ``min_ttl`` more seconds.

        A token without a known lifetime counts as fresh: only the resource server
        can say otherwise.
        """
        return self.expires_at is None or self.expires_at - now > min_ttl

    def missing_scopes(self, requested: Scope) -> Scope:
        """The requested scopes that the server did not grant (RFC 6749 3.3)."""
        if self.scope is None:
            return ()
        return tuple(s for s in requested if s not in self.scope)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe, versioned dict, secrets included: store it as a secret."""
        return {
            "version": _VERSION,
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "id_token": self.id_token,
            "scope": None if self.scope is None else list(self.scope),
            "extra": dict(self.extra),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as compact JSON: what a store writes."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: str | bytes) -> TokenSet:
        """Restore what :meth:`to_json` made; RestoreError for anything else."""
        error: RestoreError | None = None
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            error = RestoreError("not valid JSON")
        if error is not None:
            # Raised outside the handler, so no parsing error (with the data in it)
            # rides along as __context__.
            raise error
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, data: object) -> TokenSet:
        """Restore what :meth:`to_dict` made; RestoreError for anything else."""
        if not isinstance(data, dict):
            raise RestoreError("a stored token set must be a JSON object")
        version = data.get("version")
        if version != _VERSION:
            raise RestoreError(
                f"stored token set has version {version!r}; this pkceflow reads {_VERSION}"
            )
        access = data.get("access_token")
        token_type = data.get("token_type")
        expires_at = data.get("expires_at")
        scope = data.get("scope")
        extra = data.get("extra", {})
        if not isinstance(access, str) or not access:
            raise RestoreError("stored token set has no access_token")
        if not isinstance(token_type, str):
            raise RestoreError("stored token set has no token_type")
        if expires_at is not None and (
            isinstance(expires_at, bool) or not isinstance(expires_at, (int, float))
        ):
            raise RestoreError("stored expires_at must be a number")
        optional = {k: data.get(k) for k in ("refresh_token", "id_token")}
        if any(v is not None and not isinstance(v, str) for v in optional.values()):
            raise RestoreError("stored refresh_token and id_token must be strings")
        if scope is not None and (
            not isinstance(scope, list) or not all(isinstance(s, str) for s in scope)
        ):
            raise RestoreError("stored scope must be a list of strings")
        if not isinstance(extra, dict):
            raise RestoreError("stored extra must be an object")
        try:
            expires = None if expires_at is None else float(expires_at)
        except OverflowError:
            raise RestoreError("stored expires_at is out of range") from None
        if expires is not None and not math.isfinite(expires):
            raise RestoreError("stored expires_at must be a finite number")
        return cls(
            access_token=access,
            token_type=token_type,
            expires_at=expires,
            refresh_token=optional["refresh_token"],
            id_token=optional["id_token"],
            scope=None if scope is None else tuple(scope),
            extra=extra,
        )
