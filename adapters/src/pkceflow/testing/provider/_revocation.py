"""Token revocation (RFC 7009) and introspection (RFC 7662), both for authenticated
clients."""

from __future__ import annotations

from ._client_auth import authenticate
from ._context import Context
from ._http import (
    NO_STORE,
    BadRequest,
    Request,
    Response,
    invalid_request,
    json_response,
    read_form,
)
from .clients import RegisteredClient


def revoke(ctx: Context, request: Request) -> Response:
    """``/revoke``: revoke a token of the client's; an unknown token is not an error."""
    checked = _protected_form(ctx, request)
    if isinstance(checked, Response):
        return checked
    token, client = checked
    with ctx.state.lock:
        record = ctx.state.tokens.get(token)
        if record is not None:
            if record.client_id != client.client_id:
                return invalid_request("The token was issued to another client.")
            ctx.state.revoke(record)
    return Response(200, b"", [("Cache-Control", "no-store")])


def introspect(ctx: Context, request: Request) -> Response:
    """``/introspect``: whether a token is active, and what it is for."""
    checked = _protected_form(ctx, request)
    if isinstance(checked, Response):
        return checked
    token, _client = checked
    now = ctx.now()
    with ctx.state.lock:
        record = ctx.state.tokens.get(token)
        if record is None or not record.usable(now):
            return json_response(200, {"active": False}, *NO_STORE)
        payload: dict[str, object] = {
            "active": True,
            "scope": " ".join(record.scope),
            "client_id": record.client_id,
            "username": record.user,
            "sub": record.user,
            "aud": record.client_id,
            "iss": ctx.provider.issuer,
            "iat": int(record.issued_at),
        }
        if record.expires_at is not None:
            payload["exp"] = int(record.expires_at)
        if record.kind == "access":
            payload["token_type"] = "Bearer"
    return json_response(200, payload, *NO_STORE)


def _protected_form(ctx: Context, request: Request) -> tuple[str, RegisteredClient] | Response:
    """The ``token`` parameter and the authenticated client, or the error."""
    try:
        form, repeated = read_form(request)
    except BadRequest as exc:
        return invalid_request(str(exc))
    if repeated:
        return invalid_request(f"The {min(repeated)} parameter is repeated.")
    client = authenticate(ctx, request, form, token_endpoint=False)
    if isinstance(client, Response):
        return client
    if "token" not in form:
        return invalid_request("token is missing.")
    return form["token"], client
