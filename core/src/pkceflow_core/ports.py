"""Ports: what the core needs from the world, as typing.Protocol classes.

Adapters implement these; the core and its driver only ever call them. Each
method says what it raises: only PkceflowError subclasses cross a port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Protocol

import attrs

from ._http import HttpRequest, HttpResponse
from ._tokens import TokenSet
from .errors import PkceflowError

__all__ = [
    "AsyncCallbackHandler",
    "AsyncRedirectListener",
    "AsyncTokenStore",
    "AsyncTransport",
    "BrowserLauncher",
    "CallbackHandler",
    "CallbackReply",
    "Clock",
    "Events",
    "IdTokenCheck",
    "RedirectListener",
    "TokenStore",
    "Transport",
]

#: Seconds since the epoch, like time.time.
Clock = Callable[[], float]


class Transport(Protocol):
    """Sends one HttpRequest and returns the HttpResponse, whatever its status."""

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request``; raise TransportError when no response could be read.

        Redirects are returned, never followed. A request with ``retry_safe``
        False is not repeated once it may have reached the server.
        """
        ...


class BrowserLauncher(Protocol):
    """Shows the authorization URL to the person."""

    def open(self, url: str) -> bool:
        """Open ``url`` in a browser; False when none could be opened.

        An adapter that returns False has already shown the URL some other way
        (printed it), so the flow goes on either way.
        """
        ...


@attrs.frozen
class CallbackReply:
    """What the redirect listener does with one request to the redirect URI."""

    #: Stop listening (a final outcome) or keep waiting for the real callback.
    done: bool
    #: Show the success page or the error page.
    ok: bool
    #: Plain text for the person; the listener escapes it (it may hold text the
    #: authorization server or a stray request chose).
    message: str


#: Called by a listener with the request target of each callback it receives
#: (``/callback?code=...``), one call at a time.
CallbackHandler = Callable[[str], CallbackReply]


class RedirectListener(Protocol):
    """Receives the browser's redirect on a loopback address (RFC 8252 7.3)."""

    @property
    def redirect_uri(self) -> str:
        """The URI to register in the authorization request, with the real port."""
        ...

    def wait(self, handle: CallbackHandler, *, timeout: float) -> None:
        """Serve callbacks to ``handle`` until it replies ``done``; then return.

        Raises CallbackTimeoutError when ``timeout`` seconds pass first. Calls to
        ``handle`` never overlap.
        """
        ...

    def feed(self, url_or_query: str) -> CallbackReply | None:
        """Hand over a callback that came another way (pasted by the person).

        It goes to the same handler as one through the socket. Before ``wait``
        begins it is kept and checked once it does (the reply says it was
        received); None means the listener is not waiting any more.
        """
        ...

    def close(self) -> None:
        """Stop listening and release the socket; safe to call twice."""
        ...


class TokenStore(Protocol):
    """Keeps token sets by key (a profile name) and serialises refreshes."""

    def load(self, key: str) -> TokenSet | None:
        """The stored token set, or None. StoreError when it cannot be read."""
        ...

    def save(self, key: str, tokens: TokenSet) -> None:
        """Store ``tokens`` whole or not at all. StoreError on failure."""
        ...

    def replace(self, key: str, old: TokenSet, new: TokenSet) -> bool:
        """Store ``new`` only if ``old`` is what is stored (compare-and-swap).

        Returns False, storing nothing, when something else is stored: a rotated
        refresh token is never overwritten by an older one.
        """
        ...

    def delete(self, key: str) -> None:
        """Forget the token set; nothing happens if there is none."""
        ...

    def lock(self, key: str) -> AbstractContextManager[None]:
        """Hold ``key`` exclusively across threads (and processes, where stored there)."""
        ...


# -- asyncio: the same ports, awaited ---------------------------------------------


