"""The Client: a whole OAuth login for a Python program, in a few lines.

client = Client("my-client-id", authorization_url=..., token_url=..., scope="read")
client.login()                 # browser, loopback redirect, code exchange
headers = {"Authorization": f"Bearer {client.token()}"}
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from pkceflow_core import ClientConfig, LoginRequiredError, Quirks, ServerMetadata

from .settings import HttpOptions, IdTokenOptions, Interaction, Redirect, Settings

if TYPE_CHECKING:
    import pluggy

    from pkceflow_core import AuthMethod, Driver, Events, TokenSet
    from pkceflow_core.ports import (
        AsyncTransport,
        BrowserLauncher,
        Clock,
        RedirectListener,
        TokenStore,
        Transport,
    )

    from .oidc import IdTokenVerifier

__all__ = ["Client"]

log = logging.getLogger("pkceflow")

#: The Settings fields a constructor takes by keyword, beside the adapters.
_SETTINGS_FIELDS = frozenset(
    (
        "client_secret", "auth_method", "authorization_url", "token_url", "revocation_url",
        "server", "scope", "params", "profile", "redirect", "interaction", "http", "id_tokens",
        "require_s256", "quirks", "issuer",
    )
)  # fmt: skip


class _ClientBase:
    """What Client and AsyncClient share: their settings and how adapters are found."""

    settings: Settings
    _manager: pluggy.PluginManager | None
    _store: Any
    _clock: Clock

    def _set_up(
        self,
        settings: Settings,
        *,
        store: Any,
        events: Events | None,
        plugin_manager: pluggy.PluginManager | None,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.config = ClientConfig(settings.client_id, settings.client_secret, settings.auth_method)
        self._store = store
        self._events = events
        self._manager = plugin_manager
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} client_id={self.settings.client_id!r}"
            f" profile={self.settings.profile!r}>"
        )

    @property
    def profile(self) -> str:
        """The name the token set is kept under."""
        return self.settings.profile

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The plugin manager the adapters come from."""
        if self._manager is None:
            from .plugins import get_plugin_manager

            self._manager = get_plugin_manager()
        return self._manager

    def _named_store(self) -> TokenStore:
        from .plugins import find_store

        store: TokenStore = find_store(self.plugin_manager, self.settings.store)
        return store

    def _plugin_events(self) -> Events:
        from .plugins import PluginEvents

        return PluginEvents(self.plugin_manager, self._events)

    def _wants_id_token_checks(self, server: ServerMetadata) -> bool:
        settings = self.settings
        if "openid" not in (settings.scope or ()):
            return False
        keys_known = server.jwks_uri is not None or settings.id_tokens.allow_hmac
        if server.issuer is None or not keys_known:
            log.warning(
                "openid is in the scope but the server's issuer and jwks_uri are unknown:"
                " id_tokens are not validated (use Client.from_issuer)"
            )
            return False
        return True

    def _verifier(self, server: ServerMetadata, transport: Transport | None) -> IdTokenVerifier:
        from .oidc import IdTokenVerifier

        options = self.settings.id_tokens
        return IdTokenVerifier(
            server,
            self.config,
            transport,
            clock=self._clock,
            leeway=options.leeway,
            max_age=options.max_age,
            allow_hmac=options.allow_hmac,
            issuer_template=server.issuer_template,
        )


