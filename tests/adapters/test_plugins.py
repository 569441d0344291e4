"""Plugins: adapters replaced through pluggy (firstresult beats the trylast built-ins),
token stores registered by name, and events.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest

from pkceflow import Client, Events, LoginRequiredError, PkceflowError, TokenSet, UsageError
from pkceflow.browser import WebBrowserLauncher
from pkceflow.file_store import FileStore
from pkceflow.loopback import LoopbackListener
from pkceflow.memory_store import MemoryStore
from pkceflow.plugins import PluginEvents, find_store, store_names
from pkceflow.settings import HttpOptions, Interaction
from pkceflow.testing import HttpFollowingBrowser, TestProvider
from pkceflow.transport import Urllib3Transport
from pkceflow_core import HttpRequest, HttpResponse, TransportError, hookspecs
from pkceflow_core.hookspecs import RegisterStore, hookimpl
from pkceflow_core.ports import BrowserLauncher, Transport

from .conftest import MakeClient
from .support import secrets_seen

OLD = TokenSet("access-old", expires_at=2_000_000_000.0, refresh_token="refresh-old")


class RecordingTransport:
    """A transport of its own: urllib3 underneath, every request kept."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.sent: list[HttpRequest] = []
        self._inner = Urllib3Transport(timeout=timeout)

    def send(self, request: HttpRequest) -> HttpResponse:
        self.sent.append(request)
        return self._inner.send(request)

    def close(self) -> None:
        self._inner.close()


class TransportPlugin:
    def __init__(self) -> None:
        self.made: list[RecordingTransport] = []

    @hookimpl
    def pkceflow_transport(self, timeout: float) -> Transport:  # a subset of the arguments
        transport = RecordingTransport(timeout)
        self.made.append(transport)
        return transport


class StorePlugin:
    """Registers one shared MemoryStore under each of ``names``."""

    def __init__(self, *names: str, description: str = "a store of the tests") -> None:
        self.names = names
        self.description = description
        self.store = MemoryStore()
        self.made = 0

    def make(self) -> MemoryStore:
        self.made += 1
        return self.store

    @hookimpl
    def pkceflow_register_stores(self, register: RegisterStore) -> None:
        for name in self.names:
            register(name, self.make, self.description)


class BrowserPlugin:
    def __init__(self, browser: HttpFollowingBrowser) -> None:
        self.browser = browser
        self.asked: list[bool] = []

    @hookimpl
    def pkceflow_browser(self, open_browser: bool) -> BrowserLauncher:
        self.asked.append(open_browser)
        return self.browser