class AsyncTransport(Protocol):
    """:class:`Transport` for asyncio: the same rules, awaited."""

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request``; raise TransportError when no response could be read.

        Redirects are returned, never followed; ``retry_safe`` False is never
        repeated once it may have reached the server. Cancelling the call while
        the request may be on its way is the caller's risk, as for any
        non-idempotent request: the runner shields the sends whose loss matters.
        """
        ...


#: Called by an asyncio listener with the request target of each callback, one
#: call at a time, and awaited.
AsyncCallbackHandler = Callable[[str], Awaitable[CallbackReply]]


class AsyncRedirectListener(Protocol):
    """:class:`RedirectListener` for asyncio, on the running event loop."""

    @property
    def redirect_uri(self) -> str:
        """The URI to register in the authorization request, with the real port."""
        ...

    async def wait(self, handle: AsyncCallbackHandler, *, timeout: float) -> None:
        """Serve callbacks to ``handle`` until it replies ``done``; then return.

        Raises CallbackTimeoutError when ``timeout`` seconds pass first. Calls to
        ``handle`` never overlap. Cancelling the wait closes the listener.
        """
        ...

    def feed(self, url_or_query: str) -> CallbackReply | None:
        """As :meth:`RedirectListener.feed`; called from the event loop's thread."""
        ...

    async def aclose(self) -> None:
        """Stop listening and release the sockets; safe to call twice."""
        ...


class AsyncTokenStore(Protocol):
    """:class:`TokenStore` for asyncio: the same contract, awaited.

    A store without native asyncio methods is run off the event loop by
    pkceflow's ``to_async_store`` wrapper.
    """

    async def load(self, key: str) -> TokenSet | None:
        """The stored token set, or None. StoreError when it cannot be read."""
        ...

    async def save(self, key: str, tokens: TokenSet) -> None:
        """Store ``tokens`` whole or not at all. StoreError on failure."""
        ...

    async def replace(self, key: str, old: TokenSet, new: TokenSet) -> bool:
        """Store ``new`` only if ``old`` is what is stored (compare-and-swap)."""
        ...

    async def delete(self, key: str) -> None:
        """Forget the token set; nothing happens if there is none."""
        ...

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold ``key`` exclusively across tasks, threads and (where stored there) processes."""
        ...


#: Checks the id_token of a token set: ``(tokens, nonce, previous)``. ``nonce`` is the
#: one the login sent (None on a refresh, where it is not required); with a nonce, a
#: token set without an id_token fails too (OpenID Connect Core 3.1.3.3).
#: ``previous`` is the token set a refresh started from, whose id_token names the
#: same ``iss`` and ``sub`` (12.2). Raises IdTokenError.
IdTokenCheck = Callable[[TokenSet, "str | None", "TokenSet | None"], None]


class Events:
    """Things that happen during a login or refresh, for observers to hear of.

    This class is the one declaration of pkceflow's events: each public method is
    one event, its arguments and docstring what the event carries and means.
    Plugins hear the same events through the hooks of ``pkceflow_core.hookspecs``,
    one per method, named ``pkceflow_<method>``, with the same arguments.

    The base class ignores them all; override what you need. Events that only say
    that something happened receive no secret.
    """

    def authorization_url(self, url: str) -> None:
        """The authorization URL is about to be opened in the browser."""

    def callback_received(self) -> None:
        """A valid callback reached the redirect URI; its code is about to be exchanged.

        The code itself is not passed.
        """

    def token_received(self, key: str, tokens: TokenSet) -> None:
        """A login for profile ``key`` finished with ``tokens``."""

    def refresh_done(self, key: str, expires_at: float | None) -> None:
        """The access token of ``key`` was refreshed; it now expires at ``expires_at``.

        No token is passed.
        """

    def token_changed(self, key: str, tokens: TokenSet) -> None:
        """The stored token set of ``key`` changed; persist the rotated tokens if needed."""

    def error(self, key: str, error: PkceflowError) -> None:
        """A login or refresh of ``key`` failed with ``error``."""
