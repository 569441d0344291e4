"""oidc-provider (npm, tests/e2e/server.mjs) behind the shared RealServer interface.

One ``node server.mjs`` process, started with refresh tokens issued on every
authorization_code grant (``ServerConfig(always_issue_refresh=True)``) and hour-long
access tokens, serves the three clients:

- ``pkceflow-public`` (token_endpoint_auth_method none) and ``pkceflow-confidential``
  (client_secret_basic), both with the loopback redirect URIs registered without a port;
- ``pkceflow-short-lived``, a public client whose access tokens live 20 s (server.mjs
  sets the access token TTL per client).

oidc-provider requires PKCE with S256 for every client, rotates refresh tokens, and
revokes the whole grant when a rotated refresh token comes back. The person's sign-in
is devInteractions' login and consent pages walked over plain HTTP (harness.http_login);
refresh grants are counted from the request log server.mjs writes to stderr.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from typing import Any, Literal

from ..harness import (  # noqa: TID252 (tests/e2e is no installed package)
    CONFIDENTIAL_CLIENT_ID,
    CONFIDENTIAL_CLIENT_SECRET,
    OIDC_PROVIDER_PACKAGE,
    PUBLIC_CLIENT_ID,
    REDIRECT_PATH,
    AuthorizationServerError,
    HarnessError,
    OidcProviderServer,
    ServerConfig,
    _error_from_html,
    _NoRedirect,
    _send,
    http_login,
    require_oidc_provider,
)
from .base import RegisteredClient, SignInRefused

SHORT_LIVED_CLIENT_ID = "pkceflow-short-lived"

#: oidc-provider has every case of the matrix.
LIMITS: Mapping[str, str] = {}

_REFRESH_LINE = re.compile(
    r"^e2e request: POST \S+ \d+ grant_type=refresh_token client_id=(?P<client_id>\S+)$",
    re.MULTILINE,
)


def require() -> None:
    """Skip (fail when CI=true) unless node and tests/e2e/node_modules are installed."""
    require_oidc_provider()


def start() -> OidcProvider:
    """Start ``node server.mjs`` on 127.0.0.1 and a free port; return when it serves."""
    return OidcProvider(OidcProviderServer.start(ServerConfig(always_issue_refresh=True)))


def _version() -> str:
    data = json.loads(OIDC_PROVIDER_PACKAGE.read_text("utf-8"))
    return str(data["version"])


def _client(client_id: str, secret: str | None) -> RegisteredClient:
    return RegisteredClient(
        client_id=client_id,
        client_secret=secret,
        auth_method=None if secret is None else "client_secret_basic",
        redirect_path=REDIRECT_PATH,
        scope="openid",
    )


@dataclass
class OidcProvider:
    """A running oidc-provider, as the matrix sees every real server."""

    server: OidcProviderServer
    name: str = "oidc-provider"
    version: str = field(default_factory=_version)
    public: RegisteredClient = field(default_factory=lambda: _client(PUBLIC_CLIENT_ID, None))
    confidential: RegisteredClient = field(
        default_factory=lambda: _client(CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET)
    )
    short_lived: RegisteredClient = field(
        default_factory=lambda: _client(SHORT_LIVED_CLIENT_ID, None)
    )
    limits: Mapping[str, str] = field(default_factory=lambda: dict(LIMITS))

    @property
    def issuer(self) -> str:
        return self.server.issuer

    def sign_in(
        self, authorization_url: str, *, outcome: Literal["allow", "deny", "abandon"] = "allow"
    ) -> str | None:
        """devInteractions' login (any password) and consent, or its [ Cancel ] link at
        consent ("deny"), or only as far as the login page ("abandon")."""
        try:
            if outcome == "abandon":
                self._open_login_page(authorization_url)
                return None
            return http_login(authorization_url, cancel_at="consent" if outcome == "deny" else None)
        except AuthorizationServerError as err:
            raise SignInRefused(err.status, f"{err.error}: {err.description}") from err

    def _open_login_page(self, url: str) -> None:
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect()
        )
        for _ in range(10):
            answer = _send(opener, url, headers={"Accept": "text/html"})
            location = answer.header("Location")
            if answer.status in (302, 303) and location:
                url = urllib.parse.urljoin(url, location)
                continue
            text = answer.body.decode("utf-8", "replace")
            error = _error_from_html(answer.status, text, url)
            if error is not None:
                raise error
            if answer.status == 200 and 'name="login"' in text:
                return
            raise HarnessError(f"no login page at {url}: {answer.status} {text[:300]}")
        raise HarnessError(f"too many redirects before the login page (last: {url})")

    def refresh_grants(self, client_id: str) -> int:
        """refresh_token grant requests server.mjs logged for ``client_id``."""
        return sum(
            1 for m in _REFRESH_LINE.finditer(self.server.log()) if m["client_id"] == client_id
        )

    def token_request(
        self, client: RegisteredClient, form: Mapping[str, str]
    ) -> tuple[int, dict[str, Any] | None]:
        answer = self.server.token_request(
            form, client_id=client.client_id, client_secret=client.client_secret
        )
        try:
            body = answer.json()
        except (ValueError, HarnessError):
            body = None
        return answer.status, body

    def introspect(self, token: str) -> bool | None:
        """RFC 7662 introspection as the confidential client (which may ask about any)."""
        return bool(self.server.introspect(token).get("active"))

    def stop(self) -> None:
        self.server.stop()
