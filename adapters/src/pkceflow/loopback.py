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
import errno
import html
import logging
import selectors
import socket
import threading
import time
import weakref

from pkceflow_core import CallbackReply, CallbackTimeoutError, UsageError
from pkceflow_core.endpoints import is_loopback_host
from pkceflow_core.ports import CallbackHandler

__all__ = ["LoopbackListener", "render_page"]

log = logging.getLogger("pkceflow.loopback")

#: How many free ports are tried for ``localhost`` before giving up: the port the OS
#: picks on 127.0.0.1 can already be taken on ::1 by another program.
PORT_ATTEMPTS = 16

# The errors that mean this machine has no IPv6 loopback at all (IPv6 disabled on
# ``lo``, or no IPv6 in the kernel): nothing can listen on ::1, nobody else either.
_NO_IPV6 = frozenset(
    code
    for code in (
        getattr(errno, name, None)
        for name in ("EADDRNOTAVAIL", "EAFNOSUPPORT", "EPROTONOSUPPORT", "EPFNOSUPPORT")
    )
    if code is not None
)

_REASONS = {
    200: "OK",
    303: "See Other",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }}
main {{ max-width: 34rem; margin: 12vh auto; padding: 2rem; background: #fff;
        border-radius: 12px; box-shadow: 0 1px 4px rgba(0,0,0,.12); }}
