"""The token set: what a successful token response leaves the client holding."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import attrs

from ._scope import Scope
from .errors import RestoreError

__all__ = ["TokenSet"]

_VERSION = 1


@attrs.frozen
class TokenSet:
    """Access token with its type, absolute expiry, refresh token, id_token and scope.

    Tokens are left out of repr and str; read them as attributes. ``expires_at`` is
    seconds since the epoch from the clock the response was parsed with, or None
    when the server gave no lifetime; ``obtained_at`` is that clock's reading when
    the answer arrived (None for token sets stored before pkceflow kept it), so
    ``expires_at - obtained_at`` is the lifetime the server granted. ``scope`` is
    what the server granted (RFC 6749 5.1: when omitted, what was asked for), or
    None when unknown.

    ``unconfirmed_refresh_at`` is set when a refresh with this token set's refresh
    token was sent at that time and no answer came back: the server may have
    rotated the refresh token (see :meth:`refresh_in_doubt`).
    """

    access_token: str = attrs.field(repr=False)
    token_type: str = "Bearer"
    expires_at: float | None = None
    refresh_token: str | None = attrs.field(default=None, repr=False)
    id_token: str | None = attrs.field(default=None, repr=False)
    scope: Scope | None = None
    #: Other members of the token response, as received (may hold secrets).
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False, hash=False)
    obtained_at: float | None = None
    unconfirmed_refresh_at: float | None = None

    @property
    def lifetime(self) -> float | None:
        """Seconds the server granted (``expires_in``), or None when unknown."""
        if self.expires_at is None or self.obtained_at is None:
            return None
        return self.expires_at - self.obtained_at

    def expires_in(self, now: float) -> float | None:
        """Seconds left at ``now``, or None when the lifetime is unknown.

        Never more than the server granted: a clock that reads earlier than when
        the token set was obtained (stepped back after running fast) leaves 0, since
        the time that really passed is then unknown.
        """
        if self.expires_at is None:
            return None
        if self.obtained_at is not None and now < self.obtained_at:
            return 0.0
        return self.expires_at - now

    def is_fresh(self, now: float, min_ttl: float = 0.0) -> bool:
        """True when the access token stays valid for ``min_ttl`` more seconds.

        ``min_ttl`` is capped at half the granted lifetime: a server that grants
        20 s tokens can never satisfy a 60 s margin, and asking it again at every
        call would only send refresh after refresh. So a token just obtained is
        fresh whatever its lifetime, and is renewed in the second half of it. A
        token without a known lifetime counts as fresh: only the resource server
        can say otherwise.
        """
        left = self.expires_in(now)
        if left is None:
            return True
        lifetime = self.lifetime
        if lifetime is not None:
            min_ttl = min(min_ttl, lifetime / 2)
        return left > min_ttl

    def refresh_in_doubt(self, since: float) -> bool:
        """True when a refresh of this token set went unanswered at ``since`` or later.

        A caller that began waiting for the store's lock at ``since`` and finds this
        must not send the same refresh token again: the server may already have
        rotated it, and a replay would make it revoke the whole grant.
        """
        return self.unconfirmed_refresh_at is not None and self.unconfirmed_refresh_at >= since

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
            "obtained_at": self.obtained_at,
            "unconfirmed_refresh_at": self.unconfirmed_refresh_at,
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
        scope = data.get("scope")
        extra = data.get("extra", {})
        if not isinstance(access, str) or not access:
            raise RestoreError("stored token set has no access_token")
        if not isinstance(token_type, str):
            raise RestoreError("stored token set has no token_type")
        times = {
            name: _stored_time(data.get(name), name)
            for name in ("expires_at", "obtained_at", "unconfirmed_refresh_at")
        }
        optional = {k: data.get(k) for k in ("refresh_token", "id_token")}
        if any(v is not None and not isinstance(v, str) for v in optional.values()):
            raise RestoreError("stored refresh_token and id_token must be strings")
        if scope is not None and (
            not isinstance(scope, list) or not all(isinstance(s, str) for s in scope)
        ):
            raise RestoreError("stored scope must be a list of strings")
        if not isinstance(extra, dict):
            raise RestoreError("stored extra must be an object")
        return cls(
            access_token=access,
            token_type=token_type,
            expires_at=times["expires_at"],
            obtained_at=times["obtained_at"],
            unconfirmed_refresh_at=times["unconfirmed_refresh_at"],
            refresh_token=optional["refresh_token"],
            id_token=optional["id_token"],
            scope=None if scope is None else tuple(scope),
            extra=extra,
        )


def _stored_time(value: object, name: str) -> float | None:
    """A stored time in seconds since the epoch, or None; RestoreError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RestoreError(f"stored {name} must be a number")
    try:
        seconds = float(value)
    except OverflowError:
        raise RestoreError(f"stored {name} is out of range") from None
    if not math.isfinite(seconds):
        raise RestoreError(f"stored {name} must be a finite number")
    return seconds
