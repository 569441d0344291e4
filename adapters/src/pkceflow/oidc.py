"""OpenID Connect for the Client: JWKS through the transport, id_token checks, userinfo.

The validation itself is the core's pure function (pkceflow_core.oidc); this module
fetches what it needs: the server's JWK Set, through the same Transport as every
other request (never PyJWT's own HTTP client), cached with its HTTP freshness and
fetched again, at most once a minute, when an id_token names a key it lacks.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from pkceflow_core import (
    ClientConfig,
    HttpRequest,
    IdentityChangedError,
    IdTokenError,
    InvalidResponseError,
    ServerMetadata,
    TokenError,
    TokenSet,
    UsageError,
)
from pkceflow_core._json import loads_object
from pkceflow_core.errors import IdTokenKeyError, IdTokenMalformedError, JwksError
from pkceflow_core.http import freshness_lifetime
from pkceflow_core.oidc import (
    IdTokenClaims,
    IdTokenExpectations,
    JsonWebKeySet,
    validate_id_token,
)
from pkceflow_core.ports import Clock, Transport

__all__ = ["IdTokenVerifier", "JwksCache", "fetch_userinfo", "unverified_claims"]

log = logging.getLogger("pkceflow.oidc")

#: How long a JWK Set is kept when its response says nothing of caching.
DEFAULT_JWKS_LIFETIME = 3600.0
#: The shortest time between two fetches forced by an unknown kid.
MIN_REFETCH_INTERVAL = 60.0


class JwksCache:
    """The server's JWK Set, fetched through ``transport`` and kept while fresh."""

    def __init__(
        self,
        transport: Transport,
        jwks_uri: str,
        *,
        clock: Clock,
        min_refetch_interval: float = MIN_REFETCH_INTERVAL,
    ) -> None:
        self._transport = transport
        self._uri = jwks_uri
        self._clock = clock
        self._min_interval = min_refetch_interval
        self._keys: JsonWebKeySet | None = None
        self._expires = 0.0
        self._refetched_at: float | None = None
        self._lock = threading.Lock()

    def keys(self) -> JsonWebKeySet:
        """The cached set while fresh, else a newly fetched one. JwksError if unusable."""
        with self._lock:
            if self._keys is None or self._clock() >= self._expires:
                self._fetch()
            assert self._keys is not None
            return self._keys

    def refetch(self) -> JsonWebKeySet | None:
        """Fetch again (the server may have rotated its keys); None if refetched too recently."""
        with self._lock:
            now = self._clock()
            if self._refetched_at is not None and now - self._refetched_at < self._min_interval:
                return None
            self._refetched_at = now
            self._fetch()
            return self._keys

    def _fetch(self) -> None:
        now = self._clock()
        response = self._transport.send(
            HttpRequest("GET", self._uri, {"Accept": "application/json"}, retry_safe=True)
        )
        if response.status != 200:
            raise JwksError(f"the jwks_uri answered HTTP {response.status}")
        keys = JsonWebKeySet.from_json(response.body)
        lifetime = freshness_lifetime(response)
        self._keys = keys
        self._expires = now + (DEFAULT_JWKS_LIFETIME if lifetime is None else lifetime)


class IdTokenVerifier:
    """Checks the id_token of every token set as OpenID Connect Core 3.1.3.7 asks.

    A callable of the shape the core's Driver takes (``check_id_token``). With a
    nonce (a login that asked for ``openid``) a token set without an id_token is
    refused (OIDC Core 3.1.3.3). The last validated claims are kept in ``claims``.
    """

    def __init__(
        self,
        server: ServerMetadata,
        client: ClientConfig,
        transport: Transport,
        *,
        clock: Clock,
        leeway: float = 60.0,
        max_age: int | None = None,
        allow_hmac: bool = False,
        issuer_template: str | None = None,
    ) -> None:
        if server.issuer is None:
            raise UsageError("id_tokens can only be checked against a known issuer")
        if server.jwks_uri is None and not allow_hmac:
            raise UsageError("id_tokens can only be checked with the server's jwks_uri")
        self._server = server
        self._client = client
        self._clock = clock
        self._options: dict[str, Any] = {
            "leeway": leeway,
            "max_age": max_age,
            "allow_hmac": allow_hmac,
            "issuer_template": issuer_template,
        }
        self._jwks = JwksCache(transport, server.jwks_uri, clock=clock) if server.jwks_uri else None
        self.claims: IdTokenClaims | None = None

    def __call__(
        self, tokens: TokenSet, nonce: str | None, previous: TokenSet | None = None
    ) -> None:
        if tokens.id_token is None:
            if nonce is not None:
                raise IdTokenMalformedError(
                    "openid was asked for but the token response has no id_token"
                    " (OpenID Connect Core 3.1.3.3)"
                )
            return
        expected = IdTokenExpectations.from_server(
            self._server,
            client_id=self._client.client_id,
            nonce=nonce,
            access_token=tokens.access_token,
            client_secret=self._client.client_secret,
            **self._options,
        )
        keys = self._jwks.keys() if self._jwks is not None else JsonWebKeySet()
        try:
            claims = validate_id_token(tokens.id_token, keys, expected, now=self._clock())
        except IdTokenKeyError as exc:
            fresh = self._jwks.refetch() if exc.unknown_kid and self._jwks is not None else None
            if fresh is None:
                raise
            log.info("the id_token names a key not in the cached JWKS; fetched it again")
            claims = validate_id_token(tokens.id_token, fresh, expected, now=self._clock())
        if previous is not None and previous.id_token is not None:
            _check_same_identity(unverified_claims(previous.id_token), claims)
        self.claims = claims


