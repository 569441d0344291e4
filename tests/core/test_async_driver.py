"""The asyncio driver: the same steps, awaited, and what cancellation must not break.

The fakes are the sync driver's (tests/core/fakes.py) behind ``async`` faces, so
the two drivers are held to the same scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from pkceflow_core import (
    CallbackReply,
    CallbackTimeoutError,
    ClientConfig,
    HttpRequest,
    HttpResponse,
    IdTokenError,
    LoginRequiredError,
    TokenError,
    TokenSet,
)
from pkceflow_core.async_driver import AsyncDriver, discover_async
from pkceflow_core.steps import Effect, Load, arun
from tests.core.fakes import (
    ISSUER,
    NOW,
    FakeBrowser,
    FakeClock,
    MemoryStore,
    RecordingEvents,
    ScriptedTransport,
    error_response,
    json_response,
    make_server,
    token_response,
)

KEY = "work"
REDIRECT_URI = "http://127.0.0.1:8765/callback"


class AsyncTransport:
    """A ScriptedTransport, awaited; ``gate`` (when set) holds every send until opened."""

    def __init__(self, scripted: ScriptedTransport) -> None:
        self.scripted = scripted
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        return self.scripted.send(request)


class AsyncStore:
    """A MemoryStore, awaited, whose lock is an asyncio.Lock per key."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.locks: dict[str, asyncio.Lock] = {}

    async def load(self, key: str) -> TokenSet | None:
        return self.inner.load(key)

    async def save(self, key: str, tokens: TokenSet) -> None:
        self.inner.save(key, tokens)

    async def replace(self, key: str, old: TokenSet, new: TokenSet) -> bool:
        return self.inner.replace(key, old, new)

    async def delete(self, key: str) -> None:
        self.inner.delete(key)

    @contextlib.asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        async with self.locks.setdefault(key, asyncio.Lock()):
            yield


class AsyncListener:
    """Feeds callback targets (templates on the opened URL's query) to the handler."""

    def __init__(self, browser: FakeBrowser, targets: list[str]) -> None:
        self._browser = browser
        self.targets = targets
        self.replies: list[CallbackReply] = []
        self.closed = False

    @property
    def redirect_uri(self) -> str:
        return REDIRECT_URI

    async def wait(
        self, handle: Callable[[str], Awaitable[CallbackReply]], *, timeout: float
    ) -> None:
        for template in self.targets:
            reply = await handle(template.format_map(self._browser.params))
            self.replies.append(reply)
            if reply.done:
                return
        raise CallbackTimeoutError("no valid callback arrived", rejected=len(self.replies))

    def feed(self, url_or_query: str) -> CallbackReply | None:
        return None

    async def aclose(self) -> None:
        self.closed = True


def expired(refresh_token: str = "refresh-0") -> TokenSet:
    return TokenSet(
        "access-0", expires_at=NOW - 10, obtained_at=NOW - 3610, refresh_token=refresh_token
    )


def make_driver(
    scripted: ScriptedTransport,
    store: MemoryStore,
    *,
    check: Callable[[TokenSet, str | None, TokenSet | None], Awaitable[None]] | None = None,
    events: RecordingEvents | None = None,
) -> tuple[AsyncDriver, AsyncTransport]:
    transport = AsyncTransport(scripted)
    driver = AsyncDriver(
        make_server(iss_supported=True),
        ClientConfig("pkceflow-cli"),
        transport,
        AsyncStore(store),
        clock=FakeClock(),
        events=events or RecordingEvents(),
        check_id_token=check,
    )
    return driver, transport


def test_a_login_runs_callback_exchange_check_and_save_on_the_event_loop() -> None:
    store = MemoryStore()
    checked: list[str | None] = []

    async def check(tokens: TokenSet, nonce: str | None, previous: TokenSet | None) -> None:
        checked.append(nonce)

    driver, _ = make_driver(ScriptedTransport(token_response()), store, check=check)
    browser = FakeBrowser()
    listener = AsyncListener(
        browser, ["/callback?code=x&state=wrong", f"/callback?code=c&state={{state}}&iss={ISSUER}"]
    )

    tokens = asyncio.run(driver.login(KEY, listener=listener, browser=browser, scope="openid"))

    assert store.load(KEY) == tokens
    assert [reply.done for reply in listener.replies] == [False, True]
    assert checked == [browser.params["nonce"]]


def test_a_failed_async_id_token_check_stores_nothing() -> None:
    store = MemoryStore()

    async def check(tokens: TokenSet, nonce: str | None, previous: TokenSet | None) -> None:
        raise IdTokenError("bad signature", check="signature")

    driver, _ = make_driver(ScriptedTransport(token_response()), store, check=check)
    browser = FakeBrowser()
    listener = AsyncListener(browser, [f"/callback?code=c&state={{state}}&iss={ISSUER}"])

    with pytest.raises(IdTokenError):
        asyncio.run(driver.login(KEY, listener=listener, browser=browser, scope="openid"))
    assert store.load(KEY) is None


