"""A local OAuth 2.0 / OpenID Connect authorization server for tests and demos.

`TestProvider` serves real HTTP on a loopback address from a background thread, using
only the standard library's `http.server` plus PyJWT (with `cryptography`) to sign ID
tokens.  It deliberately shares no code with the pkceflow client, so that a bug on one
side cannot be hidden by the same bug on the other.

It is strict where real servers are strict (exact redirect URI matching with the RFC
8252 loopback port exception, PKCE S256 only, single-use codes, refresh token rotation
with reuse detection, client authentication per client) and it can be told to misbehave
through `ProviderSettings`, a mutable object that may be changed while it runs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import html
import ipaddress
import json
import re
import secrets
import socket
import socketserver
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "CONFIDENTIAL_CLIENT_ID",
    "CONFIDENTIAL_CLIENT_SECRET",
    "DEFAULT_REDIRECT_URIS",
    "PUBLIC_CLIENT_ID",
    "AuthMethod",
    "Client",
    "IdTokenDefect",
    "IssuerMode",
    "ProviderSettings",
    "RecordedRequest",
    "RefreshRotation",
    "TestProvider",
    "TokenFailure",
    "TokenInfo",
    "TokenResponseFormat",
    "at_hash",
    "s256_challenge",
]

PUBLIC_CLIENT_ID = "pkceflow-test"
"""The default public client (token endpoint authentication method ``none``)."""

CONFIDENTIAL_CLIENT_ID = "pkceflow-confidential"
"""The default confidential client (``client_secret_basic``)."""

CONFIDENTIAL_CLIENT_SECRET = "pkceflow-confidential-secret"
"""The secret of `CONFIDENTIAL_CLIENT_ID`."""

DEFAULT_REDIRECT_URIS: tuple[str, ...] = (
    "http://127.0.0.1/callback",
    "http://[::1]/callback",
    "http://localhost/callback",
)
"""Loopback redirect URIs; any port matches them (RFC 8252 section 7.3)."""

AuthMethod = Literal["none", "client_secret_basic", "client_secret_post"]
TokenFailure = Literal[
    "http_500",
    "http_503",
    "http_429",
    "slow_down_429",
    "empty_400",
    "html_200",
    "invalid_json",
    "disconnect",
]
IdTokenDefect = Literal[
    "bad_signature",
    "unknown_kid",
    "alg_none",
    "wrong_nonce",
    "missing_nonce",
    "wrong_aud",
    "wrong_iss",
    "expired",
    "wrong_at_hash",
]
IssuerMode = Literal["correct", "wrong", "omit"]
RefreshRotation = Literal["rotate", "same", "omit"]
TokenResponseFormat = Literal["json", "form", "form_always"]

_AUTH_METHODS: tuple[AuthMethod, ...] = ("none", "client_secret_basic", "client_secret_post")
_MAX_BODY_BYTES = 64 * 1024
_MAX_FIELDS = 64
_TRANSACTION_LIFETIME = 600.0
_SESSION_COOKIE = "pkceflow_session"
_REALM = "pkceflow-testing"
_VERIFIER_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_S256_CHALLENGE_RE = re.compile(r"[A-Za-z0-9_\-]{43}")
_HTML_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
)
_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


# --------------------------------------------------------------------------- helpers


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def s256_challenge(verifier: str) -> str:
    """The PKCE S256 code challenge of `verifier` (RFC 7636 section 4.2)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def at_hash(access_token: str) -> str:
    """The ``at_hash`` of `access_token` for RS256 (OpenID Connect Core 3.1.3.6)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return _b64url(digest[: len(digest) // 2])


def _is_loopback_host(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split_authority(netloc: str) -> tuple[str, str | None] | None:
    """``(host as written, port or None)``; None when malformed or with user info."""
    if "@" in netloc:
        return None
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            return None
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            return None
        port: str | None = rest[1:]
    else:
        host, sep, port_text = netloc.partition(":")
        port = port_text if sep else None
    if port is not None and (not port.isdigit() or not 0 < int(port) < 65536):
        return None
    return host, port


def redirect_uri_matches(registered: str, presented: str) -> bool:
    """Whether `presented` matches the `registered` redirect URI.

    Exact string comparison, except that for an ``http`` loopback registration the port
    is ignored (RFC 8252 section 7.3): scheme, host, path and query must still match.
    """
    if "#" in presented:
        return False
    if registered == presented:
        return True
    try:
        reg, pre = urlsplit(registered), urlsplit(presented)
        if reg.scheme != "http" or not _is_loopback_host(reg.hostname):
            return False
    except ValueError:  # e.g. an unbalanced "[" in the authority
        return False
    reg_authority, pre_authority = _split_authority(reg.netloc), _split_authority(pre.netloc)
    if reg_authority is None or pre_authority is None:
        return False
    return (
        pre.scheme == reg.scheme
        and pre_authority[0] == reg_authority[0]
        and pre.path == reg.path
        and pre.query == reg.query
        and ("?" in presented) == ("?" in registered)
    )


class _BadRequest(Exception):
    """A request that cannot be parsed."""


def _parse_params(raw: str) -> tuple[dict[str, str], set[str]]:
    """Parameters (empty values dropped, RFC 6749 3.1) and the names that repeat."""
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, errors="strict", max_num_fields=_MAX_FIELDS)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _BadRequest(f"the parameters cannot be parsed ({type(exc).__name__})") from exc
    params: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if value == "":
            continue
        if name in params:
            repeated.add(name)
        params[name] = value
    return params, repeated


def _lenient_params(raw: str) -> dict[str, str]:
    try:
        return dict(parse_qsl(raw, keep_blank_values=True, errors="replace"))
    except ValueError:
        return {}


def _is_form(headers: Message) -> bool:
    value = headers.get("Content-Type", "")
    return value.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"


def _accepts_json(headers: Message) -> bool:
    for item in headers.get_all("Accept", []):
        for media_range in item.split(","):
            if media_range.split(";")[0].strip().lower() == "application/json":
                return True
    return False


def _with_query(uri: str, params: Iterable[tuple[str, str]]) -> str:
    parts = urlsplit(uri)
    extra = urlencode(list(params))
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


# --------------------------------------------------------------------------- public data


@dataclass(frozen=True)
class Client:
    """A registered client."""

    client_id: str
    """The client identifier."""
    client_secret: str | None = None
    """The secret of a confidential client; None for a public client."""
    auth_method: AuthMethod = "none"
    """How the client authenticates at the token, revocation and introspection endpoints."""
    redirect_uris: tuple[str, ...] = DEFAULT_REDIRECT_URIS
    """Registered redirect URIs (loopback ones match on any port)."""

    def __post_init__(self) -> None:
        if self.auth_method not in _AUTH_METHODS:
            raise ValueError(f"unknown auth_method {self.auth_method!r}")
        if (self.auth_method == "none") != (self.client_secret is None):
            raise ValueError("a client has a secret exactly when its auth_method is not 'none'")
        redirect_uris: object = self.redirect_uris
        if isinstance(redirect_uris, str):
            raise TypeError("redirect_uris must be a sequence of strings, not a string")

    def allows_redirect_uri(self, uri: str) -> bool:
        """Whether `uri` matches one of the registered redirect URIs."""
        return any(redirect_uri_matches(registered, uri) for registered in self.redirect_uris)


class RecordedRequest(NamedTuple):
    """One request the provider received."""

    method: str
    """The HTTP method."""
    path: str
    """The request path, without the query."""
    form: dict[str, str]
    """The parameters: the query of a GET, the form body of a POST (last value wins)."""
    endpoint: str
    """The endpoint name: discovery, authorize, login, consent, token, jwks, revoke,
    introspect, userinfo, or unknown."""
    headers: dict[str, str]
    """The request headers, with lower-case names."""


@dataclass(frozen=True)
class TokenInfo:
    """A snapshot of an issued access or refresh token."""

    token: str
    kind: Literal["access", "refresh"]
    client_id: str
    user: str
    scope: str
    issued_at: float
    expires_at: float | None
    active: bool
    """Neither revoked, rotated away nor expired (at the time of the snapshot)."""


@dataclass(slots=True)
class ProviderSettings:
    """Behaviour switches of a `TestProvider`; change them at any time, even while it runs.

    Every attribute is read when a request needs it, so a test can flip a switch between
    two requests.  The defaults describe a strict, well-behaved server.
    """

    # ---- the user and the authorization endpoint
    interactive: bool = False
    """Show a login form and then a consent page (Approve / Deny) instead of approving at
    once.  `HttpFollowingBrowser` fills both in."""
    default_user: str = "alice"
    """The user (``sub``) approved automatically when `interactive` is off."""
    deny_consent: bool = False
    """Deny every authorization: redirect with ``error=access_denied``."""
    deny_error_description: str = "The resource owner denied the request."
    """The ``error_description`` sent with ``access_denied``; may be attacker-like text
    (HTML, script) to test how a client displays it."""
    authorization_iss: IssuerMode = "correct"
    """The RFC 9207 ``iss`` on authorization responses: ``correct``, ``wrong`` (sends
    `wrong_issuer`) or ``omit``."""
    advertise_iss_parameter: bool = True
    """Value of ``authorization_response_iss_parameter_supported`` in discovery."""
    wrong_issuer: str = "https://attacker.invalid"
    """The issuer used by ``authorization_iss="wrong"`` and ``id_token_defect="wrong_iss"``."""
    scopes_supported: tuple[str, ...] = ("openid", "profile", "email", "offline_access")
    """Scopes the provider knows; others are refused with ``invalid_scope``."""
    default_scope: str = "openid"
    """The scope granted when the authorization request has none (RFC 6749 3.3)."""
    code_lifetime: float = 60.0
    """Seconds an authorization code stays valid."""

    # ---- tokens
    access_token_lifetime: int = 3600
    """Seconds an access token stays valid (``expires_in``)."""
    id_token_lifetime: int = 300
    """Seconds between an ID token's ``iat`` and ``exp``."""
    issue_refresh_tokens: bool = True
    """Whether the code exchange returns a refresh token."""
    refresh_token_lifetime: float | None = None
    """Seconds a refresh token stays valid; None for no expiry."""
    refresh_token_rotation: RefreshRotation = "rotate"
    """``rotate``: each refresh returns a new refresh token and the old one stops working;
    ``same``: the same refresh token is returned again and stays valid; ``omit``: no
    refresh token in the response and the old one stays valid."""
    revoke_on_refresh_reuse: bool = True
    """A replayed (rotated-away) refresh token revokes every token of its grant."""
    refresh_invalid_grant: bool = False
    """Answer every refresh_token grant with ``invalid_grant`` (as if revoked upstream)."""
    id_token_on_refresh: bool = True
    """Return a new ID token (without ``nonce``) on refresh when ``openid`` is in scope."""
    id_token_defect: IdTokenDefect | None = None
    """Make every ID token defective: ``bad_signature`` (a key not in the JWKS, same kid),
    ``unknown_kid``, ``alg_none``, ``wrong_nonce``, ``missing_nonce``, ``wrong_aud``,
    ``wrong_iss``, ``expired`` or ``wrong_at_hash``."""
    templated_issuer: bool = False
    """Microsoft style: discovery's issuer is ``{origin}/{tenantid}/v2.0`` while ID tokens
    carry ``{origin}/<tenant_id>/v2.0`` and a ``tid`` claim; the authorization response
    then has no ``iss`` and discovery does not advertise it."""
    tenant_id: str = "9188040d-6c67-4c5b-b112-36a304b66dad"
    """The tenant id of `templated_issuer`."""
    clock_skew: float = 0.0
    """Seconds added to the provider's clock: moves token timestamps and every expiry
    check, so a test can expire codes and tokens without sleeping."""

    # ---- the shape of token responses
    token_response_format: TokenResponseFormat = "json"
    """``form``: GitHub style, token responses are form-urlencoded unless the request's
    Accept header asks for application/json; ``form_always``: whatever it asks for."""
    token_type: str = "Bearer"
    """The ``token_type`` value (GitHub sends ``bearer``)."""
    expires_in_as_string: bool = False
    """Send ``expires_in`` as a string of digits."""
    omit_expires_in: bool = False
    """Send no ``expires_in``."""
    scope_as_list: bool = False
    """Send ``scope`` as a JSON array (comma-joined in the form format)."""
    scope_in_token_response: bool = True
    """Send ``scope`` in token responses."""
    token_errors_status_200: bool = False
    """GitHub style: token endpoint errors come with status 200."""

    # ---- transport failures of the token endpoint
    token_delay: float = 0.0
    """Seconds to sleep before answering the token endpoint."""
    token_delay_count: int | None = None
    """None: `token_delay` applies to every token request; N: only to the next N."""
    token_failure: TokenFailure | None = None
    """Fail token requests: ``http_500``, ``http_503`` (with Retry-After: 1), ``http_429``
    (Retry-After: 120), ``slow_down_429`` (OAuth ``slow_down`` JSON with status 429),
    ``empty_400`` (Glewlwyd style: a 400 with an empty body), ``html_200`` (an HTML error
    page with status 200), ``invalid_json`` or ``disconnect`` (close the connection without
    answering).  The request is not processed."""
    token_failure_count: int | None = None
    """None: `token_failure` applies to every token request; N: only to the next N, after
    which it resets itself."""
    token_answer_delay: float = 0.0
    """Seconds to sleep after a token request was processed (a refresh token rotated, a
    code redeemed) and before answering: a server slower than the client's timeout that
    still carries the request out."""
    refresh_auth_time_now: bool = False
    """Django OAuth Toolkit style: ID tokens issued on refresh carry the time of the
    refresh as ``auth_time`` (the user's latest sign-in), not the login's."""

    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def fail_next_token_requests(self, count: int = 1, failure: TokenFailure = "http_500") -> None:
        """Fail only the next `count` token requests with `failure`."""
        with self._lock:
            self.token_failure = failure
            self.token_failure_count = count

    def delay_next_token_requests(self, count: int, seconds: float) -> None:
        """Delay only the next `count` token requests by `seconds`."""
        with self._lock:
            self.token_delay = seconds
            self.token_delay_count = count

    def take_token_failure(self) -> TokenFailure | None:
        """The failure for the current token request (counting it down); for the provider."""
        with self._lock:
            failure = self.token_failure
            if failure is None or self.token_failure_count is None:
                return failure
            if self.token_failure_count <= 0:
                self.token_failure, self.token_failure_count = None, None
                return None
            self.token_failure_count -= 1
            if self.token_failure_count == 0:
                self.token_failure, self.token_failure_count = None, None
            return failure

    def take_token_delay(self) -> float:
        """The delay for the current token request (counting it down); for the provider."""
        with self._lock:
            delay = self.token_delay
            if delay <= 0 or self.token_delay_count is None:
                return max(delay, 0.0)
            if self.token_delay_count <= 0:
                self.token_delay, self.token_delay_count = 0.0, None
                return 0.0
            self.token_delay_count -= 1
            if self.token_delay_count == 0:
                self.token_delay, self.token_delay_count = 0.0, None
            return delay


