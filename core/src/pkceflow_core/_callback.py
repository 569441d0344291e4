"""The authorization response at the redirect URI (RFC 6749 4.1.2, RFC 9207).

Order matters: nothing in a callback is believed before its ``state`` matches, so a
forged request from any local process can neither end the flow nor plant an error.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

import attrs

from .errors import (
    AuthorizationError,
    CallbackError,
    DuplicateParameterError,
    IssuerMismatchError,
    MissingCodeError,
    MissingIssuerError,
    MissingStateError,
    StateMismatchError,
)

__all__ = [
    "MAX_CALLBACK",
    "Callback",
    "check_state",
    "parse_callback_params",
    "verify_callback",
]

#: Larger callbacks are refused before parsing; real codes are far shorter.
MAX_CALLBACK = 16 * 1024
_MAX_FIELDS = 64
# A URL starts with a scheme; a bare query may hold "://" in a value (iss=https://...).
_ABSOLUTE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")


@attrs.frozen
class Callback:
    """A callback whose ``state`` matched: the code, and the ``iss`` it came with."""

    code: str = attrs.field(repr=False)
    iss: str | None = None


def parse_callback_params(url_or_query: str) -> dict[str, str]:
    """Read the query of a redirect URL, request target (``/cb?...``) or bare query.

    Raises CallbackError for an oversized, undecodable or malformed query and
    DuplicateParameterError for a repeated parameter. A fragment is never read:
    the code flow returns its parameters in the query (RFC 6749 4.1.2).
    """
    if len(url_or_query) > MAX_CALLBACK:
        raise CallbackError(f"the callback is longer than {MAX_CALLBACK} characters")
    text = url_or_query.strip()
    try:
        # A lone surrogate cannot be form-encoded into the token request later.
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CallbackError("the callback is not valid text") from None
    if _ABSOLUTE_URL.match(text) or text.startswith("/"):
        try:
            query = urlsplit(text).query
        except ValueError:
            raise CallbackError("the callback is not a valid URL") from None
    else:
        query = text.split("#", 1)[0].removeprefix("?")
    try:
        pairs = parse_qsl(
            query, keep_blank_values=True, errors="strict", max_num_fields=_MAX_FIELDS
        )
    except ValueError:
        # UnicodeDecodeError for non-UTF-8 bytes, ValueError for too many fields.
        raise CallbackError("the callback's query cannot be decoded") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise DuplicateParameterError(name)
        params[name] = value
    return params


def check_state(params: Mapping[str, str], expected_state: str) -> None:
    """Raise MissingStateError or StateMismatchError unless ``state`` is the one sent.

    The comparison takes the same time wherever the strings differ (RFC 6749 10.12).
    """
    state = params.get("state")
    if not state:
        raise MissingStateError("the callback has no state parameter")
    if not hmac.compare_digest(state.encode("utf-8", "surrogatepass"), expected_state.encode()):
        raise StateMismatchError("the callback's state does not match this login")


def verify_callback(
    params: Mapping[str, str],
    *,
    expected_state: str,
    expected_issuer: str | None,
    require_iss: bool,
) -> Callback:
    """Check a parsed callback against the flow that is waiting for it.

    Raises, in this order: MissingStateError, StateMismatchError (constant-time
    compare), IssuerMismatchError / MissingIssuerError (RFC 9207 2.4, on success and
    error responses alike), CallbackError for ``code`` and ``error`` together,
    AuthorizationError for ``error``, MissingCodeError.
    """
    check_state(params, expected_state)
    iss = params.get("iss")
    if iss is not None and expected_issuer is not None and iss != expected_issuer:
        raise IssuerMismatchError(
            "the callback's iss names another authorization server (RFC 9207 mix-up defence)"
        )
    if iss is None and require_iss:
        raise MissingIssuerError("the server promised an iss parameter and sent none (RFC 9207)")
    code = params.get("code")
    error = params.get("error")
    if error is not None and code is not None:
        raise CallbackError("the callback carries both code and error")
    if error is not None:
        raise AuthorizationError(error, params.get("error_description"), params.get("error_uri"))
    if not code:
        raise MissingCodeError("the callback has neither code nor error")
    return Callback(code, iss)
