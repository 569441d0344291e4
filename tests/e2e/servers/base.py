"""What the end-to-end suite needs of a real authorization server.

Each server module (``oidc_provider.py``, ``dot.py``, ``glewlwyd.py``, ``keycloak.py``;
see ``SERVER_NAMES`` in ``__init__.py``) exposes ``require()`` (skip locally, fail with
CI=true, when the server is not installed) and ``start()``, which starts the server on
127.0.0.1 and returns an object with the attributes and methods of :class:`RealServer`
(raising ``harness.HarnessError`` with the command and its output when it cannot).

A server whose short-lived client lives at an issuer of its own gives it as the extra
attribute ``short_lived_issuer``; without it, ``issuer`` serves all three clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class RegisteredClient:
    """A client as registered at the server."""

    client_id: str
    client_secret: str | None  # None: a public client
    auth_method: str | None  # "client_secret_basic" | "client_secret_post" | None
    redirect_host: str = "127.0.0.1"
    #: 0 when the server accepts any loopback port (RFC 8252 7.3); else the one registered.
    redirect_port: int = 0
    redirect_path: str = "/callback"
    #: What to ask for to get an id_token and a refresh token.
    scope: str = "openid"
    params: Mapping[str, str] = field(default_factory=dict)


class SignInRefused(Exception):
    """The server showed its own error page instead of redirecting back."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"the server answered HTTP {status} instead of redirecting")
        self.status = status
        self.text = text


class RealServer(Protocol):
    """A running server: its clients, its own sign-in, and what it counted."""

    name: str
    version: str
    issuer: str
    public: RegisteredClient
    confidential: RegisteredClient
    short_lived: RegisteredClient
    #: scenario -> the server's own limit, said plainly.
    limits: Mapping[str, str]

    def sign_in(
        self, authorization_url: str, *, outcome: Literal["allow", "deny", "abandon"] = "allow"
    ) -> str | None:
        """The redirect the server sends the browser to (not requested), or None."""

    def refresh_grants(self, client_id: str) -> int:
        """refresh_token grants the server carried out for the client, by its own count."""

    def token_request(
        self, client: RegisteredClient, form: Mapping[str, str]
    ) -> tuple[int, dict[str, Any] | None]:
        """A raw POST to the token endpoint with the client's authentication."""

    def introspect(self, token: str) -> bool | None:
        """Whether the server says the token is active (RFC 7662)."""

    def stop(self) -> None:
        """Stop the server by its PID and remove its files."""