# --------------------------------------------------------------------------- internal state


@dataclass(frozen=True)
class _Key:
    kid: str
    private: rsa.RSAPrivateKey

    def public_jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }


def _new_key() -> _Key:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.public_key().public_numbers()
    members = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("ascii")
    return _Key(kid=_b64url(hashlib.sha256(canonical).digest()), private=private)  # RFC 7638


@dataclass
class _Pending:
    client_id: str
    redirect_uri: str
    redirect_uri_sent: bool
    scope: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str
    expires_at: float


@dataclass
class _Code:
    request: _Pending
    user: str
    auth_time: float
    expires_at: float
    grant_id: str
    used: bool = False


@dataclass
class _Token:
    value: str
    kind: Literal["access", "refresh"]
    client_id: str
    user: str
    scope: tuple[str, ...]
    grant_id: str
    auth_time: float
    issued_at: float
    expires_at: float | None
    active: bool = True
    rotated: bool = False

    def usable(self, now: float) -> bool:
        return self.active and (self.expires_at is None or now < self.expires_at)


@dataclass
class _Request:
    method: str
    path: str
    query: str
    headers: Message
    body: bytes


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False
    disconnect: bool = False


def _json(status: int, payload: object, *headers: tuple[str, str]) -> _Response:
    body = json.dumps(payload).encode("utf-8")
    return _Response(status, body, [("Content-Type", "application/json"), *headers])


