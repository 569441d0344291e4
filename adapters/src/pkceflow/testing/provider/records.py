"""What the provider shows of itself: the requests it received and the tokens it issued."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple


class RecordedRequest(NamedTuple):
    """One request the provider received."""

    method: str
    """The HTTP method."""
    path: str
    """The request path, without the query."""
    form: dict[str, str]
    """The parameters: the query of a GET, the form body of a POST (last value wins)."""
    endpoint: str
    """The endpoint name: discovery, authorize, login, consent, token, jwks, revoke,
    introspect, userinfo, or unknown."""
    headers: dict[str, str]
    """The request headers, with lower-case names."""


@dataclass(frozen=True)
class TokenInfo:
    """A snapshot of an issued access or refresh token."""

    token: str
    kind: Literal["access", "refresh"]
    client_id: str
    user: str
    scope: str
    issued_at: float
    expires_at: float | None
    active: bool
    """Neither revoked, rotated away nor expired (at the time of the snapshot)."""
