"""The plugin manager: entry-point plugins first, pkceflow's own adapters last."""

from __future__ import annotations

import functools
import logging

import pluggy

from pkceflow_core import Events, PkceflowError, TokenSet, hookspecs

__all__ = ["PluginEvents", "get_plugin_manager", "make_plugin_manager"]

log = logging.getLogger("pkceflow.plugins")


def make_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A new manager with the hook specs, installed plugins and the built-ins.

    Plugins come from the entry-point group ``"pkceflow"``. The built-in adapters
    are registered like any plugin, ``trylast``, so an installed one wins.
    """
    from . import _builtins

    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    if load_entry_points:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    manager.register(_builtins, name="pkceflow.builtins")
    return manager


@functools.lru_cache(maxsize=1)
def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, made on first use."""
    return make_plugin_manager()


class PluginEvents(Events):
    """Forwards the driver's events to the plugins' event hooks, then to ``inner``."""

    def __init__(self, manager: pluggy.PluginManager, inner: Events | None = None) -> None:
        self._hook = manager.hook
        self._inner = inner or Events()

    def authorization_url(self, url: str) -> None:
        self._hook.pkceflow_authorization_url(url=url)
        self._inner.authorization_url(url)

    def callback_received(self) -> None:
        self._hook.pkceflow_callback_received()
        self._inner.callback_received()

    def token_received(self, key: str, tokens: TokenSet) -> None:
        self._hook.pkceflow_token_received(key=key, tokens=tokens)
        self._inner.token_received(key, tokens)

    def refresh_done(self, key: str, expires_at: float | None) -> None:
        self._hook.pkceflow_refresh_done(key=key, expires_at=expires_at)
        self._inner.refresh_done(key, expires_at)

    def token_changed(self, key: str, tokens: TokenSet) -> None:
        self._hook.pkceflow_token_changed(key=key, tokens=tokens)
        self._inner.token_changed(key, tokens)

    def error(self, key: str, error: PkceflowError) -> None:
        self._hook.pkceflow_error(key=key, error=error)
        self._inner.error(key, error)
