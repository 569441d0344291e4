"""AsyncClient end to end: TestProvider as the server, HttpFollowingBrowser as the browser.

Each test runs its coroutine on an event loop of its own (``tests.support.aio.run``,
failing after ``BOUND`` seconds even when a task is stuck). A token is made due by
ageing the stored token set by its lifetime, as if obtained that long ago, so that
another process reading the same FileStore sees it due too. Requests are counted by
the provider itself; the other process is ``tests/support/store_process.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pluggy
import pytest

from pkceflow.async_client import AsyncClient
from pkceflow.file_store import FileStore
from pkceflow.memory_store import MemoryStore
from pkceflow.settings import HttpOptions, Interaction
from pkceflow.testing import PUBLIC_CLIENT_ID, HttpFollowingBrowser, TestProvider
from pkceflow_core import (
    IdentityChangedError,
    IdTokenError,
    LoginRequiredError,
    TokenSet,
    UsageError,
)
from pkceflow_google import PRESET as GOOGLE
from tests.core.fakes import FakeBrowser
from tests.plugins.conftest import local, manager_with
from tests.support import aio
from tests.support.aio import (
    aged,
    cancel_behind_a_held_lock,
    cancel_the_login,
    cancelled,
    login,
    new_store,
    until,
)
from tests.support.oauth import redirect_port
from tests.support.store_process import StoreProcess

from .support import WAIT

T = TypeVar("T")

SCOPE = "openid offline_access"
#: How long one test's coroutine may run before it fails.
BOUND = 30.0
TASKS = 1000
#: The token endpoint's answer delay of the cancellation tests: the refresh is carried
#: out at once (its refresh token rotated), the answer comes this much later.
SLOW = 0.5

MakeAsync = Callable[..., AsyncClient]


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``coroutine`` on an event loop of its own, failing after ``BOUND`` seconds."""
    return aio.run(coroutine, BOUND)


def active(provider: TestProvider, token: str | None) -> bool:
    """Whether ``provider`` would accept ``token`` now."""
    assert token is not None
    info = provider.token_info(token)
    return info is not None and info.active


async def due(
    client: AsyncClient, browser: HttpFollowingBrowser, provider: TestProvider
) -> tuple[TokenSet, int]:
    """Log in, then make the token due (``aged``): the stale token set, and how many
    token requests ``provider`` has had so far."""
    await login(client, browser.wait)
    return await aged(client), provider.count("token")


async def refresh_under_way(
    provider: TestProvider, asking: Coroutine[Any, Any, T], before: int
) -> asyncio.Task[T]:
    """``asking`` in a task, returned once its refresh (token request ``before + 1``) is
    carried out at ``provider``, which holds the answer back SLOW seconds."""
    provider.settings.token_answer_delay = SLOW
    task = asyncio.create_task(asking)
    await until(lambda: provider.count("token") == before + 1)
    return task


@pytest.fixture
def make_async(
    provider: TestProvider, browser: HttpFollowingBrowser, plugin_manager: pluggy.PluginManager
) -> MakeAsync:
    """``AsyncClient.from_issuer(provider.issuer, ...)``; keyword arguments override."""

    def make(client_id: str = PUBLIC_CLIENT_ID, **kwargs: Any) -> AsyncClient:
        kwargs.setdefault("scope", SCOPE)
        kwargs.setdefault("browser", browser)
        kwargs.setdefault("plugin_manager", plugin_manager)
        kwargs.setdefault("interaction", Interaction(paste=False, timeout=WAIT))
        kwargs.setdefault("http", HttpOptions(timeout=WAIT))
        return AsyncClient.from_issuer(provider.issuer, client_id, **kwargs)

    return make


# ------------------------------------------------------------------------ the operations