def _check_same_identity(before: Mapping[str, Any], after: IdTokenClaims) -> None:
    """OpenID Connect Core 12.2: a refreshed id_token is about the same identity.

    ``iss``, ``sub``, ``aud`` and ``azp`` must be as before: any difference is
    another identity, and IdentityChangedError names the claim. ``auth_time`` is
    not compared: Django OAuth Toolkit, for one, stamps every id_token with the
    user's latest sign-in anywhere, so a moved ``auth_time`` on the same subject is
    a server habit, not another person. ``max_age`` is enforced when the login's
    id_token is checked; a refresh is not a new authentication and is not held to it.
    """
    old_aud = before.get("aud")
    old_aud = tuple(old_aud) if isinstance(old_aud, list) else (old_aud,)
    for claim, was, now in (
        ("iss", before.get("iss"), after.iss),
        ("sub", before.get("sub"), after.sub),
        ("aud", old_aud, after.aud),
        ("azp", before.get("azp"), after.azp),
    ):
        if was != now:
            raise IdentityChangedError(
                f"the refreshed id_token has another {claim} than the one it replaces"
                " (OpenID Connect Core 12.2): it is about another identity, so the login"
                " was ended; log in again",
                claim=claim,
            )


def unverified_claims(id_token: str) -> dict[str, Any]:
    """The claims of an id_token that was validated when it was stored.

    Reads the payload only; it is for tokens pkceflow checked before storing them.
    IdTokenMalformedError when it cannot be read.
    """
    try:
        payload = id_token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        raise IdTokenMalformedError("the stored id_token cannot be read") from None
    if not isinstance(data, dict):
        raise IdTokenMalformedError("the stored id_token cannot be read")
    return data


_WWW_AUTH_PARAM = re.compile(r'(error|error_description)="([^"]*)"')


def fetch_userinfo(
    transport: Transport, server: ServerMetadata, tokens: TokenSet
) -> dict[str, Any]:
    """Ask the userinfo endpoint (OpenID Connect Core 5.3) with the access token.

    When the token set has an id_token, the answer's ``sub`` must equal its ``sub``
    (5.3.2) or IdTokenError is raised and the answer is not used. A refused token
    raises TokenError (RFC 6750 3: from the WWW-Authenticate header).
    """
    if server.userinfo_endpoint is None:
        raise UsageError("the server has no userinfo endpoint")
    response = transport.send(
        HttpRequest(
            "GET",
            server.userinfo_endpoint,
            {"Authorization": f"Bearer {tokens.access_token}", "Accept": "application/json"},
            retry_safe=True,
        )
    )
    if response.status != 200:
        params = dict(_WWW_AUTH_PARAM.findall(response.headers.get("www-authenticate", "")))
        if "error" in params:
            raise TokenError(
                params["error"], params.get("error_description"), status=response.status
            )
        raise InvalidResponseError("the userinfo endpoint refused", status=response.status)
    if not response.headers.get("content-type", "").lower().startswith("application/json"):
        raise InvalidResponseError(
            "the userinfo answer is not JSON (signed userinfo is not supported)",
            status=response.status,
        )
    claims = loads_object(response.body, what="the userinfo answer", status=response.status)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidResponseError("the userinfo answer has no sub", status=response.status)
    if tokens.id_token is not None and unverified_claims(tokens.id_token).get("sub") != sub:
        raise IdTokenError(
            "the userinfo sub differs from the id_token's; its claims were not used"
            " (OpenID Connect Core 5.3.2)"
        )
    return claims
