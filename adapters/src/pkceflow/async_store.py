"""Synchronous token stores used from asyncio, without blocking the event loop.

A store's reads and writes run on the default executor's threads. Its lock is
taken by a thread of its own, which holds it for as long as the task does and
carries out that task's reads and writes meanwhile: the locks stores use (a
re-entrant thread lock and a lock file) belong to the thread that took them, and
a store may take its own lock again inside ``replace``.
Tasks of one event loop queue for a key of a store on an ``asyncio.Lock`` first,
so at most one thread per key and loop ever waits for the store's lock: a
thousand tasks asking for one expired token cost one waiting thread, not a
thousand. A store that never blocks (the memory store) is read on the loop itself
when its lock is not held.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import os
import queue
import threading
import weakref
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

from pkceflow_core import StoreError, TokenSet
from pkceflow_core.ports import AsyncTokenStore, TokenStore

__all__ = ["AsyncStoreAdapter", "to_async_store"]

#: The store locks the current task holds, by store and key; the work it does on
#: those keys goes to the thread holding the lock.
_HELD: contextvars.ContextVar[dict[tuple[int, str], _Holder]] = contextvars.ContextVar(
    "pkceflow_store_locks_held"
)


def to_async_store(store: TokenStore | AsyncTokenStore) -> AsyncTokenStore:
    """``store`` as an AsyncTokenStore: itself when it is one, else wrapped.

    A store is taken as asyncio-native when its ``load`` is a coroutine function.
    """
    if inspect.iscoroutinefunction(getattr(store, "load", None)):
        native: AsyncTokenStore = store  # type: ignore[assignment]
        return native
    return AsyncStoreAdapter(store)  # type: ignore[arg-type]


class AsyncStoreAdapter:
    """An AsyncTokenStore over a synchronous TokenStore (see the module)."""

    def __init__(self, store: TokenStore, *, blocking: bool | None = None) -> None:
        self.store = store
        # The memory store never blocks: its calls run on the loop, not a thread.
        if blocking is None:
            from .memory_store import MemoryStore

            blocking = not isinstance(store, MemoryStore)
        self._blocking = blocking

    def __repr__(self) -> str:
        return f"<AsyncStoreAdapter {self.store!r}>"

    async def _call(self, method: Any, key: str, *args: Any) -> Any:
        holder = _HELD.get({}).get((id(self.store), key))
        if holder is not None and not holder.released:
            return await holder.run(method, key, *args)
        if not self._blocking:
            return method(key, *args)
        return await asyncio.to_thread(method, key, *args)

    async def load(self, key: str) -> TokenSet | None:
        """The stored token set, or None (read off the event loop)."""
        tokens: TokenSet | None = await self._call(self.store.load, key)
        return tokens

    async def save(self, key: str, tokens: TokenSet) -> None:
        """Store ``tokens`` whole or not at all."""
        await self._call(self.store.save, key, tokens)

    async def replace(self, key: str, old: TokenSet, new: TokenSet) -> bool:
        """Compare-and-swap, as the store's ``replace``."""
        replaced: bool = await self._call(self.store.replace, key, old, new)
        return replaced

    async def delete(self, key: str) -> None:
        """Forget the token set."""
        await self._call(self.store.delete, key)

    @contextlib.asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        """Hold ``key`` across this loop's tasks, then across threads and processes."""
        mine = _HELD.get({}).get((id(self.store), key))
        if mine is not None and not mine.released:
            yield  # held by this task already: re-entrant, as the stores' own locks are
            return
        loop = asyncio.get_running_loop()
        async with _task_lock(self.store, loop, key):
            holder = _Holder(self.store, key, loop)
            held = _HELD.set({**_HELD.get({}), (id(self.store), key): holder})
            try:
                await holder.acquired
                yield
            finally:
                _HELD.reset(held)
                holder.release()


#: The asyncio.Lock of each store, event loop and key: every adapter of one store
#: (two clients sharing it) queues its tasks on the same lock.
_TASK_LOCKS: weakref.WeakKeyDictionary[
    object, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]]
] = weakref.WeakKeyDictionary()


