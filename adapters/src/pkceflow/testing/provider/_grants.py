"""The token endpoint's grants: ``authorization_code`` (RFC 6749 4.1.3 with PKCE, RFC 7636
4.6) and ``refresh_token`` (RFC 6749 6, rotation with reuse detection, RFC 9700 4.14.2).

Each rule is one function, applied in order under the state's lock.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ._checks import Refusal, first_refusal
from ._context import Context
from ._http import Request, Response
from ._issuance import Grant, issue
from ._state import Code, Token
from ._token_responses import oauth_error, token_success
from .clients import RegisteredClient
from .digests import s256_challenge

GrantHandler = Callable[[Context, Request, RegisteredClient, Mapping[str, str]], Response]
"""A grant: the context, the request, the authenticated client and the form."""
_Record = TypeVar("_Record", Code, Token)
_VERIFIER_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 4.1


@dataclass(frozen=True)
class _Presented(Generic[_Record]):
    """A presented code or refresh token, found, with what came with it."""

    ctx: Context
    record: _Record
    form: Mapping[str, str]
    now: float


@dataclass(frozen=True)
class _GrantType(Generic[_Record]):
    """How a grant finds what is presented, the rules it must pass, and what it issues."""

    parameter: str
    unknown: str
    find: Callable[[Context, str, RegisteredClient], _Record | None]
    checks: tuple[Callable[[_Presented[_Record]], Refusal | None], ...]
    mint: Callable[[_Presented[_Record]], dict[str, Any]]


def _exchange(
    grant_type: _GrantType[_Record],
    ctx: Context,
    request: Request,
    client: RegisteredClient,
    form: Mapping[str, str],
) -> Response:
    value = form.get(grant_type.parameter)
    if value is None:
        description = f"{grant_type.parameter} is missing."
        return oauth_error(ctx, request, "invalid_request", description)
    now = ctx.now()
    with ctx.state.lock:
        record = grant_type.find(ctx, value, client)
        if record is None:
            return oauth_error(ctx, request, "invalid_grant", grant_type.unknown)
        presented = _Presented(ctx, record, form, now)
        refusal = first_refusal(grant_type.checks, presented)
        if refusal is not None:
            return oauth_error(ctx, request, *refusal)
        payload = grant_type.mint(presented)
    return token_success(ctx, request, payload)


def authorization_code(
    ctx: Context, request: Request, client: RegisteredClient, form: Mapping[str, str]
) -> Response:
    """Redeem a code for tokens."""
    return _exchange(_AUTHORIZATION_CODE, ctx, request, client, form)


def refresh_token(
    ctx: Context, request: Request, client: RegisteredClient, form: Mapping[str, str]
) -> Response:
    """Exchange a refresh token for new tokens, rotating it as the settings say."""
    return _exchange(_REFRESH_TOKEN, ctx, request, client, form)


# ---- authorization_code


def _find_code(ctx: Context, value: str, client: RegisteredClient) -> Code | None:
    record = ctx.state.codes.get(value)
    if record is None or record.request.client_id != client.client_id:
        return None
    return record


def _code_tokens(redemption: _Presented[Code]) -> dict[str, Any]:
    ctx, record = redemption.ctx, redemption.record
    pending = record.request
    return issue(
        ctx,
        Grant(pending.client_id, record.user, record.grant_id, record.auth_time),
        scope=pending.scope,
        nonce=pending.nonce,
        refresh_scope=pending.scope if ctx.settings.issue_refresh_tokens else None,
        now=redemption.now,
    )


def _code_redeemed_once(redemption: _Presented[Code]) -> Refusal | None:
    """A code works once; a second redemption revokes what the first one issued."""
    record = redemption.record
    if record.used:
        redemption.ctx.state.revoke_grant(record.grant_id)
        return Refusal(
            "invalid_grant", "The authorization code was already used; its tokens are revoked."
        )
    record.used = True
    return None


def _code_not_expired(redemption: _Presented[Code]) -> Refusal | None:
    if redemption.now >= redemption.record.expires_at:
        return Refusal("invalid_grant", "The authorization code has expired.")
    return None


def _redirect_uri_as_requested(redemption: _Presented[Code]) -> Refusal | None:
    # RFC 6749 4.1.3: required and identical when the authorization request had one.
    sent_uri = redemption.form.get("redirect_uri")
    pending = redemption.record.request
    if (pending.redirect_uri_sent or sent_uri is not None) and sent_uri != pending.redirect_uri:
        return Refusal(
            "invalid_grant", "redirect_uri differs from the one in the authorization request."
        )
    return None


def _verifier_present(redemption: _Presented[Code]) -> Refusal | None:
    if "code_verifier" not in redemption.form:
        return Refusal("invalid_grant", "code_verifier is missing.")
    return None


def _verifier_well_formed(redemption: _Presented[Code]) -> Refusal | None:
    if not _VERIFIER_RE.fullmatch(redemption.form["code_verifier"]):
        return Refusal("invalid_grant", "code_verifier is malformed.")
    return None


def _verifier_matches_challenge(redemption: _Presented[Code]) -> Refusal | None:
    challenge = s256_challenge(redemption.form["code_verifier"])
    if not hmac.compare_digest(challenge, redemption.record.request.code_challenge):
        return Refusal("invalid_grant", "code_verifier does not match the code_challenge.")
    return None


# ---- refresh_token


def _find_refresh_token(ctx: Context, value: str, client: RegisteredClient) -> Token | None:
    record = ctx.state.tokens.get(value)
    if record is None or record.kind != "refresh" or record.client_id != client.client_id:
        return None
    return record


def _refreshed_tokens(refresh: _Presented[Token]) -> dict[str, Any]:
    """Rotate the refresh token as the settings say and issue the new tokens."""
    ctx, record, now = refresh.ctx, refresh.record, refresh.now
    settings = ctx.settings
    rotation = settings.refresh_token_rotation
    if rotation == "rotate":
        record.active, record.rotated = False, True
    auth_time = now if settings.refresh_auth_time_now else record.auth_time
    payload = issue(
        ctx,
        Grant(record.client_id, record.user, record.grant_id, auth_time),
        scope=_requested_scope(record, refresh.form),
        nonce=None,
        refresh_scope=record.scope if rotation == "rotate" else None,
        now=now,
        id_token=settings.id_token_on_refresh,
    )
    if rotation == "same":
        payload["refresh_token"] = record.value
    return payload


def _requested_scope(record: Token, form: Mapping[str, str]) -> tuple[str, ...]:
    if "scope" in form:
        return tuple(dict.fromkeys(form["scope"].split()))
    return record.scope


def _refresh_not_refused_upstream(refresh: _Presented[Token]) -> Refusal | None:
    if refresh.ctx.settings.refresh_invalid_grant:
        return Refusal("invalid_grant", "The refresh token is expired or revoked.")
    return None


def _refresh_token_usable(refresh: _Presented[Token]) -> Refusal | None:
    """Refused when revoked, expired or rotated away; a replay of a rotated-away token
    revokes its grant when `ProviderSettings.revoke_on_refresh_reuse` is on."""
    record = refresh.record
    if record.usable(refresh.now):
        return None
    if record.rotated and refresh.ctx.settings.revoke_on_refresh_reuse:
        refresh.ctx.state.revoke_grant(record.grant_id)
    return Refusal("invalid_grant", "The refresh token is no longer valid.")


def _scope_within_grant(refresh: _Presented[Token]) -> Refusal | None:
    # RFC 6749 6: a refresh may narrow the scope, never widen it.
    if not set(_requested_scope(refresh.record, refresh.form)) <= set(refresh.record.scope):
        return Refusal("invalid_scope", "The scope exceeds the original grant.")
    return None


_AUTHORIZATION_CODE = _GrantType(
    parameter="code",
    unknown="Unknown authorization code.",
    find=_find_code,
    checks=(
        _code_redeemed_once,
        _code_not_expired,
        _redirect_uri_as_requested,
        _verifier_present,
        _verifier_well_formed,
        _verifier_matches_challenge,
    ),
    mint=_code_tokens,
)
_REFRESH_TOKEN = _GrantType(
    parameter="refresh_token",
    unknown="Unknown refresh token.",
    find=_find_refresh_token,
    checks=(_refresh_not_refused_upstream, _refresh_token_usable, _scope_within_grant),
    mint=_refreshed_tokens,
)

GRANTS: dict[str, GrantHandler] = {
    "authorization_code": authorization_code,
    "refresh_token": refresh_token,
}
"""The grant types the token endpoint serves, by ``grant_type``."""
