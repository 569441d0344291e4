"""AsyncClient against oidc-provider: fifty sign-ins at once, one refresh for a thousand
tasks and another process, and tasks cancelled at each awkward moment.

The server is the suite's oidc-provider that issues a refresh token on every code grant
(``oidc_provider_refresh``), seen through the matrix's interface
(``servers/oidc_provider.py``): its refresh grants are counted from its own request log,
token states come from its introspection. The person's browser is devInteractions'
sign-in walked over plain HTTP (``harness.http_login``), whose redirect is then
requested at pkceflow's listener (``support.deliver_redirect``), as the matrix's
``SignInBrowser`` does. A token is made due by ageing the stored token set by its
lifetime (``tests.support.aio.aged``), which another process reading the same FileStore
sees too. oidc-provider has no switch to slow its token endpoint down, so
:class:`HeldTokenRelay` (a loopback relay in front of it) holds an answer back.

Every coroutine runs on an event loop of its own that fails the test after a bound
(``tests.support.aio.run``), even when a task is stuck in a call that never returns.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pkceflow.async_client import AsyncClient
from pkceflow.file_store import FileStore
from pkceflow.oidc import unverified_claims
from pkceflow.plugins import make_plugin_manager
from pkceflow.settings import HttpOptions, Interaction, Redirect
from pkceflow_core import TokenSet
from pkceflow_core.ports import TokenStore
from tests.support import aio
from tests.support.aio import (
    aged,
    cancel_behind_a_held_lock,
    cancel_the_login,
    login,
    new_store,
)
from tests.support.oauth import redirect_port
from tests.support.store_process import StoreProcess

from .harness import OidcProviderServer, http_login
from .servers.oidc_provider import OidcProvider
from .support import Delivery, ThreadedSignIn, deliver_redirect

T = TypeVar("T")

USERS = 50
TASKS = 1000
#: Bounds every wait of these tests on something that should happen at once.
WAIT = 15.0
#: How long a scenario's coroutine may run before the test fails.
BOUND = 30.0
#: How long fifty sign-ins at once may take on two cores.
LOGINS_BOUND = 60.0


def run(coroutine: Coroutine[Any, Any, T], bound: float = BOUND) -> T:
    return aio.run(coroutine, bound)


@pytest.fixture(scope="module")
def server(oidc_provider_refresh: OidcProviderServer) -> OidcProvider:
    """The session's oidc-provider with refresh tokens on every code grant."""
    return OidcProvider(oidc_provider_refresh)


class SignIn(ThreadedSignIn):
    """A BrowserLauncher: devInteractions' sign-in as ``login``, in a thread of its own,
    then the redirect it ends at requested at pkceflow's listener.

    ``abandon`` walks only as far as the login page (the person stops there);
    ``at_login_page`` is set once it is there.
    """

    def __init__(self, server: OidcProvider, login: str = "alice", *, abandon: bool = False):
        super().__init__()
        self.server = server
        self.login = login
        self.abandon = abandon
        self.delivery: Delivery | None = None
        self.at_login_page = threading.Event()

    def _walk(self, url: str) -> None:
        if self.abandon:
            assert self.server.sign_in(url, outcome="abandon") is None
            self.at_login_page.set()
            return
        self.delivery = deliver_redirect(http_login(url, login=self.login))

    def join(self) -> Delivery | None:
        """Wait for the sign-in; re-raise what went wrong in it; the listener's answer."""
        self.join_threads(WAIT)
        return self.delivery

    def redirect_port(self) -> int:
        """The port of the redirect URI in the (one) authorization URL."""
        [url] = self.urls
        return redirect_port(url)


