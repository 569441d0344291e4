"""Which endpoint a request is for: the paths under the issuer, the well-known discovery
URLs, the methods each endpoint allows."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from ._authorize import authorize
from ._context import Context
from ._discovery import discovery, jwks
from ._http import Request, Response
from ._interaction import consent, login
from ._revocation import introspect, revoke
from ._token import token
from ._userinfo import userinfo

Handler = Callable[[Context, Request], Response]
"""An endpoint."""

_BOTH = ("GET", "POST")
_ROUTES: dict[str, tuple[str, Handler, tuple[str, ...]]] = {
    "/authorize": ("authorize", authorize, _BOTH),
    "/login": ("login", login, _BOTH),
    "/consent": ("consent", consent, _BOTH),
    "/token": ("token", token, ("POST",)),
    "/jwks": ("jwks", jwks, ("GET",)),
    "/revoke": ("revoke", revoke, ("POST",)),
    "/introspect": ("introspect", introspect, ("POST",)),
    "/userinfo": ("userinfo", userinfo, _BOTH),
}


def route(issuer_path: str, method: str, path: str) -> tuple[str, Handler]:
    """The endpoint's name (as `RecordedRequest.endpoint` has it) and its handler."""
    if method in _BOTH and path in (
        f"/.well-known/oauth-authorization-server{issuer_path}",  # RFC 8414 3.1
        f"{issuer_path}/.well-known/openid-configuration",
    ):
        return "discovery", discovery
    if issuer_path and not path.startswith(issuer_path + "/"):
        return "unknown", not_found
    found = _ROUTES.get(path[len(issuer_path) :])
    if found is None:
        return "unknown", not_found
    name, handler, methods = found
    if method not in methods:
        return name, partial(_method_not_allowed, ", ".join(methods))
    return name, handler


def not_found(ctx: Context, request: Request) -> Response:
    """404."""
    return Response(404, b"not found\n", [("Content-Type", "text/plain")])


def _method_not_allowed(allow: str, ctx: Context, request: Request) -> Response:
    headers = [("Allow", allow), ("Content-Type", "text/plain")]
    return Response(405, b"method not allowed\n", headers)
