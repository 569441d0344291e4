"""How the token endpoint answers: tokens or errors as JSON (RFC 6749 5.1 and 5.2) or,
GitHub style, form-encoded, and the broken answers `ProviderSettings.token_failure` asks
for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from ._context import Context
from ._http import NO_STORE, Request, Response, accepts_json, json_response, page
from .settings import TokenFailure

REALM = "pkceflow-testing"
"""The realm of the provider's ``WWW-Authenticate`` challenges."""
_TRUNCATED_JSON = b'{"access_token": "unterminated, "token_type": Bearer'
_TEXT = ("Content-Type", "text/plain")


def oauth_error(
    ctx: Context, request: Request, error: str, description: str, *, token_endpoint: bool = True
) -> Response:
    """An OAuth error: 401 with a Basic challenge for ``invalid_client``, else 400; at the
    token endpoint shaped by the switches (status 200, form-encoded)."""
    status = 401 if error == "invalid_client" else 400
    headers: list[tuple[str, str]] = list(NO_STORE)
    if status == 401:
        headers.append(("WWW-Authenticate", f'Basic realm="{REALM}"'))
    payload = {"error": error, "error_description": description}
    if token_endpoint:
        if ctx.settings.token_errors_status_200:
            status = 200
        if _answers_form(ctx, request):
            return _form_response(status, payload, headers)
    return json_response(status, payload, *headers)


def token_success(ctx: Context, request: Request, payload: dict[str, Any]) -> Response:
    """A token response, with the quirks the switches ask for."""
    settings = ctx.settings
    body = dict(payload)
    if settings.omit_expires_in:
        body.pop("expires_in", None)
    elif settings.expires_in_as_string and "expires_in" in body:
        body["expires_in"] = str(body["expires_in"])
    if not settings.scope_in_token_response:
        body.pop("scope", None)
    elif settings.scope_as_list and "scope" in body:
        body["scope"] = str(body["scope"]).split()
    if _answers_form(ctx, request):
        return _form_response(200, body, list(NO_STORE))
    return json_response(200, body, *NO_STORE)


def _answers_form(ctx: Context, request: Request) -> bool:
    form = ctx.settings.token_response_format
    return form == "form_always" or (form == "form" and not accepts_json(request.headers))


def _form_response(
    status: int, payload: Mapping[str, object], headers: list[tuple[str, str]]
) -> Response:
    items = [
        (name, ",".join(map(str, value)) if isinstance(value, list) else str(value))
        for name, value in payload.items()
    ]
    body = urlencode(items).encode("ascii")
    content_type = ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
    return Response(status, body, [content_type, *headers])


def failure_response(failure: TokenFailure) -> Response:
    """The broken answer of `failure`; the request itself is not processed."""
    answers: dict[TokenFailure, Response] = {
        "disconnect": Response(500, disconnect=True),
        "http_500": Response(500, b"Internal Server Error\n", [_TEXT]),
        "http_503": Response(503, b"Service Unavailable\n", [_TEXT, ("Retry-After", "1")]),
        "http_429": Response(429, b"Too Many Requests\n", [_TEXT, ("Retry-After", "120")]),
        "slow_down_429": json_response(
            429, {"error": "slow_down", "error_description": "Too many requests."}
        ),
        "empty_400": Response(400, b"", []),
        "html_200": page(
            200, "Something went wrong", "<p>We are sorry, please try again later.</p>"
        ),
    }
    default = Response(200, _TRUNCATED_JSON, [("Content-Type", "application/json"), *NO_STORE])
    return answers.get(failure, default)
