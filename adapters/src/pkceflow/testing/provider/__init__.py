"""A local OAuth 2.0 / OpenID Connect authorization server for tests and demos.

`TestProvider` serves real HTTP on a loopback address from a background thread, using
only the standard library's `http.server` plus PyJWT (with `cryptography`) to sign ID
tokens.  It deliberately shares no code with the pkceflow client, so that a bug on one
side cannot be hidden by the same bug on the other.

It is strict where real servers are strict (exact redirect URI matching with the RFC
8252 loopback port exception, PKCE S256 only, single-use codes, refresh token rotation
with reuse detection, client authentication per client) and it can be told to misbehave
through `ProviderSettings`, a mutable object that may be changed while it runs.

The package is laid out by endpoint: ``settings`` (the switches), ``clients`` and
``records`` (the public values), ``server`` (`TestProvider` itself), and private modules
for the state, the HTTP plumbing and each endpoint (``_authorize``, ``_interaction``,
``_token`` with ``_grants`` and ``_client_auth``, ``_discovery``, ``_revocation``,
``_userinfo``).
"""

from __future__ import annotations

from .clients import RegisteredClient, redirect_uri_matches
from .digests import at_hash, s256_challenge
from .records import RecordedRequest, TokenInfo
from .server import TestProvider
from .settings import (
    CONFIDENTIAL_CLIENT_ID,
    CONFIDENTIAL_CLIENT_SECRET,
    DEFAULT_REDIRECT_URIS,
    PUBLIC_CLIENT_ID,
    AuthMethod,
    IdTokenDefect,
    IssuerMode,
    ProviderSettings,
    RefreshRotation,
    TokenFailure,
    TokenResponseFormat,
)

__all__ = [
    "CONFIDENTIAL_CLIENT_ID",
    "CONFIDENTIAL_CLIENT_SECRET",
    "DEFAULT_REDIRECT_URIS",
    "PUBLIC_CLIENT_ID",
    "AuthMethod",
    "IdTokenDefect",
    "IssuerMode",
    "ProviderSettings",
    "RecordedRequest",
    "RefreshRotation",
    "RegisteredClient",
    "TestProvider",
    "TokenFailure",
    "TokenInfo",
    "TokenResponseFormat",
    "at_hash",
    "redirect_uri_matches",
    "s256_challenge",
]