def test_login_token_refresh_userinfo_logout_in_async_with(
    provider: TestProvider, browser: HttpFollowingBrowser, make_async: MakeAsync
) -> None:
    async def scenario() -> None:
        async with make_async() as client:
            first = await login(client, browser.wait)
            assert await client.stored() == first
            assert first.refresh_token is not None
            assert first.id_token is not None
            exchanges = provider.count("token")

            assert await client.token() == first.access_token
            assert provider.count("token") == exchanges  # fresh: nothing sent

            second = await client.refresh()
            assert provider.count("token") == exchanges + 1
            assert second.access_token != first.access_token
            assert second.refresh_token not in (None, first.refresh_token)
            assert not active(provider, first.refresh_token)
            assert await client.stored() == second

            assert (await client.userinfo())["sub"] == "alice"

            assert await client.logout() is True
            assert await client.stored() is None
            assert not active(provider, second.access_token)
            assert not active(provider, second.refresh_token)
            with pytest.raises(LoginRequiredError):
                await client.token()

    run(scenario())
    assert browser.wait() is not None


def test_aclose_keeps_the_client_usable(
    browser: HttpFollowingBrowser, make_async: MakeAsync
) -> None:
    async def scenario() -> None:
        client = make_async()
        async with client:
            first = await login(client, browser.wait)
        second = await client.refresh()  # after __aexit__ closed the connections
        await client.aclose()
        assert second.access_token != first.access_token

    run(scenario())


def test_refresh_with_a_given_refresh_token_stores_what_it_returns(
    provider: TestProvider, make_async: MakeAsync
) -> None:
    issued = provider.issue_tokens(scope="offline_access")

    async def scenario() -> None:
        async with make_async(scope="offline_access", store=MemoryStore()) as client:
            tokens = await client.refresh(issued["refresh_token"])
            assert await client.stored() == tokens
            assert tokens.refresh_token not in (None, issued["refresh_token"])
            assert await client.token() == tokens.access_token

    run(scenario())
    assert provider.count("token") == 1


class NativeAsyncStore:
    """A store plugin's own asyncio store: coroutines and an async lock, no threads."""

    def __init__(self) -> None:
        self.tokens: dict[str, TokenSet] = {}
        self.calls: list[str] = []
        self.locks: dict[str, asyncio.Lock] = {}

    async def load(self, key: str) -> TokenSet | None:
        self.calls.append("load")
        return self.tokens.get(key)

    async def save(self, key: str, tokens: TokenSet) -> None:
        self.calls.append("save")
        self.tokens[key] = tokens

    async def replace(self, key: str, old: TokenSet, new: TokenSet) -> bool:
        self.calls.append("replace")
        if self.tokens.get(key) != old:
            return False
        self.tokens[key] = new
        return True

    async def delete(self, key: str) -> None:
        self.calls.append("delete")
        self.tokens.pop(key, None)

    @contextlib.asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        self.calls.append("lock")
        async with self.locks.setdefault(key, asyncio.Lock()):
            yield


def test_a_native_asyncio_store_is_used_as_it_is(
    provider: TestProvider, make_async: MakeAsync
) -> None:
    issued = provider.issue_tokens(scope="offline_access")
    store = NativeAsyncStore()

    async def scenario() -> None:
        async with make_async(scope="offline_access", store=store) as client:
            assert client.store is store  # not wrapped: no thread touches it
            tokens = await client.refresh(issued["refresh_token"])
            assert store.tokens[client.profile] == tokens
            assert await client.token() == tokens.access_token

    run(scenario())
    assert store.calls[:2] == ["lock", "save"]
    assert store.calls[-1] == "load"


def test_token_without_a_login_raises_login_required(make_async: MakeAsync) -> None:
    async def scenario() -> None:
        async with make_async() as client:
            with pytest.raises(LoginRequiredError):
                await client.token()
            with pytest.raises(LoginRequiredError):
                await client.require_login()

    run(scenario())


def test_an_unknown_store_name_is_a_usage_error_naming_the_installed_ones(
    make_async: MakeAsync,
) -> None:
    async def scenario() -> None:
        async with make_async(store="no-such-store") as client:
            with pytest.raises(
                UsageError, match=r"no token store called 'no-such-store'.*installed: .*memory"
            ):
                await client.token()

    run(scenario())


