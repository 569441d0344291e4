"""The UserInfo endpoint (OpenID Connect Core 5.3) with Bearer tokens (RFC 6750)."""

from __future__ import annotations

from ._context import Context
from ._http import NO_STORE, Request, Response, is_form, json_response, read_form
from ._token_responses import REALM


def userinfo(ctx: Context, request: Request) -> Response:
    """``/userinfo``: the claims of the access token's user that its scope allows."""
    token = _bearer_token(request)
    if token is None:
        return _challenge(401, None, "A Bearer access token is required.")
    now = ctx.now()
    with ctx.state.lock:
        record = ctx.state.tokens.get(token)
        if record is None or record.kind != "access" or not record.usable(now):
            return _challenge(401, "invalid_token", "The access token is invalid.")
        if "openid" not in record.scope:
            return _challenge(403, "insufficient_scope", "The openid scope is required.")
        user, scope = record.user, record.scope
        known = ctx.state.user_claims(user)
    return json_response(200, _claims(user, scope, known), *NO_STORE)


def _bearer_token(request: Request) -> str | None:
    """From the Authorization header (RFC 6750 2.1), or else a form body (2.2)."""
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
        return None
    if request.method == "POST" and is_form(request.headers):
        form, _ = read_form(request)
        return form.get("access_token")
    return None


def _claims(user: str, scope: tuple[str, ...], known: dict[str, object]) -> dict[str, object]:
    claims: dict[str, object] = {"sub": user}
    if "profile" in scope:
        claims["name"] = known.get("name", user)
        claims["preferred_username"] = user
    if "email" in scope and "email" in known:
        claims["email"] = known["email"]
        claims["email_verified"] = bool(known.get("email_verified", True))
    for name, value in known.items():
        if name not in ("name", "email", "email_verified"):
            claims.setdefault(name, value)
    return claims


def _challenge(status: int, error: str | None, description: str) -> Response:
    """An error with its ``WWW-Authenticate: Bearer`` challenge (RFC 6750 3)."""
    value = f'Bearer realm="{REALM}"'
    if error is not None:
        value += f', error="{error}", error_description="{description}"'
        if error == "insufficient_scope":
            value += ', scope="openid"'
    payload = {"error": error or "invalid_request", "error_description": description}
    return json_response(status, payload, ("WWW-Authenticate", value), *NO_STORE)
