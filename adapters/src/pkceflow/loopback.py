"""The loopback redirect listener (RFC 8252 7.3): one callback, then gone.

A minimal HTTP/1.1 server of its own rather than http.server, because every limit
matters here: the request line and headers are bounded in size and time, each
connection has its own thread so a slow or idle client cannot hold up the real
callback, connections beyond a cap push out the oldest, and everything closes
when the login is over.

For the host ``localhost`` it holds the port on both loopback addresses: browsers
try ::1 first for that name, and a port held on 127.0.0.1 alone would leave ::1
to any other local user, who would then receive the code and the state.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import selectors
import socket
import threading
import time
import weakref

from pkceflow_core import CallbackReply
from pkceflow_core.ports import CallbackHandler

from ._callback_book import CallbackBook
from ._callback_http import is_result_page, refused, render_page, split_head
from ._loopback_bind import PORT_ATTEMPTS, BoundListener

__all__ = ["PORT_ATTEMPTS", "LoopbackListener", "render_page"]

log = logging.getLogger("pkceflow.loopback")


class LoopbackListener(BoundListener):
    """Listens on a loopback address for the one redirect a login needs.

    ``host`` is the redirect URI's host: 127.0.0.1 (default), ::1 or localhost.
    RFC 8252 8.3 calls ``localhost`` NOT RECOMMENDED: the name is resolved, by
    the browser, to either address, so the listener has to hold both. For
    ``localhost`` it binds 127.0.0.1 and then ::1 on the same port (another
    free port is tried, up to PORT_ATTEMPTS times, when the OS's pick on
    127.0.0.1 is taken on ::1; a given port taken on either is a UsageError)
    and serves callbacks from both. On a machine without an IPv6 loopback it
    holds 127.0.0.1 alone and logs that it does: no program can listen on ::1
    there, and a browser falls back to 127.0.0.1 when ::1 does not answer.

    ``port`` 0 lets the OS pick a free port, which ``redirect_uri`` then names.
    ``bind_host`` binds that one address instead (a container whose browser is
    outside) while the URI keeps ``host``.

    The sockets are bound when the listener is made, so the redirect URI is known
    before the browser opens. Raises UsageError for a non-loopback ``host``, a
    bad path, or a port that cannot be bound (in use).

    ``wait`` returns as soon as the outcome is decided. After a final callback
    through the browser, the result page it is sent to is still served for up to
    ``linger`` seconds by a daemon thread, which then closes the listener;
    :meth:`close` leaves that thread to finish and :meth:`wait_closed` waits for it.
    """

    def _start(self) -> None:
        for sock in self._socks:
            sock.setblocking(False)
        # Threads that finish the wait write a byte here, so it ends at once.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._lock = threading.Lock()  # serialises calls to the handler
        self._conn_lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._handle: CallbackHandler | None = None
        self._book = CallbackBook()
        self._done = threading.Event()
        self._page_served = threading.Event()
        self._closed = False
        # The daemon thread that serves the result page after wait() has returned.
        self._lingering: threading.Thread | None = None

    # -- waiting -------------------------------------------------------------------

    def wait(self, handle: CallbackHandler, *, timeout: float) -> None:
        """Serve callbacks to ``handle`` until one is final.

        Returns as soon as the outcome is decided: the result page the browser is
        sent to is served afterwards, in the background (see the class). Raises
        CallbackTimeoutError after ``timeout`` seconds (saying how many callbacks
        were refused meanwhile). Ctrl-C stops it and closes the sockets.
        """
        with self._lock:
            self._handle = handle
            pending = self._book.take_pending()
        for target in pending:  # pasted before the wait began
            if self._decide(target, pasted=True)[1]:
                self._end_wait()
        deadline = time.monotonic() + timeout
        selector = selectors.DefaultSelector()
        handed_over = False
        try:
            for sock in self._socks:
                selector.register(sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._done.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0 and not (self._book.handling or self._book.done):
                    raise self._book.timeout_error(timeout)
                # A callback being handled (its code exchange under way) arrived
                # in time: its outcome is awaited whatever the deadline, and once
                # decided, so is the answer that tells the browser.
                self._serve_ready(selector, min(max(remaining, 0.05), 1.0))
            if self._book.failure is not None:
                raise self._book.failure
            if not self._page_served.is_set() and self._linger > 0:
                # The outcome is known: the caller goes on while a daemon thread
                # answers the browser's request for the result page, then closes.
                thread = threading.Thread(
                    target=self._serve_result_page,
                    args=(selector,),
                    name="pkceflow-result-page",
                    daemon=True,
                )
                thread.start()
                self._lingering = thread
                _PAGES.add(thread)
                handed_over = True
        finally:
            if not handed_over:
                selector.close()
                self._shutdown()

    def _serve_result_page(self, selector: selectors.BaseSelector) -> None:
        try:
            self._serve_result_page_until_linger(selector)
        finally:
            _PAGES.discard(threading.current_thread())

    def _serve_result_page_until_linger(self, selector: selectors.BaseSelector) -> None:
        try:
            until = time.monotonic() + self._linger
            while not self._page_served.is_set() and time.monotonic() < until:
                self._serve_ready(selector, until - time.monotonic())
        except OSError:  # a socket failing under the selector: the page is lost, nothing else
            log.debug("serving the result page failed", exc_info=True)
        finally:
            selector.close()
            self._shutdown()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the result page is out (or ``linger`` passed) and all is closed.

        True when the listener is closed by then. Never needed for correctness:
        the thread serving the page is a daemon and bounded by ``linger``.
        """
        thread = self._lingering
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return self._closed

    def _serve_ready(self, selector: selectors.BaseSelector, timeout: float) -> None:
        for key, _ in selector.select(max(timeout, 0.0)):
            if key.fileobj is self._wake_r:
                with contextlib.suppress(OSError):
                    self._wake_r.recv(4096)
            else:
                self._accept(key.fileobj)  # type: ignore[arg-type]

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"!")

    def feed(self, url_or_query: str) -> CallbackReply | None:
        """Hand a callback that came another way (pasted by the person) to the handler.

        Before the wait begins the callback is kept and checked when it does (the
        reply then says so); None means the listener is not waiting any more.
        """
        reply, decided = self._decide(url_or_query, pasted=True)
        if decided:
            self._end_wait()
        return reply

    def _decide(self, target: str, *, pasted: bool) -> tuple[CallbackReply | None, bool]:
        """The reply to ``target``, and whether it decided the outcome of the wait.

        Whoever is told True ends the wait (:meth:`_end_wait`): at once for a paste,
        and for a callback through the socket once its answer is out, so that the
        listener closing cannot cut off the browser's 303.
        """
        with self._lock:
            call, reply = self._book.admit(
                target, pasted=pasted, waiting=self._handle is not None, closed=self._closed
            )
            if not call or self._handle is None:
                return reply, False
            self._book.handling = True
            try:
                reply = self._handle(target)
            except BaseException as exc:  # noqa: BLE001  (a bug in the handler ends the wait with it)
                return self._book.fail(exc), True
            finally:
                self._book.handling = False
            self._book.record(reply)
            if reply.done and pasted:
                # No browser will ask for the result page: do not linger for it.
                self._page_served.set()
            return reply, reply.done

    def _end_wait(self) -> None:
        self._done.set()
        self._wake()

    # -- connections -----------------------------------------------------------------

    def _accept(self, listening: socket.socket) -> None:
        try:
            conn, _ = listening.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(True)
        conn.settimeout(min(self._request_timeout, 2.0))
        thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
        with self._conn_lock:
            if len(self._conns) >= self._max_connections:
                # Push out the oldest connection: a flood of idle sockets must not
                # keep the browser's real request from being read.
                oldest = next(iter(self._conns))
                _shut(oldest)
                self._conns.pop(oldest, None)
            self._conns[conn] = thread
        thread.start()

    def _serve(self, conn: socket.socket) -> None:
        decided = False
        try:
            answer, decided = self._answer(conn)
            if answer:
                conn.sendall(answer)
                if is_result_page(answer):
                    # Only the result page is answered 200. Signal wait() once it is
                    # out: close() would otherwise cut it off before it was sent.
                    self._page_served.set()
                    self._wake()
        except OSError:
            pass
        finally:
            _shut(conn)
            with self._conn_lock:
                self._conns.pop(conn, None)
            if decided:
                self._end_wait()  # the answer is out (or never will be)

    def _read_head(self, conn: socket.socket) -> bytes | int:
        started = time.monotonic()
        received = b""
        while (head := split_head(received, self._max_request)) is None:
            if time.monotonic() - started > self._request_timeout:
                return 408
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                return 0
            received += chunk
        return head

    def _answer(self, conn: socket.socket) -> tuple[bytes, bool]:
        head = self._read_head(conn)
        if isinstance(head, int):
            return (refused(head) if head else b""), False
        route = self._routes.route(head, self._book.final)
        if isinstance(route, bytes):
            return route, False
        reply, decided = self._decide(route.target, pasted=False)
        return self._routes.callback_answer(reply), decided

    def close(self) -> None:
        """Stop listening, drop every open connection and wait for their threads.

        While the result page is still being served after a final callback, that
        thread closes the listener itself, at most ``linger`` seconds later.
        """
        if self._lingering is not None:
            return
        self._shutdown()

    def _shutdown(self) -> None:
        with self._conn_lock:
            if self._closed:
                return
            self._closed = True
        for sock in self._socks:
            sock.close()
        self._wake_r.close()
        self._wake_w.close()
        with self._conn_lock:
            conns = list(self._conns.items())
        for conn, _ in conns:
            _shut(conn)
        for _, thread in conns:
            if thread.ident is not None:  # Ctrl-C may land between accept and start
                thread.join(timeout=1.0)

    def __enter__(self) -> LoopbackListener:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _shut(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()


#: Result pages still being served after wait() returned.
_PAGES: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


@atexit.register
def _finish_result_pages() -> None:
    """At exit, let each result page still pending go out (each is bounded by linger).

    ``login()`` returns as soon as the outcome is known; a command-line program then
    prints and exits at once, which would kill the daemon thread before the browser
    got its page. Exiting waits for those pages, and only for them.
    """
    for thread in list(_PAGES):
        thread.join()