#: The same for stores that cannot be weakly referenced (``__slots__``), by id.
_TASK_LOCKS_BY_ID: dict[int, dict[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]]] = {}


def _task_lock(store: object, loop: asyncio.AbstractEventLoop, key: str) -> asyncio.Lock:
    by_loop: MutableMapping[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]]
    try:
        by_loop = _TASK_LOCKS.setdefault(store, weakref.WeakKeyDictionary())
    except TypeError:
        by_loop = _TASK_LOCKS_BY_ID.setdefault(id(store), {})
    return by_loop.setdefault(loop, {}).setdefault(key, asyncio.Lock())


class _Threads:
    """Daemon threads that run one job after another and end after a while idle.

    Taking a store's lock is a job that blocks its thread until released; starting
    a thread for each of many tasks queued on one key would cost more than the
    lock itself, so a thread done with one waits a little for the next.
    """

    def __init__(self, idle_seconds: float = 2.0) -> None:
        self._idle_seconds = idle_seconds
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self._idle = 0
        self._mutex = threading.Lock()

    def forget(self) -> None:
        """Start afresh (in a forked child, where the idle threads do not exist)."""
        self._jobs = queue.Queue()
        self._idle = 0
        self._mutex = threading.Lock()

    def run(self, job: Callable[[], None]) -> None:
        """Run ``job`` on an idle thread, or on a new one."""
        with self._mutex:
            if self._idle:
                self._idle -= 1
                self._jobs.put(job)
                return
        threading.Thread(
            target=self._work, args=(job,), name="pkceflow-store-lock", daemon=True
        ).start()

    def _work(self, job: Callable[[], None]) -> None:
        while True:
            job()
            with self._mutex:
                self._idle += 1
            try:
                job = self._jobs.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._mutex:
                    if self._idle:  # no job was counted on this thread: end it
                        self._idle -= 1
                        return
                job = self._jobs.get_nowait()  # one was, just now: it is queued


_THREADS = _Threads()
if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads
    os.register_at_fork(after_in_child=_THREADS.forget)


class _Holder:
    """A thread that takes a store's lock, holds it, and does the holder's work meanwhile."""

    def __init__(self, store: TokenStore, key: str, loop: asyncio.AbstractEventLoop) -> None:
        self.acquired: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self._work: queue.SimpleQueue[tuple[Any, tuple[Any, ...], asyncio.Future[Any]] | None]
        self._work = queue.SimpleQueue()
        self._store = store
        self._key = key
        #: Set once the task lets go (or gave up waiting): nothing is routed here after.
        self.released = False
        _THREADS.run(self._hold)

    def _settle(
        self, future: asyncio.Future[Any], result: Any, error: BaseException | None
    ) -> None:
        def settle() -> None:
            if future.done():  # the waiting task was cancelled
                return
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self._loop.call_soon_threadsafe(settle)

    def _hold(self) -> None:
        if self.released:  # the task gave up before a thread was free: take nothing
            return
        try:
            with self._store.lock(self._key):
                self._settle(self.acquired, None, None)
                self._serve()
        except StoreError as exc:
            self._settle(self.acquired, None, exc)
        except Exception as exc:  # noqa: BLE001  (a store's bug reaches the task, typed)
            self._settle(self.acquired, None, StoreError(f"the store's lock failed: {exc!r}"))

    def _serve(self) -> None:
        while (item := self._work.get()) is not None:
            method, args, future = item
            try:
                result = method(*args)
            except BaseException as exc:  # noqa: BLE001  (handed to the task that asked)
                self._settle(future, None, exc)
            else:
                self._settle(future, result, None)

    async def run(self, method: Any, *args: Any) -> Any:
        """Call ``method(*args)`` on the thread holding the lock."""
        future: asyncio.Future[Any] = self._loop.create_future()
        self._work.put((method, args, future))
        return await future

    def release(self) -> None:
        """Let the thread release the lock (at once, or as soon as it has it)."""
        self.released = True
        self._work.put(None)
