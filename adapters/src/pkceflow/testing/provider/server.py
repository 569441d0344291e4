"""`TestProvider`: the authorization server's life cycle, addresses, registry, keys and
what it shows of itself.  The endpoints live in the modules named after them."""

from __future__ import annotations

import secrets
import threading
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

from ._context import Context
from ._http import BadRequest, Request, Response, invalid_request, is_form, lenient_params
from ._http_server import HttpServer
from ._issuance import Grant, issue
from ._keys import KeyRing
from ._routes import route
from ._state import ProviderState
from .clients import RegisteredClient, is_loopback_host
from .records import RecordedRequest, TokenInfo
from .settings import (
    CONFIDENTIAL_CLIENT_ID,
    CONFIDENTIAL_CLIENT_SECRET,
    DEFAULT_REDIRECT_URIS,
    PUBLIC_CLIENT_ID,
    AuthMethod,
    ProviderSettings,
)


def _default_clients() -> tuple[RegisteredClient, ...]:
    return (
        RegisteredClient(PUBLIC_CLIENT_ID),
        RegisteredClient(CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET, "client_secret_basic"),
    )


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
        clients: Iterable[RegisteredClient] | None = None,
        users: Mapping[str, Mapping[str, object]] | None = None,
        verbose: bool = False,
        request_timeout: float = 10.0,
        allow_remote: bool = False,
    ) -> None:
        host = host.strip("[]")
        if not allow_remote and not is_loopback_host(host):
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
        self._state = ProviderState(_default_clients() if clients is None else clients, users)
        self._keys = KeyRing()
        self._stopping = threading.Event()
        self._context = Context(self, self._state, self._keys, self._stopping)
        self._requests: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._server: HttpServer | None = None
        self._thread: threading.Thread | None = None

    # ---- life cycle

    def start(self) -> TestProvider:
        """Bind the socket and serve from a background thread; returns self."""
        with self._state.lock:
            if self._server is not None:
                raise RuntimeError("the provider is already running")
            self._keys.prepare()
            self._stopping.clear()
            server = HttpServer((self._host, self._port), self._handle, self)
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
        with self._state.lock:
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
        """The authorization endpoint's URL."""
        return self.url("/authorize")

    @property
    def token_endpoint(self) -> str:
        """The token endpoint's URL."""
        return self.url("/token")

    @property
    def revocation_endpoint(self) -> str:
        """The revocation endpoint's URL (RFC 7009)."""
        return self.url("/revoke")

    @property
    def introspection_endpoint(self) -> str:
        """The introspection endpoint's URL (RFC 7662)."""
        return self.url("/introspect")

    @property
    def userinfo_endpoint(self) -> str:
        """The UserInfo endpoint's URL."""
        return self.url("/userinfo")

    @property
    def jwks_uri(self) -> str:
        """The JWK Set's URL."""
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
    ) -> RegisteredClient:
        """Register (or replace) a client; `auth_method` defaults to ``client_secret_basic``
        with a secret and ``none`` without."""
        if auth_method is None:
            auth_method = "none" if client_secret is None else "client_secret_basic"
        client = RegisteredClient(client_id, client_secret, auth_method, tuple(redirect_uris))
        with self._state.lock:
            self._state.clients[client_id] = client
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

    def client(self, client_id: str) -> RegisteredClient | None:
        """The registered client with this id, if any."""
        return self._state.client(client_id)

    def add_user(self, username: str, **claims: object) -> None:
        """Register a user with claims for the userinfo endpoint (``name``, ``email``...)."""
        with self._state.lock:
            self._state.users[username] = dict(claims)

    # ---- keys

    @property
    def signing_kid(self) -> str:
        """The ``kid`` of the key that signs new ID tokens."""
        return self._keys.signing_key().kid

    def rotate_keys(self, *, keep_previous: bool = True) -> str:
        """Sign with a new key from now on and return its kid; the JWKS then serves the
        new key, plus the previous ones when `keep_previous`."""
        return self._keys.rotate(keep_previous=keep_previous)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK Set served at ``/jwks``."""
        return self._keys.jwks()

    # ---- observability

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._state.lock:
            return list(self._requests)

    def count(self, endpoint: str | None = None) -> int:
        """How many requests hit `endpoint` (e.g. ``"token"``), or any endpoint."""
        with self._state.lock:
            return sum(1 for r in self._requests if endpoint is None or r.endpoint == endpoint)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._state.lock:
            self._requests.clear()

    @property
    def errors(self) -> list[str]:
        """Tracebacks of internal errors (answered with 500); empty unless the provider
        itself has a bug."""
        with self._state.lock:
            return list(self._errors)

    def tokens(self) -> list[TokenInfo]:
        """Snapshots of every access and refresh token issued, oldest first."""
        now = self._context.now()
        with self._state.lock:
            return [token.snapshot(now) for token in self._state.tokens.values()]

    def active_tokens(self) -> set[str]:
        """The values of the tokens that are currently usable."""
        return {info.token for info in self.tokens() if info.active}

    def token_info(self, token: str) -> TokenInfo | None:
        """A snapshot of one issued token, or None if the provider never issued it."""
        now = self._context.now()
        with self._state.lock:
            record = self._state.tokens.get(token)
            return None if record is None else record.snapshot(now)

    def expire_token(self, token: str) -> None:
        """Make an issued token expired now (it stays known, unlike a revoked one)."""
        now = self._context.now()
        with self._state.lock:
            self._state.tokens[token].expires_at = now

    def revoke_token(self, token: str) -> None:
        """Revoke a token as the revocation endpoint would (a refresh token revokes its
        whole grant)."""
        with self._state.lock:
            record = self._state.tokens.get(token)
            if record is not None:
                self._state.revoke(record)

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
        now = self._context.now()
        scopes = tuple(dict.fromkeys(scope.split()))
        with self._state.lock:
            if client_id not in self._state.clients:
                raise KeyError(client_id)
            grant = Grant(client_id, user or self.settings.default_user, secrets.token_hex(8), now)
            return issue(
                self._context, grant, scope=scopes, nonce=nonce, refresh_scope=scopes, now=now
            )

    # ---- serving

    def _handle(self, request: Request) -> Response:
        """Record `request`, route it and answer; an internal error is recorded and 500."""
        endpoint, handler = route(self._issuer_path, request.method, request.path)
        if request.method == "POST" and is_form(request.headers):
            form = lenient_params(request.body.decode("utf-8", "replace"))
        else:
            form = lenient_params(request.query)
        headers = {name.lower(): value for name, value in request.headers.items()}
        with self._state.lock:
            self._requests.append(
                RecordedRequest(request.method, request.path, form, endpoint, headers)
            )
        try:
            return handler(self._context, request)
        except BadRequest as exc:
            return invalid_request(str(exc))
        except Exception:  # noqa: BLE001 - recorded in provider.errors, answered with 500
            with self._state.lock:
                self._errors.append(traceback.format_exc())
            if self.verbose:
                traceback.print_exc()
            return Response(500, b"internal error\n", [("Content-Type", "text/plain")])
