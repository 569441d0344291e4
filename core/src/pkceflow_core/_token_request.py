"""Requests to the token and revocation endpoints (RFC 6749 4.1.3 and 6, RFC 7009)."""

from __future__ import annotations

from urllib.parse import urlencode

from ._client_auth import ClientConfig
from ._http import HttpRequest, HttpResponse
from ._metadata import ServerMetadata
from ._scope import Scope
from ._token_response import check_error_response
from .errors import UsageError

__all__ = [
    "build_code_exchange_request",
    "build_refresh_request",
    "build_revocation_request",
    "check_revocation_response",
]


def _form_post(
    url: str, form: dict[str, str], client: ClientConfig, *, retry_safe: bool
) -> HttpRequest:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    client.authenticate(form, headers)
    return HttpRequest("POST", url, headers, urlencode(form).encode("ascii"), retry_safe=retry_safe)


def build_code_exchange_request(
    server: ServerMetadata,
    client: ClientConfig,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
) -> HttpRequest:
    """The authorization code grant's token request with the PKCE verifier (RFC 7636 4.5).

    Never retry it once it may have reached the server: codes are single-use.
    """
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    return _form_post(server.token_endpoint, form, client, retry_safe=False)


def build_refresh_request(
    server: ServerMetadata,
    client: ClientConfig,
    refresh_token: str,
    *,
    scope: Scope | None = None,
) -> HttpRequest:
    """A refresh_token grant (RFC 6749 6); ``scope`` may only narrow what was granted."""
    if not refresh_token:
        raise UsageError("there is no refresh token to refresh with")
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if scope:
        form["scope"] = " ".join(scope)
    # A replayed refresh under rotation fails with invalid_grant, so even this
    # request is sent at most once per attempt.
    return _form_post(server.token_endpoint, form, client, retry_safe=False)


def build_revocation_request(
    server: ServerMetadata,
    client: ClientConfig,
    token: str,
    *,
    token_type_hint: str | None = "refresh_token",
) -> HttpRequest:
    """A token revocation request (RFC 7009 2.1). UsageError if the server has no endpoint."""
    if server.revocation_endpoint is None:
        raise UsageError("the server has no revocation endpoint")
    form = {"token": token}
    if token_type_hint:
        form["token_type_hint"] = token_type_hint
    return _form_post(server.revocation_endpoint, form, client, retry_safe=True)


def check_revocation_response(response: HttpResponse) -> None:
    """Accept 200 (RFC 7009 2.2: also for tokens the server did not know); raise otherwise."""
    if response.status != 200:
        check_error_response(response, what="the revocation endpoint")