class EventsPlugin:
    """Implements every event hook and records what each received."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def pkceflow_authorization_url(self, url: str) -> None:
        self.calls.append(("authorization_url", {"url": url}))

    @hookimpl
    def pkceflow_callback_received(self) -> None:
        self.calls.append(("callback_received", {}))

    @hookimpl
    def pkceflow_token_received(self, key: str, tokens: TokenSet) -> None:
        self.calls.append(("token_received", {"key": key, "tokens": tokens}))

    @hookimpl
    def pkceflow_refresh_done(self, key: str, expires_at: float | None) -> None:
        self.calls.append(("refresh_done", {"key": key, "expires_at": expires_at}))

    @hookimpl
    def pkceflow_token_changed(self, key: str, tokens: TokenSet) -> None:
        self.calls.append(("token_changed", {"key": key, "tokens": tokens}))

    @hookimpl
    def pkceflow_error(self, key: str, error: PkceflowError) -> None:
        self.calls.append(("error", {"key": key, "error": error}))


@pytest.fixture
def transport_plugin(plugin_manager: pluggy.PluginManager) -> Iterator[TransportPlugin]:
    plugin = TransportPlugin()
    plugin_manager.register(plugin)
    yield plugin
    for transport in plugin.made:
        transport.close()


def _client(plugin_manager: pluggy.PluginManager, **kwargs: Any) -> Client:
    return Client(
        "cli",
        authorization_url="https://auth.example.test/authorize",
        token_url="https://auth.example.test/token",
        plugin_manager=plugin_manager,
        **kwargs,
    )


# --------------------------------------------------------------------------- adapters


def test_the_built_in_stores_are_registered_by_name(plugin_manager: pluggy.PluginManager) -> None:
    names = store_names(plugin_manager)

    assert list(names) == ["file", "keyring", "memory"]
    assert all(description and "\n" not in description for description in names.values())
    assert isinstance(find_store(plugin_manager, "memory"), MemoryStore)
    assert isinstance(find_store(plugin_manager, "file"), FileStore)


def test_each_lookup_makes_a_new_store(plugin_manager: pluggy.PluginManager) -> None:
    assert find_store(plugin_manager, "memory") is not find_store(plugin_manager, "memory")


def test_a_plugin_store_adds_a_store_name(plugin_manager: pluggy.PluginManager) -> None:
    plugin = StorePlugin("vault", description="token sets in Vault")
    plugin_manager.register(plugin, name="vault-plugin")
    client = _client(plugin_manager, store="vault")
    client.store.save(client.profile, OLD)
    assert plugin.store.load("default") == OLD
    assert store_names(plugin_manager)["vault"] == "token sets in Vault"
    assert list(store_names(plugin_manager)) == ["file", "keyring", "memory", "vault"]


def test_a_store_is_made_only_when_it_is_used(plugin_manager: pluggy.PluginManager) -> None:
    plugin = StorePlugin("vault")
    plugin_manager.register(plugin)
    store_names(plugin_manager)
    assert plugin.made == 0
    find_store(plugin_manager, "vault")
    assert plugin.made == 1


def test_a_plugin_with_other_names_leaves_the_built_in_store(
    plugin_manager: pluggy.PluginManager, pkceflow_home: Path
) -> None:
    plugin_manager.register(StorePlugin("vault"))
    store = _client(plugin_manager, store="file").store
    assert isinstance(store, FileStore)
    assert store.directory == pkceflow_home / "tokens"


def test_a_plugin_may_not_replace_a_built_in_store(plugin_manager: pluggy.PluginManager) -> None:
    plugin_manager.register(StorePlugin("vault", "memory"), name="shadow")

    with pytest.raises(UsageError) as refused:
        store_names(plugin_manager)
    with pytest.raises(UsageError, match="two plugins register a token store called 'memory'"):
        _ = _client(plugin_manager, store="vault").store

    message = str(refused.value)
    assert message.startswith("two plugins register a token store called 'memory': ")
    assert "'pkceflow.builtins'" in message
    assert "'shadow'" in message
    assert "a plugin cannot replace another's store" in message


def test_two_plugins_with_one_store_name_are_both_named(
    plugin_manager: pluggy.PluginManager,
) -> None:
    plugin_manager.register(StorePlugin("vault"), name="vault-one")
    plugin_manager.register(StorePlugin("vault"))

    with pytest.raises(UsageError) as refused:
        find_store(plugin_manager, "vault")

    assert "token store called 'vault'" in str(refused.value)
    assert "'vault-one'" in str(refused.value)
    assert "StorePlugin object" in str(refused.value)


def test_one_plugin_registering_a_name_twice_is_refused(
    plugin_manager: pluggy.PluginManager,
) -> None:
    plugin_manager.register(StorePlugin("vault", "vault"), name="twice")

    with pytest.raises(UsageError, match="plugin 'twice' registers the token store 'vault' twice"):
        store_names(plugin_manager)


@pytest.mark.parametrize(
    ("name", "description", "message"),
    [
        ("Vault", "fine", "a store name is lower-case letters, digits and '-'"),
        ("", "fine", "a store name is"),
        ("vault", "two\nlines", "must describe its store 'vault' in one line"),
        ("vault", "   ", "must describe its store 'vault' in one line"),
    ],
)
def test_a_badly_registered_store_is_refused(
    plugin_manager: pluggy.PluginManager, name: str, description: str, message: str
) -> None:
    plugin_manager.register(StorePlugin(name, description=description), name="odd")

    with pytest.raises(UsageError, match=message):
        store_names(plugin_manager)


def test_a_store_without_a_factory_is_refused(plugin_manager: pluggy.PluginManager) -> None:
    class NoFactory:
        @hookimpl
        def pkceflow_register_stores(self, register: Any) -> None:
            register("vault", None, "nothing to make it with")

    plugin_manager.register(NoFactory(), name="empty")

    with pytest.raises(UsageError, match="plugin 'empty' registers 'vault' without a store"):
        store_names(plugin_manager)


def test_the_stores_follow_plugins_registered_and_removed_later(
    plugin_manager: pluggy.PluginManager,
) -> None:
    assert "vault" not in store_names(plugin_manager)
    plugin = StorePlugin("vault")
    plugin_manager.register(plugin)
    assert find_store(plugin_manager, "vault") is plugin.store
    plugin_manager.unregister(plugin)
    with pytest.raises(UsageError, match="no token store called 'vault'"):
        find_store(plugin_manager, "vault")


def test_a_plugin_transport_carries_every_request_of_the_client(
    provider: TestProvider,
    browser: HttpFollowingBrowser,
    make_client: MakeClient,
    transport_plugin: TransportPlugin,
) -> None:
    client = make_client(
        scope="openid offline_access",
        http=HttpOptions(timeout=7.0),
    )
    client.login()
    client.refresh()
    client.logout()
    [transport] = transport_plugin.made
    assert client.transport is transport
    assert transport.timeout == 7.0
    sent = [(r.method, r.url) for r in transport.sent]
    received = [
        (r.method, provider.origin + r.path)
        for r in provider.requests
        if r.endpoint in ("token", "jwks", "revoke")
    ]
    assert sent == received
    assert provider.count("token") == 2  # the code exchange and the refresh


def test_a_plugin_browser_replaces_the_built_in_launcher(
    plugin_manager: pluggy.PluginManager, browser: HttpFollowingBrowser, make_client: MakeClient
) -> None:
    plugin = BrowserPlugin(browser)
    plugin_manager.register(plugin)
    client = make_client(
        browser=None,
        interaction=Interaction(open_browser=False),
    )
    client.login()
    assert plugin.asked == [False]
    assert len(browser.opened) == 1


def test_without_plugins_the_client_uses_the_built_in_adapters(
    plugin_manager: pluggy.PluginManager,
) -> None:
    client = _client(plugin_manager)
    transport = client.transport
    try:
        assert isinstance(transport, Urllib3Transport)
        assert isinstance(client.store, MemoryStore)
    finally:
        assert isinstance(transport, Urllib3Transport)
        transport.close()


def test_the_built_in_listener_and_browser_hooks_make_pkceflows_own(
    plugin_manager: pluggy.PluginManager,
) -> None:
    hook = plugin_manager.hook
    assert isinstance(hook.pkceflow_browser(open_browser=False), WebBrowserLauncher)
    listener = hook.pkceflow_listener(host="127.0.0.1", port=0, path="/cb", bind_host=None)
    try:
        assert isinstance(listener, LoopbackListener)
        assert listener.redirect_uri == f"http://127.0.0.1:{listener.port}/cb"
    finally:
        listener.close()


def test_an_unknown_store_name_is_a_usage_error(plugin_manager: pluggy.PluginManager) -> None:
    message = r"no token store called 'nowhere' is installed \(installed: file, keyring, memory\)"
    with pytest.raises(UsageError, match=message):
        _ = _client(plugin_manager, store="nowhere").store


# --------------------------------------------------------------------------- events


@pytest.fixture
def events_plugin(plugin_manager: pluggy.PluginManager) -> EventsPlugin:
    plugin = EventsPlugin()
    plugin_manager.register(plugin)
    return plugin


def test_an_events_plugin_hears_every_event(
    provider: TestProvider,
    browser: HttpFollowingBrowser,
    make_client: MakeClient,
    events_plugin: EventsPlugin,
) -> None:
    client = make_client(scope="openid offline_access")
    login = client.login()
    refreshed = client.refresh()
    provider.settings.refresh_invalid_grant = True
    with pytest.raises(LoginRequiredError) as refused:
        client.refresh()

    assert [name for name, _ in events_plugin.calls] == [
        "authorization_url",
        "callback_received",
        "token_received",
        "token_changed",
        "refresh_done",
        "token_changed",
        "error",
    ]
    arguments = [args for _, args in events_plugin.calls]
    assert arguments[0] == {"url": browser.opened[0]}
    assert arguments[2] == arguments[3] == {"key": "default", "tokens": login}
    assert arguments[4] == {"key": "default", "expires_at": refreshed.expires_at}
    assert arguments[5] == {"key": "default", "tokens": refreshed}
    assert arguments[6] == {"key": "default", "error": refused.value}


def test_the_hooks_that_only_signal_receive_no_secret(
    provider: TestProvider, make_client: MakeClient, events_plugin: EventsPlugin
) -> None:
    client = make_client(scope="openid offline_access")
    login = client.login()
    refreshed = client.refresh()
    secrets = secrets_seen(provider, login, refreshed)
    assert len(secrets) >= 6  # code, verifier, two access, two refresh tokens at least
    signals = [
        args for name, args in events_plugin.calls if name in ("callback_received", "refresh_done")
    ]
    assert len(signals) == 2
    shown = repr(signals)
    assert not [secret for secret in secrets if secret in shown]


class RecordingEvents(Events):
    """An ``inner`` Events that keeps what each method received."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, tuple[object, ...]]] = []

    def authorization_url(self, url: str) -> None:
        self.heard.append(("authorization_url", (url,)))

    def callback_received(self) -> None:
        self.heard.append(("callback_received", ()))

    def token_received(self, key: str, tokens: TokenSet) -> None:
        self.heard.append(("token_received", (key, tokens)))

    def refresh_done(self, key: str, expires_at: float | None) -> None:
        self.heard.append(("refresh_done", (key, expires_at)))

    def token_changed(self, key: str, tokens: TokenSet) -> None:
        self.heard.append(("token_changed", (key, tokens)))

    def error(self, key: str, error: PkceflowError) -> None:
        self.heard.append(("error", (key, error)))


