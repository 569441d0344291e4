"""The driver: logins, refreshes and logouts run against a set of synchronous ports.

Every rule is in pkceflow_core.steps; the driver only carries out the effects the
steps ask for, through its ports. Any set of adapters (urllib3 or another HTTP
client, a loopback listener or a web framework's route, a file or a database) can
run it; pkceflow_core.async_driver is the same for asyncio.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
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
    BrowserLauncher,
    Clock,
    Events,
    IdTokenCheck,
    RedirectListener,
    TokenStore,
    Transport,
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
    discovery,
    run,
)

__all__ = ["Driver", "discover", "discover_with_lifetime"]

T = TypeVar("T")


def discover(
    transport: Transport, issuer: str, *, require_s256: bool = True, quirks: Quirks = Quirks()
) -> ServerMetadata:
    """Fetch and parse ``issuer``'s metadata: RFC 8414 first, then OpenID discovery.

    Raises MetadataError when neither document is found or when one is invalid.
    """
    return discover_with_lifetime(transport, issuer, require_s256=require_s256, quirks=quirks)[0]


def discover_with_lifetime(
    transport: Transport, issuer: str, *, require_s256: bool = True, quirks: Quirks = Quirks()
) -> tuple[ServerMetadata, int | None]:
    """:func:`discover`, with how long the answer may be reused (see steps.discovery)."""

    def do(effect: Effect) -> Any:
        assert isinstance(effect, Send)  # discovery only sends
        return transport.send(effect.request)

    return run(discovery(issuer, require_s256=require_s256, quirks=quirks), do)


@attrs.define
class Driver:
    """Runs logins, refreshes and logouts for one client at one server.

    ``clock`` gives the time (default: time.time) and ``check_id_token`` validates
    id_tokens before anything is stored (see pkceflow_core.oidc). ``events``
    hears of every step. ``guard`` makes the context a refresh request and the
    saving of its answer run in, from sending to stored: a command-line runner
    holds signals there, so that no rotated refresh token is lost to them.
    """

    server: ServerMetadata
    client: ClientConfig
    transport: Transport
    store: TokenStore
    clock: Clock = time.time
    events: Events = attrs.field(factory=Events)
    check_id_token: IdTokenCheck | None = None
    guard: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext

    @property
    def policy(self) -> Policy:
        """The rules this driver runs, as steps (see pkceflow_core.steps)."""
        return Policy(self.server, self.client, clock=self.clock, events=self.events)

    def run(
        self,
        steps: Steps[T],
        *,
        listener: RedirectListener | None = None,
        browser: BrowserLauncher | None = None,
    ) -> T:
        """Carry out ``steps`` through this driver's ports (and a login's listener, browser)."""

        def do(effect: Effect) -> Any:
            if isinstance(effect, Send):
                return self.transport.send(effect.request)
            if isinstance(effect, StoreEffect):
                return effect.on(self.store)
            if isinstance(effect, Locked):
                with self.store.lock(effect.key):
                    return run(effect.steps, do)
            if isinstance(effect, Guarded):
                with self.guard():
                    return run(effect.steps, do)
            if isinstance(effect, CheckIdToken):
                if self.check_id_token is not None:
                    self.check_id_token(effect.tokens, effect.nonce, effect.previous)
                return None
            if isinstance(effect, OpenBrowser):
                assert browser is not None, "a login needs a browser"
                return browser.open(effect.url)
            assert isinstance(effect, AwaitCallbacks)
            assert listener is not None, "a login needs a listener"
            handle = effect.handle
            return listener.wait(lambda target: run(handle(target), do), timeout=effect.timeout)

        return run(steps, do)

    def login(
        self,
        key: str,
        *,
        listener: RedirectListener,
        browser: BrowserLauncher,
        scope: str | Iterable[str] | None = None,
        extra_params: ExtraParams | None = None,
        timeout: float = 300.0,
        token_bytes: TokenBytes = os.urandom,
        on_flow: Callable[[AuthorizationCodeFlow], None] | None = None,
    ) -> TokenSet:
        """Run the authorization code flow and store the token set under ``key``.

        See Policy.login. Nothing is stored unless every check passed.
        """
        steps = self.policy.login(
            key,
            redirect_uri=listener.redirect_uri,
            scope=scope,
            extra_params=extra_params,
            timeout=timeout,
            token_bytes=token_bytes,
            on_flow=on_flow,
        )
        return self.run(steps, listener=listener, browser=browser)

    def token(self, key: str, *, min_ttl: float = 60.0) -> TokenSet:
        """A token set whose access token is valid for ``min_ttl`` more seconds.

        Refreshes when needed, once, however many threads or processes ask at the
        same moment (see Policy.token). Raises LoginRequiredError when there is no
        usable login (LoginEndedError when the server ended it), RefreshInDoubtError
        when the refresh this call waited for went unanswered.
        """
        return self.run(self.policy.token(key, min_ttl=min_ttl))

    def refresh(self, key: str) -> TokenSet:
        """Refresh now, whatever the expiry (the seed component's Refresh)."""
        return self.run(self.policy.refresh(key))

    def refresh_with(self, key: str, refresh_token: str) -> TokenSet:
        """Refresh with a refresh token obtained elsewhere and store the result under ``key``."""
        return self.run(self.policy.refresh_with(key, refresh_token))

    def logout(self, key: str, *, revoke: bool = True) -> bool:
        """Forget the stored login; revoke its tokens first where the server can (RFC 7009).

        Returns True when tokens were revoked. The local copy is deleted even when
        revocation fails; the error is raised afterwards.
        """
        return self.run(self.policy.logout(key, revoke=revoke))
