"""One hierarchy for every error pkceflow raises.

Each class says whose fault it was, in the manner of h11's Local/Remote split:

- ``UsageError``: the calling program (bad configuration, a step out of order).
- ``CallbackError``: what arrived at the redirect URI (the person's browser, the
  provider's redirect, or any local process that can reach the listener).
- ``ServerError``: what the authorization server answered over HTTP.
- ``TransportError``, ``StoreError``, ``LoginRequiredError``: the world around the
  flow (network, storage, a login that must be done again).

No message ever contains a secret: an error carries the provider's ``error``,
``error_description`` and ``error_uri`` and, for unparseable bodies, a short excerpt
with anything that looks like a token elided.
"""

from __future__ import annotations

import re
from typing import Literal, TypeAlias, get_args

__all__ = [
    "AuthorizationError",
    "CallbackError",
    "CallbackTimeoutError",
    "DuplicateParameterError",
    "FlowStateError",
    "IdTokenError",
    "IdTokenRule",
    "IdentityChangedError",
    "InsecureEndpointError",
    "InvalidResponseError",
    "IssuerMismatchError",
    "LoginEndedError",
    "LoginRequiredError",
    "MetadataError",
    "MissingCodeError",
    "MissingExtraError",
    "MissingIssuerError",
    "MissingStateError",
    "PkceflowError",
    "RefreshInDoubtError",
    "RestoreError",
    "ServerError",
    "StateMismatchError",
    "StoreError",
    "TemporarilyUnavailableError",
    "TokenError",
    "TransportError",
    "UsageError",
    "printable",
    "redact",
]

_CONTROL = {c: None for c in range(32) if c not in (9,)} | {127: None}
_CONTROL.update(dict.fromkeys(range(0x80, 0xA0)))


def printable(text: str, limit: int = 300) -> str:
    """Return ``text`` without control characters, cut to ``limit`` characters.

    Provider-supplied strings (``error_description`` and the like) reach terminals
    and log files; removing C0/C1 controls keeps a provider from rewriting the
    person's terminal with escape sequences.
    """
    cleaned = text.translate(_CONTROL)
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "\u2026"
    return cleaned


# Runs that look like credentials (tokens, codes, verifiers, secrets, or their
# percent-encoded and base64 forms). A server that reflects the request into its
# answer (an error_description echoing the form) must not get a secret into our
# messages, and from there into terminals and logs.
_TOKENISH = re.compile(r"[A-Za-z0-9\-._~+/=%]{16,}")
# An OAuth error code (invalid_grant, unsupported_grant_type) is shown as it is.
_ERROR_CODE = re.compile(r"[a-z_]+\Z")


def redact(text: str) -> str:
    """Return ``text`` with every run of 16 or more token-like characters elided (…)."""
    return _TOKENISH.sub("\u2026", text)


class PkceflowError(Exception):
    """The base of every error pkceflow raises on purpose."""


class UsageError(PkceflowError, ValueError):
    """The calling program asked for something invalid (configuration, arguments)."""


class FlowStateError(UsageError):
    """A flow step was called out of order, e.g. exchanging before a callback."""


class MissingExtraError(UsageError, ImportError):
    """A module needs packages of an extra that is not installed.

    ``extra`` is the distribution's extra that brings them (``pkceflow-core[oidc]``),
    ``name`` (as in ImportError) the module that could not be imported. It is an
    ImportError too, so ``except ImportError`` around an optional import still works.
    """

    def __init__(self, message: str, *, extra: str, name: str) -> None:
        super().__init__(message)
        self.extra = extra
        self.name = name


class RestoreError(PkceflowError, ValueError):
    """Dumped data (a flow in progress, a stored token set) is corrupt or of another version."""


class CallbackError(PkceflowError):
    """The request that reached the redirect URI is not a valid authorization response."""


class MissingStateError(CallbackError):
    """The callback carries no ``state`` (RFC 6749 4.1.2)."""


class StateMismatchError(CallbackError):
    """The callback's ``state`` is not the one this flow sent (CSRF defence, RFC 6749 10.12)."""


class MissingCodeError(CallbackError):
    """The callback has a valid ``state`` but neither ``code`` nor ``error``."""


class DuplicateParameterError(CallbackError):
    """A callback parameter appears more than once (RFC 6749 3.1)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the callback repeats the parameter {printable(name, 60)!r}")
        self.name = name


class IssuerMismatchError(CallbackError):
    """The callback's ``iss`` differs from the expected issuer (RFC 9207 2.4, mix-up defence)."""


