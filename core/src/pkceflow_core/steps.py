"""The driver's rules as steps: generators that name the I/O they need.

A step is a generator. It yields an effect (send this request, load this key, run
these steps while holding this key's lock...) and is sent the outcome; an effect
that fails is thrown into the generator where it yielded, so a rule handles an
I/O error with an ordinary ``except``. What the generator returns is the step's
result. One generator serves every runner: the synchronous :class:`Driver`, the
asyncio :class:`AsyncDriver`, and any an embedder writes around an HTTP client of
its own (see :func:`run`), as httpx drives one ``Auth.auth_flow`` generator from
its sync and async clients.

Generators rather than an event machine in the manner of h11: the rules are
sequences with branches around each request (a refused refresh that another
process may have overtaken, a refresh that went unanswered), and as straight-line
code they read as the rules they are. Scopes that must hold across I/O (a store
lock, the guard around a refresh) are effects that carry the steps they enclose
(:class:`Locked`, :class:`Guarded`), so each runner holds them with its own
``with`` or ``async with`` and nothing is left held when a step fails.

Effects and what a runner sends back:

=====================  ===============================================
``Send(request)``      the HttpResponse (TransportError thrown in)
``Load(key)``          the stored TokenSet or None
``Save(key, tokens)``  None
``Replace(key, o, n)`` True when ``o`` was stored and is now ``n``
``Delete(key)``        None
``Locked(key, s)``     the result of steps ``s``, run holding ``key``'s lock
``Guarded(s)``         the result of ``s``, run inside the runner's guard
``CheckIdToken(...)``  None once the id_token passed (IdTokenError thrown in)
``OpenBrowser(url)``   whether a browser opened
``AwaitCallbacks(h)``  None once a callback handler ``h`` replied ``done``
=====================  ===============================================
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any, Generic, TypeVar

import attrs

from ._authorization_url import ExtraParams
from ._client_auth import ClientConfig
from ._flow import AuthorizationCodeFlow, FlowState
from ._http import HttpRequest, HttpResponse, freshness_lifetime
from ._metadata import ServerMetadata, discovery_requests, metadata_from_document, parse_metadata
from ._pkce import TokenBytes
from ._quirks import Quirks
from ._token_request import (
    build_refresh_request,
    build_revocation_request,
    check_revocation_response,
)
from ._token_response import parse_token_response
from ._tokens import TokenSet
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
from .ports import AsyncTokenStore, CallbackReply, Clock, Events, TokenStore

__all__ = [
    "AwaitCallbacks",
    "CheckIdToken",
    "Delete",
    "Effect",
    "Guarded",
    "Load",
    "Locked",
    "OpenBrowser",
    "Policy",
    "Replace",
    "Save",
    "Send",
    "Steps",
    "StoreEffect",
    "arun",
    "discovery",
    "run",
]

T = TypeVar("T")


@attrs.frozen
class Send:
    """Send ``request`` and return the HttpResponse, whatever its status."""

    request: HttpRequest


class StoreEffect:
    """An effect on the token store: :meth:`on` makes the store's call for it.

    With a TokenStore the call returns the outcome; with an AsyncTokenStore it
    returns the awaitable of it. Both runners carry every store effect out so.
    """

    def on(self, store: TokenStore | AsyncTokenStore) -> Any:
        """The store's call for this effect (its result, or an awaitable of it)."""
        raise NotImplementedError  # pragma: no cover  (every store effect says)


@attrs.frozen
class Load(StoreEffect):
    """The token set stored under ``key``, or None."""

    key: str

    def on(self, store: TokenStore | AsyncTokenStore) -> Any:
        """``store.load(key)``."""
        return store.load(self.key)


@attrs.frozen
class Save(StoreEffect):
    """Store ``tokens`` under ``key``, whole or not at all."""

    key: str
    tokens: TokenSet

    def on(self, store: TokenStore | AsyncTokenStore) -> Any:
        """``store.save(key, tokens)``."""
        return store.save(self.key, self.tokens)


@attrs.frozen
class Replace(StoreEffect):
    """Store ``new`` only if ``old`` is stored (compare-and-swap); True when it was."""

    key: str
    old: TokenSet
    new: TokenSet

    def on(self, store: TokenStore | AsyncTokenStore) -> Any:
        """``store.replace(key, old, new)``."""
        return store.replace(self.key, self.old, self.new)


