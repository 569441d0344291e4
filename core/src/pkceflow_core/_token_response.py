"""Token endpoint answers (RFC 6749 5.1 and 5.2), parsed strictly and totally.

Every path out of :func:`parse_token_response` is a TokenSet or a PkceflowError;
nothing else escapes, whatever the body holds.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from ._http import HttpResponse, retry_after
from ._json import MAX_BODY, excerpt, loads_object
from ._quirks import Quirks
from ._scope import Scope
from ._tokens import TokenSet
from .errors import (
    InvalidResponseError,
    TemporarilyUnavailableError,
    TokenError,
    printable,
    redact,
)

__all__ = ["check_error_response", "parse_token_response"]

# Ten years: a longer lifetime is a server bug, not a promise worth storing.
_MAX_EXPIRES_IN = 10 * 365 * 24 * 3600
_DIGITS = re.compile(r"[0-9]{1,12}\Z")
_ERROR_CODE = re.compile(r"[a-z_]{1,64}\Z")
# RFC 6749 A.12, A.17: access-token and refresh-token = 1*VSCHAR (visible ASCII and
# space). Tokens go into Authorization headers and onto terminals: a line break or an
# escape sequence in one would inject a header or rewrite the screen.
_VSCHAR = re.compile(r"[\x20-\x7e]+\Z")
# RFC 6749 3.3 and A.4: scope-token = 1*NQCHAR (visible ASCII but '"' and '\').
_NQCHAR = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+\Z")


def _form_object(body: bytes, status: int) -> dict[str, Any]:
    if len(body) > MAX_BODY:
        raise InvalidResponseError("the token response is too large", status=status)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        # parse_qsl's message and a UnicodeDecodeError's bytes quote the body: raised
        # outside the handler, so that neither rides along as __context__.
        pairs = None
    if pairs is None:
        raise InvalidResponseError(
            "the token response is not form-encoded", status=status, excerpt=excerpt(body)
        )
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidResponseError(
                f"the token response repeats {redact(printable(key, 40))!r}", status=status
            )
        result[key] = value
    # A form carries only strings: its expires_in is digits by nature, not by quirk.
    lifetime = result.get("expires_in")
    if lifetime is not None and _DIGITS.match(lifetime):
        result["expires_in"] = int(lifetime)
    return result


def _read_body(
    response_status: int, body: bytes, content_type: str, quirks: Quirks
) -> dict[str, Any]:
    if quirks.form_encoded_token_response and content_type.startswith(
        "application/x-www-form-urlencoded"
    ):
        return _form_object(body, response_status)
    return loads_object(body, what="the token response", status=response_status)


def _optional_str(doc: dict[str, Any], name: str, status: int) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _VSCHAR.match(value):
        raise InvalidResponseError(
            f"{name} in the token response must be a non-empty string of visible ASCII"
            " characters (RFC 6749 A.12)",
            status=status,
        )
    return value


def _raise_oauth_error(doc: dict[str, Any], status: int) -> None:
    error = doc["error"]
    if not isinstance(error, str) or not error:
        raise InvalidResponseError("the error member must be a non-empty string", status=status)
    description = doc.get("error_description")
    uri = doc.get("error_uri")
    raise TokenError(
        error,
        description if isinstance(description, str) else None,
        uri if isinstance(uri, str) else None,
        status=status,
    )


#: Answers that say "not now" rather than "no" (RFC 6585 4, RFC 9110 15.6).
_TEMPORARY_STATUSES = frozenset({429, 502, 503, 504})
#: OAuth error codes of the same meaning (RFC 6749 4.1.2.1, RFC 8628 3.5).
_TEMPORARY_ERRORS = frozenset({"temporarily_unavailable", "slow_down"})


def _raise_temporary(
    response: HttpResponse, error: object, *, what: str, now: float | None
) -> None:
    wait = retry_after(response, now) if now is not None else None
    code = error if isinstance(error, str) and _ERROR_CODE.match(error) else None
    said = f" ({code})" if code else ""
    raise TemporarilyUnavailableError(
        f"{what} is busy or unavailable (HTTP {response.status}){said}",
        status=response.status,
        retry_after=wait,
        error=code,
    )


def check_error_response(response: HttpResponse, *, what: str, now: float | None = None) -> None:
    """Raise the right error for a non-2xx answer from a token-family endpoint.

    An overload answer (HTTP 429, 502, 503, 504, or the OAuth errors
    ``temporarily_unavailable`` and ``slow_down``) becomes TemporarilyUnavailableError
    with the server's Retry-After (an HTTP-date needs ``now``); another RFC 6749 5.2
    error object TokenError; anything else an InvalidResponseError with the status
    and a safe excerpt.
    """
    status, body = response.status, response.body
    try:
        doc: dict[str, Any] | None = loads_object(body, what=what, status=status)
    except InvalidResponseError:
        doc = None
    error = doc.get("error") if doc is not None else None
    if status in _TEMPORARY_STATUSES or (isinstance(error, str) and error in _TEMPORARY_ERRORS):
        _raise_temporary(response, error, what=what, now=now)
    if doc is None:
        raise InvalidResponseError(
            f"{what} did not answer with OAuth error JSON", status=status, excerpt=excerpt(body)
        )
    if "error" in doc:
        _raise_oauth_error(doc, status)
    raise InvalidResponseError(f"{what} answered an error without an error code", status=status)


def _expires_in(value: object, quirks: Quirks, status: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and quirks.expires_in_as_string and _DIGITS.match(value):
        value = int(value)
    # RFC 6749 A.14: expires-in = 1*DIGIT. bool is an int in Python; refuse it.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidResponseError("expires_in must be an integer number of seconds", status=status)
    if not 0 < value <= _MAX_EXPIRES_IN:
        raise InvalidResponseError(
            f"expires_in must be between 1 and {_MAX_EXPIRES_IN} seconds", status=status
        )
    return value


def _scope(value: object, requested: Scope | None, quirks: Quirks, status: int) -> Scope | None:
    if value is None:
        # RFC 6749 5.1: omitted when identical to the scope requested.
        return requested
    if isinstance(value, list) and quirks.scope_as_array:
        if not all(isinstance(item, str) for item in value):
            raise InvalidResponseError("scope items must be strings", status=status)
        scope: Scope = tuple(dict.fromkeys(value))
    elif not isinstance(value, str):
        raise InvalidResponseError("scope in the token response must be a string", status=status)
    else:
        text = value
        for separator in quirks.scope_separators:
            text = text.replace(separator, " ")
        scope = tuple(dict.fromkeys(s for s in text.split(" ") if s))
    # Scopes are shown to the person (pkceflow status): no control characters.
    if not all(_NQCHAR.match(s) for s in scope if s):
        raise InvalidResponseError(
            "scope in the token response has characters RFC 6749 3.3 does not allow",
            status=status,
        )
    return scope


def parse_token_response(
    response: HttpResponse,
    *,
    now: float,
    requested_scope: Scope | None = None,
    previous: TokenSet | None = None,
    quirks: Quirks = Quirks(),
) -> TokenSet:
    """Turn a token endpoint answer into a TokenSet, or raise.

    ``now`` turns ``expires_in`` into ``expires_at``. ``previous`` is the token set a
    refresh started from: its refresh token (and id_token) are kept when the server
    sends no new one (RFC 6749 6). Raises TokenError for an OAuth error (with its
    HTTP status), InvalidResponseError for anything malformed.
    """
    status, body = response.status, response.body
    if not 200 <= status < 300:
        check_error_response(response, what="the token endpoint", now=now)
    doc = _read_body(status, body, response.headers.get("content-type", "").lower(), quirks)
    if "error" in doc and "access_token" not in doc:
        if isinstance(doc["error"], str) and doc["error"] in _TEMPORARY_ERRORS:  # GitHub: 200
            _raise_temporary(response, doc["error"], what="the token endpoint", now=now)
        _raise_oauth_error(doc, status)
    access_token = _optional_str(doc, "access_token", status)
    if access_token is None:
        raise InvalidResponseError("the token response has no access_token", status=status)
    token_type = doc.get("token_type")
    if not isinstance(token_type, str):
        raise InvalidResponseError("the token response has no token_type", status=status)
    # RFC 6749 7.1 and RFC 6750: the type is case-insensitive; only Bearer is supported.
    if token_type.lower() != "bearer":
        raise InvalidResponseError(
            f"token_type {redact(printable(token_type, 40))!r} is not supported (only Bearer)",
            status=status,
        )
    expires_in = _expires_in(doc.get("expires_in"), quirks, status)
    refresh_token = _optional_str(doc, "refresh_token", status)
    id_token = _optional_str(doc, "id_token", status)
    if previous is not None:
        refresh_token = refresh_token or previous.refresh_token
        id_token = id_token or previous.id_token
    known = {"access_token", "token_type", "expires_in", "refresh_token", "id_token", "scope"}
    return TokenSet(
        access_token=access_token,
        token_type="Bearer",
        expires_at=None if expires_in is None else now + expires_in,
        obtained_at=now,
        refresh_token=refresh_token,
        id_token=id_token,
        scope=_scope(doc.get("scope"), requested_scope, quirks, status),
        extra={k: v for k, v in doc.items() if k not in known},
    )
