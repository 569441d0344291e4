"""pkceflow's own adapters, registered as an ordinary plugin (``trylast``)."""

from __future__ import annotations

from pkceflow_core.hookspecs import RegisterStore, hookimpl
from pkceflow_core.ports import (
    AsyncRedirectListener,
    AsyncTransport,
    BrowserLauncher,
    RedirectListener,
    TokenStore,
    Transport,
)


@hookimpl(trylast=True)
def pkceflow_transport(timeout: float, ca_bundle: str | None) -> Transport:
    from .transport import Urllib3Transport

    # The hook's timeout bounds connecting too, not only each read.
    return Urllib3Transport(
        timeout=timeout, connect_timeout=min(timeout, 10.0), ca_bundle=ca_bundle
    )


@hookimpl(trylast=True)
def pkceflow_browser(open_browser: bool) -> BrowserLauncher:
    from .browser import WebBrowserLauncher

    return WebBrowserLauncher(open_browser=open_browser)


@hookimpl(trylast=True)
def pkceflow_listener(host: str, port: int, path: str, bind_host: str | None) -> RedirectListener:
    from .loopback import LoopbackListener

    return LoopbackListener(host, port, path, bind_host=bind_host)


@hookimpl(trylast=True)
def pkceflow_async_transport(timeout: float, ca_bundle: str | None) -> AsyncTransport:
    # httpx is imported here, on first use: MissingExtraError without the async extra.
    from .async_transport import HttpxTransport

    return HttpxTransport(timeout=timeout, connect_timeout=min(timeout, 10.0), ca_bundle=ca_bundle)


@hookimpl(trylast=True)
def pkceflow_async_listener(
    host: str, port: int, path: str, bind_host: str | None
) -> AsyncRedirectListener:
    from .async_loopback import AsyncLoopbackListener

    return AsyncLoopbackListener(host, port, path, bind_host=bind_host)


def _memory_store() -> TokenStore:
    from .memory_store import MemoryStore

    return MemoryStore()


def _file_store() -> TokenStore:
    from .file_store import FileStore

    return FileStore()


def _keyring_store() -> TokenStore:
    from .keyring_store import KeyringStore

    return KeyringStore()


@hookimpl
def pkceflow_register_stores(register: RegisterStore) -> None:
    # A store name is one plugin's: no trylast here, and no plugin replaces these.
    register("memory", _memory_store, "in this process only; forgotten when it ends")
    register("file", _file_store, "private JSON files in pkceflow's data folder")
    register("keyring", _keyring_store, "the system keychain, through keyring (pkceflow[keyring])")
