"""The plugin manager: entry-point plugins first, pkceflow's own adapters last.

Besides the manager, this module holds what is built from its hooks: the token
stores every plugin registers by name (:func:`store_names`, :func:`find_store`) and
:class:`PluginEvents`, which hands the driver's events to the event hooks.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import pluggy

from pkceflow_core import Events, UsageError, hookspecs
from pkceflow_core.ports import TokenStore

__all__ = [
    "PluginEvents",
    "find_store",
    "get_plugin_manager",
    "make_plugin_manager",
    "store_names",
]

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


# -- token stores, registered by name ---------------------------------------------

_STORE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}\Z")
_HOOK = "pkceflow_register_stores"


class _Store(NamedTuple):
    factory: Callable[[], TokenStore]
    description: str
    plugin: object
    label: str


#: Per manager: the hook implementations its registry was built from, and the registry.
_registries: weakref.WeakKeyDictionary[
    pluggy.PluginManager, tuple[tuple[object, ...], dict[str, _Store]]
] = weakref.WeakKeyDictionary()


def _plugin_label(manager: pluggy.PluginManager, plugin: object) -> str:
    """How a person tells ``plugin`` apart: its name, and its distribution if any."""
    name = manager.get_name(plugin)
    label = f"{type(plugin).__qualname__} object" if name == str(id(plugin)) else repr(name)
    for registered, dist in manager.list_plugin_distinfo():
        if registered is plugin:
            return f"{label} (from {dist.project_name})"
    return label


def _registrar(stores: dict[str, _Store], plugin: object, by: str) -> hookspecs.RegisterStore:
    """The ``register`` callable for ``plugin`` (called ``by``), adding to ``stores``."""

    def register(name: object, factory: object, description: object) -> None:
        if not isinstance(name, str) or not _STORE_NAME.match(name):
            raise UsageError(
                f"plugin {by} registers a token store called {name!r}: a store name is"
                " lower-case letters, digits and '-'"
            )
        if not callable(factory):
            raise UsageError(f"plugin {by} registers {name!r} without a store factory")
        if (
            not isinstance(description, str)
            or not description.strip()
            or not description.isprintable()
        ):
            raise UsageError(f"plugin {by} must describe its store {name!r} in one line")
        taken = stores.get(name)
        if taken is not None and taken.plugin is plugin:
            raise UsageError(f"plugin {by} registers the token store {name!r} twice")
        if taken is not None:
            raise UsageError(
                f"two plugins register a token store called {name!r}: {taken.label} and"
                f" {by}; a plugin cannot replace another's store (uninstall one of them)"
            )
        made_by = cast("Callable[[], TokenStore]", factory)
        stores[name] = _Store(made_by, description.strip(), plugin, by)

    return register


def _build_registry(manager: pluggy.PluginManager) -> dict[str, _Store]:
    """Ask each plugin in turn for its stores; UsageError for a name taken twice."""
    stores: dict[str, _Store] = {}
    plugins: list[object] = []
    for impl in reversed(getattr(manager.hook, _HOOK).get_hookimpls()):  # pluggy's order
        if not any(impl.plugin is seen for seen in plugins):
            plugins.append(impl.plugin)
    for plugin in plugins:
        # The plugin's own implementation alone, so that a name taken twice names both.
        others = [other for other in plugins if other is not plugin]
        only = manager.subset_hook_caller(_HOOK, remove_plugins=others)
        only(register=_registrar(stores, plugin, _plugin_label(manager, plugin)))
    return dict(sorted(stores.items()))


def _registry(manager: pluggy.PluginManager) -> dict[str, _Store]:
    """The stores of ``manager``'s plugins, built again when its plugins change."""
    impls = tuple(getattr(manager.hook, _HOOK).get_hookimpls())
    cached = _registries.get(manager)
    if cached is not None and cached[0] == impls:
        return cached[1]
    stores = _build_registry(manager)
    _registries[manager] = (impls, stores)
    return stores


def store_names(manager: pluggy.PluginManager) -> dict[str, str]:
    """Every installed token store's name and one-line description, sorted by name.

    UsageError when two plugins register the same name.
    """
    return {name: store.description for name, store in _registry(manager).items()}


def find_store(manager: pluggy.PluginManager, name: str) -> TokenStore:
    """A new TokenStore of the kind called ``name``, from the plugin that registers it.

    UsageError naming the installed stores when none is called ``name``, and when
    two plugins register the same name.
    """
    stores = _registry(manager)
    entry = stores.get(name)
    if entry is None:
        installed = ", ".join(stores) or "none"
        raise UsageError(f"no token store called {name!r} is installed (installed: {installed})")
    return entry.factory()


# -- events ----------------------------------------------------------------------------


class PluginEvents(Events):
    """Forwards the driver's events to the plugins' event hooks, then to ``inner``.

    Every Events method is forwarded, to the hook ``hookspecs.EVENT_HOOKS`` names
    for it, with its arguments by name.
    """

    def __init__(self, manager: pluggy.PluginManager, inner: Events | None = None) -> None:
        self._hook = manager.hook
        self._inner = inner or Events()


def _forwarder(name: str) -> Callable[..., None]:
    """The PluginEvents method for the event ``name``: the hook, then the inner Events."""
    method = getattr(Events, name)
    signature = inspect.signature(method)
    own = next(iter(signature.parameters))  # ``self``
    hook_name = hookspecs.EVENT_HOOKS[name]

    @functools.wraps(method)
    def forward(self: PluginEvents, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = {key: value for key, value in bound.arguments.items() if key != own}
        getattr(self._hook, hook_name)(**arguments)
        getattr(self._inner, name)(*args, **kwargs)

    forward.__qualname__ = f"PluginEvents.{name}"
    return forward


for _event in hookspecs.EVENT_HOOKS:
    setattr(PluginEvents, _event, _forwarder(_event))
del _event
