"""Client authentication at the token, revocation and introspection endpoints:
``none``, ``client_secret_basic`` (RFC 6749 2.3.1, form-encoded before base64) and
``client_secret_post``, exactly the one method each client is registered with."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import unquote_plus

from ._checks import Refusal, first_refusal
from ._context import Context
from ._http import Request, Response
from ._token_responses import oauth_error
from .clients import RegisteredClient
from .settings import AuthMethod


class _Credentials(NamedTuple):
    client_id: str
    secret: str
    method: AuthMethod


class _Attempt(NamedTuple):
    client: RegisteredClient
    credentials: _Credentials


def authenticate(
    ctx: Context, request: Request, form: Mapping[str, str], *, token_endpoint: bool
) -> RegisteredClient | Response:
    """The authenticated client, or the error to answer with."""
    presented = _presented_credentials(request, form)
    if isinstance(presented, Refusal):
        return oauth_error(ctx, request, *presented, token_endpoint=token_endpoint)
    client = ctx.state.client(presented.client_id)
    if client is None:
        return oauth_error(ctx, request, *_UNKNOWN_CLIENT, token_endpoint=token_endpoint)
    refusal = first_refusal(_CHECKS, _Attempt(client, presented))
    if refusal is not None:
        return oauth_error(ctx, request, *refusal, token_endpoint=token_endpoint)
    return client


def _presented_credentials(request: Request, form: Mapping[str, str]) -> _Credentials | Refusal:
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        return _basic_credentials(authorization, form)
    return _form_credentials(form)


def _basic_credentials(authorization: str, form: Mapping[str, str]) -> _Credentials | Refusal:
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return Refusal("invalid_client", "Unsupported authentication scheme.")
    if form.get("client_secret") is not None:
        return Refusal("invalid_request", "More than one client authentication method was used.")
    decoded = _decode_basic(credentials)
    if decoded is None:
        return Refusal("invalid_client", "Malformed Basic credentials.")
    client_id, secret = decoded
    body_id = form.get("client_id")
    if body_id is not None and body_id != client_id:
        return Refusal(
            "invalid_client", "client_id in the body differs from the Basic credentials."
        )
    return _Credentials(client_id, secret, "client_secret_basic")


def _decode_basic(credentials: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        raw_id, colon, raw_secret = decoded.partition(":")
        if not colon:
            return None
        # RFC 6749 2.3.1: both are form-urlencoded before base64.
        return unquote_plus(raw_id, errors="strict"), unquote_plus(raw_secret, errors="strict")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def _form_credentials(form: Mapping[str, str]) -> _Credentials | Refusal:
    body_id, body_secret = form.get("client_id"), form.get("client_secret")
    if body_secret is not None:
        if body_id is None:
            return Refusal("invalid_client", "client_secret without client_id.")
        return _Credentials(body_id, body_secret, "client_secret_post")
    if body_id is None:
        return Refusal("invalid_client", "Client authentication is required.")
    return _Credentials(body_id, "", "none")


_UNKNOWN_CLIENT = Refusal("invalid_client", "Unknown client.")


def _registered_method_used(attempt: _Attempt) -> Refusal | None:
    method = attempt.client.auth_method
    if attempt.credentials.method != method:
        return Refusal("invalid_client", f"This client must authenticate with {method}.")
    return None


def _secret_matches(attempt: _Attempt) -> Refusal | None:
    expected = attempt.client.client_secret
    if expected is not None and not hmac.compare_digest(
        attempt.credentials.secret.encode("utf-8"), expected.encode("utf-8")
    ):
        return Refusal("invalid_client", "Client authentication failed.")
    return None


_CHECKS = (_registered_method_used, _secret_matches)