def test_a_named_store_is_made_by_its_plugin(
    browser: HttpFollowingBrowser, make_async: MakeAsync, pkceflow_home: Path
) -> None:
    async def scenario() -> None:
        async with make_async(store="file") as client:
            tokens = await login(client, browser.wait)
            assert FileStore(pkceflow_home / "tokens").load("default") == tokens

    run(scenario())


# ------------------------------------------------------------------------------- id_tokens


def test_the_id_token_of_a_login_is_validated_before_anything_is_stored(
    provider: TestProvider, browser: HttpFollowingBrowser, make_async: MakeAsync
) -> None:
    provider.settings.id_token_defect = "bad_signature"

    async def scenario() -> None:
        async with make_async() as client:
            with pytest.raises(IdTokenError) as refused:
                await login(client, browser.wait)
            assert refused.value.check == "signature"
            assert await client.stored() is None

    run(scenario())
    assert provider.count("jwks") >= 1


def test_the_id_token_of_a_refresh_is_validated(
    provider: TestProvider, browser: HttpFollowingBrowser, make_async: MakeAsync
) -> None:
    async def scenario() -> None:
        async with make_async() as client:
            first = await login(client, browser.wait)
            refreshed = await client.refresh()
            assert refreshed.id_token not in (None, first.id_token)

            # A defective one is not kept; the rotated tokens are (the old ones are dead).
            provider.settings.id_token_defect = "bad_signature"
            kept = await client.refresh()
            assert kept.id_token == refreshed.id_token
            assert kept.refresh_token != refreshed.refresh_token
            assert await client.stored() == kept

            # One about another subject ends the login (OpenID Connect Core 12.2).
            provider.settings.id_token_defect = None
            bobs = provider.issue_tokens(user="bob", scope=SCOPE)
            await client.store.save(
                client.profile, attrs.evolve(kept, refresh_token=bobs["refresh_token"])
            )
            with pytest.raises(IdentityChangedError):
                await client.refresh()
            assert await client.stored() is None

    run(scenario())


# --------------------------------------------------------------------------------- presets


def test_for_provider_runs_a_preset_s_settings(
    provider: TestProvider, browser: HttpFollowingBrowser
) -> None:
    provider.add_client("desktop", "desktop-secret", auth_method="client_secret_post")
    manager = manager_with(local(GOOGLE, provider))

    async def scenario() -> None:
        with pytest.raises(UsageError, match="client secret"):
            AsyncClient.for_provider("google", "desktop", plugin_manager=manager)
        client = AsyncClient.for_provider(
            "google",
            "desktop",
            client_secret="desktop-secret",
            plugin_manager=manager,
            browser=browser,
            store=MemoryStore(),
            interaction=Interaction(paste=False, timeout=WAIT),
        )
        async with client:
            tokens = await login(client, browser.wait)
            assert tokens.refresh_token is not None
            assert tokens.id_token is not None
            assert (await client.refresh()).access_token != tokens.access_token

    run(scenario())
    authorize = next(r for r in provider.requests if r.endpoint == "authorize")
    assert (authorize.form["access_type"], authorize.form["prompt"]) == ("offline", "consent")
    assert authorize.form["scope"].split() == ["openid", "email", "profile"]
    token_forms = [r.form for r in provider.requests if r.endpoint == "token"]
    assert all(form["client_secret"] == "desktop-secret" for form in token_forms)
    assert provider.count("jwks") == 1


# ------------------------------------------------------------------------ one refresh only


def test_a_refresh_with_the_file_store_stores_the_rotated_tokens(
    provider: TestProvider, browser: HttpFollowingBrowser, make_async: MakeAsync, tmp_path: Path
) -> None:
    folder = tmp_path / "tokens"

    async def scenario() -> TokenSet:
        async with make_async(store=FileStore(folder)) as client:
            first = await login(client, browser.wait)
            refreshed = await client.refresh()
            assert refreshed.refresh_token != first.refresh_token
            return refreshed

    refreshed = run(scenario())
    assert FileStore(folder).load("default") == refreshed


