"""Minting tokens: access and refresh tokens recorded in the state, and RS256 ID tokens
(OpenID Connect Core 2) with the defects `ProviderSettings.id_token_defect` asks for."""

from __future__ import annotations

import json
import secrets
from typing import Any, Literal, NamedTuple

import jwt

from ._context import Context
from ._keys import SigningKey
from ._state import Token
from .digests import at_hash, b64url
from .settings import IdTokenDefect, ProviderSettings


class Grant(NamedTuple):
    """Who a login's tokens are for; every token of one login shares `grant_id`."""

    client_id: str
    user: str
    grant_id: str
    auth_time: float


def issue(
    ctx: Context,
    grant: Grant,
    *,
    scope: tuple[str, ...],
    nonce: str | None,
    refresh_scope: tuple[str, ...] | None,
    now: float,
    id_token: bool = True,
) -> dict[str, Any]:
    """Create tokens (the caller holds the lock) and return the response payload."""
    settings = ctx.settings
    access = _new_token(ctx, grant, "access", scope, now, settings.access_token_lifetime)
    payload: dict[str, Any] = {
        "access_token": access,
        "token_type": settings.token_type,
        "expires_in": settings.access_token_lifetime,
    }
    if refresh_scope is not None:
        lifetime = settings.refresh_token_lifetime
        payload["refresh_token"] = _new_token(ctx, grant, "refresh", refresh_scope, now, lifetime)
    payload["scope"] = " ".join(scope)
    if id_token and "openid" in scope:
        payload["id_token"] = _id_token(ctx, grant, nonce=nonce, access_token=access, now=now)
    return payload


def _new_token(
    ctx: Context,
    grant: Grant,
    kind: Literal["access", "refresh"],
    scope: tuple[str, ...],
    now: float,
    lifetime: float | None,
) -> str:
    token = Token(
        value=secrets.token_urlsafe(32),
        kind=kind,
        client_id=grant.client_id,
        user=grant.user,
        scope=scope,
        grant_id=grant.grant_id,
        auth_time=grant.auth_time,
        issued_at=now,
        expires_at=None if lifetime is None else now + lifetime,
    )
    ctx.state.tokens[token.value] = token
    return token.value


def _id_token(
    ctx: Context, grant: Grant, *, nonce: str | None, access_token: str, now: float
) -> str:
    settings = ctx.settings
    issued = int(now)
    claims: dict[str, Any] = {
        "iss": ctx.provider.tenant_issuer if settings.templated_issuer else ctx.provider.issuer,
        "sub": grant.user,
        "aud": grant.client_id,
        "azp": grant.client_id,
        "iat": issued,
        "exp": issued + settings.id_token_lifetime,
        "auth_time": int(grant.auth_time),
        "at_hash": at_hash(access_token),
    }
    if settings.templated_issuer:
        claims["tid"] = settings.tenant_id
    if nonce is not None:
        claims["nonce"] = nonce
    defect = settings.id_token_defect
    _spoil_claims(claims, defect, settings, nonce=nonce, access_token=access_token)
    return _sign(ctx, claims, defect)


def _spoil_claims(
    claims: dict[str, Any],
    defect: IdTokenDefect | None,
    settings: ProviderSettings,
    *,
    nonce: str | None,
    access_token: str,
) -> None:
    issued = claims["iat"]
    if defect == "wrong_nonce":
        claims["nonce"] = "not-" + (nonce or "the-nonce")
    elif defect == "missing_nonce":
        claims.pop("nonce", None)
    elif defect == "wrong_aud":
        claims["aud"] = claims["azp"] = "some-other-client"
    elif defect == "wrong_iss":
        claims["iss"] = settings.wrong_issuer
    elif defect == "expired":
        claims["iat"] = issued - settings.id_token_lifetime - 3600
        claims["exp"] = issued - 3600
    elif defect == "wrong_at_hash":
        claims["at_hash"] = at_hash(access_token + "x")


def _sign(ctx: Context, claims: dict[str, Any], defect: IdTokenDefect | None) -> str:
    if defect == "alg_none":
        header = b64url(b'{"alg":"none","typ":"JWT"}')
        body = b64url(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
        return f"{header}.{body}."
    key = ctx.keys.signing_key()
    if defect == "bad_signature":  # a key not in the JWKS, under the published kid
        key = SigningKey(key.kid, ctx.keys.rogue_key().private)
    elif defect == "unknown_kid":
        key = SigningKey("unknown-" + key.kid, key.private)
    return jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid})