def test_plugin_events_forward_every_events_method_to_its_hook_then_inward(
    plugin_manager: pluggy.PluginManager, events_plugin: EventsPlugin
) -> None:
    inner = RecordingEvents()
    events = PluginEvents(plugin_manager, inner)
    url = "https://auth.example.test/authorize?x=1"
    failure = TransportError("down")

    events.authorization_url(url)
    events.callback_received()
    events.token_received("work", OLD)
    events.refresh_done("work", expires_at=5.0)
    events.token_changed(key="work", tokens=OLD)
    events.error("work", failure)

    assert [name for name, _ in inner.heard] == list(hookspecs.EVENT_HOOKS)
    assert events_plugin.calls == [
        ("authorization_url", {"url": url}),
        ("callback_received", {}),
        ("token_received", {"key": "work", "tokens": OLD}),
        ("refresh_done", {"key": "work", "expires_at": 5.0}),
        ("token_changed", {"key": "work", "tokens": OLD}),
        ("error", {"key": "work", "error": failure}),
    ]
    assert inner.heard == [
        ("authorization_url", (url,)),
        ("callback_received", ()),
        ("token_received", ("work", OLD)),
        ("refresh_done", ("work", 5.0)),
        ("token_changed", ("work", OLD)),
        ("error", ("work", failure)),
    ]
    assert PluginEvents.refresh_done.__doc__ == Events.refresh_done.__doc__