@attrs.frozen
class Delete(StoreEffect):
    """Forget what is stored under ``key``."""

    key: str

    def on(self, store: TokenStore | AsyncTokenStore) -> Any:
        """``store.delete(key)``."""
        return store.delete(self.key)


@attrs.frozen
class Locked(Generic[T]):
    """Run ``steps`` holding ``key``'s store lock; their result is the answer."""

    key: str
    steps: Steps[T]


@attrs.frozen
class Guarded(Generic[T]):
    """Run ``steps`` inside the runner's guard: what must not be cut short.

    From sending a refresh until its answer is stored, dying would lose a rotated
    refresh token. A command-line runner holds signals there; the asyncio runner
    lets a cancelled task finish the guarded steps before it is cancelled.
    """

    steps: Steps[T]


@attrs.frozen
class CheckIdToken:
    """Validate the id_token of ``tokens`` (see ports.IdTokenCheck); None when valid."""

    tokens: TokenSet
    nonce: str | None = attrs.field(repr=False)
    previous: TokenSet | None


@attrs.frozen
class OpenBrowser:
    """Show the person ``url``; whether a browser opened."""

    url: str


@attrs.frozen
class AwaitCallbacks:
    """Serve callbacks to the redirect URI until ``handle``'s steps reply ``done``.

    ``handle`` makes the steps for one callback's request target; they may yield
    effects of their own (the code exchange) and return the CallbackReply. A
    CallbackTimeoutError is thrown in after ``timeout`` seconds.
    """

    handle: Callable[[str], Steps[CallbackReply]]
    timeout: float


#: Everything a step may ask of its runner.
Effect = (
    Send
    | Load
    | Save
    | Replace
    | Delete
    | Locked[Any]
    | Guarded[Any]
    | CheckIdToken
    | OpenBrowser
    | AwaitCallbacks
)

#: A step: yields effects, is sent their outcomes, returns ``T``.
Steps = Generator[Effect, Any, T]


def run(steps: Steps[T], do: Callable[[Effect], Any]) -> T:
    """Drive ``steps`` to their result, carrying out each effect with ``do``.

    ``do`` returns an effect's outcome or raises; what it raises is thrown into the
    steps, where a rule may handle it. For :class:`Locked` and :class:`Guarded`,
    ``do`` runs the enclosed steps with ``run`` inside the scope. A synchronous
    embedder's whole runner is this function and a ``do`` of a few lines; an
    asyncio one writes the same loop with ``await``.
    """
    outcome: Any = None
    failure: BaseException | None = None
    while True:
        try:
            effect = steps.send(outcome) if failure is None else steps.throw(failure)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        outcome, failure = None, None
        try:
            outcome = do(effect)
        except BaseException as exc:  # noqa: BLE001  (thrown into the steps, which re-raise it)
            failure = exc


async def arun(steps: Steps[T], do: Callable[[Effect], Awaitable[Any]]) -> T:
    """:func:`run` for asyncio: ``do`` is awaited for each effect.

    What ``do`` raises, cancellation included, is thrown into the steps, so that
    their ``finally`` clauses run and every scope they hold is left.
    """
    outcome: Any = None
    failure: BaseException | None = None
    while True:
        try:
            effect = steps.send(outcome) if failure is None else steps.throw(failure)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        outcome, failure = None, None
        try:
            outcome = await do(effect)
        except BaseException as exc:  # noqa: BLE001  (thrown into the steps, which re-raise it)
            failure = exc


# -- small typed helpers: ``x = yield from _send(request)`` --------------------------


def _send(request: HttpRequest) -> Steps[HttpResponse]:
    response: HttpResponse = yield Send(request)
    return response


def _load(key: str) -> Steps[TokenSet | None]:
    tokens: TokenSet | None = yield Load(key)
    return tokens


def _replace(key: str, old: TokenSet, new: TokenSet) -> Steps[bool]:
    replaced: bool = yield Replace(key, old, new)
    return replaced


def _locked(key: str, steps: Steps[T]) -> Steps[T]:
    result: T = yield Locked(key, steps)
    return result


def _guarded(steps: Steps[T]) -> Steps[T]:
    result: T = yield Guarded(steps)
    return result


# -- discovery -----------------------------------------------------------------------

#: Members a client uses that one document of a server may lack and the other list.
_MERGED_ENDPOINTS = ("revocation_endpoint", "userinfo_endpoint", "jwks_uri")


