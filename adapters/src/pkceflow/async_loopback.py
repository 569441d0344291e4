"""The asyncio loopback redirect listener (RFC 8252 7.3): one callback, then gone.

:class:`AsyncLoopbackListener` is :class:`pkceflow.loopback.LoopbackListener` on
asyncio streams, with the same limits: the request head is bounded in size and
time, each connection is a task of its own so a slow or idle client cannot hold
up the real callback, connections beyond a cap push out the oldest, and
everything closes when the login is over (or its wait is cancelled). It binds
the same way (for ``localhost``, the port on both loopback addresses) and
answers with the same bytes: the HTTP is shared, only the sockets differ.
"""

from __future__ import annotations

import asyncio
import contextlib

from pkceflow_core import CallbackReply, UsageError
from pkceflow_core.ports import AsyncCallbackHandler

from ._callback_book import KEPT, CallbackBook
from ._callback_http import is_result_page, refused, split_head
from ._loopback_bind import BoundListener

__all__ = ["AsyncLoopbackListener"]

#: Seconds given to the listening servers to report themselves closed.
_CLOSE_GRACE = 1.0


class AsyncLoopbackListener(
    BoundListener, contextlib.AbstractAsyncContextManager["AsyncLoopbackListener"]
):
    """Listens on a loopback address, on the running event loop, for a login's redirect.

    The arguments and their checks are LoopbackListener's: ``host`` 127.0.0.1
    (default), ::1 or ``localhost`` (then held on 127.0.0.1 and ::1 on one port),
    ``port`` 0 for a free port, ``bind_host`` to bind another address while the
    redirect URI keeps ``host``. The sockets are bound when the listener is made,
    so the redirect URI is known before the browser opens; connections are
    accepted once :meth:`wait` runs. Raises UsageError for a non-loopback
    ``host``, a bad path, or a port that cannot be bound.

    ``wait`` returns as soon as the outcome is decided. After a final callback
    through the browser, the result page it is sent to is still served for up to
    ``linger`` seconds by a task, which then closes the listener; :meth:`aclose`
    leaves that task to finish and :meth:`wait_closed` waits for it. The task is
    cancelled with the event loop: a program that ends right after the login
    awaits :meth:`wait_closed` first, or the browser may miss its page.

    One listener serves one wait. Use it from one event loop's thread.
    """

    def _start(self) -> None:
        self._book = CallbackBook()
        self._handle: AsyncCallbackHandler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()  # serialises calls to the handler
        # Set whenever the wait (or the result page's task) may have something new to see.
        self._changed = asyncio.Event()
        self._page_served = False
        self._servers: list[asyncio.AbstractServer] = []
        # Open connections, oldest first, and the tasks serving them.
        self._conns: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}
        # Pastes fed during the wait, each checked by a task of its own.
        self._checking: set[asyncio.Task[CallbackReply | None]] = set()
        self._closed = False
        # The task that serves the result page after wait() has returned.
        self._lingering: asyncio.Task[None] | None = None

    # -- waiting -------------------------------------------------------------------

    async def wait(self, handle: AsyncCallbackHandler, *, timeout: float) -> None:
        """Serve callbacks to ``handle`` until one is final.

        Returns as soon as the outcome is decided: the result page the browser is
        sent to is served afterwards, in the background (see the class). Raises
        CallbackTimeoutError after ``timeout`` seconds (saying how many callbacks
        were refused meanwhile), and what ``handle`` raised. Cancelling the wait,
        or an :meth:`aclose` meanwhile, closes every socket; a second wait is a
        UsageError.
        """
        if self._handle is not None or self._closed:
            raise UsageError("a loopback listener serves one wait; make another for this one")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._handle = handle
        handed_over = False
        try:
            for target in self._book.take_pending():  # pasted before the wait began
                await self._dispatch(target, pasted=True)
            if not self._book.done:
                for sock in self._socks:
                    server = await asyncio.start_server(self._serve, sock=sock, backlog=128)
                    self._servers.append(server)
            deadline = loop.time() + timeout
            while not self._book.done:
                if self._closed:
                    raise UsageError("the loopback listener was closed during its wait")
                remaining = deadline - loop.time()
                if remaining <= 0 and not self._book.handling:
                    raise self._book.timeout_error(timeout)
                # A callback being handled (its code exchange under way) arrived in
                # time: its outcome is awaited whatever the deadline.
                self._changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait(), remaining if remaining > 0 else None
                    )
            if self._book.failure is not None:
                raise self._book.failure
            if not self._page_served and self._linger > 0:
                # The outcome is known: the caller goes on while a task answers the
                # browser's request for the result page, then closes.
                self._lingering = loop.create_task(
                    self._serve_result_page(), name="pkceflow-result-page"
                )
                handed_over = True
        finally:
            if not handed_over:
                await self._shutdown()

    async def _serve_result_page(self) -> None:
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._result_page_out(), self._linger)
        finally:
            await self._shutdown()

    async def _result_page_out(self) -> None:
        while not self._page_served:
            self._changed.clear()
            await self._changed.wait()

    async def wait_closed(self) -> None:
        """Wait until the result page is out (or ``linger`` passed) and all is closed.

        Never needed for correctness while the event loop runs on: the task serving
        the page is bounded by ``linger``. Cancelling this leaves that task alone.
        """
        if self._lingering is not None:
            await asyncio.shield(self._lingering)

    def feed(self, url_or_query: str) -> CallbackReply | None:
        """Hand a callback that came another way (pasted by the person) to the handler.

        Call it from the event loop's thread. Before the wait begins the callback
        is kept and checked when it does. During the wait it is checked by a task
        (the handler is awaited, this is not), in turn with the callbacks through
        the socket: the reply says it was received, and the wait ends if it was
        final. Once the outcome is decided the reply is the final one; None means
        the listener is not waiting any more.
        """
        call, reply = self._book.admit(
            url_or_query, pasted=True, waiting=self._handle is not None, closed=self._closed
        )
        if not call or self._loop is None:
            return reply
        task = self._loop.create_task(self._dispatch(url_or_query, pasted=True))
        self._checking.add(task)
        task.add_done_callback(self._checking.discard)
        return KEPT

    async def _dispatch(self, target: str, *, pasted: bool = False) -> CallbackReply | None:
        async with self._lock:
            call, reply = self._book.admit(
                target, pasted=pasted, waiting=self._handle is not None, closed=self._closed
            )
            handle = self._handle
            if not call or handle is None:
                return reply
            self._book.handling = True
            try:
                reply = await handle(target)
            except asyncio.CancelledError:
                raise  # the wait was cancelled, or the listener closed: not the handler's fault
            except BaseException as exc:  # noqa: BLE001  (a bug in the handler ends the wait with it)
                return self._book.fail(exc)
            finally:
                self._book.handling = False
                self._changed.set()
            self._book.record(reply)
            if reply.done and pasted:
                # No browser will ask for the result page: do not linger for it.
                self._page_served = True
            return reply

    # -- connections -----------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if self._closed or task is None:
            writer.transport.abort()
            return
        if len(self._conns) >= self._max_connections:
            # Push out the oldest connection: a flood of idle sockets must not keep
            # the browser's real request from being read. Its task ends on the EOF.
            oldest = next(iter(self._conns))
            del self._conns[oldest]
            oldest.transport.abort()
        self._conns[writer] = task
        try:
            answer = await self._answer(reader)
            if answer and not writer.is_closing():
                # Nothing is awaited between the handler's final reply and this
                # write: the wait, which closes the listener once the outcome is
                # decided, cannot drop the connection before the 303 is sent.
                writer.write(answer)
                writer.close()
                # Closing flushes the answer: only then is the result page out.
                await asyncio.wait_for(writer.wait_closed(), self._request_timeout)
                if is_result_page(answer):
                    self._page_served = True
                    self._changed.set()
        except (OSError, asyncio.TimeoutError):
            pass  # the peer went away, or would not take the answer
        except asyncio.CancelledError:
            # The listener closed and cancelled this task, which ends here without
            # an error: asyncio (3.11) would log a cancelled connection task as one.
            pass
        finally:
            writer.transport.abort()
            if self._conns.get(writer) is task:
                del self._conns[writer]

    async def _read_head(self, reader: asyncio.StreamReader) -> bytes | int:
        try:
            return await asyncio.wait_for(self._read_head_unbounded(reader), self._request_timeout)
        except asyncio.TimeoutError:
            return 408

    async def _read_head_unbounded(self, reader: asyncio.StreamReader) -> bytes | int:
        received = b""
        while (head := split_head(received, self._max_request)) is None:
            chunk = await reader.read(4096)
            if not chunk:
                return 0
            received += chunk
        return head

    async def _answer(self, reader: asyncio.StreamReader) -> bytes:
        head = await self._read_head(reader)
        if isinstance(head, int):
            return refused(head) if head else b""
        route = self._routes.route(head, self._book.final)
        if isinstance(route, bytes):
            return route
        return self._routes.callback_answer(await self._dispatch(route.target))

    # -- closing ---------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop listening, drop every open connection and end the tasks serving them.

        While the result page is still being served after a final callback, that
        task closes the listener itself, at most ``linger`` seconds later.
        """
        if self._lingering is not None:
            return
        await self._shutdown()

    async def _shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Everything is released before the first await: a second cancellation
        # landing below cannot leave a socket open.
        for server in self._servers:
            server.close()
        for sock in self._socks:
            sock.close()
        current = asyncio.current_task()
        tasks = [t for t in (*self._conns.values(), *self._checking) if t is not current]
        for writer in self._conns:
            writer.transport.abort()
        self._conns.clear()
        for task in tasks:
            task.cancel()
        self._changed.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), _CLOSE_GRACE)

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
