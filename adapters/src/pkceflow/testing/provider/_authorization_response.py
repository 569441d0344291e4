"""Answers to an authorization request, sent back to the client's redirect URI: a code or
an error, with ``state`` and the RFC 9207 ``iss``."""

from __future__ import annotations

import secrets

from ._context import Context
from ._http import Response, redirect, with_query
from ._state import Code, Pending


def authorization_iss(ctx: Context) -> str | None:
    """The ``iss`` parameter the switches ask for, or None for none."""
    settings = ctx.settings
    if settings.templated_issuer or settings.authorization_iss == "omit":
        return None
    if settings.authorization_iss == "wrong":
        return settings.wrong_issuer
    return ctx.provider.issuer


def redirect_to_client(
    ctx: Context, pending: Pending, params: list[tuple[str, str]], status: int
) -> Response:
    """Redirect to the request's redirect URI with `params`, ``state`` and ``iss``."""
    if pending.state is not None:
        params.append(("state", pending.state))
    iss = authorization_iss(ctx)
    if iss is not None:
        params.append(("iss", iss))
    return redirect(with_query(pending.redirect_uri, params), status)


def authorization_error(
    ctx: Context, pending: Pending, error: str, description: str, status: int = 302
) -> Response:
    """An error response (RFC 6749 4.1.2.1) at the client's redirect URI."""
    return redirect_to_client(
        ctx, pending, [("error", error), ("error_description", description)], status
    )


def approve(ctx: Context, pending: Pending, user: str, auth_time: float, status: int) -> Response:
    """Issue a code for `user`, or deny when `ProviderSettings.deny_consent` says so."""
    settings = ctx.settings
    if settings.deny_consent:
        return authorization_error(
            ctx, pending, "access_denied", settings.deny_error_description, status
        )
    now = ctx.now()
    code = secrets.token_urlsafe(32)
    record = Code(
        request=pending,
        user=user,
        auth_time=auth_time,
        expires_at=now + settings.code_lifetime,
        grant_id=secrets.token_hex(8),
    )
    ctx.state.add_code(code, record, now)
    return redirect_to_client(ctx, pending, [("code", code)], status)