def test_a_thousand_tasks_and_another_process_on_an_expired_token_cause_one_refresh(
    provider: TestProvider, browser: HttpFollowingBrowser, make_async: MakeAsync, tmp_path: Path
) -> None:
    folder = tmp_path / "tokens"

    async def scenario() -> tuple[list[str], dict[str, Any], TokenSet]:
        async with make_async(store=FileStore(folder)) as client:
            stale, _ = await due(client, browser, provider)
            await client.driver()
            provider.settings.token_delay = 0.05
            with StoreProcess.token(
                provider.issuer, PUBLIC_CLIENT_ID, folder, client.profile, SCOPE
            ) as other:
                before = provider.count("token")
                other.go()
                got = await asyncio.gather(*(client.token() for _ in range(TASKS)))
                theirs = await asyncio.to_thread(other.result)
            assert provider.count("token") == before + 1
            stored = await client.require_login()
            # The rotated refresh token was stored: a further refresh works.
            provider.settings.token_delay = 0
            assert (await client.refresh()).access_token != stored.access_token
            assert provider.count("token") == before + 2
            return got, theirs, stale

    got, theirs, stale = run(scenario())
    assert len(got) == TASKS
    assert set(got) == {theirs["token"]}, theirs
    assert stale.access_token not in got


def test_a_task_reading_a_token_refreshed_meanwhile_does_not_refresh_it_again(
    provider: TestProvider, browser: HttpFollowingBrowser, make_async: MakeAsync, tmp_path: Path
) -> None:
    # The second task asks while the first one's refresh is being answered, and its
    # read of the file store waits behind the program's other work on the event
    # loop's executor until that refresh is stored: it then reads a token set obtained
    # after it asked, which is fresh.
    gate = threading.Event()

    async def scenario() -> None:
        async with make_async(store=FileStore(tmp_path / "tokens")) as client:
            stale, before = await due(client, browser, provider)
            first = await refresh_under_way(provider, client.token(), before)
            loop = asyncio.get_running_loop()
            other_work = [loop.run_in_executor(None, gate.wait, WAIT) for _ in range(64)]
            second = asyncio.create_task(client.token())
            refreshed = await first
            gate.set()
            await asyncio.gather(*other_work)

            got = await second
            assert provider.count("token") == before + 1
            assert got == refreshed != stale.access_token

    run(scenario())


def test_a_thousand_tasks_with_the_memory_store_cause_one_refresh(
    provider: TestProvider, browser: HttpFollowingBrowser, make_async: MakeAsync
) -> None:
    async def scenario() -> None:
        async with make_async(store=MemoryStore()) as client:
            stale, before = await due(client, browser, provider)
            provider.settings.token_delay = 0.05
            got = await asyncio.gather(*(client.token() for _ in range(TASKS)))
            assert provider.count("token") == before + 1
            assert len(set(got)) == 1
            assert got[0] != stale.access_token
            assert (await client.require_login()).access_token == got[0]

    run(scenario())


def test_two_clients_sharing_a_memory_store_cause_one_refresh(
    provider: TestProvider, browser: HttpFollowingBrowser, make_async: MakeAsync
) -> None:
    # Two parts of one program, each with its AsyncClient, keep the login in one store.
    store = MemoryStore()

    async def scenario() -> None:
        async with make_async(store=store) as first, make_async(store=store) as second:
            stale, before = await due(first, browser, provider)
            provider.settings.token_delay = 0.05
            got = await asyncio.gather(first.token(), second.token(), return_exceptions=True)
            assert provider.count("token") == before + 1, got
            assert got[0] == got[1] != stale.access_token, got
            assert active(provider, str(got[0]))

    run(scenario())


# ---------------------------------------------------------------------------- cancellation


