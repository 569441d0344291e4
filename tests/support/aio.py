"""What the AsyncClient tests share: a bounded runner, polling, due tokens, port checks,
and the cancellations both AsyncClient suites put a client through.

``run(coroutine, bound)`` runs a coroutine with ``asyncio.run`` in a daemon thread of its own
and waits at most ``bound`` seconds. ``asyncio.wait_for`` would not do: a task stuck
in a call that never returns (two threads waiting for each other) cannot be
cancelled, and ``asyncio.run`` itself cancels and awaits every task left, then joins
the executor's threads. Here the test fails instead, with the stacks of the threads,
and what is stuck is left to daemon threads. For the same reason the loop's default
executor runs each call on a daemon thread of its own: the standard one's threads are
joined when the interpreter exits, so one stuck call would hang the whole run; they
are as many as the standard pool's and take the calls in turn from one queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import attrs
import pytest

from pkceflow.file_store import FileStore
from pkceflow.memory_store import MemoryStore
from tests.support.store_process import StoreProcess

if TYPE_CHECKING:
    from pkceflow.async_client import AsyncClient
    from pkceflow_core import TokenSet
    from pkceflow_core.ports import TokenStore

__all__ = [
    "DaemonThreads",
    "aged",
    "cancel_behind_a_held_lock",
    "cancel_the_login",
    "cancelled",
    "connectable",
    "lock_waiters",
    "login",
    "new_store",
    "run",
    "stacks",
    "until",
]

T = TypeVar("T")
P = ParamSpec("P")

#: How long the tasks a coroutine left behind may take to finish after it returned
#: (after it failed: what it raised is the news, stuck tasks only follow from it).
CLEANUP = 10.0
CLEANUP_AFTER_FAILURE = 2.0


class DaemonThreads(concurrent.futures.ThreadPoolExecutor):
    """The default executor's pool (as many threads, one queue), of daemon threads.

    A ThreadPoolExecutor by type, as ``loop.set_default_executor`` requires; calls
    queue for its ``max_workers`` threads as they do for the standard pool, so a
    burst of store reads waits as long as it would there (see the module for why
    the threads are daemons).
    """

    def __init__(self) -> None:
        super().__init__()  # for max_workers: min(32, cpus + 4)
        self._calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._started = threading.Lock()

    def submit(
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the awaiting task
                future.set_exception(exc)

        self._calls.put(call)
        with self._started:
            if len(self._workers) < self._max_workers:
                worker = threading.Thread(target=self._work, name="test-executor", daemon=True)
                worker.start()
                self._workers.append(worker)
        return future

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            call()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._started:
            workers = list(self._workers)
        for _ in workers:
            self._calls.put(None)
        if wait:
            for worker in workers:
                worker.join()


def stacks() -> str:
    """Every thread's stack, innermost frames last (for a failure message)."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        lines = traceback.format_stack(frame)[-8:]
        parts.append(f"--- thread {names.get(ident, ident)}\n{''.join(lines)}")
    return "\n".join(parts)


def run(coroutine: Coroutine[Any, Any, T], bound: float) -> T:
    """``coroutine``'s result on an event loop of its own; AssertionError after ``bound`` s.

    What the coroutine raises is raised here. When it returned but the tasks it left
    do not finish within ``CLEANUP`` seconds, that fails the test too.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []
    returned = threading.Event()
    closed = threading.Event()

    async def main() -> None:
        try:
            asyncio.get_running_loop().set_default_executor(DaemonThreads())
            outcome.append(await coroutine)
        except BaseException as exc:  # raised in the test's thread
            failure.append(exc)
        finally:
            coroutine.close()  # a no-op once it ran; else no "never awaited" warning
            returned.set()

    def loop() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # asyncio.run's own failure
            failure.append(exc)
        finally:
            returned.set()
            closed.set()

    threading.Thread(target=loop, name="test-event-loop", daemon=True).start()
    if not returned.wait(bound):
        raise AssertionError(f"the coroutine did not end within {bound:g} s:\n{stacks()}")
    if failure:
        closed.wait(CLEANUP_AFTER_FAILURE)
        raise failure[0]
    if not closed.wait(CLEANUP):
        raise AssertionError(
            f"the coroutine returned, but the tasks it left did not finish within"
            f" {CLEANUP:g} s:\n{stacks()}"
        )
    return outcome[0]


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` from the event loop until it holds; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:g} s")
        await asyncio.sleep(0.005)


async def aged(client: AsyncClient) -> TokenSet:
    """The client's stored token set made as old as its lifetime (so due), stored again.

    Another process reading the same store sees it due too, which moving one client's
    clock would not give.
    """
    tokens = await client.require_login()
    assert tokens.lifetime is not None, "the server gave no expires_in"
    assert tokens.obtained_at is not None
    assert tokens.expires_at is not None
    shift = tokens.lifetime + 1
    old = attrs.evolve(
        tokens, obtained_at=tokens.obtained_at - shift, expires_at=tokens.expires_at - shift
    )
    await client.store.save(client.profile, old)
    return old


def lock_waiters() -> int:
    """Threads an AsyncStoreAdapter runs to take or hold a store's lock for a task."""
    return sum(1 for thread in threading.enumerate() if thread.name == "pkceflow-store-lock")


def connectable(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host``:``port``."""
    try:
        socket.create_connection((host, port), timeout=10.0).close()
    except ConnectionRefusedError:
        return False
    return True


def new_store(kind: str, folder: Path) -> TokenStore:
    """A MemoryStore (``kind`` "memory"), or a FileStore in ``folder``."""
    return MemoryStore() if kind == "memory" else FileStore(folder / "tokens")


async def login(client: AsyncClient, browser_done: Callable[[], object]) -> TokenSet:
    """``client.login()``, then ``browser_done`` (the browser reading the result page) awaited.

    The listener serves that page after the login returned; a coroutine that ends its
    event loop at once cuts it short (the AsyncClient has no way to await it).
    """
    try:
        return await client.login()
    finally:
        await asyncio.to_thread(browser_done)


async def cancelled(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and await it: it ends cancelled, raising CancelledError."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def cancel_the_login(
    client: AsyncClient,
    at_the_browser: Callable[[], bool],
    redirect_port: Callable[[], int],
    timeout: float = 10.0,
) -> None:
    """Cancel ``client.login()`` once ``at_the_browser()``: its listener closes, nothing is stored.

    ``redirect_port()`` is the port of the redirect URI the browser was given.
    """
    signing_in = asyncio.create_task(client.login())
    await until(at_the_browser, timeout)
    port = redirect_port()
    assert connectable(port)

    await cancelled(signing_in)

    assert not connectable(port)
    assert await client.stored() is None


async def cancel_behind_a_held_lock(
    client: AsyncClient, folder: Path, timeout: float = 10.0
) -> None:
    """Cancel ``client.token()`` waiting for the lock another process holds on ``folder``.

    Once the other process let go, the thread that waited for the lock takes it, sees
    the task gone and lets go too: the lock is free again afterwards.
    """
    with StoreProcess.hold(folder, client.profile) as holder:
        asking = asyncio.create_task(client.token())
        await until(lambda: lock_waiters() == 1, timeout)
        await asyncio.sleep(0.05)

        await cancelled(asking)

        holder.go()
        assert await asyncio.to_thread(holder.result) == {"released": True}
    await until(lambda: lock_waiters() == 0, timeout)
    with FileStore(folder, lock_timeout=timeout).lock(client.profile):
        pass  # free again