class MissingIssuerError(CallbackError):
    """The server announces RFC 9207 support but the callback carries no ``iss``."""


class _OAuthErrorMixin:
    """The three fields of an OAuth error response (RFC 6749 4.1.2.1 and 5.2)."""

    error: str
    error_description: str | None
    error_uri: str | None

    def _set_fields(self, error: str, description: str | None, uri: str | None) -> str:
        self.error = error
        self.error_description = description
        self.error_uri = uri
        # The attributes keep what the server sent; the message, which reaches
        # terminals and logs, has anything token-like elided (after the control
        # characters are gone, so that none can split a token into short runs).
        text = printable(error, 80)
        if not _ERROR_CODE.match(error):
            text = redact(text)
        if description:
            text += f": {redact(printable(description))}"
        return text


class AuthorizationError(_OAuthErrorMixin, CallbackError):
    """The authorization server refused at the redirect (``error=access_denied`` and the like).

    Attributes ``error``, ``error_description`` and ``error_uri`` hold what the
    server sent (RFC 6749 4.1.2.1); the message has control characters removed.
    """

    def __init__(
        self, error: str, error_description: str | None = None, error_uri: str | None = None
    ) -> None:
        super().__init__(self._set_fields(error, error_description, error_uri))


class ServerError(PkceflowError):
    """The authorization server's HTTP answer was an error or could not be used."""


class TokenError(_OAuthErrorMixin, ServerError):
    """An endpoint answered with an OAuth error (RFC 6749 5.2), e.g. ``invalid_grant``.

    Attributes: ``error``, ``error_description``, ``error_uri`` and ``status`` (HTTP).
    """

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        error_uri: str | None = None,
        *,
        status: int,
    ) -> None:
        super().__init__(f"{self._set_fields(error, error_description, error_uri)} (HTTP {status})")
        self.status = status


class InvalidResponseError(ServerError):
    """An answer that breaks the protocol: not JSON, a missing field, a wrong type.

    ``status`` is the HTTP status; ``excerpt`` a short, printable start of the body.
    """

    def __init__(self, message: str, *, status: int | None = None, excerpt: str = "") -> None:
        text = message if status is None else f"{message} (HTTP {status})"
        if excerpt:
            text += f"; body starts: {excerpt!r}"
        super().__init__(text)
        self.status = status
        self.excerpt = excerpt


class MetadataError(ServerError):
    """Server metadata (RFC 8414, OpenID discovery) is invalid or names another issuer."""


class InsecureEndpointError(UsageError):
    """An endpoint uses plain http on a host that is not a loopback address."""


#: The rule an id_token (or what is checked against it) failed, as
#: ``IdTokenError.check``. Sections are OpenID Connect Core 1.0:
#:
#: - ``"malformed"``: no id_token although ``openid`` was asked for (3.1.3.3), not a
#:   compact JWS with JSON header and payload, or no ``sub`` (2).
#: - ``"jwks"``: the server's JWK Set (``jwks_uri``) is unusable (10.1.1, RFC 7517 5).
#: - ``"algorithm"``: ``alg`` is ``none`` or not an allowed one (3.1.3.7 items 6-8).
#: - ``"key"``: no single JWKS key fits the ``kid`` and ``alg`` (10.1.1).
#: - ``"signature"``: the signature does not verify (3.1.3.7 item 6).
#: - ``"issuer"``: ``iss`` is not the expected issuer (3.1.3.7 item 2).
#: - ``"audience"``: ``aud`` lacks the client_id, or ``azp`` is missing or another
#:   client (3.1.3.7 items 3-5).
#: - ``"expired"``: ``exp`` is missing or past (3.1.3.7 item 9).
#: - ``"issued_at"``: ``iat`` is missing or in the future, or ``nbf`` in the future
#:   (3.1.3.7 item 10).
#: - ``"nonce"``: ``nonce`` is missing or not the one the login sent (3.1.3.7 item 11).
#: - ``"at_hash"``: ``at_hash`` does not match the access token (3.1.3.8).
#: - ``"auth_time"``: ``max_age`` was asked for and ``auth_time`` is missing or too
#:   old (3.1.3.7 item 13).
#: - ``"userinfo_sub"``: the userinfo answer's ``sub`` is not the id_token's (5.3.2).
#: - ``"identity"``: a refreshed id_token is about another identity (12.2); only
#:   IdentityChangedError carries it.
IdTokenRule: TypeAlias = Literal[
    "malformed",
    "jwks",
    "algorithm",
    "key",
    "signature",
    "issuer",
    "audience",
    "expired",
    "issued_at",
    "nonce",
    "at_hash",
    "auth_time",
    "userinfo_sub",
    "identity",
]
_ID_TOKEN_RULES: frozenset[str] = frozenset(get_args(IdTokenRule))


