"""Two small middlewares: the per-issuer URLconf and the token-endpoint request log."""

from __future__ import annotations

import base64
import sys
import urllib.parse
from collections.abc import Callable
from typing import Any

Handler = Callable[[Any], Any]

ISSUER_P_PREFIX = "/p/"


def issuer_urlconf(get_response: Handler) -> Handler:
    """Requests under ``/p/`` resolve (and reverse) against ``urls_p``, so DOT's discovery
    documents and ``iss`` values name the ``/p`` issuer's own endpoints."""

    def middleware(request: Any) -> Any:
        if request.path.startswith(ISSUER_P_PREFIX):
            request.urlconf = "dot_e2e.urls_p"
        return get_response(request)

    return middleware


def _client_id(request: Any) -> str:
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials).decode("utf-8")
        except ValueError:
            return "?"
        return urllib.parse.unquote_plus(decoded.partition(":")[0])
    return str(request.POST.get("client_id", "-"))


def token_request_log(get_response: Handler) -> Handler:
    """One stderr line per token-endpoint request: issuer prefix, grant type, client id and
    status (never a token or a secret), for counting refresh grants at the server."""

    def middleware(request: Any) -> Any:
        if request.method != "POST" or not request.path.endswith("/token/"):
            return get_response(request)
        grant_type = str(request.POST.get("grant_type", "-"))
        client_id = _client_id(request)
        response = get_response(request)
        sys.stderr.write(
            f"dot-e2e token: path={request.path} grant_type={grant_type} "
            f"client_id={client_id} status={response.status_code}\n"
        )
        sys.stderr.flush()
        return response

    return middleware
