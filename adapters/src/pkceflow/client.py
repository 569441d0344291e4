"""The Client: a whole OAuth login for a Python program, in a few lines.

client = Client("my-client-id", authorization_url=..., token_url=..., scope="read")
client.login()                 # browser, loopback redirect, code exchange
headers = {"Authorization": f"Bearer {client.token()}"}
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from pkceflow_core import ClientConfig, LoginRequiredError, Quirks, ServerMetadata, UsageError
from pkceflow_core.scope import normalize_scope

if TYPE_CHECKING:
    import pluggy

    from pkceflow_core import Driver, Events, TokenSet
    from pkceflow_core.client_auth import AuthMethod
    from pkceflow_core.ports import (
        BrowserLauncher,
        Clock,
        RedirectListener,
        TokenStore,
        Transport,
    )

    from .oidc import IdTokenVerifier

__all__ = ["Client"]

log = logging.getLogger("pkceflow")


class Client:
    """An OAuth 2.0 public (or confidential) client using the code flow with PKCE.

    Give the server either as ``authorization_url`` and ``token_url`` (plus an
    optional ``revocation_url``), as ``server`` metadata, or use
    :meth:`from_issuer` to discover it. ``redirect_port`` 0 lets the OS pick a free
    port, which then appears in the redirect URI. ``redirect_path`` defaults to
    ``/callback`` for servers that send RFC 9207 ``iss`` and to a path of the
    server's own otherwise (``ServerMetadata.redirect_path``, the mix-up defence of
    RFC 9700 4.4.2): register that one. ``store`` is a TokenStore or the
    name of one (``"memory"``, ``"file"``, ``"keyring"`` or a plugin's); tokens are
    kept under ``profile``. ``params`` are extra authorization parameters
    (``prompt``, ``login_hint``, ``audience``; a list repeats one, as ``resource``).

    With ``openid`` in the scope and a server whose issuer and ``jwks_uri`` are
    known (as after :meth:`from_issuer`), every id_token is validated (OpenID
    Connect Core 3.1.3.7; ``id_token_leeway`` seconds of clock skew, ``max_age``
    sent and enforced) before anything is stored. HS256/384/512 id_tokens, keyed
    with the client secret, are accepted only with ``allow_hmac_id_tokens``.
    ``authorization_url``, ``token_url`` and ``revocation_url`` given with ``server``
    (or to :meth:`from_issuer`) override what it names. ``refresh_guard`` is the
    context a refresh runs in from sending to stored (the CLI holds signals there).

    Adapters not given come from the plugins (pkceflow's own by default). Errors
    are PkceflowError subclasses; see each method.
    """

    def __init__(
        self,
        client_id: str,
        *,
        client_secret: str | None = None,
        auth_method: AuthMethod | None = None,
        authorization_url: str | None = None,
        token_url: str | None = None,
        revocation_url: str | None = None,
        server: ServerMetadata | None = None,
        scope: str | Sequence[str] | None = None,
        redirect_host: str = "127.0.0.1",
        redirect_port: int = 0,
        redirect_path: str | None = None,
        bind_host: str | None = None,
        params: Mapping[str, str | Sequence[str]] | None = None,
        store: str | TokenStore = "memory",
        profile: str = "default",
        open_browser: bool = True,
        paste: bool | None = None,
        timeout: float = 300.0,
        http_timeout: float = 30.0,
        ca_bundle: str | None = None,
        transport: Transport | None = None,
        browser: BrowserLauncher | None = None,
        events: Events | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Clock = time.time,
        id_token_leeway: float = 60.0,
        max_age: int | None = None,
        allow_hmac_id_tokens: bool = False,
        refresh_guard: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> None:
        if server is None:
            if not authorization_url or not token_url:
                raise UsageError(
                    "give authorization_url and token_url, or server, or use Client.from_issuer()"
                )
            server = ServerMetadata(
                authorization_endpoint=authorization_url,
                token_endpoint=token_url,
                revocation_endpoint=revocation_url,
            )
        else:
            # Endpoints given explicitly win over discovered ones.
            overrides: dict[str, Any] = {
                name: url
                for name, url in (
                    ("authorization_endpoint", authorization_url),
                    ("token_endpoint", token_url),
                    ("revocation_endpoint", revocation_url),
                )
                if url
            }
            if overrides:
                import attrs

                server = attrs.evolve(server, **overrides)
        self.config = ClientConfig(client_id, client_secret, auth_method)
        self.server = server
        self.scope = scope
        self.profile = profile
        self.params = dict(params or {})
        self.redirect_host = redirect_host
        self.redirect_port = redirect_port
        self.redirect_path = server.redirect_path() if redirect_path is None else redirect_path
        self.bind_host = bind_host
        self.open_browser = open_browser
        self.paste = paste
        self.timeout = timeout
        self._http_timeout = http_timeout
        self._ca_bundle = ca_bundle
        self._transport = transport
        self._browser = browser
        self._store_spec = store
        self._store: TokenStore | None = None if isinstance(store, str) else store
        self._events = events
        self._manager = plugin_manager
        self._clock = clock
        self._leeway = id_token_leeway
        self._max_age = max_age
        self._allow_hmac = allow_hmac_id_tokens
        self._refresh_guard = refresh_guard
        if max_age is not None:
            self.params["max_age"] = str(max_age)
        self._verifier: IdTokenVerifier | None = None
        self._driver: Driver | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Client client_id={self.config.client_id!r} profile={self.profile!r}>"

    @classmethod
    def for_provider(
        cls,
        name: str,
        client_id: str,
        *,
        template_values: Mapping[str, str] | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
        **kwargs: Any,
    ) -> Client:
        """A Client for an installed provider preset (``"github"``, ``"google"``...).

        The preset supplies the endpoints (discovered where it names an issuer),
        the default scope and authorization parameters, the client authentication
        and its quirks; ``kwargs`` override them as in the constructor.
        ``template_values`` fill the preset's placeholders (``{"tenant": "contoso"}``).
        UsageError when the preset is not installed or wants a secret not given.
        """
        from .plugins import get_plugin_manager
        from .providers import find_preset

        manager = plugin_manager or get_plugin_manager()
        preset = find_preset(manager, name)
        if preset.client_secret_required and not kwargs.get("client_secret"):
            raise UsageError(
                f"{preset.title} wants the client secret even with PKCE: pass client_secret"
            )
        kwargs.setdefault("scope", list(preset.default_scope) or None)
        kwargs["params"] = {**preset.default_params, **dict(kwargs.get("params") or {})}
        if preset.auth_method is not None:
            kwargs.setdefault("auth_method", preset.auth_method)
        if preset.authorization_endpoint is not None and preset.token_endpoint is not None:
            server = preset.server(template_values)
            return cls(client_id, server=server, plugin_manager=manager, **kwargs)
        issuer = preset.issuer_for(template_values)
        assert issuer is not None
        return cls.from_issuer(
            issuer, client_id, quirks=preset.quirks, plugin_manager=manager, **kwargs
        )

    @classmethod
    def from_issuer(
        cls,
        issuer: str,
        client_id: str,
        *,
        require_s256: bool = True,
        quirks: Quirks = Quirks(),
        transport: Transport | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
        http_timeout: float = 30.0,
        ca_bundle: str | None = None,
        **kwargs: Any,
    ) -> Client:
        """Discover ``issuer``'s endpoints (RFC 8414, then OpenID discovery) and make a Client.

        The metadata's ``issuer`` must equal ``issuer`` exactly; a server that does
        not list S256 is refused unless ``require_s256`` is False; ``quirks`` are a
        provider's declared deviations (a preset's, usually). The document is
        reused within this process while its Cache-Control allows. Raises
        MetadataError, TransportError.
        """
        manager = plugin_manager
        if transport is None:
            if manager is None:
                from .plugins import get_plugin_manager

                manager = get_plugin_manager()
            transport = manager.hook.pkceflow_transport(timeout=http_timeout, ca_bundle=ca_bundle)
            assert transport is not None
        server = _METADATA.get(transport, issuer, require_s256=require_s256, quirks=quirks)
        return cls(
            client_id,
            server=server,
            transport=transport,
            plugin_manager=manager,
            http_timeout=http_timeout,
            ca_bundle=ca_bundle,
            **kwargs,
        )

    # -- adapters, made on first use ----------------------------------------------------

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The plugin manager the adapters come from."""
        if self._manager is None:
            from .plugins import get_plugin_manager

            self._manager = get_plugin_manager()
        return self._manager

    @property
    def transport(self) -> Transport:
        """The HTTP transport in use."""
        if self._transport is None:
            self._transport = self.plugin_manager.hook.pkceflow_transport(
                timeout=self._http_timeout, ca_bundle=self._ca_bundle
            )
        assert self._transport is not None
        return self._transport

    @property
    def store(self) -> TokenStore:
        """The token store in use."""
        if self._store is None:
            assert isinstance(self._store_spec, str)
            store = self.plugin_manager.hook.pkceflow_token_store(name=self._store_spec)
            if store is None:
                raise UsageError(f"no token store called {self._store_spec!r} is installed")
            self._store = store
        return self._store

    @property
    def driver(self) -> Driver:
        """The core driver, wired to this client's adapters."""
        with self._lock:
            if self._driver is None:
                from pkceflow_core.driver import Driver

                from .plugins import PluginEvents

                self._driver = Driver(
                    server=self.server,
                    client=self.config,
                    transport=self.transport,
                    store=self.store,
                    clock=self._clock,
                    events=PluginEvents(self.plugin_manager, self._events),
                    check_id_token=self._id_token_verifier(),
                )
                if self._refresh_guard is not None:
                    self._driver.guard = self._refresh_guard
            return self._driver

    def _id_token_verifier(self) -> IdTokenVerifier | None:
        if "openid" not in normalize_scope(self.scope):
            return None
        keys_known = self.server.jwks_uri is not None or self._allow_hmac
        if self.server.issuer is None or not keys_known:
            log.warning(
                "openid is in the scope but the server's issuer and jwks_uri are unknown:"
                " id_tokens are not validated (use Client.from_issuer)"
            )
            return None
        from .oidc import IdTokenVerifier

        self._verifier = IdTokenVerifier(
            self.server,
            self.config,
            self.transport,
            clock=self._clock,
            leeway=self._leeway,
            max_age=self._max_age,
            allow_hmac=self._allow_hmac,
            issuer_template=self.server.issuer_template,
        )
        return self._verifier

    # -- the operations ------------------------------------------------------------------

    def login(self) -> TokenSet:
        """Sign the person in: listener, browser, one callback, code exchange, store.

        The seed component's Start. Returns the token set (also stored under
        ``profile``). Raises AuthorizationError when the server or the person
        refused, CallbackTimeoutError after ``timeout`` seconds, TokenError or
        InvalidResponseError from the token endpoint, TransportError, StoreError.
        """
        driver = self.driver
        hook = self.plugin_manager.hook
        listener: RedirectListener = hook.pkceflow_listener(
            host=self.redirect_host,
            port=self.redirect_port,
            path=self.redirect_path,
            bind_host=self.bind_host,
        )
        browser = self._browser or hook.pkceflow_browser(open_browser=self.open_browser)
        paste = _PasteReader(listener) if self._paste_enabled() else None
        log.info("listening for the redirect at %s", listener.redirect_uri)
        try:
            if paste is not None:
                paste.start()
            return driver.login(
                self.profile,
                listener=listener,
                browser=browser,
                scope=self.scope,
                extra_params=self.params,
                timeout=self.timeout,
            )
        finally:
            if paste is not None:
                paste.stop()
            listener.close()

    def _paste_enabled(self) -> bool:
        if self.paste is not None:
            return self.paste
        from .browser import browser_available

        interactive = sys.stdin is not None and sys.stdin.isatty()
        return interactive and (not self.open_browser or not browser_available())

    def tokens(self, *, min_ttl: float = 60.0) -> TokenSet:
        """The stored token set, refreshed first if its access token expires within ``min_ttl``.

        Exactly one refresh reaches the server however many threads or processes
        ask at once. Raises LoginRequiredError when there is no usable login.
        """
        return self.driver.token(self.profile, min_ttl=min_ttl)

    def token(self, *, min_ttl: float = 60.0) -> str:
        """A valid access token (see :meth:`tokens`)."""
        return self.tokens(min_ttl=min_ttl).access_token

    def refresh(self, refresh_token: str | None = None) -> TokenSet:
        """Refresh now; with ``refresh_token``, from that token (the seed's Refresh).

        Raises LoginRequiredError when the refresh token is refused (the stored
        login is then cleared), TokenError, TransportError, StoreError.
        """
        if refresh_token is not None:
            return self.driver.refresh_with(self.profile, refresh_token)
        return self.driver.refresh(self.profile)

    def logout(self, *, revoke: bool = True) -> bool:
        """Forget the stored login, revoking its tokens first where the server can.

        Returns True when the server revoked them. The local copy is removed even
        if revocation fails (the error is raised afterwards).
        """
        return self.driver.logout(self.profile, revoke=revoke)

    def userinfo(self) -> dict[str, Any]:
        """The signed-in person's claims from the userinfo endpoint (OIDC Core 5.3).

        Uses a valid access token (refreshing if needed). When there is an
        id_token, the answer's ``sub`` must be the id_token's, else IdTokenError.
        """
        from .oidc import fetch_userinfo

        return fetch_userinfo(self.transport, self.server, self.tokens())

    def id_token_claims(self) -> dict[str, Any] | None:
        """The claims of the stored id_token (validated when it was stored), or None."""
        from .oidc import unverified_claims

        tokens = self.stored()
        if tokens is None or tokens.id_token is None:
            return None
        return unverified_claims(tokens.id_token)

    def close(self) -> None:
        """Close the transport's pooled connections (the Client stays usable)."""
        close = getattr(self._transport, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def stored(self) -> TokenSet | None:
        """The stored token set as it is, without refreshing; None when logged out."""
        return self.store.load(self.profile)

    def require_login(self) -> TokenSet:
        """The stored token set, or LoginRequiredError."""
        tokens = self.stored()
        if tokens is None:
            raise LoginRequiredError(f"there is no stored login for {self.profile!r}")
        return tokens


class _MetadataCache:
    """Discovery documents of this process, kept while their Cache-Control allows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, bool, Quirks], tuple[float, ServerMetadata]] = {}

    def get(
        self, transport: Transport, issuer: str, *, require_s256: bool, quirks: Quirks
    ) -> ServerMetadata:
        key = (issuer, require_s256, quirks)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and time.monotonic() < entry[0]:
            return entry[1]
        from pkceflow_core.driver import discover_with_lifetime

        server, lifetime = discover_with_lifetime(
            transport, issuer, require_s256=require_s256, quirks=quirks
        )
        if lifetime:
            with self._lock:
                self._entries[key] = (time.monotonic() + lifetime, server)
        return server

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_METADATA = _MetadataCache()


class _PasteReader:
    """Reads a redirect URL pasted into the terminal while the listener waits.

    When the browser runs on another machine its redirect to 127.0.0.1 fails
    there; the person copies the address it was sent to and pastes it here. It
    goes through the same checks as a callback at the listener.
    """

    def __init__(self, listener: RedirectListener) -> None:
        self._listener = listener
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pkceflow-paste", daemon=True)

    def start(self) -> None:
        feed = getattr(self._listener, "feed", None)
        if feed is None:
            return
        sys.stderr.write(
            "If the browser is on another machine, paste here the full address it was"
            " sent to after signing in (it may show an error page), then press Enter.\n"
        )
        sys.stderr.flush()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)

    def _run(self) -> None:
        import select

        fd = sys.stdin.fileno()
        buffer = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                text = line.decode("utf-8", "replace").strip()
                if text and not self._feed(text):
                    return

    def _feed(self, text: str) -> bool:
        reply = self._listener.feed(text)  # type: ignore[attr-defined]
        if reply is None or reply.done:
            return False
        if reply.ok:  # kept until the listener starts waiting
            return True
        sys.stderr.write("That address does not belong to this sign-in; paste the full address.\n")
        sys.stderr.flush()
        return True