class IdTokenError(ServerError):
    """An id_token, or what is checked against it, failed a rule of OpenID Connect Core.

    ``check`` names the rule (an :data:`IdTokenRule`: ``"signature"``, ``"nonce"``
    and so on); branch on it rather than on the message. ``unknown_kid``, meaningful
    only for ``check == "key"``, is True when the token names a key the JWK Set does
    not hold: the server may have rotated its keys, so fetching the JWKS again
    (rate-limited) and validating once more may help. UsageError for a ``check``
    outside the set, or ``unknown_kid`` with another check.
    """

    def __init__(self, message: str, *, check: IdTokenRule, unknown_kid: bool = False) -> None:
        if check not in _ID_TOKEN_RULES:
            raise UsageError(f"{printable(str(check), 40)!r} is not an id_token check")
        if unknown_kid and check != "key":
            raise UsageError('unknown_kid is meaningful for check="key" only')
        super().__init__(message)
        self.check: IdTokenRule = check
        self.unknown_kid = unknown_kid


class TemporarilyUnavailableError(ServerError):
    """The server is overloaded or down for now: try again later (RFC 6585 4, RFC 9110 15.6.4).

    An HTTP 429, 502, 503 or 504, or an OAuth ``temporarily_unavailable`` or
    ``slow_down`` error. ``retry_after`` is the wait the server asked for, in seconds
    (its Retry-After header), or None; ``error`` the OAuth error code, if any;
    ``status`` the HTTP status. A login is never ended for this.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after: float | None = None,
        error: str | None = None,
    ) -> None:
        if retry_after is not None:
            message += f"; try again in {retry_after:.0f} s"
        else:
            message += "; try again later"
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.error = error


class TransportError(PkceflowError):
    """The HTTP request could not be completed (connection, TLS, timeout, size limit).

    ``maybe_sent`` is True when the request may have reached the server before the
    failure (a read timeout, a connection dropped while waiting for the answer):
    the server may then have acted on it.
    """

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


class RefreshInDoubtError(TransportError):
    """A refresh was sent and its answer never came: the server may have rotated the token.

    The stored login is kept and marked. Callers that were waiting for the same
    refresh fail with this error instead of replaying the refresh token (a replay
    would make a server with reuse detection revoke the whole grant); the next call
    tries once more.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, maybe_sent=True)


class CallbackTimeoutError(PkceflowError, TimeoutError):
    """No valid callback arrived before the deadline.

    ``rejected`` counts the callbacks that arrived but were refused (wrong state...).
    """

    def __init__(self, message: str, *, rejected: int = 0) -> None:
        super().__init__(message)
        self.rejected = rejected


class StoreError(PkceflowError):
    """The token store could not be read or written; what was stored is left intact."""


class LoginRequiredError(PkceflowError):
    """There is no usable stored login: run the authorization flow again."""


class LoginEndedError(LoginRequiredError):
    """The authorization server ended the stored login: log in again.

    Raised when it refuses the refresh token (``invalid_grant``), when a refresh
    answers for another identity, or when it refuses a refresh without an OAuth
    error. ``login_kept`` says whether the stored login was left in place (only
    when the refusal could have come from something between client and server,
    such as a proxy's error page).
    """

    def __init__(self, message: str, *, login_kept: bool = False) -> None:
        super().__init__(message)
        self.login_kept = login_kept


class IdentityChangedError(LoginEndedError, IdTokenError):
    """A refreshed id_token is about another identity (OpenID Connect Core 12.2).

    ``claim`` names the first claim that differs: ``iss``, ``sub``, ``aud`` or
    ``azp``. The stored login is removed: it no longer says who is signed in. Its
    ``check`` is ``"identity"`` and ``login_kept`` is False.
    """

    def __init__(self, message: str, *, claim: str) -> None:
        # LoginEndedError's initialiser would reach IdTokenError's without a check.
        IdTokenError.__init__(self, message, check="identity")
        self.login_kept = False
        self.claim = claim
