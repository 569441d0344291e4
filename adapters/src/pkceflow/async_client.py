"""AsyncClient: the Client's face for asyncio programs.

    async with AsyncClient.from_issuer("https://id.example.com", "my-client-id") as client:
        await client.login()
        headers = {"Authorization": f"Bearer {await client.token()}"}

It runs the same steps as the Client (pkceflow_core.steps) through asyncio
adapters: httpx for HTTP (the ``async`` extra), a loopback listener on the event
loop, and any token store (a synchronous one is used off the loop). One refresh
reaches the server however many tasks, threads and processes ask at once.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pkceflow_core import LoginRequiredError, Quirks, ServerMetadata

from .client import (
    _METADATA,
    _ClientBase,
    _issuer_settings,
    _preset_settings,
    _settings_and_adapters,
)
from .settings import HttpOptions, IdTokenOptions, Interaction, Redirect, Settings

if TYPE_CHECKING:
    import asyncio

    import pluggy

    from pkceflow_core import AuthMethod, CallbackReply, Events, TokenSet
    from pkceflow_core.async_driver import AsyncDriver
    from pkceflow_core.ports import (
        AsyncRedirectListener,
        AsyncTokenStore,
        AsyncTransport,
        BrowserLauncher,
        Clock,
        TokenStore,
    )
    from pkceflow_core.steps import Effect

__all__ = ["AsyncClient"]


class AsyncClient(_ClientBase):
    """:class:`pkceflow.Client` for asyncio: the same settings, every operation awaited.

    The arguments are the Client's (see there), with asyncio adapters:
    ``transport`` an AsyncTransport (default: the plugins', pkceflow's own on
    httpx), ``listener`` an AsyncRedirectListener, ``store`` a TokenStore, an
    AsyncTokenStore or a store's name. An ``issuer`` is discovered on first use.
    Use it from one event loop at a time; :meth:`aclose` (or ``async with``)
    closes its connections.
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
        store: str | TokenStore | AsyncTokenStore = "memory",
        profile: str = "default",
        redirect: Redirect = Redirect(),
        interaction: Interaction = Interaction(),
        http: HttpOptions = HttpOptions(),
        id_tokens: IdTokenOptions = IdTokenOptions(),
        transport: AsyncTransport | None = None,
        browser: BrowserLauncher | None = None,
        listener: AsyncRedirectListener | None = None,
        events: Events | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Clock = time.time,
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
        transport: AsyncTransport | None = None,
        browser: BrowserLauncher | None = None,
        listener: AsyncRedirectListener | None = None,
        store: TokenStore | AsyncTokenStore | None = None,
        events: Events | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
        clock: Clock = time.time,
    ) -> AsyncClient:
        """An AsyncClient run from ``settings``; an issuer is discovered on first use."""
        adapters = dict(locals())
        del adapters["cls"], adapters["settings"]
        client = cls.__new__(cls)
        client._wire(settings, **adapters)
        return client

    def _wire(
        self,
        settings: Settings,
        *,
        transport: AsyncTransport | None,
        browser: BrowserLauncher | None,
        listener: AsyncRedirectListener | None,
        store: TokenStore | AsyncTokenStore | None,
        events: Events | None,
        plugin_manager: pluggy.PluginManager | None,
        clock: Clock,
    ) -> None:
        self._set_up(
            settings, store=store, events=events, plugin_manager=plugin_manager, clock=clock
        )
        self._transport = transport
        self._browser = browser
        self._listener = listener
        self._server: ServerMetadata | None = (
            None if settings.server is None and settings.issuer is not None else
            settings.server_metadata(_no_discovery)
        )  # fmt: skip
        self._driver: AsyncDriver | None = None
        self._async_store: AsyncTokenStore | None = None
        self._lingering: list[AsyncRedirectListener] = []
        self._first_use_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
        self._first_use_locks = weakref.WeakKeyDictionary()

    @classmethod
    def for_provider(
        cls,
        name: str,
        client_id: str,
        *,
        template_values: Mapping[str, str] | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
        **kwargs: Any,
    ) -> AsyncClient:
        """An AsyncClient for an installed provider preset (see Client.for_provider)."""
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
    ) -> AsyncClient:
        """An AsyncClient for ``issuer``, discovered on first use (see Client.from_issuer)."""
        settings, adapters = _issuer_settings(issuer, client_id, require_s256, quirks, kwargs)
        return cls.from_settings(settings, **adapters)

    # -- adapters, made on first use ----------------------------------------------------

    @property
    def transport(self) -> AsyncTransport:
        """The asyncio HTTP transport in use."""
        if self._transport is None:
            http = self.settings.http
            self._transport = self.plugin_manager.hook.pkceflow_async_transport(
                timeout=http.timeout, ca_bundle=http.ca_bundle
            )
        assert self._transport is not None
        return self._transport

    @property
    def store(self) -> AsyncTokenStore:
        """The token store in use, as an AsyncTokenStore."""
        if self._async_store is None:
            from .async_store import to_async_store

            given = self._store if self._store is not None else self._named_store()
            self._async_store = to_async_store(given)
        return self._async_store

    async def server(self) -> ServerMetadata:
        """The server's metadata (discovered on first use, once however many ask)."""
        if self._server is not None:
            return self._server
        async with self._first_use():
            return await self._discovered()

    def _first_use(self) -> asyncio.Lock:
        """The lock that makes the first discovery and driver one, per event loop."""
        import asyncio

        loop = asyncio.get_running_loop()
        lock = self._first_use_locks.get(loop)
        if lock is None:
            lock = self._first_use_locks[loop] = asyncio.Lock()
        return lock

    async def _discovered(self) -> ServerMetadata:
        if self._server is None:
            settings = self.settings
            assert settings.issuer is not None
            found = await _METADATA.aget(
                self.transport,
                settings.issuer,
                require_s256=settings.require_s256,
                quirks=settings.quirks,
            )
            self._server = settings.server_metadata(lambda _: found)
        return self._server

    async def redirect_path(self) -> str:
        """The path the redirect URI will have (register it with the server)."""
        return self.settings.redirect_path(await self.server())

    async def driver(self) -> AsyncDriver:
        """The core's asyncio driver, wired to this client's adapters (made once)."""
        if self._driver is not None:
            return self._driver
        async with self._first_use():
            return await self._made_driver()

    async def _made_driver(self) -> AsyncDriver:
        if self._driver is None:
            from pkceflow_core.async_driver import AsyncDriver
            from pkceflow_core.steps import arun

            server = await self._discovered()
            check = None
            if self._wants_id_token_checks(server):
                verifier = self._verifier(server, None)

                async def check(
                    tokens: TokenSet, nonce: str | None, previous: TokenSet | None
                ) -> None:
                    await arun(verifier.steps(tokens, nonce, previous), self._send)

            self._driver = AsyncDriver(
                server=server,
                client=self.config,
                transport=self.transport,
                store=self.store,
                clock=self._clock,
                events=self._plugin_events(),
                check_id_token=check,
            )
        return self._driver

    async def _make_listener(self) -> AsyncRedirectListener:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            return listener
        redirect = self.settings.redirect
        made: AsyncRedirectListener = self.plugin_manager.hook.pkceflow_async_listener(
            host=redirect.host,
            port=redirect.port,
            path=await self.redirect_path(),
            bind_host=redirect.bind_host,
        )
        return made

    # -- the operations ------------------------------------------------------------------

    async def login(self) -> TokenSet:
        """Sign the person in (see Client.login); cancelling it closes the listener."""
        import asyncio

        from .paste import PasteReader, paste_wanted

        driver = await self.driver()
        interaction = self.settings.interaction
        listener = await self._make_listener()
        paste = None
        try:
            browser = _OffLoopBrowser(
                self._browser
                or self.plugin_manager.hook.pkceflow_browser(open_browser=interaction.open_browser)
            )
            wanted = paste_wanted(interaction.paste, open_browser=interaction.open_browser)
            if wanted and getattr(listener, "feed", None) is not None:
                paste = PasteReader(_fed_on_loop(asyncio.get_running_loop(), listener))
                paste.start()
            return await driver.login(
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
            await listener.aclose()
            # Its result page may still be on its way to the browser: aclose() waits.
            self._lingering.append(listener)

    async def tokens(self, *, min_ttl: float = 60.0) -> TokenSet:
        """The stored token set, refreshed first if it expires within ``min_ttl``."""
        return await (await self.driver()).token(self.profile, min_ttl=min_ttl)

    async def token(self, *, min_ttl: float = 60.0) -> str:
        """A valid access token (see :meth:`tokens`)."""
        return (await self.tokens(min_ttl=min_ttl)).access_token

    async def refresh(self, refresh_token: str | None = None) -> TokenSet:
        """Refresh now; with ``refresh_token``, from that token (see Client.refresh)."""
        driver = await self.driver()
        if refresh_token is not None:
            return await driver.refresh_with(self.profile, refresh_token)
        return await driver.refresh(self.profile)

    async def logout(self, *, revoke: bool = True) -> bool:
        """Forget the stored login, revoking its tokens first where the server can."""
        return await (await self.driver()).logout(self.profile, revoke=revoke)

    async def userinfo(self) -> dict[str, Any]:
        """The signed-in person's claims from the userinfo endpoint (see Client.userinfo)."""
        from pkceflow_core.steps import arun

        from .oidc import userinfo_steps

        tokens = await self.tokens()
        return await arun(userinfo_steps(await self.server(), tokens), self._send)

    async def _send(self, effect: Effect) -> Any:
        """Carry out the one effect of steps that only send (userinfo, the JWK Set)."""
        from pkceflow_core.steps import Send

        assert isinstance(effect, Send)
        return await self.transport.send(effect.request)

    async def stored(self) -> TokenSet | None:
        """The stored token set as it is, without refreshing; None when logged out."""
        return await self.store.load(self.profile)

    async def require_login(self) -> TokenSet:
        """The stored token set, or LoginRequiredError."""
        tokens = await self.stored()
        if tokens is None:
            raise LoginRequiredError(f"there is no stored login for {self.profile!r}")
        return tokens

    async def aclose(self) -> None:
        """Close the transport's pooled connections (the client stays usable).

        A login's result page, still being served to the browser, is waited for
        first (at most its listener's ``linger``): a program that ends right after
        ``async with`` does not cut it off.
        """
        lingering, self._lingering = self._lingering, []
        for listener in lingering:
            wait_closed = getattr(listener, "wait_closed", None)
            if wait_closed is not None:
                await wait_closed()
        close = getattr(self._transport, "aclose", None)
        if close is not None:
            await close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


def _no_discovery(issuer: str) -> ServerMetadata:  # pragma: no cover  (never called)
    raise AssertionError(f"{issuer} is discovered on first use")


class _OffLoopBrowser:
    """Opens the browser on a thread of its own: some browser commands block until closed.

    A launcher that fails at once fails the login at once, as in the sync Client;
    one still running after a moment is left to its thread.
    """

    #: How long the loop waits for a launcher to fail before going on.
    _GRACE = 1.0

    def __init__(self, browser: BrowserLauncher) -> None:
        self._browser = browser

    def open(self, url: str) -> bool:
        outcome: concurrent.futures.Future[bool] = concurrent.futures.Future()

        def launch() -> None:
            try:
                outcome.set_result(self._browser.open(url))
            except BaseException as exc:  # noqa: BLE001  (handed back to the login)
                outcome.set_exception(exc)

        threading.Thread(target=launch, name="pkceflow-browser", daemon=True).start()
        try:
            return outcome.result(timeout=self._GRACE)
        except concurrent.futures.TimeoutError:
            return True


def _fed_on_loop(loop: asyncio.AbstractEventLoop, listener: AsyncRedirectListener) -> Any:
    """A ``feed`` for the paste reader's thread that runs the listener's on ``loop``."""

    def feed(text: str) -> CallbackReply | None:
        answer: concurrent.futures.Future[CallbackReply | None] = concurrent.futures.Future()

        def call() -> None:
            try:
                answer.set_result(listener.feed(text))
            except BaseException as exc:  # noqa: BLE001  (handed to the reader's thread)
                answer.set_exception(exc)

        try:
            loop.call_soon_threadsafe(call)
        except RuntimeError:  # the loop is closed: the login is over
            return None
        return answer.result(timeout=30)

    return feed
