"""The driver: a whole login, refresh or logout run against a set of ports.

It decides in which order the ports are called and what is stored when; the ports
do every bit of I/O. Any set of adapters (urllib3 or another HTTP client, a
loopback listener or a web framework's route, a file or a database) can run it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

import attrs

from .authorization_url import ExtraParams
from .client_auth import ClientConfig
from .errors import (
    AuthorizationError,
    CallbackError,
    CallbackTimeoutError,
    IdentityChangedError,
    IdTokenError,
    InvalidResponseError,
    LoginEndedError,
    LoginRequiredError,
    MetadataError,
    PkceflowError,
    RefreshInDoubtError,
    StoreError,
    TokenError,
    TransportError,
    printable,
)
from .flow import AuthorizationCodeFlow, FlowState
from .http import HttpRequest, freshness_lifetime
from .metadata import (
    ServerMetadata,
    discovery_requests,
    metadata_from_document,
    parse_metadata,
)
from .pkce import TokenBytes
from .ports import (
    BrowserLauncher,
    CallbackReply,
    Clock,
    Events,
    IdTokenCheck,
    RedirectListener,
    TokenStore,
    Transport,
)
from .quirks import Quirks
from .token_request import (
    build_refresh_request,
    build_revocation_request,
    check_revocation_response,
)
from .token_response import parse_token_response
from .tokens import TokenSet

__all__ = ["Driver", "discover", "discover_with_lifetime"]

_SUCCESS = "You are signed in. You can close this tab and return to the application."
_STRAY = (
    "This request does not belong to the sign-in in progress and was ignored. "
    "If you started a sign-in, finish it in the tab the application opened."
)
#: How much of the authorization URL a timeout message shows.
_URL_SHOWN = 1000


def _explained_timeout(
    exc: CallbackTimeoutError, timeout: float, client_id: str, redirect_uri: str, url: str
) -> CallbackTimeoutError:
    """A listener's timeout, with what usually causes it and where the browser was sent.

    A server that does not know the client id or the redirect URI shows its own
    error page and must not redirect (RFC 6749 4.1.2.1), so no callback comes. The
    authorization URL is shown (printable, bounded): it holds no secret, and its
    state and challenge are worthless once the flow is dead.
    """
    if exc.rejected:
        head = (
            f"no valid callback arrived within {timeout:g} s; {exc.rejected} request(s) to"
            " the redirect URI were refused (wrong or missing state)"
        )
    else:
        head = f"no callback arrived within {timeout:g} s"
    return CallbackTimeoutError(
        f"{head}. Likely causes: the authorization server does not know the client id"
        f" {printable(client_id, 200)!r}, or the redirect URI {printable(redirect_uri, 300)}"
        " is not registered for it (the server then shows its own error page and never"
        " redirects back); or the browser tab was closed, or the sign-in refused, without"
        f" the server redirecting. The browser was sent to {printable(url, _URL_SHOWN)}",
        rejected=exc.rejected,
    )


def discover(
    transport: Transport, issuer: str, *, require_s256: bool = True, quirks: Quirks = Quirks()
) -> ServerMetadata:
    """Fetch and parse ``issuer``'s metadata: RFC 8414 first, then OpenID discovery.

    Raises MetadataError when neither document is found or when one is invalid.
    """
    return discover_with_lifetime(transport, issuer, require_s256=require_s256, quirks=quirks)[0]


#: Members a client uses that one document of a server may lack and the other list.
_MERGED_ENDPOINTS = ("revocation_endpoint", "userinfo_endpoint", "jwks_uri")


def discover_with_lifetime(
    transport: Transport, issuer: str, *, require_s256: bool = True, quirks: Quirks = Quirks()
) -> tuple[ServerMetadata, int | None]:
    """:func:`discover`, with how long the answer may be reused (its Cache-Control).

    When the first document found lacks an endpoint a client uses (revocation,
    userinfo, jwks_uri), the other document of the same issuer is read too and the
    two are merged member by member: the first document's members win, the second
    only fills members the first does not have, and it is used only when its
    ``issuer`` is exactly the same. Django OAuth Toolkit, for one, lists userinfo
    only in its OpenID document and revocation only in its RFC 8414 document.
    """
    requests = discovery_requests(issuer)
    for index, request in enumerate(requests):
        response = transport.send(request)
        if response.status in (404, 405, 410):
            continue
        first = parse_metadata(response, issuer=issuer, require_s256=require_s256, quirks=quirks)
        lifetime = freshness_lifetime(response)
        if all(getattr(first, name) for name in _MERGED_ENDPOINTS):
            return first, lifetime
        for other in requests[index + 1 :]:
            with contextlib.suppress(PkceflowError):  # the first stands on its own
                answer = transport.send(other)
                second = parse_metadata(
                    answer, issuer=issuer, require_s256=require_s256, quirks=quirks
                )
                merged = metadata_from_document(
                    {**second.raw, **first.raw},
                    issuer=issuer,
                    require_s256=require_s256,
                    quirks=quirks,
                )
                lives = [
                    life for life in (lifetime, freshness_lifetime(answer)) if life is not None
                ]
                return merged, min(lives) if lives else None
        return first, lifetime
    raise MetadataError(f"no metadata at {requests[-1].url} (HTTP {response.status})")


@attrs.define
class _Outcome:
    request: HttpRequest | None = None
    tokens: TokenSet | None = None
    error: PkceflowError | None = None


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

        The code is exchanged while the browser waits, so the page it shows tells
        the truth about the outcome. Raises AuthorizationError (refused at the
        redirect), CallbackError (mix-up, malformed), CallbackTimeoutError,
        TokenError / InvalidResponseError (token endpoint), IdTokenError,
        TransportError, StoreError. Nothing is stored unless every check passed.
        """
        flow = AuthorizationCodeFlow(
            self.server,
            self.client,
            redirect_uri=listener.redirect_uri,
            scope=scope,
            extra_params=extra_params,
            token_bytes=token_bytes,
        )
        if on_flow is not None:
            on_flow(flow)
        outcome = _Outcome()

        def handle(target: str) -> CallbackReply:
            try:
                request = flow.receive_callback(target)
            except CallbackError as exc:
                if flow.state is FlowState.AWAITING_CALLBACK:
                    return CallbackReply(done=False, ok=False, message=_STRAY)
                outcome.error = exc
                prefix = (
                    "The authorization server refused"
                    if isinstance(exc, AuthorizationError)
                    else "The sign-in failed"
                )
                return CallbackReply(done=True, ok=False, message=f"{prefix}: {exc}")
            self.events.callback_received()
            try:
                outcome.tokens = self._exchange(flow, request)
            except PkceflowError as exc:
                outcome.error = exc
                return CallbackReply(
                    done=True, ok=False, message=f"The sign-in failed at the last step: {exc}"
                )
            return CallbackReply(done=True, ok=True, message=_SUCCESS)

        self.events.authorization_url(flow.authorization_url)
        try:
            browser.open(flow.authorization_url)
            try:
                listener.wait(handle, timeout=timeout)
            except CallbackTimeoutError as exc:
                raise _explained_timeout(
                    exc, timeout, self.client.client_id, flow.redirect_uri, flow.authorization_url
                ) from None
            if outcome.error is not None:
                raise outcome.error
            tokens = outcome.tokens
            assert tokens is not None  # wait() returned, so handle() replied done
            self.store.save(key, tokens)
        except PkceflowError as exc:
            self.events.error(key, exc)
            raise
        self.events.token_received(key, tokens)
        self.events.token_changed(key, tokens)
        return tokens

    def _exchange(self, flow: AuthorizationCodeFlow, request: HttpRequest) -> TokenSet:
        try:
            response = self.transport.send(request)
        except PkceflowError:
            flow.fail()
            raise
        check_id_token = self.check_id_token
        if check_id_token is None:
            return flow.receive_token_response(response, now=self.clock())
        return flow.receive_token_response(
            response,
            now=self.clock(),
            check=lambda tokens: check_id_token(tokens, flow.nonce, None),
        )

    def token(self, key: str, *, min_ttl: float = 60.0) -> TokenSet:
        """A token set whose access token is valid for ``min_ttl`` more seconds.

        ``min_ttl`` is capped at half the token's granted lifetime (see
        TokenSet.is_fresh), so short-lived tokens are not refreshed at every call.
        Refreshes when needed, once, however many threads or processes ask at the
        same moment: the store is read again under its lock, and a token set another
        caller stored meanwhile is taken when it is fresh. Raises LoginRequiredError
        when there is no usable login (LoginEndedError when the server ended it),
        RefreshInDoubtError when the refresh this call waited for went unanswered.
        """
        since = self.clock()
        tokens = self.store.load(key)
        if tokens is None:
            raise LoginRequiredError(f"there is no stored login for {key!r}")
        if tokens.is_fresh(since, min_ttl):
            return tokens
        return self._refresh(key, stale=tokens, min_ttl=min_ttl, since=since)

    def refresh(self, key: str) -> TokenSet:
        """Refresh now, whatever the expiry (the seed component's Refresh)."""
        since = self.clock()
        tokens = self.store.load(key)
        if tokens is None:
            raise LoginRequiredError(f"there is no stored login for {key!r}")
        return self._refresh(key, stale=tokens, min_ttl=None, since=since)

    def refresh_with(self, key: str, refresh_token: str) -> TokenSet:
        """Refresh with a refresh token obtained elsewhere and store the result under ``key``.

        The seed component's ``Refresh(refresh_token)``. The given refresh token is
        kept when the server sends no new one.
        """
        try:
            with self.store.lock(key):
                request = build_refresh_request(self.server, self.client, refresh_token)
                with self.guard():
                    new = self._refresh_answer(key, request, previous=None)
                    if new.refresh_token is None:
                        new = attrs.evolve(new, refresh_token=refresh_token)
                    if new.id_token is not None and self.check_id_token is not None:
                        self.check_id_token(new, None, None)
                    self.store.save(key, new)
        except PkceflowError as exc:
            self.events.error(key, exc)
            raise
        return self._refreshed(key, new)

    def _refresh(
        self, key: str, *, stale: TokenSet, min_ttl: float | None, since: float
    ) -> TokenSet:
        try:
            with self.store.lock(key):
                current = self.store.load(key)
                if current is None:
                    raise LoginRequiredError(f"the login for {key!r} was removed")
                if current.refresh_in_doubt(since):
                    # The caller that held the lock sent this refresh token and got no
                    # answer: the server may have rotated it, and replaying it would
                    # make a server with reuse detection revoke the grant.
                    raise RefreshInDoubtError(
                        f"the refresh of {key!r} that this call waited for went unanswered;"
                        " it was not sent again. Try again: the next call sends it once"
                    )
                if current != stale and (
                    min_ttl is None or current.is_fresh(self.clock(), min_ttl)
                ):
                    # Another thread or process refreshed while this one waited.
                    return current
                new = self._refresh_once(key, current)
                if new is None:
                    # Refused, but a newer login was stored meanwhile: use that one.
                    latest = self.store.load(key)
                    assert latest is not None
                    return latest
        except PkceflowError as exc:
            self.events.error(key, exc)
            raise
        return self._refreshed(key, new)

    def _refreshed(self, key: str, new: TokenSet) -> TokenSet:
        self.events.refresh_done(key, new.expires_at)
        self.events.token_changed(key, new)
        return new

    def _refresh_answer(
        self, key: str, request: HttpRequest, *, previous: TokenSet | None
    ) -> TokenSet:
        """Send a refresh and parse the answer; the refusals that end a login mapped."""
        response = self.transport.send(request)
        try:
            return parse_token_response(
                response,
                now=self.clock(),
                requested_scope=None if previous is None else previous.scope,
                previous=previous,
                quirks=self.server.quirks,
            )
        except InvalidResponseError as exc:
            if exc.status not in (400, 401):
                raise
            # RFC 6749 5.2 says a refused refresh carries OAuth error JSON; some
            # servers (Glewlwyd 2.7, after it has killed a replayed token chain) send
            # an empty 400. A proxy's error page looks the same, so the login is
            # kept: if the server really ended it, every later call says so again.
            raise LoginEndedError(
                f"the authorization server refused to refresh the login for {key!r}"
                f" (HTTP {exc.status}, without an OAuth error): if this persists, log in"
                " again. The stored login is kept, in case the answer came from a proxy",
                login_kept=True,
            ) from exc

    def _refresh_once(self, key: str, current: TokenSet) -> TokenSet | None:
        if current.refresh_token is None:
            raise LoginRequiredError(
                f"the login for {key!r} has no refresh token; log in again to renew it"
            )
        request = build_refresh_request(self.server, self.client, current.refresh_token)
        # From the moment the server may have the request until its answer is
        # stored, dying would lose a rotated refresh token: the guard (the CLI
        # holds signals there) covers exactly that stretch.
        with self.guard():
            try:
                new = self._refresh_answer(key, request, previous=current)
            except TransportError as exc:
                if not exc.maybe_sent:
                    raise
                self.store.replace(
                    key, current, attrs.evolve(current, unconfirmed_refresh_at=self.clock())
                )
                raise RefreshInDoubtError(
                    f"the refresh of {key!r} was sent but no answer came ({exc}); the server"
                    " may have rotated its refresh token. Try again: the next call sends it"
                    " once more, and if the server refuses it, log in again"
                ) from exc
            except TokenError as exc:
                if exc.error != "invalid_grant":
                    raise
                # RFC 6749 5.2: the grant is dead. Clear it only if it is still the one
                # that was refused; a newer one came from a process that did not lock.
                latest = self.store.load(key)
                if latest is not None and latest != current:
                    return None
                self.store.delete(key)
                raise LoginEndedError(
                    f"the authorization server refused the refresh token for {key!r}"
                    " (invalid_grant): log in again"
                ) from exc
            new = self._checked_refresh(key, current, new)
            if not self.store.replace(key, current, new):
                raise StoreError(f"the stored login for {key!r} changed during a locked refresh")
        return new

    def _checked_refresh(self, key: str, current: TokenSet, new: TokenSet) -> TokenSet:
        """Apply OpenID Connect Core 12.2 to a refresh the server has already carried out.

        The server has rotated the refresh token by now, so keeping ``current``
        would keep a dead login. Another identity (``iss``, ``sub``, ``aud``,
        ``azp``) ends the login: it no longer says who is signed in, and the new
        tokens are revoked where the server can. Any other id_token failure keeps
        the new tokens with the previous, validated id_token: they came from the
        token endpoint itself, and the identity they carry is still the checked one.
        """
        check = self.check_id_token
        if new.id_token is None or new.id_token == current.id_token or check is None:
            return new
        try:
            check(new, None, current)
        except IdentityChangedError:
            self.store.delete(key)
            self._revoke_quietly(new)
            raise
        except IdTokenError as exc:
            self.events.error(key, exc)
            return attrs.evolve(new, id_token=current.id_token)
        return new

    def _revoke_quietly(self, tokens: TokenSet) -> None:
        if self.server.revocation_endpoint is not None:
            with contextlib.suppress(PkceflowError):
                self._revoke_all(tokens)

    def _revoke_all(self, tokens: TokenSet) -> None:
        # Revoking the refresh token first stops new access tokens being minted
        # from it (RFC 7009 2.1).
        if tokens.refresh_token is not None:
            self._revoke(tokens.refresh_token, "refresh_token")
        self._revoke(tokens.access_token, "access_token")

    def logout(self, key: str, *, revoke: bool = True) -> bool:
        """Forget the stored login; revoke its tokens first where the server can (RFC 7009).

        Returns True when tokens were revoked. The local copy is deleted even when
        revocation fails; the error is raised afterwards.
        """
        with self.store.lock(key):
            tokens = self.store.load(key)
            if tokens is None:
                return False
            try:
                if revoke and self.server.revocation_endpoint is not None:
                    self._revoke_all(tokens)
                    return True
                return False
            finally:
                self.store.delete(key)

    def _revoke(self, token: str, hint: str) -> None:
        request = build_revocation_request(self.server, self.client, token, token_type_hint=hint)
        check_revocation_response(self.transport.send(request))
