"""HTTP servers on raw sockets, small on purpose so that they can misbehave.

A ``RawServer`` listens on a 127.0.0.x address, reads each request whole and hands it
to a behaviour, which writes whatever it likes to the socket: a proper answer
(``answer``, ``json_answer``), or what a proper HTTP server would never send
(truncated or endless bodies, resets, silence). Every loop is bounded in count and in
time, and ``close`` joins every thread the server started.
"""

from __future__ import annotations

import contextlib
import errno
import json
import selectors
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import parse_qsl

__all__ = [
    "WAIT",
    "Behaviour",
    "RawServer",
    "Request",
    "StreamStats",
    "answer",
    "dribble",
    "hang",
    "json_answer",
    "reset_after_reading",
    "reset_connection",
    "stream_body",
    "truncated_body",
]

#: Bounds every wait of a server, so a bug fails a test instead of hanging the run.
WAIT = 10.0
#: The most a server reads of one request head or body.
_MAX_HEAD = 64 * 1024
_MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Request:
    """One request a server read."""

    method: str
    target: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


_Server = TypeVar("_Server", bound="RawServer")

#: What a server does with a request: write whatever it likes to the socket.
Behaviour = Callable[[Request, socket.socket], None]


def _read_request(conn: socket.socket, deadline: float) -> Request | None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > _MAX_HEAD or time.monotonic() > deadline:
            return None
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = min(int(headers.get("content-length", "0") or "0"), _MAX_BODY)
    while len(rest) < length and time.monotonic() < deadline:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Request(parts[0], parts[1], headers, rest[:length])


class RawServer:
    """An HTTP server on ``host`` (a 127.0.0.x address) whose answers are ``behaviour``.

    Counts every connection accepted (``connections``) and records every request read
    (``requests``), so a test can prove that nothing reached it at all; what a behaviour
    raised (other than OSError) is kept in ``errors``. ``close`` (or leaving the
    ``with`` block) shuts down the connections still open and joins every thread.
    """

    def __init__(self, behaviour: Behaviour | None = None, *, host: str = "127.0.0.1") -> None:
        self.behaviour: Behaviour = behaviour or answer(404, b"not found\n")
        self.host = host
        self._sock = socket.create_server((host, 0))
        self._sock.setblocking(False)
        self.port: int = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._errors: list[str] = []
        self._acceptor = threading.Thread(target=self._accept_loop, name="raw-server", daemon=True)
        self._acceptor.start()

    def url(self, path: str = "") -> str:
        return f"http://{self.host}:{self.port}{path}"

    @property
    def origin(self) -> str:
        return self.url()

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._connections)

    @property
    def errors(self) -> list[str]:
        with self._lock:
            return list(self._errors)

    def _accept_loop(self) -> None:
        # Bounded in time (a server outlives no test) and so in count (one select a tick).
        deadline = time.monotonic() + 20 * WAIT
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            while not self._stop.is_set() and time.monotonic() < deadline:
                if not selector.select(0.05):
                    continue
                try:
                    conn, _ = self._sock.accept()
                except OSError:  # BlockingIOError included: another accept won the race
                    continue
                thread = threading.Thread(
                    target=self._serve, args=(conn,), name="raw-server-conn", daemon=True
                )
                with self._lock:
                    self._connections.append(conn)
                    self._threads.append(thread)
                thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setblocking(True)
        conn.settimeout(WAIT / 2)
        try:
            request = _read_request(conn, time.monotonic() + WAIT / 2)
            if request is None:
                return
            with self._lock:
                self._requests.append(request)
            self.behaviour(request, conn)
        except OSError:
            pass
        except Exception:  # a bug in a behaviour: the test looks at errors
            with self._lock:
                self._errors.append(traceback.format_exc())
        finally:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join(WAIT)
        self._sock.close()
        with self._lock:
            connections, threads = list(self._connections), list(self._threads)
        for conn in connections:  # wakes behaviours that wait on their connection
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(WAIT)
            assert not thread.is_alive(), "a raw server connection thread did not end"

    def __enter__(self: _Server) -> _Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


# --------------------------------------------------------------------------- answers


def _head(status: int, headers: Iterable[tuple[str, str]], reason: str = "Whatever") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answer(
    status: int,
    body: bytes,
    headers: Iterable[tuple[str, str]] = (("Content-Type", "application/json"),),
) -> Behaviour:
    """A complete answer with a Content-Length, then the connection closes."""
    all_headers = [*headers, ("Content-Length", str(len(body))), ("Connection", "close")]

    def behave(_request: Request, conn: socket.socket) -> None:
        conn.sendall(_head(status, all_headers) + body)

    return behave


def json_answer(payload: object, status: int = 200) -> Behaviour:
    return answer(status, json.dumps(payload).encode())


# --------------------------------------------------------------------------- misbehaviours


def reset_connection(conn: socket.socket) -> None:
    """Close ``conn`` with a RST, not a FIN (SO_LINGER with a zero timeout)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def hang(_request: Request, conn: socket.socket) -> None:
    """Never answer: wait until the client hangs up or the server closes."""
    conn.recv(1)


def reset_after_reading(_request: Request, conn: socket.socket) -> None:
    """Reset the connection once the whole request is read (no answer at all)."""
    reset_connection(conn)


def dribble(_request: Request, conn: socket.socket) -> None:
    """Send an answer one byte at a time, 0.1 s apart, until the client gives up."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    deadline = time.monotonic() + WAIT
    for index in range(100_000):  # bounded in count, and in time by the deadline
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)
        try:
            conn.sendall(head[index : index + 1] or b" ")
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.EBADF, errno.ENOTCONN):
                return
            raise


@dataclass
class StreamStats:
    """What a streaming behaviour managed to send before the client hung up."""

    sent: int = 0
    completed: bool = False
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def stream_body(total: int, stats: StreamStats, *, chunk: int = 64 * 1024) -> Behaviour:
    """Announce ``total`` bytes of JSON-ish body and send them from one small buffer."""
    block = b" " * chunk

    def behave(_request: Request, conn: socket.socket) -> None:
        deadline = time.monotonic() + WAIT
        head = [("Content-Type", "application/json"), ("Content-Length", str(total))]
        try:
            conn.sendall(_head(200, head, "OK"))
            # Bounded in count (total / chunk sends) and in time (deadline).
            for _ in range(total // chunk + 1):
                if stats.sent >= total or time.monotonic() > deadline:
                    break
                stats.sent += conn.send(block[: min(chunk, total - stats.sent)])
            stats.completed = stats.sent >= total
        except OSError as exc:
            stats.error = type(exc).__name__
        finally:
            stats.done.set()

    return behave


def truncated_body(declared: int, body: bytes, *, reset: bool) -> Behaviour:
    """Announce ``declared`` bytes, send ``body`` (fewer), then close, or reset."""

    def behave(_request: Request, conn: socket.socket) -> None:
        head = [("Content-Type", "application/json"), ("Content-Length", str(declared))]
        conn.sendall(_head(200, head, "OK") + body)
        if reset:
            reset_connection(conn)

    return behave
