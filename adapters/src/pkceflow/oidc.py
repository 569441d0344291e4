"""OpenID Connect for the Client: JWKS through the transport, id_token checks, userinfo.

The validation itself is the core's pure function (pkceflow_core.oidc); this module
fetches what it needs: the server's JWK Set, through the same Transport as every
other request (never PyJWT's own HTTP client), cached with its HTTP freshness and
fetched again, at most once a minute, when an id_token names a key it lacks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from pkceflow_core import (
    ClientConfig,
    HttpRequest,
    HttpResponse,
    IdentityChangedError,
    IdTokenError,
    ServerMetadata,
    TokenSet,
    UsageError,
    freshness_lifetime,
)
from pkceflow_core.oidc import (
    IdTokenClaims,
    IdTokenExpectations,
    JsonWebKeySet,
    unverified_claims,
    userinfo_steps,
    validate_id_token,
)
from pkceflow_core.ports import Clock, Transport
from pkceflow_core.steps import Effect, Send, Steps, run

__all__ = [
    "IdTokenVerifier",
    "JwksCache",
    "fetch_userinfo",
    "unverified_claims",
    "userinfo_steps",
]

log = logging.getLogger("pkceflow.oidc")

#: How long a JWK Set is kept when its response says nothing of caching.
DEFAULT_JWKS_LIFETIME = 3600.0
#: The shortest time between two fetches forced by an unknown kid.
MIN_REFETCH_INTERVAL = 60.0


class JwksCache:
    """The server's JWK Set, fetched and kept while fresh.

    Its rules are steps (pkceflow_core.steps) so that a sync or an asyncio runner
    can fetch it; :meth:`keys` and :meth:`refetch` run them over ``transport``.
    """

    def __init__(
        self,
        transport: Transport | None,
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

    def keys_steps(self) -> Steps[JsonWebKeySet]:
        """The cached set while fresh, else a newly fetched one; IdTokenError if unusable."""
        if self._keys is None or self._clock() >= self._expires:
            yield from self._fetch()
        assert self._keys is not None
        return self._keys

    def refetch_steps(self) -> Steps[JsonWebKeySet | None]:
        """Fetch again (the server may have rotated its keys); None if refetched too recently."""
        now = self._clock()
        if self._refetched_at is not None and now - self._refetched_at < self._min_interval:
            return None
        self._refetched_at = now
        yield from self._fetch()
        return self._keys

    def keys(self) -> JsonWebKeySet:
        """:meth:`keys_steps`, run over the transport."""
        with self._lock:
            return run(self.keys_steps(), _sender(self._transport))

    def refetch(self) -> JsonWebKeySet | None:
        """:meth:`refetch_steps`, run over the transport."""
        with self._lock:
            return run(self.refetch_steps(), _sender(self._transport))

    def _fetch(self) -> Steps[None]:
        now = self._clock()
        response: HttpResponse = yield Send(
            HttpRequest("GET", self._uri, {"Accept": "application/json"}, retry_safe=True)
        )
        if response.status != 200:
            raise IdTokenError(f"the jwks_uri answered HTTP {response.status}", check="jwks")
        keys = JsonWebKeySet.from_json(response.body)
        lifetime = freshness_lifetime(response)
        self._keys = keys
        self._expires = now + (DEFAULT_JWKS_LIFETIME if lifetime is None else lifetime)


def _sender(transport: Transport | None) -> Callable[[Effect], HttpResponse]:
    """The effect handler of steps that only send, over ``transport``."""

    def send(effect: Effect) -> HttpResponse:
        if transport is None:
            raise UsageError("a synchronous check needs a transport")
        assert isinstance(effect, Send)
        return transport.send(effect.request)

    return send


class IdTokenVerifier:
    """Checks the id_token of every token set as OpenID Connect Core 3.1.3.7 asks.

    A callable of the shape the core's Driver takes (``check_id_token``), and as
    :meth:`steps` for any other runner (``transport`` may then be None). With a
    nonce (a login that asked for ``openid``) a token set without an id_token is
    refused (OIDC Core 3.1.3.3). The last validated claims are kept in ``claims``.
    """

    def __init__(
        self,
        server: ServerMetadata,
        client: ClientConfig,
        transport: Transport | None,
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
        self._transport = transport
        self._jwks = JwksCache(transport, server.jwks_uri, clock=clock) if server.jwks_uri else None
        self._lock = threading.Lock()
        self.claims: IdTokenClaims | None = None

    def __call__(
        self, tokens: TokenSet, nonce: str | None, previous: TokenSet | None = None
    ) -> None:
        """Check ``tokens`` (see :meth:`steps`), fetching keys over the transport."""
        with self._lock:
            run(self.steps(tokens, nonce, previous), _sender(self._transport))

    def steps(
        self, tokens: TokenSet, nonce: str | None, previous: TokenSet | None = None
    ) -> Steps[None]:
        """The check as steps: the only effects are the JWK Set's fetches."""
        if tokens.id_token is None:
            if nonce is not None:
                raise IdTokenError(
                    "openid was asked for but the token response has no id_token"
                    " (OpenID Connect Core 3.1.3.3)",
                    check="malformed",
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
        keys = (yield from self._jwks.keys_steps()) if self._jwks is not None else JsonWebKeySet()
        try:
            claims = validate_id_token(tokens.id_token, keys, expected, now=self._clock())
        except IdTokenError as exc:
            fresh = None
            if exc.check == "key" and exc.unknown_kid and self._jwks is not None:
                fresh = yield from self._jwks.refetch_steps()
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


def fetch_userinfo(
    transport: Transport, server: ServerMetadata, tokens: TokenSet
) -> dict[str, Any]:
    """:func:`userinfo_steps`, run over ``transport``."""
    return run(userinfo_steps(server, tokens), _sender(transport))
