"""pkceflow's own adapters, registered as an ordinary plugin (``trylast``)."""

from __future__ import annotations

from pkceflow_core.hookspecs import hookimpl
from pkceflow_core.ports import BrowserLauncher, RedirectListener, TokenStore, Transport


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
def pkceflow_token_store(name: str) -> TokenStore | None:
    if name == "memory":
        from .memory_store import MemoryStore

        return MemoryStore()
    if name == "file":
        from .file_store import FileStore

        return FileStore()
    if name == "keyring":
        from .keyring_store import KeyringStore

        return KeyringStore()
    return None
