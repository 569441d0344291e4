"""The plugin contract: every hook pkceflow calls, in one file.

Plugins are pluggy plugins of the project ``"pkceflow"``, found through the
entry-point group ``"pkceflow"``; a plugin depends on pkceflow-core alone::

    from pkceflow_core.hookspecs import hookimpl

    @hookimpl
    def pkceflow_token_store(name):
        if name == "redis":
            return RedisStore()

pkceflow's own adapters are registered the same way, marked ``trylast``, so an
installed plugin that answers a ``firstresult`` hook replaces the built-in one.
A hook implementation may accept any subset of a hook's arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .errors import PkceflowError
    from .ports import BrowserLauncher, RedirectListener, TokenStore, Transport
    from .providers import ProviderPreset
    from .tokens import TokenSet

__all__ = ["PROJECT", "hookimpl", "hookspec"]

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
def pkceflow_token_store(name: str) -> TokenStore | None:
    """Return the TokenStore called ``name`` ("file", "keyring", "memory", ...).

    Return None for names the plugin does not provide.
    """


# -- providers: every implementation is called; the lists are joined ------------


@hookspec
def pkceflow_provider_presets() -> list[ProviderPreset]:
    """Return the provider presets this plugin supplies (see pkceflow_core.providers).

    Names must be unique across installed plugins; ``Client.for_provider(name)``
    and ``pkceflow login --provider NAME`` use them.
    """
    return []


# -- events: every implementation is called; results are ignored ---------------


@hookspec
def pkceflow_authorization_url(url: str) -> None:
    """The authorization URL is about to be opened (the seed's OnAuthorizationCode)."""


@hookspec
def pkceflow_callback_received() -> None:
    """A valid callback reached the redirect URI; the code is about to be exchanged."""


@hookspec
def pkceflow_token_received(key: str, tokens: TokenSet) -> None:
    """A login for profile ``key`` finished with ``tokens`` (OnAfterAccessToken)."""


@hookspec
def pkceflow_refresh_done(key: str, expires_at: float | None) -> None:
    """The access token of ``key`` was refreshed; no token is passed."""


@hookspec
def pkceflow_token_changed(key: str, tokens: TokenSet) -> None:
    """The stored token set of ``key`` changed; persist the rotated tokens if needed."""


@hookspec
def pkceflow_error(key: str, error: PkceflowError) -> None:
    """A login or refresh of ``key`` failed (OnErrorAccessToken)."""