h1 {{ font-size: 1.4rem; margin: 0 0 .75rem; color: {colour}; }}
p {{ margin: 0 0 .5rem; overflow-wrap: anywhere; }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>{message}</p>
<p>{hint}</p>
</main>
</body>
</html>
"""


def render_page(ok: bool, message: str) -> bytes:
    """The answer page: small, valid HTML, everything from the request escaped."""
    if ok:
        title, colour, hint = "Signed in", "#1a7f37", "You can close this tab."
    else:
        title, colour = "Sign-in failed", "#b42318"
        hint = "You can close this tab and return to the application."
    page = _PAGE.format(
        title=title, colour=colour, message=html.escape(message, quote=True), hint=hint
    )
    return page.encode("utf-8")


def _response(status: int, body: bytes = b"", *, location: str | None = None) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {_REASONS[status]}",
        "Content-Type: text/html; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
        "Referrer-Policy: no-referrer",
        "X-Content-Type-Options: nosniff",
        "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'",
        "Connection: close",
    ]
    if location is not None:
        lines.append(f"Location: {location}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


class LoopbackListener:
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

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/callback",
        *,
        bind_host: str | None = None,
        request_timeout: float = 10.0,
        max_request_bytes: int = 16 * 1024,
        max_connections: int = 64,
        linger: float = 2.0,
    ) -> None:
        host = host.strip("[]")
        if not is_loopback_host(host):
            raise UsageError(
                f"the redirect host must be a loopback address, not {host!r} (RFC 8252 7.3);"
                " to listen on another address, keep the host and set a bind address"
            )
        if not path.startswith("/") or "?" in path or "#" in path:
            raise UsageError("the redirect path must start with '/' and have no query")
        if bind_host is not None and not is_loopback_host(bind_host.strip("[]")):
            log.warning(
                "listening for the redirect on %s, which is not a loopback address", bind_host
            )
        if bind_host is None and host == "localhost":
            self._socks = _listen_on_both_loopbacks(port)
        else:
            self._socks = [_listen((bind_host or host).strip("[]"), port)]
        for sock in self._socks:
            sock.setblocking(False)
        # Threads that finish the wait write a byte here, so it ends at once.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._host = host
        self._port: int = self._socks[0].getsockname()[1]
        self._addresses = [str(sock.getsockname()[0]) for sock in self._socks]
        self._path = path
        self._done_path = path.rstrip("/") + "/done"
        self._request_timeout = request_timeout
        self._max_request = max_request_bytes
        self._max_connections = max_connections
        self._linger = linger
        self._lock = threading.Lock()  # serialises calls to the handler
        self._conn_lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._handle: CallbackHandler | None = None
        self._final: CallbackReply | None = None
        self._failure: BaseException | None = None
        self._done = threading.Event()
        self._page_served = threading.Event()
        self._rejected = 0
        self._pending: list[str] = []
        self._handling = False
        self._closed = False
        # The daemon thread that serves the result page after wait() has returned.
        self._lingering: threading.Thread | None = None

    @property
    def redirect_uri(self) -> str:
        """``http://host:port/path`` with the port actually bound."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}{self._path}"

    @property
    def port(self) -> int:
        """The port bound."""
        return self._port

    @property
    def addresses(self) -> list[str]:
        """The addresses listened on: one, or 127.0.0.1 and ::1 for ``localhost``."""
        return list(self._addresses)

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
            pending, self._pending = self._pending, []
        for target in pending:  # pasted before the wait began
            self._dispatch(target, pasted=True)
        deadline = time.monotonic() + timeout
        selector = selectors.DefaultSelector()
        handed_over = False
        try:
            for sock in self._socks:
                selector.register(sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._done.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0 and not self._handling:
                    raise self._timeout_error(timeout)
                # A callback being handled (its code exchange under way) arrived
                # in time: its outcome is awaited whatever the deadline.
                self._serve_ready(selector, min(max(remaining, 0.05), 1.0))
            if self._failure is not None:
                raise self._failure
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

    def _timeout_error(self, timeout: float) -> CallbackTimeoutError:
        if self._rejected:
            return CallbackTimeoutError(
                f"no valid callback arrived within {timeout:g} s; {self._rejected}"
                " request(s) to the redirect URI were refused (wrong or missing state)",
                rejected=self._rejected,
            )
        return CallbackTimeoutError(f"no callback arrived within {timeout:g} s")

    def feed(self, url_or_query: str) -> CallbackReply | None:
        """Hand a callback that came another way (pasted by the person) to the handler.

        Before the wait begins the callback is kept and checked when it does (the
        reply then says so); None means the listener is not waiting any more.
        """
        return self._dispatch(url_or_query, pasted=True)

    def _dispatch(self, target: str, *, pasted: bool = False) -> CallbackReply | None:
        with self._lock:
            if self._handle is None and pasted and not self._closed:
                self._pending.append(target)
                return CallbackReply(done=False, ok=True, message="Received; checking it shortly.")
            if self._done.is_set() or self._handle is None:
                return self._final
            self._handling = True
            try:
                reply = self._handle(target)
            except BaseException as exc:  # noqa: BLE001  (a bug in the handler ends the wait with it)
                self._failure = exc
                self._done.set()
                self._wake()
                return CallbackReply(done=True, ok=False, message="The application failed.")
            finally:
                self._handling = False
            if reply.done:
                self._final = reply
                self._done.set()
                if pasted:
                    # No browser will ask for the result page: do not linger for it.
                    self._page_served.set()
                self._wake()
            else:
                self._rejected += 1
            return reply

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
        try:
            answer = self._answer(conn)
            if answer:
                conn.sendall(answer)
                if answer.startswith(b"HTTP/1.1 200 "):
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

    def _read_head(self, conn: socket.socket) -> bytes | int:
        started = time.monotonic()
        buf = b""
        while b"\r\n\r\n" not in buf:
            if len(buf) > self._max_request:
                return 431
            if time.monotonic() - started > self._request_timeout:
                return 408
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            if not chunk:
                return 0
            buf += chunk
        head = buf.split(b"\r\n\r\n", 1)[0]
        # The chunk that brought the blank line may also have crossed the limit.
        return 431 if len(head) > self._max_request else head

    def _answer(self, conn: socket.socket) -> bytes:
        head = self._read_head(conn)
        if isinstance(head, int):
            return _response(head, render_page(False, "The request was refused.")) if head else b""
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return _response(400, render_page(False, "That is not an HTTP request."))
        method, raw_target = parts[0], parts[1]
        try:
            target = raw_target.decode("ascii")
        except UnicodeDecodeError:
            return _response(400, render_page(False, "The request address is not valid."))
        if method not in (b"GET", b"HEAD"):
            return _response(405, render_page(False, "Only GET is served here."))
        path = target.split("?", 1)[0]
        if path == self._path:
            return self._answer_callback(target, head_only=method == b"HEAD")
        if path == self._done_path and self._final is not None:
            return _response(200, render_page(self._final.ok, self._final.message))
        return _response(404, render_page(False, "Nothing is served at this address."))

    def _answer_callback(self, target: str, *, head_only: bool) -> bytes:
        if head_only:
            return _response(405, b"")
        reply = self._dispatch(target)
        if reply is None:
            return _response(404, render_page(False, "No sign-in is waiting here."))
        if reply.done:
            # 303 to a clean address takes the code out of the address bar and
            # the history before the person sees the page.
            return _response(303, location=self._done_path)
        return _response(400, render_page(False, reply.message))

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


def _listen(address: str, port: int) -> socket.socket:
    """A listening TCP socket on ``address``; UsageError naming the port when it cannot be."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        return socket.create_server((address, port), family=family, backlog=128)
    except OSError as exc:
        raise _bind_error(exc, address, port) from None


def _bind_error(exc: OSError, address: str, port: int) -> UsageError:
    if exc.errno == errno.EADDRINUSE:
        return UsageError(
            f"the redirect port {port} is already in use on {address};"
            " choose another, or 0 for a free one"
        )
    return UsageError(f"cannot listen on {address} port {port}: {exc.strerror}")


def _listen_on_both_loopbacks(port: int) -> list[socket.socket]:
    """127.0.0.1 and ::1 on one port, for a redirect URI naming ``localhost``.

    With ``port`` 0 the OS picks it on 127.0.0.1. When another program holds that
    one on ::1, the pick is kept bound (so that the OS picks another) and another
    is tried, PORT_ATTEMPTS in all; the ones passed over are released at the end.
    """
    passed_over: list[socket.socket] = []
    try:
        for _ in range(PORT_ATTEMPTS if port == 0 else 1):
            try:
                first = _listen("127.0.0.1", port)
            except UsageError:
                if port == 0 and passed_over:
                    break  # no free port left to pick
                raise
            chosen = first.getsockname()[1]
            try:
                second = socket.create_server(("::1", chosen), family=socket.AF_INET6, backlog=128)
            except OSError as exc:
                if exc.errno in _NO_IPV6:
                    log.info(
                        "this machine has no IPv6 loopback (%s): the redirect to localhost"
                        " is awaited on 127.0.0.1 alone; no other program can listen on ::1",
                        exc.strerror,
                    )
                    return [first]
                if exc.errno == errno.EADDRINUSE and port == 0:
                    passed_over.append(first)
                    continue
                first.close()
                raise _bind_error(exc, "::1", chosen) from None
            return [first, second]
    finally:
        for sock in passed_over:
            sock.close()
    raise UsageError(
        f"found no port free on both 127.0.0.1 and ::1 in {len(passed_over)} tries;"
        " use the redirect host 127.0.0.1 or a given port"
    )


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