def _page(status: int, title: str, content: str, *headers: tuple[str, str]) -> _Response:
    document = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{content}\n</body></html>\n"
    )
    return _Response(status, document.encode("utf-8"), [*_HTML_HEADERS, *headers])


def _error_page(description: str) -> _Response:
    return _page(400, "Invalid authorization request", f"<p>{html.escape(description)}</p>")


def _redirect(location: str, status: int = 302, *headers: tuple[str, str]) -> _Response:
    return _Response(status, b"", [("Location", location), ("Cache-Control", "no-store"), *headers])


# --------------------------------------------------------------------------- HTTP plumbing


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out in separate writes; with Nagle's algorithm a client's
    # delayed ACK would hold the body back ~40 ms on every reused connection.
    disable_nagle_algorithm = True

    protocol_version = "HTTP/1.1"
    server_version = "pkceflow-testing"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.provider.request_timeout)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:  # the client went away or timed out: nothing to answer
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.provider.verbose:
            super().log_message(format, *args)

    def _serve(self) -> None:
        provider = self.server.provider
        body = self._read_body()
        if isinstance(body, _Response):
            self._send(body)
            return
        target = urlsplit(self.path)
        request = _Request(self.command, target.path, target.query, self.headers, body)
        self._send(provider._handle(request))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

    def do_HEAD(self) -> None:
        self._send(_Response(405, b"", [("Allow", "GET, POST")], close=True))

    def _read_body(self) -> bytes | _Response:
        if self.headers.get("Transfer-Encoding") is not None:
            return _Response(411, b"Content-Length required\n", close=True)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            if self.command == "POST":
                return _Response(411, b"Content-Length required\n", close=True)
            return b""
        if not length_text.strip().isdigit():
            return _Response(400, b"bad Content-Length\n", close=True)
        length = int(length_text)
        if length > _MAX_BODY_BYTES:
            return _Response(413, b"request body too large\n", close=True)
        body = self.rfile.read(length)
        if len(body) < length:
            return _Response(400, b"", disconnect=True)
        return body

    def _send(self, response: _Response) -> None:
        if response.disconnect:
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if response.close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], provider: TestProvider) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.provider = provider
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would do a reverse DNS lookup (socket.getfqdn).
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._process, args=(request, client_address), daemon=True)
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def _process(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - socketserver's own policy: report, keep serving
            self.handle_error(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.provider.verbose:
            super().handle_error(request, client_address)

    def close_connections(self, timeout: float) -> None:
        with self._connections_lock:
            connections = list(self._connections.items())
        for sock, _thread in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _sock, thread in connections:
            thread.join(max(0.0, deadline - time.monotonic()))


# --------------------------------------------------------------------------- the provider


class TestProvider:
    """A running OAuth 2.0 / OpenID Connect authorization server on loopback.

    Use it as a context manager (``with TestProvider() as provider:``) or call `start`
    and `stop`.  Endpoints, relative to `issuer`: ``/authorize``, ``/token``,
    ``/revoke``, ``/introspect``, ``/userinfo``, ``/jwks``, plus the RFC 8414 and OpenID
    discovery documents.

    Args:
        settings: behaviour switches (a fresh `ProviderSettings` if omitted); also
            reachable as ``provider.settings`` and changeable while running.
        host: the address to bind, a loopback one unless `allow_remote`.
        port: the port, 0 for any free one.
        issuer_path: a path prefix such as ``"/tenant-a"`` that becomes part of the issuer.
        clients: the registered clients; by default a public client `PUBLIC_CLIENT_ID` and
            a confidential one `CONFIDENTIAL_CLIENT_ID` (``client_secret_basic``).
        users: known users and their claims (``name``, ``email``, ...); other user names
            typed into the login form are accepted with generated claims.
        verbose: log each request to stderr and print tracebacks.
        request_timeout: socket timeout for each connection, in seconds.
        allow_remote: permit binding a non-loopback address.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        settings: ProviderSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        issuer_path: str = "",
        clients: Iterable[Client] | None = None,
        users: Mapping[str, Mapping[str, object]] | None = None,
        verbose: bool = False,
        request_timeout: float = 10.0,
        allow_remote: bool = False,
    ) -> None:
        host = host.strip("[]")
        if not allow_remote and not _is_loopback_host(host):
            raise ValueError(f"refusing to serve on non-loopback host {host!r}")
        issuer_path = issuer_path.rstrip("/")
        if issuer_path and (not issuer_path.startswith("/") or any(c in issuer_path for c in "?#")):
            raise ValueError("issuer_path must look like '/tenant-a'")
        self.settings = settings if settings is not None else ProviderSettings()
        self.verbose = verbose
        self.request_timeout = request_timeout
        self._host = host
        self._port = port
        self._issuer_path = issuer_path
        self._lock = threading.RLock()
        self._clients: dict[str, Client] = {}
        for client in (
            clients
            if clients is not None
            else (
                Client(PUBLIC_CLIENT_ID),
                Client(CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET, "client_secret_basic"),
            )
        ):
            self._clients[client.client_id] = client
        self._users: dict[str, dict[str, object]] = {
            "alice": {"name": "Alice Example", "email": "alice@example.test"}
        }
        if users is not None:
            self._users = {name: dict(claims) for name, claims in users.items()}
        self._keys: list[_Key] = []
        self._rogue_key: _Key | None = None
        self._keygen: threading.Thread | None = None
        self._first_key: _Key | None = None
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, _Token] = {}
        self._pending: dict[str, _Pending] = {}
        self._sessions: dict[str, tuple[str, float]] = {}
        self._consents: dict[tuple[str, str], set[str]] = {}
        self._requests: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # ---- life cycle

    def start(self) -> TestProvider:
        """Bind the socket and serve from a background thread; returns self."""
        with self._lock:
            if self._server is not None:
                raise RuntimeError("the provider is already running")
            if not self._keys and self._keygen is None:
                # Generated in the background (cryptography releases the GIL); whatever
                # needs the key first waits for it.  Not a daemon thread: one killed
                # inside OpenSSL at interpreter exit would abort the process.
                self._keygen = threading.Thread(
                    target=self._generate_first_key, name="pkceflow-testing-keygen"
                )
                self._keygen.start()
            self._stopping.clear()
            server = _Server((self._host, self._port), self)
            self._server = server
            self._port = int(server.server_address[1])
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.01},
                name=f"pkceflow-testing-provider:{self._port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and open connections, join the threads."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server, self._thread = None, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections(timeout=5.0)
        if thread is not None:
            thread.join(5.0)

    @property
    def running(self) -> bool:
        """Whether the provider is serving."""
        return self._server is not None

    def __enter__(self) -> TestProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- addresses

    @property
    def host(self) -> str:
        """The bound host (without brackets)."""
        return self._host

    @property
    def port(self) -> int:
        """The bound port (after `start`)."""
        return self._port

    @property
    def origin(self) -> str:
        """``http://host:port``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def issuer(self) -> str:
        """The issuer identifier: `origin` plus the issuer path."""
        if self._server is None:
            raise RuntimeError("the provider is not running; call start() first")
        return self.origin + self._issuer_path

    def url(self, path: str) -> str:
        """An absolute URL under the issuer, e.g. ``provider.url("/token")``."""
        return self.issuer + path

    @property
    def metadata_url(self) -> str:
        """The RFC 8414 metadata URL (issuer path inserted after the well-known part)."""
        return f"{self.origin}/.well-known/oauth-authorization-server{self._issuer_path}"

    @property
    def openid_configuration_url(self) -> str:
        """The OpenID Connect discovery URL (well-known part appended to the issuer)."""
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def authorization_endpoint(self) -> str:
        return self.url("/authorize")

    @property
    def token_endpoint(self) -> str:
        return self.url("/token")

    @property
    def revocation_endpoint(self) -> str:
        return self.url("/revoke")

    @property
    def introspection_endpoint(self) -> str:
        return self.url("/introspect")

    @property
    def userinfo_endpoint(self) -> str:
        return self.url("/userinfo")

    @property
    def jwks_uri(self) -> str:
        return self.url("/jwks")

    @property
    def tenant_issuer(self) -> str:
        """The ``iss`` of ID tokens when `ProviderSettings.templated_issuer` is on."""
        return f"{self.origin}/{self.settings.tenant_id}/v2.0"

    # ---- registry

    def add_client(
        self,
        client_id: str,
        client_secret: str | None = None,
        *,
        auth_method: AuthMethod | None = None,
        redirect_uris: Iterable[str] = DEFAULT_REDIRECT_URIS,
    ) -> Client:
        """Register (or replace) a client; `auth_method` defaults to ``client_secret_basic``
        with a secret and ``none`` without."""
        if auth_method is None:
            auth_method = "none" if client_secret is None else "client_secret_basic"
        client = Client(client_id, client_secret, auth_method, tuple(redirect_uris))
        with self._lock:
            self._clients[client_id] = client
        return client

    def pkceflow_redirect_labels(self) -> frozenset[str]:
        """The last path segments pkceflow adds to ``/callback`` for this server.

        pkceflow gives each server that does not send RFC 9207 ``iss`` a redirect
        path of its own (``ServerMetadata.redirect_path``, RFC 9700 4.4.2): the
        provider accepts them as if a person had registered what pkceflow asked for,
        beside each registered redirect URI, and no other server's.
        """
        from pkceflow_core import ServerMetadata

        auth, token = self.authorization_endpoint, self.token_endpoint
        issuers: list[str | None] = [self.issuer, None]
        if self.settings.templated_issuer:
            issuers.append(f"{self.origin}/{{tenantid}}/v2.0")
        return frozenset(
            ServerMetadata(auth, token, issuer=issuer).redirect_path().rsplit("/", 1)[1]
            for issuer in issuers
        )

    def _allows_redirect_uri(self, client: Client, uri: str) -> bool:
        if client.allows_redirect_uri(uri):
            return True
        try:
            parts = urlsplit(uri)
        except ValueError:
            return False
        head, _, label = parts.path.rpartition("/")
        if not head or label not in self.pkceflow_redirect_labels():
            return False
        return client.allows_redirect_uri(urlunsplit(parts._replace(path=head)))

    def client(self, client_id: str) -> Client | None:
        """The registered client with this id, if any."""
        with self._lock:
            return self._clients.get(client_id)

    def add_user(self, username: str, **claims: object) -> None:
        """Register a user with claims for the userinfo endpoint (``name``, ``email``...)."""
        with self._lock:
            self._users[username] = dict(claims)

    # ---- keys

    def _generate_first_key(self) -> None:
        # Takes no lock: _signing_key may join this thread while holding self._lock.
        self._first_key = _new_key()

    def _signing_key(self) -> _Key:
        keygen = self._keygen
        if keygen is not None:
            keygen.join()
        with self._lock:
            if not self._keys:
                self._keys.append(self._first_key or _new_key())
            return self._keys[-1]

    @property
    def signing_kid(self) -> str:
        """The ``kid`` of the key that signs new ID tokens."""
        return self._signing_key().kid

    def rotate_keys(self, *, keep_previous: bool = True) -> str:
        """Sign with a new key from now on and return its kid; the JWKS then serves the
        new key, plus the previous ones when `keep_previous`."""
        self._signing_key()
        key = _new_key()
        with self._lock:
            self._keys = [*self._keys, key] if keep_previous else [key]
        return key.kid

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set served at ``/jwks``."""
        self._signing_key()
        with self._lock:
            return {"keys": [key.public_jwk() for key in reversed(self._keys)]}

    # ---- observability

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def count(self, endpoint: str | None = None) -> int:
        """How many requests hit `endpoint` (e.g. ``"token"``), or any endpoint."""
        with self._lock:
            return sum(1 for r in self._requests if endpoint is None or r.endpoint == endpoint)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    @property
    def errors(self) -> list[str]:
        """Tracebacks of internal errors (answered with 500); empty unless the provider
        itself has a bug."""
        with self._lock:
            return list(self._errors)

    def tokens(self) -> list[TokenInfo]:
        """Snapshots of every access and refresh token issued, oldest first."""
        now = self._now()
        with self._lock:
            return [self._info(token, now) for token in self._tokens.values()]

    def active_tokens(self) -> set[str]:
        """The values of the tokens that are currently usable."""
        return {info.token for info in self.tokens() if info.active}

    def token_info(self, token: str) -> TokenInfo | None:
        """A snapshot of one issued token, or None if the provider never issued it."""
        now = self._now()
        with self._lock:
            record = self._tokens.get(token)
            return None if record is None else self._info(record, now)

    def expire_token(self, token: str) -> None:
        """Make an issued token expired now (it stays known, unlike a revoked one)."""
        now = self._now()
        with self._lock:
            self._tokens[token].expires_at = now

    def revoke_token(self, token: str) -> None:
        """Revoke a token as the revocation endpoint would (a refresh token revokes its
        whole grant)."""
        with self._lock:
            record = self._tokens.get(token)
            if record is not None:
                self._revoke_record(record)

    def issue_tokens(
        self,
        client_id: str = PUBLIC_CLIENT_ID,
        *,
        user: str | None = None,
        scope: str = "openid",
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """Issue tokens directly, without an authorization flow; returns the token
        response body (as JSON would carry it)."""
        now = self._now()
        with self._lock:
            if client_id not in self._clients:
                raise KeyError(client_id)
            return self._issue(
                client_id=client_id,
                user=user or self.settings.default_user,
                scope=tuple(dict.fromkeys(scope.split())),
                grant_id=secrets.token_hex(8),
                auth_time=now,
                nonce=nonce,
                refresh_scope=tuple(dict.fromkeys(scope.split())),
                now=now,
            )

    # ---- internals: state

    def _now(self) -> float:
        return time.time() + self.settings.clock_skew

    def _info(self, token: _Token, now: float) -> TokenInfo:
        return TokenInfo(
            token=token.value,
            kind=token.kind,
            client_id=token.client_id,
            user=token.user,
            scope=" ".join(token.scope),
            issued_at=token.issued_at,
            expires_at=token.expires_at,
            active=token.usable(now),
        )

    def _revoke_grant(self, grant_id: str) -> None:
        for token in self._tokens.values():
            if token.grant_id == grant_id:
                token.active = False

    def _revoke_record(self, record: _Token) -> None:
        if record.kind == "refresh":
            self._revoke_grant(record.grant_id)
        else:
            record.active = False

    def _user_claims(self, user: str) -> dict[str, object]:
        claims = self._users.get(user)
        if claims is not None:
            return dict(claims)
        return {"name": user.title(), "email": f"{user}@example.test"}

    # ---- internals: dispatch

    def _endpoint(self, method: str, path: str) -> tuple[str, Callable[[_Request], _Response]]:
        prefix = self._issuer_path
        if method in ("GET", "POST"):
            if path == f"/.well-known/oauth-authorization-server{prefix}":
                return "discovery", self._discovery
            if path == f"{prefix}/.well-known/openid-configuration":
                return "discovery", self._discovery
        if prefix and not path.startswith(prefix + "/"):
            return "unknown", self._not_found
        routes: dict[str, tuple[str, Callable[[_Request], _Response], tuple[str, ...]]] = {
            "/authorize": ("authorize", self._authorize, ("GET", "POST")),
            "/login": ("login", self._login, ("GET", "POST")),
            "/consent": ("consent", self._consent, ("GET", "POST")),
            "/token": ("token", self._token, ("POST",)),
            "/jwks": ("jwks", self._jwks, ("GET",)),
            "/revoke": ("revoke", self._revoke, ("POST",)),
            "/introspect": ("introspect", self._introspect, ("POST",)),
            "/userinfo": ("userinfo", self._userinfo, ("GET", "POST")),
        }
        route = routes.get(path[len(prefix) :])
        if route is None:
            return "unknown", self._not_found
        name, handler, methods = route
        if method not in methods:
            allow = ", ".join(methods)
            return name, lambda _r: _Response(
                405, b"method not allowed\n", [("Allow", allow), ("Content-Type", "text/plain")]
            )
        return name, handler

    def _handle(self, request: _Request) -> _Response:
        endpoint, handler = self._endpoint(request.method, request.path)
        if request.method == "POST" and _is_form(request.headers):
            form = _lenient_params(request.body.decode("utf-8", "replace"))
        else:
            form = _lenient_params(request.query)
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self._lock:
            self._requests.append(
                RecordedRequest(request.method, request.path, form, endpoint, headers)
            )
        try:
            return handler(request)
        except _BadRequest as exc:
            return _json(400, {"error": "invalid_request", "error_description": str(exc)})
        except Exception:  # noqa: BLE001 - recorded in provider.errors, answered with 500
            with self._lock:
                self._errors.append(traceback.format_exc())
            if self.verbose:
                traceback.print_exc()
            return _Response(500, b"internal error\n", [("Content-Type", "text/plain")])

    def _not_found(self, request: _Request) -> _Response:
        return _Response(404, b"not found\n", [("Content-Type", "text/plain")])

    def _form(self, request: _Request) -> tuple[dict[str, str], set[str]]:
        if not _is_form(request.headers):
            raise _BadRequest("the body must be application/x-www-form-urlencoded")
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadRequest("the body is not UTF-8") from exc
        return _parse_params(text)

    # ---- discovery and keys

    def _discovery(self, request: _Request) -> _Response:
        settings = self.settings
        base = self.issuer
        issuer = f"{self.origin}/{{tenantid}}/v2.0" if settings.templated_issuer else base
        methods = list(_AUTH_METHODS)
        metadata: dict[str, object] = {
            "issuer": issuer,
            "authorization_endpoint": base + "/authorize",
            "token_endpoint": base + "/token",
            "revocation_endpoint": base + "/revoke",
            "introspection_endpoint": base + "/introspect",
            "userinfo_endpoint": base + "/userinfo",
            "jwks_uri": base + "/jwks",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_methods_supported": methods,
            "scopes_supported": list(settings.scopes_supported),
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "at_hash",
                "name",
                "preferred_username",
                "email",
                "email_verified",
            ],
            "id_token_signing_alg_values_supported": ["RS256"],
            "subject_types_supported": ["public"],
            "prompt_values_supported": ["none", "login", "consent"],
            "authorization_response_iss_parameter_supported": (
                settings.advertise_iss_parameter and not settings.templated_issuer
            ),
        }
        return _json(200, metadata)

    def _jwks(self, request: _Request) -> _Response:
        return _json(200, self.jwks())

    # ---- authorization endpoint

    def _authorization_iss(self) -> str | None:
        settings = self.settings
        if settings.templated_issuer or settings.authorization_iss == "omit":
            return None
        if settings.authorization_iss == "wrong":
            return settings.wrong_issuer
        return self.issuer

    def _redirect_to_client(
        self, pending: _Pending, params: list[tuple[str, str]], status: int
    ) -> _Response:
        if pending.state is not None:
            params.append(("state", pending.state))
        iss = self._authorization_iss()
        if iss is not None:
            params.append(("iss", iss))
        return _redirect(_with_query(pending.redirect_uri, params), status)

    def _authorization_error(
        self, pending: _Pending, error: str, description: str, status: int = 302
    ) -> _Response:
        return self._redirect_to_client(
            pending, [("error", error), ("error_description", description)], status
        )

    def _authorize(self, request: _Request) -> _Response:
        settings = self.settings
        now = self._now()
        try:
            if request.method == "POST":
                params, repeated = self._form(request)
            else:
                params, repeated = _parse_params(request.query)
        except _BadRequest as exc:
            return _error_page(str(exc))
        for name in ("client_id", "redirect_uri"):
            if name in repeated:
                return _error_page(f"The {name} parameter is repeated.")
        client_id = params.get("client_id")
        if client_id is None:
            return _error_page("The client_id parameter is missing.")
        client = self.client(client_id)
        if client is None:
            return _error_page(f"Unknown client: {client_id}")
        redirect_uri = params.get("redirect_uri")
        redirect_uri_sent = redirect_uri is not None
        if redirect_uri is None:
            loopback = _is_loopback_host(urlsplit(client.redirect_uris[0]).hostname)
            if len(client.redirect_uris) != 1 or loopback:
                return _error_page("The redirect_uri parameter is required for this client.")
            redirect_uri = client.redirect_uris[0]
        elif not self._allows_redirect_uri(client, redirect_uri):
            return _error_page(
                f"The redirect_uri is not registered for this client: {redirect_uri}"
            )
        pending = _Pending(
            client_id=client_id,
            redirect_uri=redirect_uri,
            redirect_uri_sent=redirect_uri_sent,
            scope=(),
            state=params.get("state"),
            nonce=params.get("nonce"),
            code_challenge="",
            expires_at=now + _TRANSACTION_LIFETIME,
        )
        if "state" in repeated:
            pending.state = None
        # RFC 8707 2: resource may be given more than once; nothing else may.
        if repeated - {"resource"}:
            return self._authorization_error(
                pending,
                "invalid_request",
                f"The {min(repeated - {'resource'})} parameter is repeated.",
            )
        response_type = params.get("response_type")
        if response_type is None:
            return self._authorization_error(
                pending, "invalid_request", "The response_type parameter is missing."
            )
        if response_type != "code":
            return self._authorization_error(
                pending, "unsupported_response_type", "Only response_type=code is supported."
            )
        if params.get("response_mode", "query") != "query":
            return self._authorization_error(
                pending, "invalid_request", "Only response_mode=query is supported."
            )
        if "request" in params:
            return self._authorization_error(
                pending, "request_not_supported", "Request objects are not supported."
            )
        if "request_uri" in params:
            return self._authorization_error(
                pending, "request_uri_not_supported", "request_uri is not supported."
            )
        challenge = params.get("code_challenge")
        if challenge is None:
            return self._authorization_error(
                pending, "invalid_request", "PKCE is required: code_challenge is missing."
            )
        if params.get("code_challenge_method", "plain") != "S256":
            return self._authorization_error(
                pending, "invalid_request", "The code_challenge_method must be S256."
            )
        if not _S256_CHALLENGE_RE.fullmatch(challenge):
            return self._authorization_error(
                pending, "invalid_request", "The code_challenge is malformed."
            )
        pending.code_challenge = challenge
        scope = tuple(dict.fromkeys(params.get("scope", settings.default_scope).split()))
        unknown = [s for s in scope if s not in settings.scopes_supported]
        if unknown:
            return self._authorization_error(
                pending, "invalid_scope", f"Unknown scope: {unknown[0]}"
            )
        pending.scope = scope
        prompt = set(params.get("prompt", "").split())
        if "none" in prompt and len(prompt) > 1:
            return self._authorization_error(
                pending, "invalid_request", "prompt=none cannot be combined with other values."
            )
        if not settings.interactive:
            return self._approve(pending, settings.default_user, now, 302)
        session = self._session(request)
        remembered = session is not None and self._consented(session[0], pending)
        if "none" in prompt:
            if session is None:
                return self._authorization_error(
                    pending, "login_required", "The user is not signed in."
                )
            if not remembered:
                return self._authorization_error(
                    pending, "consent_required", "The user has not approved this client."
                )
        if session is not None and remembered and not prompt & {"login", "consent"}:
            return self._approve(pending, session[0], session[1], 302)
        transaction = secrets.token_urlsafe(16)
        with self._lock:
            self._pending = {k: p for k, p in self._pending.items() if p.expires_at > now}
            self._pending[transaction] = pending
        if session is None or prompt & {"login", "select_account"}:
            return self._login_page(transaction, "")
        return self._consent_page(transaction, pending, session[0])

    def _consented(self, user: str, pending: _Pending) -> bool:
        with self._lock:
            granted = self._consents.get((user, pending.client_id), set())
            return set(pending.scope) <= granted

    def _approve(self, pending: _Pending, user: str, auth_time: float, status: int) -> _Response:
        settings = self.settings
        if settings.deny_consent:
            return self._authorization_error(
                pending, "access_denied", settings.deny_error_description, status
            )
        now = self._now()
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes = {k: c for k, c in self._codes.items() if c.expires_at + 3600 > now}
            self._codes[code] = _Code(
                request=pending,
                user=user,
                auth_time=auth_time,
                expires_at=now + settings.code_lifetime,
                grant_id=secrets.token_hex(8),
            )
        return self._redirect_to_client(pending, [("code", code)], status)

    # ---- interactive login and consent

    def _session(self, request: _Request) -> tuple[str, float] | None:
        cookie = SimpleCookie()
        try:
            for header in request.headers.get_all("Cookie", []):
                cookie.load(header)
        except CookieError:
            return None
        morsel = cookie.get(_SESSION_COOKIE)
        if morsel is None:
            return None
        with self._lock:
            return self._sessions.get(morsel.value)

    def _transaction(self, transaction: str | None) -> _Pending | None:
        if transaction is None:
            return None
        with self._lock:
            pending = self._pending.get(transaction)
        if pending is None or pending.expires_at <= self._now():
            return None
        return pending

    def _login_page(self, transaction: str, message: str) -> _Response:
        action = html.escape(self.url("/login"))
        note = f'<p role="alert">{html.escape(message)}</p>\n' if message else ""
        return _page(
            200,
            "Sign in",
            f'{note}<form method="post" action="{action}">\n'
            f'<input type="hidden" name="txn" value="{html.escape(transaction)}">\n'
            '<label>Username <input type="text" name="username" autofocus required></label>\n'
            '<button type="submit">Sign in</button>\n</form>',
        )

    def _consent_page(self, transaction: str, pending: _Pending, user: str) -> _Response:
        action = html.escape(self.url("/consent"))
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in pending.scope)
        return _page(
            200,
            "Authorize access",
            f"<p>Signed in as <b>{html.escape(user)}</b>.</p>\n"
            f"<p>The application <b>{html.escape(pending.client_id)}</b> asks for:</p>\n"
            f"<ul>{scopes}</ul>\n"
            f'<form method="post" action="{action}">\n'
            f'<input type="hidden" name="txn" value="{html.escape(transaction)}">\n'
            '<button type="submit" name="decision" value="approve">Approve</button>\n'
            '<button type="submit" name="decision" value="deny">Deny</button>\n</form>',
        )

    def _login(self, request: _Request) -> _Response:
        if request.method == "GET":
            params, _ = _parse_params(request.query)
            transaction = params.get("txn")
            if self._transaction(transaction) is None or transaction is None:
                return _error_page("The sign-in request is unknown or has expired.")
            return self._login_page(transaction, "")
        form, _ = self._form(request)
        transaction = form.get("txn")
        if self._transaction(transaction) is None or transaction is None:
            return _error_page("The sign-in request is unknown or has expired.")
        username = form.get("username", "").strip()
        if not username:
            return self._login_page(transaction, "Enter a user name.")
        session_id = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[session_id] = (username, self._now())
        cookie = f"{_SESSION_COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Lax"
        location = self.url("/consent") + "?" + urlencode({"txn": transaction})
        return _redirect(location, 303, ("Set-Cookie", cookie))

    def _consent(self, request: _Request) -> _Response:
        if request.method == "GET":
            params, _ = _parse_params(request.query)
        else:
            params, _ = self._form(request)
        transaction = params.get("txn")
        pending = self._transaction(transaction)
        if pending is None or transaction is None:
            return _error_page("The authorization request is unknown or has expired.")
        session = self._session(request)
        if session is None:
            return self._login_page(transaction, "Sign in first.")
        if request.method == "GET":
            return self._consent_page(transaction, pending, session[0])
        decision = params.get("decision")
        if decision not in ("approve", "deny"):
            return self._consent_page(transaction, pending, session[0])
        with self._lock:
            self._pending.pop(transaction, None)
        if decision == "deny":
            return self._authorization_error(
                pending, "access_denied", self.settings.deny_error_description, 303
            )
        with self._lock:
            self._consents.setdefault((session[0], pending.client_id), set()).update(pending.scope)
        return self._approve(pending, session[0], session[1], 303)

    # ---- client authentication

    def _authenticate(
        self, request: _Request, form: Mapping[str, str], *, token_endpoint: bool
    ) -> Client | _Response:
        def fail(description: str) -> _Response:
            return self._oauth_error(
                request, "invalid_client", description, 401, token_endpoint=token_endpoint
            )

        body_id, body_secret = form.get("client_id"), form.get("client_secret")
        authorization = request.headers.get("Authorization")
        if authorization is not None:
            scheme, _, credentials = authorization.strip().partition(" ")
            if scheme.lower() != "basic":
                return fail("Unsupported authentication scheme.")
            if body_secret is not None:
                return self._oauth_error(
                    request,
                    "invalid_request",
                    "More than one client authentication method was used.",
                    400,
                    token_endpoint=token_endpoint,
                )
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
                raw_id, colon, raw_secret = decoded.partition(":")
                if not colon:
                    raise ValueError("no colon")
                # RFC 6749 2.3.1: both are form-urlencoded before base64.
                client_id = unquote_plus(raw_id, errors="strict")
                secret = unquote_plus(raw_secret, errors="strict")
            except (ValueError, binascii.Error, UnicodeDecodeError):
                return fail("Malformed Basic credentials.")
            if body_id is not None and body_id != client_id:
                return fail("client_id in the body differs from the Basic credentials.")
            method: AuthMethod = "client_secret_basic"
        elif body_secret is not None:
            if body_id is None:
                return fail("client_secret without client_id.")
            client_id, secret, method = body_id, body_secret, "client_secret_post"
        else:
            if body_id is None:
                return fail("Client authentication is required.")
            client_id, secret, method = body_id, "", "none"
        client = self.client(client_id)
        if client is None:
            return fail("Unknown client.")
        if client.auth_method != method:
            return fail(f"This client must authenticate with {client.auth_method}.")
        if client.client_secret is not None and not hmac.compare_digest(
            secret.encode("utf-8"), client.client_secret.encode("utf-8")
        ):
            return fail("Client authentication failed.")
        return client

    # ---- token endpoint

    def _oauth_error(
        self,
        request: _Request,
        error: str,
        description: str,
        status: int = 400,
        *,
        token_endpoint: bool = True,
    ) -> _Response:
        headers: list[tuple[str, str]] = list(_NO_STORE)
        if status == 401:
            headers.append(("WWW-Authenticate", f'Basic realm="{_REALM}"'))
        payload = {"error": error, "error_description": description}
        if token_endpoint:
            if self.settings.token_errors_status_200:
                status = 200
            if self._answers_form(request):
                return self._form_response(status, payload, headers)
        return _json(status, payload, *headers)

    def _answers_form(self, request: _Request) -> bool:
        form = self.settings.token_response_format
        return form == "form_always" or (form == "form" and not _accepts_json(request.headers))

    @staticmethod
    def _form_response(
        status: int, payload: Mapping[str, object], headers: list[tuple[str, str]]
    ) -> _Response:
        items = [
            (name, ",".join(map(str, value)) if isinstance(value, list) else str(value))
            for name, value in payload.items()
        ]
        body = urlencode(items).encode("ascii")
        content_type = ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
        return _Response(status, body, [content_type, *headers])

    def _token_success(self, request: _Request, payload: dict[str, Any]) -> _Response:
        settings = self.settings
        body = dict(payload)
        if settings.omit_expires_in:
            body.pop("expires_in", None)
        elif settings.expires_in_as_string and "expires_in" in body:
            body["expires_in"] = str(body["expires_in"])
        if not settings.scope_in_token_response:
            body.pop("scope", None)
        elif settings.scope_as_list and "scope" in body:
            body["scope"] = str(body["scope"]).split()
        if self._answers_form(request):
            return self._form_response(200, body, list(_NO_STORE))
        return _json(200, body, *_NO_STORE)

    def _failure(self, failure: TokenFailure) -> _Response:
        if failure == "disconnect":
            return _Response(500, disconnect=True)
        if failure == "http_500":
            return _Response(500, b"Internal Server Error\n", [("Content-Type", "text/plain")])
        if failure == "http_503":
            return _Response(
                503,
                b"Service Unavailable\n",
                [("Content-Type", "text/plain"), ("Retry-After", "1")],
            )
        if failure == "http_429":
            return _Response(
                429,
                b"Too Many Requests\n",
                [("Content-Type", "text/plain"), ("Retry-After", "120")],
            )
        if failure == "slow_down_429":
            return _json(429, {"error": "slow_down", "error_description": "Too many requests."})
        if failure == "empty_400":
            return _Response(400, b"", [])
        if failure == "html_200":
            return _page(
                200, "Something went wrong", "<p>We are sorry, please try again later.</p>"
            )
        body = b'{"access_token": "unterminated, "token_type": Bearer'
        return _Response(200, body, [("Content-Type", "application/json"), *_NO_STORE])

    def _token(self, request: _Request) -> _Response:
        settings = self.settings
        delay = settings.take_token_delay()
        if delay > 0:
            self._stopping.wait(delay)
        failure = settings.take_token_failure()
        if failure is not None:
            return self._failure(failure)
        try:
            form, repeated = self._form(request)
        except _BadRequest as exc:
            return self._oauth_error(request, "invalid_request", str(exc))
        if repeated:
            return self._oauth_error(
                request, "invalid_request", f"The {min(repeated)} parameter is repeated."
            )
        client = self._authenticate(request, form, token_endpoint=True)
        if isinstance(client, _Response):
            return client
        grant_type = form.get("grant_type")
        if grant_type is None:
            return self._oauth_error(request, "invalid_request", "grant_type is missing.")
        if grant_type == "authorization_code":
            return self._answer_later(self._grant_code(request, client, form))
        if grant_type == "refresh_token":
            return self._answer_later(self._grant_refresh(request, client, form))
        return self._oauth_error(
            request, "unsupported_grant_type", "Only authorization_code and refresh_token."
        )

    def _answer_later(self, response: _Response) -> _Response:
        delay = self.settings.token_answer_delay
        if delay > 0:
            self._stopping.wait(delay)
        return response

    def _grant_code(self, request: _Request, client: Client, form: Mapping[str, str]) -> _Response:
        code = form.get("code")
        if code is None:
            return self._oauth_error(request, "invalid_request", "code is missing.")
        now = self._now()
        with self._lock:
            record = self._codes.get(code)
            if record is None or record.request.client_id != client.client_id:
                return self._oauth_error(request, "invalid_grant", "Unknown authorization code.")
            if record.used:
                self._revoke_grant(record.grant_id)
                return self._oauth_error(
                    request,
                    "invalid_grant",
                    "The authorization code was already used; its tokens are revoked.",
                )
            record.used = True
            if now >= record.expires_at:
                return self._oauth_error(
                    request, "invalid_grant", "The authorization code has expired."
                )
            sent_uri = form.get("redirect_uri")
            pending = record.request
            if (pending.redirect_uri_sent or sent_uri is not None) and (
                sent_uri != pending.redirect_uri
            ):
                return self._oauth_error(
                    request,
                    "invalid_grant",
                    "redirect_uri differs from the one in the authorization request.",
                )
            verifier = form.get("code_verifier")
            if verifier is None:
                return self._oauth_error(request, "invalid_grant", "code_verifier is missing.")
            if not _VERIFIER_RE.fullmatch(verifier):
                return self._oauth_error(request, "invalid_grant", "code_verifier is malformed.")
            if not hmac.compare_digest(s256_challenge(verifier), pending.code_challenge):
                return self._oauth_error(
                    request, "invalid_grant", "code_verifier does not match the code_challenge."
                )
            payload = self._issue(
                client_id=client.client_id,
                user=record.user,
                scope=pending.scope,
                grant_id=record.grant_id,
                auth_time=record.auth_time,
                nonce=pending.nonce,
                refresh_scope=pending.scope if self.settings.issue_refresh_tokens else None,
                now=now,
            )
        return self._token_success(request, payload)

    def _grant_refresh(
        self, request: _Request, client: Client, form: Mapping[str, str]
    ) -> _Response:
        settings = self.settings
        value = form.get("refresh_token")
        if value is None:
            return self._oauth_error(request, "invalid_request", "refresh_token is missing.")
        now = self._now()
        with self._lock:
            record = self._tokens.get(value)
            if record is None or record.kind != "refresh" or record.client_id != client.client_id:
                return self._oauth_error(request, "invalid_grant", "Unknown refresh token.")
            if settings.refresh_invalid_grant:
                return self._oauth_error(
                    request, "invalid_grant", "The refresh token is expired or revoked."
                )
            if not record.usable(now):
                if record.rotated and settings.revoke_on_refresh_reuse:
                    self._revoke_grant(record.grant_id)
                return self._oauth_error(
                    request, "invalid_grant", "The refresh token is no longer valid."
                )
            scope = record.scope
            if "scope" in form:
                scope = tuple(dict.fromkeys(form["scope"].split()))
                if not set(scope) <= set(record.scope):
                    return self._oauth_error(
                        request, "invalid_scope", "The scope exceeds the original grant."
                    )
            rotation = settings.refresh_token_rotation
            if rotation == "rotate":
                record.active, record.rotated = False, True
            payload = self._issue(
                client_id=client.client_id,
                user=record.user,
                scope=scope,
                grant_id=record.grant_id,
                auth_time=now if settings.refresh_auth_time_now else record.auth_time,
                nonce=None,
                refresh_scope=record.scope if rotation == "rotate" else None,
                now=now,
                id_token=settings.id_token_on_refresh,
            )
            if rotation == "same":
                payload["refresh_token"] = value
        return self._token_success(request, payload)

    def _issue(
        self,
        *,
        client_id: str,
        user: str,
        scope: tuple[str, ...],
        grant_id: str,
        auth_time: float,
        nonce: str | None,
        refresh_scope: tuple[str, ...] | None,
        now: float,
        id_token: bool = True,
    ) -> dict[str, Any]:
        """Create tokens (the caller holds the lock) and return the response payload."""
        settings = self.settings
        access = _Token(
            value=secrets.token_urlsafe(32),
            kind="access",
            client_id=client_id,
            user=user,
            scope=scope,
            grant_id=grant_id,
            auth_time=auth_time,
            issued_at=now,
            expires_at=now + settings.access_token_lifetime,
        )
        self._tokens[access.value] = access
        payload: dict[str, Any] = {
            "access_token": access.value,
            "token_type": settings.token_type,
            "expires_in": settings.access_token_lifetime,
        }
        if refresh_scope is not None:
            lifetime = settings.refresh_token_lifetime
            refresh = _Token(
                value=secrets.token_urlsafe(32),
                kind="refresh",
                client_id=client_id,
                user=user,
                scope=refresh_scope,
                grant_id=grant_id,
                auth_time=auth_time,
                issued_at=now,
                expires_at=None if lifetime is None else now + lifetime,
            )
            self._tokens[refresh.value] = refresh
            payload["refresh_token"] = refresh.value
        payload["scope"] = " ".join(scope)
        if id_token and "openid" in scope:
            payload["id_token"] = self._id_token(
                client_id=client_id,
                user=user,
                auth_time=auth_time,
                nonce=nonce,
                access_token=access.value,
                now=now,
            )
        return payload

    def _id_token(
        self,
        *,
        client_id: str,
        user: str,
        auth_time: float,
        nonce: str | None,
        access_token: str,
        now: float,
    ) -> str:
        settings = self.settings
        defect = settings.id_token_defect
        issued = int(now)
        claims: dict[str, Any] = {
            "iss": self.tenant_issuer if settings.templated_issuer else self.issuer,
            "sub": user,
            "aud": client_id,
            "azp": client_id,
            "iat": issued,
            "exp": issued + settings.id_token_lifetime,
            "auth_time": int(auth_time),
            "at_hash": at_hash(access_token),
        }
        if settings.templated_issuer:
            claims["tid"] = settings.tenant_id
        if nonce is not None:
            claims["nonce"] = nonce
        if defect == "wrong_nonce":
            claims["nonce"] = "not-" + (nonce or "the-nonce")
        elif defect == "missing_nonce":
            claims.pop("nonce", None)
        elif defect == "wrong_aud":
            claims["aud"] = claims["azp"] = "some-other-client"
        elif defect == "wrong_iss":
            claims["iss"] = settings.wrong_issuer
        elif defect == "expired":
            claims["iat"] = issued - settings.id_token_lifetime - 3600
            claims["exp"] = issued - 3600
        elif defect == "wrong_at_hash":
            claims["at_hash"] = at_hash(access_token + "x")
        if defect == "alg_none":
            header = _b64url(b'{"alg":"none","typ":"JWT"}')
            body = _b64url(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
            return f"{header}.{body}."
        key = self._signing_key()
        with self._lock:
            if defect == "bad_signature":
                if self._rogue_key is None:
                    self._rogue_key = _new_key()
                key = _Key(key.kid, self._rogue_key.private)
            elif defect == "unknown_kid":
                key = _Key("unknown-" + key.kid, key.private)
        return jwt.encode(claims, key.private, algorithm="RS256", headers={"kid": key.kid})

    # ---- revocation, introspection, userinfo

    def _protected_form(self, request: _Request) -> tuple[dict[str, str], Client] | _Response:
        try:
            form, repeated = self._form(request)
        except _BadRequest as exc:
            return _json(400, {"error": "invalid_request", "error_description": str(exc)})
        if repeated:
            description = f"The {min(repeated)} parameter is repeated."
            return _json(400, {"error": "invalid_request", "error_description": description})
        client = self._authenticate(request, form, token_endpoint=False)
        if isinstance(client, _Response):
            return client
        if "token" not in form:
            return _json(
                400, {"error": "invalid_request", "error_description": "token is missing."}
            )
        return form, client

    def _revoke(self, request: _Request) -> _Response:
        checked = self._protected_form(request)
        if isinstance(checked, _Response):
            return checked
        form, client = checked
        with self._lock:
            record = self._tokens.get(form["token"])
            if record is not None:
                if record.client_id != client.client_id:
                    description = "The token was issued to another client."
                    return _json(
                        400, {"error": "invalid_request", "error_description": description}
                    )
                self._revoke_record(record)
        return _Response(200, b"", [("Cache-Control", "no-store")])

    def _introspect(self, request: _Request) -> _Response:
        checked = self._protected_form(request)
        if isinstance(checked, _Response):
            return checked
        form, _client = checked
        now = self._now()
        with self._lock:
            record = self._tokens.get(form["token"])
            if record is None or not record.usable(now):
                return _json(200, {"active": False}, *_NO_STORE)
            payload: dict[str, object] = {
                "active": True,
                "scope": " ".join(record.scope),
                "client_id": record.client_id,
                "username": record.user,
                "sub": record.user,
                "aud": record.client_id,
                "iss": self.issuer,
                "iat": int(record.issued_at),
            }
            if record.expires_at is not None:
                payload["exp"] = int(record.expires_at)
            if record.kind == "access":
                payload["token_type"] = "Bearer"
        return _json(200, payload, *_NO_STORE)

    def _userinfo(self, request: _Request) -> _Response:
        def challenge(status: int, error: str | None, description: str) -> _Response:
            value = f'Bearer realm="{_REALM}"'
            if error is not None:
                value += f', error="{error}", error_description="{description}"'
                if error == "insufficient_scope":
                    value += ', scope="openid"'
            payload = {"error": error or "invalid_request", "error_description": description}
            return _json(status, payload, ("WWW-Authenticate", value), *_NO_STORE)

        token: str | None = None
        authorization = request.headers.get("Authorization")
        if authorization is not None:
            scheme, _, credentials = authorization.strip().partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                token = credentials.strip()
        elif request.method == "POST" and _is_form(request.headers):
            form, _ = self._form(request)
            token = form.get("access_token")
        if token is None:
            return challenge(401, None, "A Bearer access token is required.")
        now = self._now()
        with self._lock:
            record = self._tokens.get(token)
            if record is None or record.kind != "access" or not record.usable(now):
                return challenge(401, "invalid_token", "The access token is invalid.")
            if "openid" not in record.scope:
                return challenge(403, "insufficient_scope", "The openid scope is required.")
            user, scope = record.user, record.scope
            known = self._user_claims(user)
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
        return _json(200, claims, *_NO_STORE)