def test_token_refresh_refresh_with_and_logout_awaited() -> None:
    store = MemoryStore({KEY: expired()})
    scripted = ScriptedTransport(
        token_response("access-1", refresh_token="refresh-1", expires_in=3600),
        token_response("access-2", refresh_token="refresh-2", expires_in=3600),
        token_response("access-3", expires_in=3600),
        json_response({}),  # revocation of the refresh token
        json_response({}),  # and of the access token
    )
    driver, _ = make_driver(scripted, store)

    async def session() -> list[Any]:
        fresh = await driver.token(KEY)
        again = await driver.token(KEY)  # fresh now: nothing sent
        forced = await driver.refresh(KEY)
        given = await driver.refresh_with(KEY, "refresh-elsewhere")
        return [fresh, again, forced, given, await driver.logout(KEY)]

    fresh, again, forced, given, revoked = asyncio.run(session())

    assert (fresh.access_token, again.access_token) == ("access-1", "access-1")
    assert forced.refresh_token == "refresh-2"
    assert given.refresh_token == "refresh-elsewhere"  # kept: the server sent none
    assert revoked is True
    assert store.load(KEY) is None
    assert len(scripted.requests) == 5


def test_no_stored_login_is_login_required() -> None:
    driver, _ = make_driver(ScriptedTransport(), MemoryStore())

    with pytest.raises(LoginRequiredError):
        asyncio.run(driver.token(KEY))


def test_a_thousand_tasks_on_an_expired_token_send_one_refresh() -> None:
    store = MemoryStore({KEY: expired()})
    scripted = ScriptedTransport(token_response("access-1", refresh_token="r1", expires_in=3600))
    driver, _ = make_driver(scripted, store)

    async def crowd() -> set[str]:
        answers = await asyncio.gather(*(driver.token(KEY) for _ in range(1000)))
        return {tokens.access_token for tokens in answers}

    assert asyncio.run(crowd()) == {"access-1"}
    assert len(scripted.requests) == 1


def test_a_task_cancelled_with_its_refresh_in_flight_still_stores_the_rotated_token() -> None:
    store = MemoryStore({KEY: expired()})
    scripted = ScriptedTransport(token_response("access-1", refresh_token="r1", expires_in=3600))
    driver, transport = make_driver(scripted, store)

    async def cancel_mid_refresh() -> None:
        transport.gate = asyncio.Event()
        task = asyncio.ensure_future(driver.token(KEY))
        await transport.entered.wait()  # the request is on its way
        task.cancel()
        await asyncio.sleep(0)
        transport.gate.set()  # the answer comes after the cancellation
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_mid_refresh())

    stored = store.load(KEY)
    assert stored is not None
    assert stored.refresh_token == "r1"  # finished and stored, then cancelled


def test_a_cancelled_task_whose_guarded_refresh_then_fails_is_cancelled() -> None:
    store = MemoryStore({KEY: expired()})
    scripted = ScriptedTransport(error_response("server_error", status=500))
    driver, transport = make_driver(scripted, store)

    async def cancel_mid_refresh() -> None:
        transport.gate = asyncio.Event()
        task = asyncio.ensure_future(driver.token(KEY))
        await transport.entered.wait()
        task.cancel()
        await asyncio.sleep(0)
        transport.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_mid_refresh())
    assert store.load(KEY) == expired()


def test_a_send_that_is_itself_cancelled_cancels_the_call() -> None:
    store = MemoryStore({KEY: expired()})
    driver, _ = make_driver(ScriptedTransport(), store)

    async def cancelled_send(request: HttpRequest) -> HttpResponse:
        raise asyncio.CancelledError

    driver.transport.send = cancelled_send  # type: ignore[method-assign]

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(driver.token(KEY))
    assert store.load(KEY) == expired()


def test_arun_throws_failures_in_and_discovery_awaits_its_sends() -> None:
    async def steps_of_ones_own() -> None:
        async def do(effect: Effect) -> Any:
            assert isinstance(effect, Load)
            raise KeyError(effect.key)

        def steps() -> Any:
            try:
                yield Load("missing")
            except KeyError as exc:
                return f"handled {exc}"
            return None

        assert await arun(steps(), do) == "handled 'missing'"

    asyncio.run(steps_of_ones_own())

    document = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "revocation_endpoint": f"{ISSUER}/revoke",
        "userinfo_endpoint": f"{ISSUER}/userinfo",
        "jwks_uri": f"{ISSUER}/jwks",
        "code_challenge_methods_supported": ["S256"],
    }
    scripted = ScriptedTransport(json_response(document))
    server, lifetime = asyncio.run(discover_async(AsyncTransport(scripted), ISSUER))
    assert server.token_endpoint == f"{ISSUER}/token"
    assert lifetime is None


def test_a_guarded_refresh_that_fails_uncancelled_raises_its_own_error() -> None:
    store = MemoryStore({KEY: expired()})
    driver, _ = make_driver(ScriptedTransport(error_response("server_error", status=500)), store)

    with pytest.raises(TokenError) as raised:
        asyncio.run(driver.token(KEY))
    assert raised.value.error == "server_error"
    assert store.load(KEY) == expired()


def test_a_login_without_an_id_token_check_stores_what_the_server_sent() -> None:
    store = MemoryStore()
    driver, _ = make_driver(ScriptedTransport(token_response()), store)
    browser = FakeBrowser()
    listener = AsyncListener(browser, [f"/callback?code=c&state={{state}}&iss={ISSUER}"])

    tokens = asyncio.run(driver.login(KEY, listener=listener, browser=browser))

    assert store.load(KEY) == tokens
