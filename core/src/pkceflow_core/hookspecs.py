"""The plugin contract: every hook pkceflow calls, in one file.

Plugins are pluggy plugins of the project ``"pkceflow"``, found through the
entry-point group ``"pkceflow"``; a plugin depends on pkceflow-core alone::

    from pkceflow_core.hookspecs import hookimpl

    @hookimpl
    def pkceflow_register_stores(register):
        register("redis", RedisStore, "token sets in Redis")

pkceflow's own adapters are registered the same way, marked ``trylast``, so an
installed plugin that answers a ``firstresult`` hook replaces the built-in one.
A hook implementation may accept any subset of a hook's arguments.

The event hooks are not written out here: there is one per method of
:class:`pkceflow_core.ports.Events`, named ``pkceflow_<method>``, with the same
arguments and meaning (``Events.refresh_done(key, expires_at)`` is heard as
``pkceflow_refresh_done(key, expires_at)``). They are made from Events below.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import pluggy

from .ports import Events

if TYPE_CHECKING:
    from ._providers import ProviderPreset
    from .ports import (
        AsyncRedirectListener,
        AsyncTransport,
        BrowserLauncher,
        RedirectListener,
        TokenStore,
        Transport,
    )

__all__ = ["EVENT_HOOKS", "PROJECT", "RegisterStore", "hookimpl", "hookspec"]

#: The pluggy project name and the entry-point group plugins are listed under.
PROJECT = "pkceflow"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- adapters: the first non-None answer wins ------------------------------------


@hookspec(firstresult=True)
def pkceflow_transport(timeout: float, ca_bundle: str | None) -> Transport | None:
    """Return the Transport that sends HTTP requests, or None to pass.

    ``timeout`` bounds connecting and each read, in seconds; ``ca_bundle`` is a
    path to trusted CA certificates, or None for the default trust store. The
    transport must verify TLS, never follow redirects, and refuse plain http to
    hosts that are not loopback.
    """


@hookspec(firstresult=True)
def pkceflow_browser(open_browser: bool) -> BrowserLauncher | None:
    """Return the BrowserLauncher that shows the authorization URL, or None to pass.

    With ``open_browser`` False the person is only shown the URL.
    """


@hookspec(firstresult=True)
def pkceflow_listener(
    host: str, port: int, path: str, bind_host: str | None
) -> RedirectListener | None:
    """Return a bound RedirectListener for ``host``:``port`` and ``path``, or None.

    ``port`` 0 asks for a free port; the listener's ``redirect_uri`` names the real
    one. ``bind_host`` binds another address while the redirect URI keeps ``host``
    (a container whose browser is outside); None binds ``host``.
    """


@hookspec(firstresult=True)
def pkceflow_async_transport(timeout: float, ca_bundle: str | None) -> AsyncTransport | None:
    """Return the AsyncTransport that sends HTTP requests from asyncio, or None to pass.

    The arguments and the rules are those of ``pkceflow_transport``. The built-in
    one needs the ``async`` extra (httpx) and raises MissingExtraError without it.
    """


@hookspec(firstresult=True)
def pkceflow_async_listener(
    host: str, port: int, path: str, bind_host: str | None
) -> AsyncRedirectListener | None:
    """Return a bound AsyncRedirectListener for ``host``:``port`` and ``path``, or None.

    The arguments are those of ``pkceflow_listener``. The listener may be made
    outside the event loop (its sockets are bound at once); it serves on the loop
    that awaits its ``wait``.
    """


# -- token stores: every plugin registers its own, by name ----------------------


class RegisterStore(Protocol):
    """The ``register`` callable that ``pkceflow_register_stores`` receives."""

    def __call__(self, name: str, factory: Callable[[], TokenStore], description: str) -> None:
        """Offer the store ``name``, made by calling ``factory()`` when it is used.

        ``name`` is lower-case letters, digits and ``-``; ``description`` is one line
        for ``pkceflow stores``. UsageError for a name another plugin registers too.
        """


@hookspec
def pkceflow_register_stores(register: RegisterStore) -> None:
    """Register the token stores this plugin provides: ``register(name, factory, description)``.

    ``factory`` takes no argument and returns a new TokenStore; it is called only
    when a client or ``--store`` names the store. A name belongs to one plugin:
    two plugins registering the same one is an error naming both, so no plugin
    replaces another's store (pkceflow's own "file", "keyring" and "memory" included).
    """


# -- providers: every implementation is called; the lists are joined ------------


@hookspec
def pkceflow_provider_presets() -> list[ProviderPreset]:
    """Return the provider presets this plugin supplies (see pkceflow_core._providers).

    Names must be unique across installed plugins; ``Client.for_provider(name)``
    and ``pkceflow login --provider NAME`` use them.
    """
    return []


# -- events: one hook per Events method; every implementation is called ----------
#
# pkceflow_core.ports.Events declares the events; each of its public methods becomes
# the hook pkceflow_<method> here, with the method's arguments (without ``self``)
# and docstring. Results are ignored.


def _event_hookspec(method: Callable[..., None]) -> Callable[..., None]:
    """The event hook for the Events method ``method``: ``pkceflow_<method>``."""

    def spec(*args: object, **kwargs: object) -> None:
        """Replaced by the method's docstring; pluggy never calls a specification."""

    # The method's docstring, and its arguments twice over: pluggy reads their names
    # from the code behind __wrapped__ (dropping ``self``, as of any method), and
    # inspect.signature (older pluggy, help()) from __signature__, without ``self``.
    functools.update_wrapper(spec, method)
    spec.__name__ = spec.__qualname__ = f"pkceflow_{method.__name__}"
    spec.__module__ = __name__
    signature = inspect.signature(method)
    parameters = list(signature.parameters.values())[1:]
    spec.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return hookspec(spec)


#: The event hooks, by the name of the Events method each is made from.
EVENT_HOOKS: dict[str, str] = {
    name: f"pkceflow_{name}"
    for name, method in vars(Events).items()
    if inspect.isfunction(method) and not name.startswith("_")
}
globals().update(
    {hook: _event_hookspec(getattr(Events, name)) for name, hook in EVENT_HOOKS.items()}
)