class HeldTokenRelay:
    """A loopback HTTP relay in front of the token endpoint.

    Each request is forwarded at once and answered with what the server said. After
    :meth:`hold_next`, the next answer is kept back (``answers`` has it, ``forwarded``
    is set) until :meth:`release`: the server has carried the request out, its answer
    is on the way.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.answers: list[bytes] = []
        self.forwarded = threading.Event()
        self._hold = False
        self._released = threading.Event()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                relay._forward(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def hold_next(self) -> None:
        self.forwarded.clear()
        self._released.clear()
        self._hold = True

    def release(self) -> None:
        self._released.set()

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        names = ("Content-Type", "Accept", "Authorization")
        headers = {name: handler.headers[name] for name in names if name in handler.headers}
        request = urllib.request.Request(self.upstream, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=WAIT) as answer:
                status, kind, data = answer.status, answer.headers["Content-Type"], answer.read()
        except urllib.error.HTTPError as refused:
            with refused:
                status, kind, data = refused.code, refused.headers["Content-Type"], refused.read()
        held, self._hold = self._hold, False
        self.answers.append(data)
        if held:
            self.forwarded.set()
            self._released.wait(WAIT)
        handler.send_response(status)
        handler.send_header("Content-Type", kind or "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(WAIT)


@pytest.fixture
def relay(server: OidcProvider) -> Iterator[HeldTokenRelay]:
    held = HeldTokenRelay(server.server.token_endpoint)
    yield held
    held.close()


def make_client(
    server: OidcProvider,
    store: TokenStore,
    browser: SignIn,
    *,
    profile: str = "default",
    token_url: str | None = None,
) -> AsyncClient:
    """``AsyncClient.from_issuer`` for the public client, as a program would make it."""
    registered = server.public
    return AsyncClient.from_issuer(
        server.issuer,
        registered.client_id,
        scope=registered.scope,
        redirect=Redirect(host=registered.redirect_host, path=registered.redirect_path),
        interaction=Interaction(paste=False, timeout=WAIT),
        http=HttpOptions(timeout=WAIT),
        store=store,
        profile=profile,
        browser=browser,
        token_url=token_url,
        plugin_manager=make_plugin_manager(load_entry_points=False),
    )


async def held_refresh(client: AsyncClient, relay: HeldTokenRelay) -> asyncio.Task[TokenSet]:
    """``client.refresh()`` in a task, returned once the server has carried it out: the
    relay holds its answer back until :meth:`HeldTokenRelay.release`."""
    relay.hold_next()
    refreshing = asyncio.create_task(client.refresh())
    await asyncio.to_thread(relay.forwarded.wait, WAIT)
    return refreshing


def token_answer(raw: bytes) -> Mapping[str, Any]:
    answer: dict[str, Any] = json.loads(raw)
    return answer


# ============================================================================================
# Fifty people at once.


def test_fifty_people_log_in_at_once(server: OidcProvider, tmp_path: Path) -> None:
    folder = tmp_path / "tokens"
    store = FileStore(folder)
    people = [f"person-{n:02d}" for n in range(USERS)]
    browsers = {person: SignIn(server, person) for person in people}

    async def scenario() -> list[TokenSet]:
        clients = [
            make_client(server, store, browsers[person], profile=person) for person in people
        ]
        try:
            return await asyncio.gather(*(client.login() for client in clients))
        finally:
            await asyncio.gather(*(asyncio.to_thread(b.join) for b in browsers.values()))
            await asyncio.gather(*(client.aclose() for client in clients))

    logins = run(scenario(), LOGINS_BOUND)

    for person in people:
        delivery = browsers[person].delivery
        assert delivery is not None
        assert delivery.signed_in, delivery
    assert len({tokens.access_token for tokens in logins}) == USERS
    for person, tokens in zip(people, logins, strict=True):
        assert FileStore(folder).load(person) == tokens
        assert tokens.id_token is not None
        assert unverified_claims(tokens.id_token)["sub"] == person  # validated at login
        found = server.server.introspect(tokens.access_token)
        assert found["active"] is True, found
        assert found["sub"] == person, found


# ============================================================================================
# One refresh for a thousand tasks and another process.


def test_a_thousand_tasks_and_another_process_on_a_due_token_send_one_refresh(
    server: OidcProvider, tmp_path: Path
) -> None:
    folder = tmp_path / "tokens"
    client_id = server.public.client_id

    browser = SignIn(server)

    async def scenario() -> tuple[TokenSet, list[str], dict[str, Any], int]:
        async with make_client(server, FileStore(folder), browser) as client:
            await login(client, browser.join)
            stale = await aged(client)
            await client.driver()  # discovered before the start
            with StoreProcess.token(
                server.issuer, client_id, folder, client.profile, server.public.scope
            ) as other:
                before = server.refresh_grants(client_id)
                other.go()
                got = await asyncio.gather(*(client.token() for _ in range(TASKS)))
                theirs = await asyncio.to_thread(other.result)
            return stale, got, theirs, server.refresh_grants(client_id) - before

    stale, got, theirs, grants = run(scenario())

    assert grants == 1
    assert len(got) == TASKS
    assert set(got) == {theirs.get("token")}, theirs
    stored = FileStore(folder).load("default")
    assert stored is not None
    assert stored.access_token == got[0] != stale.access_token
    assert stored.refresh_token not in (None, stale.refresh_token)
    assert server.introspect(got[0]) is True
    assert server.introspect(str(stale.refresh_token)) is False  # rotated away

    async def refresh_again() -> tuple[TokenSet, int]:
        before = server.refresh_grants(client_id)
        async with make_client(server, FileStore(folder), SignIn(server)) as client:
            refreshed = await client.refresh()
        return refreshed, server.refresh_grants(client_id) - before

    again, grants = run(refresh_again())
    assert grants == 1
    assert again.refresh_token not in (None, stored.refresh_token)
    assert server.introspect(again.access_token) is True


# ============================================================================================
# Cancellation.


def test_a_cancelled_login_closes_its_listener_and_stores_nothing(
    server: OidcProvider, tmp_path: Path
) -> None:
    browser = SignIn(server, abandon=True)
    store = FileStore(tmp_path / "tokens")
    requests_before = len(server.server.requests())

    async def scenario() -> None:
        async with make_client(server, store, browser) as client:
            # The person stops at the login page.
            await cancel_the_login(
                client, browser.at_login_page.is_set, browser.redirect_port, WAIT
            )

    run(scenario())
    browser.join()
    assert store.load("default") is None
    sent = server.server.requests()[requests_before:]
    assert not [line for line in sent if line.startswith("POST /token")], sent


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_a_task_cancelled_while_its_refresh_is_answered_keeps_the_rotated_token(
    server: OidcProvider, relay: HeldTokenRelay, kind: str, tmp_path: Path
) -> None:
    client_id = server.public.client_id
    browser = SignIn(server)

    async def scenario() -> None:
        store = new_store(kind, tmp_path)
        async with make_client(server, store, browser, token_url=relay.url) as client:
            first = await login(client, browser.join)
            before = server.refresh_grants(client_id)
            refreshing = await held_refresh(client, relay)

            refreshing.cancel()
            await asyncio.sleep(0.1)
            assert not refreshing.done()  # it waits for the answer it has to store
            relay.release()
            with pytest.raises(asyncio.CancelledError):
                await refreshing

            rotated = token_answer(relay.answers[-1])
            stored = await client.require_login()
            assert stored.refresh_token == rotated["refresh_token"] != first.refresh_token
            assert stored.access_token == rotated["access_token"]
            assert server.refresh_grants(client_id) - before == 1
            # The next refresh succeeds at the server with the token that was stored.
            again = await client.refresh()
            assert server.refresh_grants(client_id) - before == 2
            assert again.refresh_token not in (None, stored.refresh_token)

    run(scenario())


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_a_task_cancelled_behind_another_task_s_refresh_sends_nothing(
    server: OidcProvider, relay: HeldTokenRelay, kind: str, tmp_path: Path
) -> None:
    client_id = server.public.client_id
    browser = SignIn(server)

    async def scenario() -> None:
        store = new_store(kind, tmp_path)
        async with make_client(server, store, browser, token_url=relay.url) as client:
            await login(client, browser.join)
            before = server.refresh_grants(client_id)
            first = await held_refresh(client, relay)
            # A forced refresh of its own, queued for the lock the first one holds.
            second = asyncio.create_task(client.refresh())
            await asyncio.sleep(0.1)

            second.cancel()
            relay.release()
            refreshed = await first
            with pytest.raises(asyncio.CancelledError):
                await second

            await asyncio.sleep(0.2)
            assert server.refresh_grants(client_id) - before == 1
            assert len(relay.answers) == 2  # the code exchange and the one refresh
            assert await client.stored() == refreshed
            assert server.introspect(refreshed.access_token) is True

    run(scenario())


def test_a_task_cancelled_waiting_for_another_process_s_lock_sends_nothing(
    server: OidcProvider, tmp_path: Path
) -> None:
    folder = tmp_path / "tokens"
    client_id = server.public.client_id
    browser = SignIn(server)

    async def scenario() -> None:
        async with make_client(server, FileStore(folder), browser) as client:
            await login(client, browser.join)
            stale = await aged(client)
            requests_before = len(server.server.requests())
            grants_before = server.refresh_grants(client_id)
            await cancel_behind_a_held_lock(client, folder, WAIT)
            assert server.refresh_grants(client_id) == grants_before
            assert server.server.requests()[requests_before:] == []
            assert await client.stored() == stale
            assert server.introspect(str(stale.refresh_token)) is True

    run(scenario())