class Client(_ClientBase):
    """An OAuth 2.0 public (or confidential) client using the code flow with PKCE.

    Give the server either as ``authorization_url`` and ``token_url`` (plus an
    optional ``revocation_url``), as ``server`` metadata, or use
    :meth:`from_issuer` to discover it; endpoint URLs given with ``server`` win
    over what it names. ``store`` is a TokenStore or the name of one
    (``"memory"``, ``"file"``, ``"keyring"`` or a plugin's: ``pkceflow stores``);
    tokens are kept under ``profile``. ``params`` are extra authorization
    parameters (``prompt``, ``login_hint``, ``audience``; a list repeats one, as
    ``resource``). The rarer options come grouped: ``redirect`` (a
    :class:`~pkceflow.settings.Redirect`: the loopback host, port, path),
    ``interaction`` (browser, paste-back, how long a login waits), ``http``
    (timeout, CA bundle) and ``id_tokens`` (leeway, ``max_age``, HMAC).

    With ``openid`` in the scope and a server whose issuer and ``jwks_uri`` are
    known (as after :meth:`from_issuer`), every id_token is validated (OpenID
    Connect Core 3.1.3.7) before anything is stored.

    ``transport``, ``browser``, ``listener`` (used by the next :meth:`login`, and
    closed by it) and ``store`` replace the adapters the plugins would supply
    (pkceflow's own by default); ``refresh_guard`` is the context a refresh runs
    in from sending to stored (the CLI holds signals there). Every setting is also
    reachable as one frozen value: :meth:`from_settings`. Errors are PkceflowError
    subclasses; see each method.
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
        params: Mapping[str, str | Sequence[str]] | None = None,
        store: str | TokenStore = "memory",
        profile: str = "default",
        redirect: Redirect = Redirect(),
        interaction: Interaction = Interaction(),
        http: HttpOptions = HttpOptions(),
        id_tokens: IdTokenOptions = IdTokenOptions(),
        transport: Transport | None = None,
        browser: BrowserLauncher | None = None,
        listener: RedirectListener | None = None,
        events: Events | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Clock = time.time,
        refresh_guard: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> None:
        # Every argument is a Settings field or an adapter: split them by name.
        arguments = dict(locals())
        del arguments["self"]
        settings, adapters = _settings_and_adapters(arguments)
        self._wire(settings, **adapters)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        transport: Transport | None = None,
        browser: BrowserLauncher | None = None,
        listener: RedirectListener | None = None,
        store: TokenStore | None = None,
        events: Events | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Clock = time.time,
        refresh_guard: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> Client:
        """A Client run from ``settings``, with any adapters given here.

        An ``issuer`` in the settings is discovered now (RFC 8414, then OpenID
        discovery), reused within this process while its Cache-Control allows.
        Raises MetadataError, TransportError.
        """
        adapters = dict(locals())
        del adapters["cls"], adapters["settings"]
        client = cls.__new__(cls)
        client._wire(settings, **adapters)
        return client

    def _wire(
        self,
        settings: Settings,
        *,
        transport: Transport | None,
        browser: BrowserLauncher | None,
        listener: RedirectListener | None,
        store: TokenStore | None,
        events: Events | None,
        plugin_manager: pluggy.PluginManager | None,
        clock: Clock,
        refresh_guard: Callable[[], AbstractContextManager[object]] | None,
    ) -> None:
        self._set_up(
            settings, store=store, events=events, plugin_manager=plugin_manager, clock=clock
        )
        self._transport = transport
        self._browser = browser
        self._listener = listener
        self._refresh_guard = refresh_guard
        self._driver: Driver | None = None
        self._lock = threading.Lock()
        self.server = settings.server_metadata(self._discover)

    def _discover(self, issuer: str) -> ServerMetadata:
        settings = self.settings
        return _METADATA.get(
            self.transport, issuer, require_s256=settings.require_s256, quirks=settings.quirks
        )

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
        settings, adapters = _preset_settings(
            name, client_id, template_values, plugin_manager, kwargs
        )
        return cls.from_settings(settings, **adapters)

    @classmethod
    def from_issuer(
        cls,
        issuer: str,
        client_id: str,
        *,
        require_s256: bool = True,
        quirks: Quirks = Quirks(),
        **kwargs: Any,
    ) -> Client:
        """Discover ``issuer``'s endpoints (RFC 8414, then OpenID discovery) and make a Client.

        The metadata's ``issuer`` must equal ``issuer`` exactly; a server that does
        not list S256 is refused unless ``require_s256`` is False; ``quirks`` are a
        provider's declared deviations (a preset's, usually). ``kwargs`` are the
        constructor's. The document is reused within this process while its
        Cache-Control allows. Raises MetadataError, TransportError.
        """
        settings, adapters = _issuer_settings(issuer, client_id, require_s256, quirks, kwargs)
        return cls.from_settings(settings, **adapters)

    # -- adapters, made on first use ----------------------------------------------------

    @property
    def transport(self) -> Transport:
        """The HTTP transport in use."""
        if self._transport is None:
            http = self.settings.http
            self._transport = self.plugin_manager.hook.pkceflow_transport(
                timeout=http.timeout, ca_bundle=http.ca_bundle
            )
        assert self._transport is not None
        return self._transport

    @property
    def store(self) -> TokenStore:
        """The token store in use."""
        if self._store is None:
            self._store = self._named_store()
        store: TokenStore = self._store
        return store

    @property
    def redirect_path(self) -> str:
        """The path the redirect URI will have (register it with the server)."""
        return self.settings.redirect_path(self.server)

    @property
    def driver(self) -> Driver:
        """The core driver, wired to this client's adapters."""
        with self._lock:
            if self._driver is None:
                from pkceflow_core import Driver

                self._driver = Driver(
                    server=self.server,
                    client=self.config,
                    transport=self.transport,
                    store=self.store,
                    clock=self._clock,
                    events=self._plugin_events(),
                    check_id_token=(
                        self._verifier(self.server, self.transport)
                        if self._wants_id_token_checks(self.server)
                        else None
                    ),
                )
                if self._refresh_guard is not None:
                    self._driver.guard = self._refresh_guard
            return self._driver

    def _make_listener(self) -> RedirectListener:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            return listener
        redirect = self.settings.redirect
        made: RedirectListener = self.plugin_manager.hook.pkceflow_listener(
            host=redirect.host,
            port=redirect.port,
            path=self.redirect_path,
            bind_host=redirect.bind_host,
        )
        return made

    # -- the operations ------------------------------------------------------------------

    def login(self) -> TokenSet:
        """Sign the person in: listener, browser, one callback, code exchange, store.

        The seed component's Start. Returns the token set (also stored under
        ``profile``). Raises AuthorizationError when the server or the person
        refused, CallbackTimeoutError after the interaction's timeout, TokenError or
        InvalidResponseError from the token endpoint, TransportError, StoreError.
        """
        from .paste import PasteReader, paste_wanted

        driver = self.driver
        interaction = self.settings.interaction
        listener = self._make_listener()
        paste = None
        try:
            browser = self._browser or self.plugin_manager.hook.pkceflow_browser(
                open_browser=interaction.open_browser
            )
            # A listener written before ``feed`` joined the port takes no pasted address.
            feed = getattr(listener, "feed", None)
            if feed is not None and paste_wanted(
                interaction.paste, open_browser=interaction.open_browser
            ):
                paste = PasteReader(feed)
                paste.start()
            log.info("listening for the redirect at %s", listener.redirect_uri)
            return driver.login(
                self.profile,
                listener=listener,
                browser=browser,
                scope=self.settings.scope,
                extra_params=self.settings.authorization_params,
                timeout=interaction.timeout,
            )
        finally:
            if paste is not None:
                paste.stop()
            listener.close()

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