def discovery(
    issuer: str, *, require_s256: bool = True, quirks: Quirks = Quirks()
) -> Steps[tuple[ServerMetadata, int | None]]:
    """``issuer``'s metadata (RFC 8414, then OpenID discovery) and how long it may be kept.

    A document answered 404, 405 or 410 is not there, and the next is tried. When
    the first document found lacks an endpoint a client uses (revocation,
    userinfo, jwks_uri), the other document of the same issuer is read too and the
    two are merged member by member: the first document's members win, the second
    only fills members the first does not have, and it is used only when its
    ``issuer`` is exactly the same. Django OAuth Toolkit, for one, lists userinfo
    only in its OpenID document and revocation only in its RFC 8414 document. The
    lifetime is the shorter Cache-Control of the documents used (None: not said).
    Raises MetadataError when neither document is found or when one is invalid.
    """
    requests = discovery_requests(issuer)
    for index, request in enumerate(requests):
        response = yield from _send(request)
        if response.status in (404, 405, 410):
            continue
        first = parse_metadata(response, issuer=issuer, require_s256=require_s256, quirks=quirks)
        lifetime = freshness_lifetime(response)
        if all(getattr(first, name) for name in _MERGED_ENDPOINTS):
            return first, lifetime
        for other in requests[index + 1 :]:
            try:
                answer = yield from _send(other)
                second = parse_metadata(
                    answer, issuer=issuer, require_s256=require_s256, quirks=quirks
                )
            except PkceflowError:  # the first stands on its own
                continue
            merged = metadata_from_document(
                {**second.raw, **first.raw}, issuer=issuer, require_s256=require_s256, quirks=quirks
            )
            lives = [life for life in (lifetime, freshness_lifetime(answer)) if life is not None]
            return merged, min(lives) if lives else None
        return first, lifetime
    raise MetadataError(f"no metadata at {requests[-1].url} (HTTP {response.status})")


# -- logins, refreshes and logouts ------------------------------------------------------

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


@attrs.define
class _Outcome:
    tokens: TokenSet | None = None
    error: PkceflowError | None = None


