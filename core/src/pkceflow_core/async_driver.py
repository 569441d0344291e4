"""The asyncio driver: the same steps as the Driver, carried out with ``await``.

Every rule is in pkceflow_core.steps; this module only awaits the effects, through
the asyncio ports (pkceflow_core.ports: AsyncTransport, AsyncTokenStore,
AsyncRedirectListener). Two things are its own, because asyncio has them:

- the guarded stretch of a refresh (from sending it to storing the answer) is
  finished even when the task is cancelled, and the cancellation is delivered
  afterwards: a rotated refresh token is stored, never lost to a timeout;
- a cancelled login lets the listener close (its ``wait`` is cancelled with it).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import attrs

from ._authorization_url import ExtraParams
from ._client_auth import ClientConfig
from ._flow import AuthorizationCodeFlow
from ._metadata import ServerMetadata
from ._pkce import TokenBytes
from ._quirks import Quirks
from ._tokens import TokenSet
from .ports import (
    AsyncRedirectListener,
    AsyncTokenStore,
    AsyncTransport,
    BrowserLauncher,
    Clock,
    Events,
)
from .steps import (
    AwaitCallbacks,
    CheckIdToken,
    Effect,
    Guarded,
    Locked,
    OpenBrowser,
    Policy,
    Send,
    Steps,
    StoreEffect,
    arun,
    discovery,
)

__all__ = ["AsyncDriver", "AsyncIdTokenCheck", "discover_async"]

T = TypeVar("T")

#: :data:`pkceflow_core.ports.IdTokenCheck`, awaited (its JWK Set may need fetching).
AsyncIdTokenCheck = Callable[[TokenSet, "str | None", "TokenSet | None"], Awaitable[None]]


async def _finish_then_cancel(work: Awaitable[T]) -> T:
    """Await ``work`` to its end even if this task is cancelled meanwhile.

    The cancellation is not lost: it is raised once ``work`` is done, whatever
    ``work``'s own outcome.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise  # the work itself was cancelled (its loop is closing)
            cancelled = True
            continue
        except BaseException:
            if cancelled:
                raise asyncio.CancelledError from None
            raise
        if cancelled:
            raise asyncio.CancelledError
        return result


async def discover_async(
    transport: AsyncTransport,
    issuer: str,
    *,
    require_s256: bool = True,
    quirks: Quirks = Quirks(),
) -> tuple[ServerMetadata, int | None]:
    """``issuer``'s metadata and its lifetime (see steps.discovery), over ``transport``."""

    async def do(effect: Effect) -> Any:
        assert isinstance(effect, Send)  # discovery only sends
        return await transport.send(effect.request)

    return await arun(discovery(issuer, require_s256=require_s256, quirks=quirks), do)


@attrs.define
class AsyncDriver:
    """:class:`pkceflow_core.Driver` for asyncio: the same methods, awaited.

    ``check_id_token`` is awaited (see :data:`AsyncIdTokenCheck`); ``events`` are
    called on the event loop and must not block.
    """

    server: ServerMetadata
    client: ClientConfig
    transport: AsyncTransport
    store: AsyncTokenStore
    clock: Clock = time.time
    events: Events = attrs.field(factory=Events)
    check_id_token: AsyncIdTokenCheck | None = None

    @property
    def policy(self) -> Policy:
        """The rules this driver runs, as steps (see pkceflow_core.steps)."""
        return Policy(self.server, self.client, clock=self.clock, events=self.events)

    async def run(
        self,
        steps: Steps[T],
        *,
        listener: AsyncRedirectListener | None = None,
        browser: BrowserLauncher | None = None,
    ) -> T:
        """Carry out ``steps`` through this driver's ports (and a login's listener, browser)."""

        async def do(effect: Effect) -> Any:
            if isinstance(effect, Send):
                return await self.transport.send(effect.request)
            if isinstance(effect, StoreEffect):
                return await effect.on(self.store)
            if isinstance(effect, Locked):
                async with self.store.lock(effect.key):
                    return await arun(effect.steps, do)
            if isinstance(effect, Guarded):
                return await _finish_then_cancel(arun(effect.steps, do))
            if isinstance(effect, CheckIdToken):
                if self.check_id_token is not None:
                    await self.check_id_token(effect.tokens, effect.nonce, effect.previous)
                return None
            if isinstance(effect, OpenBrowser):
                assert browser is not None, "a login needs a browser"
                return browser.open(effect.url)
            assert isinstance(effect, AwaitCallbacks)
            assert listener is not None, "a login needs a listener"
            handle = effect.handle
            return await listener.wait(
                lambda target: arun(handle(target), do), timeout=effect.timeout
            )

        return await arun(steps, do)

    async def login(
        self,
        key: str,
        *,
        listener: AsyncRedirectListener,
        browser: BrowserLauncher,
        scope: str | Iterable[str] | None = None,
        extra_params: ExtraParams | None = None,
        timeout: float = 300.0,
        token_bytes: TokenBytes = os.urandom,
        on_flow: Callable[[AuthorizationCodeFlow], None] | None = None,
    ) -> TokenSet:
        """Run the authorization code flow and store the token set (see Policy.login)."""
        steps = self.policy.login(
            key,
            redirect_uri=listener.redirect_uri,
            scope=scope,
            extra_params=extra_params,
            timeout=timeout,
            token_bytes=token_bytes,
            on_flow=on_flow,
        )
        return await self.run(steps, listener=listener, browser=browser)

    async def token(self, key: str, *, min_ttl: float = 60.0) -> TokenSet:
        """A token set valid for ``min_ttl`` more seconds, refreshed once if needed."""
        return await self.run(self.policy.token(key, min_ttl=min_ttl))

    async def refresh(self, key: str) -> TokenSet:
        """Refresh now, whatever the expiry."""
        return await self.run(self.policy.refresh(key))

    async def refresh_with(self, key: str, refresh_token: str) -> TokenSet:
        """Refresh with a refresh token obtained elsewhere; store the result under ``key``."""
        return await self.run(self.policy.refresh_with(key, refresh_token))

    async def logout(self, key: str, *, revoke: bool = True) -> bool:
        """Forget the stored login, revoking its tokens first where the server can."""
        return await self.run(self.policy.logout(key, revoke=revoke))