def _preset_settings(
    name: str,
    client_id: str,
    template_values: Mapping[str, str] | None,
    plugin_manager: pluggy.PluginManager | None,
    kwargs: Mapping[str, Any],
) -> tuple[Settings, dict[str, Any]]:
    """``for_provider``'s arguments as Settings and adapters (the plugin manager among them)."""
    from .plugins import get_plugin_manager
    from .providers import find_preset

    manager = plugin_manager or get_plugin_manager()
    options, adapters = _split_options(kwargs)
    settings = Settings.for_preset(
        find_preset(manager, name), client_id, template_values=template_values, **options
    )
    return settings, {**adapters, "plugin_manager": manager}


def _issuer_settings(
    issuer: str, client_id: str, require_s256: bool, quirks: Quirks, kwargs: Mapping[str, Any]
) -> tuple[Settings, dict[str, Any]]:
    """``from_issuer``'s arguments as Settings (with the issuer to discover) and adapters."""
    options, adapters = _split_options(kwargs)
    settings = Settings(
        client_id, issuer=issuer, require_s256=require_s256, quirks=quirks, **options
    )
    return settings, adapters


def _settings_and_adapters(arguments: dict[str, Any]) -> tuple[Settings, dict[str, Any]]:
    """A constructor's arguments (``client_id`` among them) as Settings and adapters."""
    client_id = arguments.pop("client_id")
    options, adapters = _split_options(arguments)
    adapters.setdefault("store", None)
    return Settings(client_id, **options), adapters


def _split_options(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Constructor keywords split into Settings fields and adapters."""
    options = {name: value for name, value in kwargs.items() if name in _SETTINGS_FIELDS}
    adapters = {name: value for name, value in kwargs.items() if name not in _SETTINGS_FIELDS}
    store = adapters.pop("store", None)
    if isinstance(store, str):
        options["store"] = store
    elif store is not None:
        adapters["store"] = store
    return options, adapters


class _MetadataCache:
    """Discovery documents of this process, kept while their Cache-Control allows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, bool, Quirks], tuple[float, ServerMetadata]] = {}

    def get(
        self, transport: Transport, issuer: str, *, require_s256: bool, quirks: Quirks
    ) -> ServerMetadata:
        """``issuer``'s metadata: kept, or discovered over ``transport`` and kept."""
        key = (issuer, require_s256, quirks)
        kept = self._fresh(key)
        if kept is not None:
            return kept
        from pkceflow_core import discover_with_lifetime

        found = discover_with_lifetime(transport, issuer, require_s256=require_s256, quirks=quirks)
        return self._keep(key, *found)

    async def aget(
        self, transport: AsyncTransport, issuer: str, *, require_s256: bool, quirks: Quirks
    ) -> ServerMetadata:
        """:meth:`get` over an asyncio transport (the same entries)."""
        key = (issuer, require_s256, quirks)
        kept = self._fresh(key)
        if kept is not None:
            return kept
        from pkceflow_core.async_driver import discover_async

        found = await discover_async(transport, issuer, require_s256=require_s256, quirks=quirks)
        return self._keep(key, *found)

    def _fresh(self, key: tuple[str, bool, Quirks]) -> ServerMetadata | None:
        with self._lock:
            entry = self._entries.get(key)
        return entry[1] if entry is not None and time.monotonic() < entry[0] else None

    def _keep(
        self, key: tuple[str, bool, Quirks], server: ServerMetadata, lifetime: int | None
    ) -> ServerMetadata:
        if lifetime:
            with self._lock:
                self._entries[key] = (time.monotonic() + lifetime, server)
        return server

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_METADATA = _MetadataCache()
