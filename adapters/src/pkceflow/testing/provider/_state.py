"""What the provider remembers: registered clients and users, pending authorization
requests, codes, tokens, sign-in sessions and consents, and the lock around them all."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from .clients import RegisteredClient
from .records import TokenInfo

CODE_MEMORY = 3600.0
"""Seconds a code is remembered after it expired, so that a late replay is recognised."""
_DEFAULT_USERS: Mapping[str, Mapping[str, object]] = {
    "alice": {"name": "Alice Example", "email": "alice@example.test"}
}


@dataclass
class Pending:
    """An authorization request, from its arrival until it is answered."""

    client_id: str
    redirect_uri: str
    redirect_uri_sent: bool
    scope: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str
    expires_at: float


@dataclass
class Code:
    """An authorization code and what it was issued for."""

    request: Pending
    user: str
    auth_time: float
    expires_at: float
    grant_id: str
    used: bool = False


@dataclass
class Token:
    """An issued access or refresh token; every token of one login shares a grant id."""

    value: str
    kind: Literal["access", "refresh"]
    client_id: str
    user: str
    scope: tuple[str, ...]
    grant_id: str
    auth_time: float
    issued_at: float
    expires_at: float | None
    active: bool = True
    rotated: bool = False

    def usable(self, now: float) -> bool:
        """Neither revoked, rotated away nor expired at `now`."""
        return self.active and (self.expires_at is None or now < self.expires_at)

    def snapshot(self, now: float) -> TokenInfo:
        """The public view of this token at `now`."""
        return TokenInfo(
            token=self.value,
            kind=self.kind,
            client_id=self.client_id,
            user=self.user,
            scope=" ".join(self.scope),
            issued_at=self.issued_at,
            expires_at=self.expires_at,
            active=self.usable(now),
        )


class ProviderState:
    """The provider's records; hold `lock` to read or change more than one of them."""

    def __init__(
        self,
        clients: Iterable[RegisteredClient],
        users: Mapping[str, Mapping[str, object]] | None,
    ) -> None:
        self.lock = threading.RLock()
        self.clients: dict[str, RegisteredClient] = {c.client_id: c for c in clients}
        self.users: dict[str, dict[str, object]] = {
            name: dict(claims)
            for name, claims in (_DEFAULT_USERS if users is None else users).items()
        }
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, Token] = {}
        self.pending: dict[str, Pending] = {}
        self.sessions: dict[str, tuple[str, float]] = {}
        self.consents: dict[tuple[str, str], set[str]] = {}

    def client(self, client_id: str) -> RegisteredClient | None:
        """The registered client with this id, if any."""
        with self.lock:
            return self.clients.get(client_id)

    def user_claims(self, user: str) -> dict[str, object]:
        """The claims of a known user, or made-up ones for a name typed at sign-in."""
        with self.lock:
            claims = self.users.get(user)
            if claims is not None:
                return dict(claims)
        return {"name": user.title(), "email": f"{user}@example.test"}

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke every token of a grant (the caller holds the lock)."""
        for token in self.tokens.values():
            if token.grant_id == grant_id:
                token.active = False

    def revoke(self, record: Token) -> None:
        """Revoke a token; a refresh token takes its whole grant (RFC 7009 2.1)."""
        if record.kind == "refresh":
            self.revoke_grant(record.grant_id)
        else:
            record.active = False

    def add_code(self, code: str, record: Code, now: float) -> None:
        """Remember a new code, forgetting those long expired."""
        with self.lock:
            self.codes = {k: c for k, c in self.codes.items() if c.expires_at + CODE_MEMORY > now}
            self.codes[code] = record

    def add_transaction(self, transaction: str, pending: Pending, now: float) -> None:
        """Remember an authorization request that waits for sign-in or consent."""
        with self.lock:
            self.pending = {k: p for k, p in self.pending.items() if p.expires_at > now}
            self.pending[transaction] = pending

    def transaction(self, transaction: str | None, now: float) -> Pending | None:
        """The authorization request a sign-in or consent form belongs to, unless expired."""
        if transaction is None:
            return None
        with self.lock:
            pending = self.pending.get(transaction)
        if pending is None or pending.expires_at <= now:
            return None
        return pending

    def consented(self, user: str, pending: Pending) -> bool:
        """Whether `user` approved every scope `pending` asks for before."""
        with self.lock:
            granted = self.consents.get((user, pending.client_id), set())
            return set(pending.scope) <= granted