@attrs.frozen
class Policy:
    """Every rule of logins, refreshes and logouts for one client at one server.

    Each method returns the steps of one operation; a runner carries them out.
    ``clock`` gives the time (default: time.time) and ``events`` hears of every
    step. Whether id_tokens are checked is the runner's: it answers
    :class:`CheckIdToken` with its check, or at once when it has none.
    """

    server: ServerMetadata
    client: ClientConfig
    clock: Clock = time.time
    events: Events = attrs.field(factory=Events)

    # -- login -------------------------------------------------------------------------

    def login(
        self,
        key: str,
        *,
        redirect_uri: str,
        scope: str | Iterable[str] | None = None,
        extra_params: ExtraParams | None = None,
        timeout: float = 300.0,
        token_bytes: TokenBytes = os.urandom,
        on_flow: Callable[[AuthorizationCodeFlow], None] | None = None,
    ) -> Steps[TokenSet]:
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
            redirect_uri=redirect_uri,
            scope=scope,
            extra_params=extra_params,
            token_bytes=token_bytes,
        )
        if on_flow is not None:
            on_flow(flow)
        outcome = _Outcome()
        self.events.authorization_url(flow.authorization_url)
        try:
            yield OpenBrowser(flow.authorization_url)
            try:
                yield AwaitCallbacks(lambda target: self._callback(flow, target, outcome), timeout)
            except CallbackTimeoutError as exc:
                raise _explained_timeout(
                    exc, timeout, self.client.client_id, flow.redirect_uri, flow.authorization_url
                ) from None
            if outcome.error is not None:
                raise outcome.error
            tokens = outcome.tokens
            assert tokens is not None  # the wait ended, so a callback replied done
            yield Save(key, tokens)
        except PkceflowError as exc:
            self.events.error(key, exc)
            raise
        self.events.token_received(key, tokens)
        self.events.token_changed(key, tokens)
        return tokens

    def _callback(
        self, flow: AuthorizationCodeFlow, target: str, outcome: _Outcome
    ) -> Steps[CallbackReply]:
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
            outcome.tokens = yield from self._exchange(flow, request)
        except PkceflowError as exc:
            outcome.error = exc
            return CallbackReply(
                done=True, ok=False, message=f"The sign-in failed at the last step: {exc}"
            )
        return CallbackReply(done=True, ok=True, message=_SUCCESS)

    def _exchange(self, flow: AuthorizationCodeFlow, request: HttpRequest) -> Steps[TokenSet]:
        try:
            response = yield from _send(request)
        except PkceflowError:
            flow.fail()
            raise
        tokens = flow.parse_token_response(response, now=self.clock())
        try:
            yield CheckIdToken(tokens, flow.nonce, None)
        except PkceflowError:
            flow.fail()
            raise
        return flow.complete(tokens)

    # -- tokens and refreshes ----------------------------------------------------------

    def token(self, key: str, *, min_ttl: float = 60.0) -> Steps[TokenSet]:
        """A token set whose access token is valid for ``min_ttl`` more seconds.

        ``min_ttl`` is capped at half the token's granted lifetime (see
        TokenSet.is_fresh), so short-lived tokens are not refreshed at every call.
        Refreshes when needed, once, however many callers ask at the same moment:
        the store is read again under its lock, and a token set another caller
        stored meanwhile is taken when it is fresh. Raises LoginRequiredError when
        there is no usable login (LoginEndedError when the server ended it),
        RefreshInDoubtError when the refresh this call waited for went unanswered.
        """
        since = self.clock()
        tokens = yield from _load(key)
        if tokens is None:
            raise LoginRequiredError(f"there is no stored login for {key!r}")
        # Judged at the time the read returned, not when it began: a read that
        # waited (for a disk, an executor) may bring a token set obtained after
        # ``since``, which is fresh, not one from a clock stepped back.
        if tokens.is_fresh(self.clock(), min_ttl):
            return tokens
        return (yield from self._refresh(key, stale=tokens, min_ttl=min_ttl, since=since))

    def refresh(self, key: str) -> Steps[TokenSet]:
        """Refresh now, whatever the expiry (the seed component's Refresh)."""
        since = self.clock()
        tokens = yield from _load(key)
        if tokens is None:
            raise LoginRequiredError(f"there is no stored login for {key!r}")
        return (yield from self._refresh(key, stale=tokens, min_ttl=None, since=since))

    def refresh_with(self, key: str, refresh_token: str) -> Steps[TokenSet]:
        """Refresh with a refresh token obtained elsewhere and store the result under ``key``.

        The seed component's ``Refresh(refresh_token)``. The given refresh token is
        kept when the server sends no new one.
        """
        try:
            new = yield from _locked(key, self._guarded_refresh_with(key, refresh_token))
        except PkceflowError as exc:
            self.events.error(key, exc)
            raise
        return self._refreshed(key, new)

    def _guarded_refresh_with(self, key: str, refresh_token: str) -> Steps[TokenSet]:
        request = build_refresh_request(self.server, self.client, refresh_token)
        return (yield from _guarded(self._refresh_with_answer(key, request, refresh_token)))

    def _refresh_with_answer(
        self, key: str, request: HttpRequest, refresh_token: str
    ) -> Steps[TokenSet]:
        new = yield from self._refresh_answer(key, request, previous=None)
        if new.refresh_token is None:
            new = attrs.evolve(new, refresh_token=refresh_token)
        if new.id_token is not None:
            yield CheckIdToken(new, None, None)
        yield Save(key, new)
        return new

    def _refresh(
        self, key: str, *, stale: TokenSet, min_ttl: float | None, since: float
    ) -> Steps[TokenSet]:
        try:
            new = yield from _locked(key, self._locked_refresh(key, stale, min_ttl, since))
        except PkceflowError as exc:
            self.events.error(key, exc)
            raise
        tokens, refreshed = new
        return self._refreshed(key, tokens) if refreshed else tokens

    def _locked_refresh(
        self, key: str, stale: TokenSet, min_ttl: float | None, since: float
    ) -> Steps[tuple[TokenSet, bool]]:
        """The refresh under the lock: the token set, and whether this call refreshed it."""
        current = yield from _load(key)
        if current is None:
            raise LoginRequiredError(f"the login for {key!r} was removed")
        if current.refresh_in_doubt(since):
            # The caller that held the lock sent this refresh token and got no
            # answer: the server may have rotated it, and replaying it would make
            # a server with reuse detection revoke the grant.
            raise RefreshInDoubtError(
                f"the refresh of {key!r} that this call waited for went unanswered;"
                " it was not sent again. Try again: the next call sends it once"
            )
        if current != stale and (min_ttl is None or current.is_fresh(self.clock(), min_ttl)):
            # Another caller refreshed while this one waited.
            return current, False
        if current.refresh_token is None:
            raise LoginRequiredError(
                f"the login for {key!r} has no refresh token; log in again to renew it"
            )
        request = build_refresh_request(self.server, self.client, current.refresh_token)
        # From the moment the server may have the request until its answer is
        # stored, dying would lose a rotated refresh token: the guard covers
        # exactly that stretch.
        new = yield from _guarded(self._refresh_once(key, current, request))
        if new is None:
            # Refused, but a newer login was stored meanwhile: that one is the answer.
            latest = yield from _load(key)
            assert latest is not None
            return latest, False
        return new, True

    def _refreshed(self, key: str, new: TokenSet) -> TokenSet:
        self.events.refresh_done(key, new.expires_at)
        self.events.token_changed(key, new)
        return new

    def _refresh_answer(
        self, key: str, request: HttpRequest, *, previous: TokenSet | None
    ) -> Steps[TokenSet]:
        """Send a refresh and parse the answer; the refusals that end a login mapped."""
        response = yield from _send(request)
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

    def _refresh_once(
        self, key: str, current: TokenSet, request: HttpRequest
    ) -> Steps[TokenSet | None]:
        try:
            new = yield from self._refresh_answer(key, request, previous=current)
        except TransportError as exc:
            if not exc.maybe_sent:
                raise
            yield from _replace(
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
            latest = yield from _load(key)
            if latest is not None and latest != current:
                return None
            yield Delete(key)
            raise LoginEndedError(
                f"the authorization server refused the refresh token for {key!r}"
                " (invalid_grant): log in again"
            ) from exc
        new = yield from self._checked_refresh(key, current, new)
        if not (yield from _replace(key, current, new)):
            raise StoreError(f"the stored login for {key!r} changed during a locked refresh")
        return new

    def _checked_refresh(self, key: str, current: TokenSet, new: TokenSet) -> Steps[TokenSet]:
        """Apply OpenID Connect Core 12.2 to a refresh the server has already carried out.

        The server has rotated the refresh token by now, so keeping ``current``
        would keep a dead login. Another identity (``iss``, ``sub``, ``aud``,
        ``azp``) ends the login: it no longer says who is signed in, and the new
        tokens are revoked where the server can. Any other id_token failure keeps
        the new tokens with the previous, validated id_token: they came from the
        token endpoint itself, and the identity they carry is still the checked one.
        """
        if new.id_token is None or new.id_token == current.id_token:
            return new
        try:
            yield CheckIdToken(new, None, current)
        except IdentityChangedError:
            yield Delete(key)
            if self.server.revocation_endpoint is not None:
                # The login is ended either way; the error raised says why.
                with contextlib.suppress(PkceflowError):
                    yield from self._revoke_all(new)
            raise
        except IdTokenError as exc:
            self.events.error(key, exc)
            return attrs.evolve(new, id_token=current.id_token)
        return new

    # -- logout ------------------------------------------------------------------------

    def logout(self, key: str, *, revoke: bool = True) -> Steps[bool]:
        """Forget the stored login; revoke its tokens first where the server can (RFC 7009).

        Returns True when tokens were revoked. The local copy is deleted even when
        revocation fails; the error is raised afterwards.
        """
        return (yield from _locked(key, self._locked_logout(key, revoke)))

    def _locked_logout(self, key: str, revoke: bool) -> Steps[bool]:
        tokens = yield from _load(key)
        if tokens is None:
            return False
        try:
            if revoke and self.server.revocation_endpoint is not None:
                yield from self._revoke_all(tokens)
                return True
            return False
        finally:
            yield Delete(key)

    def _revoke_all(self, tokens: TokenSet) -> Steps[None]:
        # Revoking the refresh token first stops new access tokens being minted
        # from it (RFC 7009 2.1).
        if tokens.refresh_token is not None:
            yield from self._revoke(tokens.refresh_token, "refresh_token")
        yield from self._revoke(tokens.access_token, "access_token")

    def _revoke(self, token: str, hint: str) -> Steps[None]:
        request = build_revocation_request(self.server, self.client, token, token_type_hint=hint)
        check_revocation_response((yield from _send(request)))