def test_a_cancelled_login_closes_the_listener_and_stores_nothing(
    provider: TestProvider, make_async: MakeAsync
) -> None:
    launcher = FakeBrowser()  # a person who never signs in

    async def scenario() -> None:
        async with make_async(browser=launcher) as client:
            await cancel_the_login(
                client, lambda: bool(launcher.opened), lambda: redirect_port(launcher.opened[0])
            )

    run(scenario())
    assert provider.count("token") == 0


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_a_task_cancelled_during_its_refresh_stores_the_rotated_tokens(
    provider: TestProvider,
    browser: HttpFollowingBrowser,
    make_async: MakeAsync,
    kind: str,
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with make_async(store=new_store(kind, tmp_path)) as client:
            stale, before = await due(client, browser, provider)
            asking = await refresh_under_way(provider, client.token(), before)
            await asyncio.sleep(0.05)  # the provider has rotated; its answer is on the way

            await cancelled(asking)

            stored = await client.require_login()
            assert stored.refresh_token != stale.refresh_token
            assert active(provider, stored.refresh_token)
            assert active(provider, stored.access_token)
            assert not active(provider, stale.refresh_token)
            provider.settings.token_answer_delay = 0
            assert (await client.refresh()).refresh_token != stored.refresh_token
            assert provider.count("token") == before + 2

    run(scenario())


def test_a_refresh_past_its_timeout_still_stores_the_rotated_tokens(
    provider: TestProvider, browser: HttpFollowingBrowser, make_async: MakeAsync
) -> None:
    async def scenario() -> None:
        async with make_async(store=MemoryStore()) as client:
            first = await login(client, browser.wait)
            provider.settings.token_answer_delay = SLOW

            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(client.refresh(), SLOW / 5)

            stored = await client.require_login()
            assert stored.refresh_token != first.refresh_token
            assert active(provider, stored.refresh_token)
            provider.settings.token_answer_delay = 0
            await client.refresh()

    run(scenario())


def test_the_tasks_waiting_on_a_cancelled_refresh_get_its_tokens(
    provider: TestProvider, browser: HttpFollowingBrowser, make_async: MakeAsync
) -> None:
    async def scenario() -> None:
        async with make_async(store=MemoryStore()) as client:
            stale, before = await due(client, browser, provider)
            refreshing = await refresh_under_way(provider, client.token(), before)
            waiting = [asyncio.create_task(client.token()) for _ in range(10)]
            await asyncio.sleep(0.05)

            refreshing.cancel()
            got = await asyncio.gather(*waiting)

            assert refreshing.cancelled()
            assert provider.count("token") == before + 1
            assert set(got) == {(await client.require_login()).access_token}
            assert stale.access_token not in got

    run(scenario())


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_a_task_cancelled_behind_another_task_s_refresh_sends_nothing(
    provider: TestProvider,
    browser: HttpFollowingBrowser,
    make_async: MakeAsync,
    kind: str,
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with make_async(store=new_store(kind, tmp_path)) as client:
            await login(client, browser.wait)
            before = provider.count("token")
            first = await refresh_under_way(provider, client.refresh(), before)
            # A forced refresh of its own, queued for the lock the first one holds.
            second = asyncio.create_task(client.refresh())
            await asyncio.sleep(0.1)

            second.cancel()
            refreshed = await first
            with pytest.raises(asyncio.CancelledError):
                await second

            await asyncio.sleep(0.1)
            assert provider.count("token") == before + 1
            assert await client.stored() == refreshed

    run(scenario())


def test_a_task_cancelled_waiting_for_another_process_s_lock_sends_nothing(
    provider: TestProvider, browser: HttpFollowingBrowser, make_async: MakeAsync, tmp_path: Path
) -> None:
    folder = tmp_path / "tokens"

    async def scenario() -> None:
        async with make_async(store=FileStore(folder)) as client:
            stale, before = await due(client, browser, provider)
            await cancel_behind_a_held_lock(client, folder, WAIT)
            assert provider.count("token") == before
            assert await client.stored() == stale

    run(scenario())
