"""Helpers shared by the adapter tests: small local HTTP servers, process workers.

Nothing here imitates pkceflow: the servers are real sockets on 127.0.0.1 and the process
workers run the real Client and FileStore in ``spawn``-ed interpreters (so they live in an
importable module rather than in a test file). ``Background`` and ``wait_until`` are
``tests.support.threads``'s, named here too for the tests that import them from here.
"""

from __future__ import annotations

import contextlib
import http.client
import multiprocessing
import os
import queue
import socket
import struct
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pkceflow.settings import HttpOptions
from pkceflow.testing.browser import BrowserResponse
from pkceflow.transport import MAX_RESPONSE_BYTES
from pkceflow_core import HttpRequest, HttpResponse, TokenSet
from tests.support.raw_http import Request
from tests.support.threads import Background as Background
from tests.support.threads import wait_until as wait_until

if TYPE_CHECKING:
    from pkceflow.testing import TestProvider
    from pkceflow_core.ports import TokenStore

#: Bounds every wait in these tests, so a bug fails a test instead of hanging the run.
WAIT = 10.0
#: pkceflow.testing.PUBLIC_CLIENT_ID, spelt out so that worker processes need not import
#: the provider (PyJWT, cryptography) just for it.
PUBLIC_CLIENT_ID = "pkceflow-test"


# --------------------------------------------------------------------------- secrets

_SECRET_FIELDS = ("code", "code_verifier", "refresh_token", "client_secret", "token")


def secrets_seen(provider: TestProvider, *token_sets: TokenSet) -> set[str]:
    """Every secret of the logins so far: what ``provider`` issued and was sent.

    Access and refresh tokens from its records, codes and code verifiers from the token
    requests it received, and the id_tokens of ``token_sets`` (it does not keep those).
    """
    found = {info.token for info in provider.tokens()}
    for request in provider.requests:
        found.update(request.form[name] for name in _SECRET_FIELDS if name in request.form)
    for tokens in token_sets:
        found.update(t for t in (tokens.access_token, tokens.refresh_token, tokens.id_token) if t)
    return found


# --------------------------------------------------------------------------- stores


def assert_replace_compares_and_swaps(store: TokenStore) -> None:
    """``store.replace(key, old, new)`` writes ``new`` when ``old`` is what is stored,
    and refuses (False, nothing written) when another set is."""
    key = "default"
    old = TokenSet("access-old", expires_at=2_000_000_000.0, refresh_token="refresh-old")
    new = TokenSet("access-new", expires_at=2_000_003_600.0, refresh_token="refresh-new")
    store.save(key, old)
    assert store.replace(key, old, new) is True
    assert store.load(key) == new
    assert store.replace(key, old, TokenSet("access-stale")) is False
    assert store.load(key) == new


@contextlib.contextmanager
def held_elsewhere(lock: Callable[[], contextlib.AbstractContextManager[object]]) -> Iterator[None]:
    """``lock()`` taken by another thread, and held there until the block is left."""
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock():
            inside.set()
            release.wait(WAIT)

    holder = Background(hold, name="test-lock-holder")
    try:
        assert inside.wait(WAIT)
        yield
    finally:
        release.set()
        holder.result()


# --------------------------------------------------------------------------- HTTP clients


#: One HTTP response, fully read (header names lower-case): what the testing browser reads.
Reply = BrowserResponse


def http_get(
    port: int,
    target: str,
    *,
    host: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
    method: str = "GET",
) -> Reply:
    """One request with http.client; redirects are not followed."""
    connection = http.client.HTTPConnection(host, port, timeout=WAIT)
    try:
        connection.request(method, target, headers=headers or {})
        response = connection.getresponse()
        return Reply(
            f"http://{f'[{host}]' if ':' in host else host}:{port}{target}",
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
        )
    finally:
        connection.close()


def get_url(url: str) -> Reply:
    """``http_get`` of a whole loopback URL (its host, port, path and query)."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return http_get(parts.port, target or "/", host=parts.hostname)


@contextlib.contextmanager
def idle_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections to 127.0.0.1:``port`` that send nothing, closed on the way out."""
    idle = [socket.create_connection(("127.0.0.1", port), timeout=WAIT) for _ in range(count)]
    try:
        yield idle
    finally:
        for sock in idle:
            sock.close()


def dribble_request(sock: socket.socket, target: str, stop: threading.Event) -> None:
    """Send ``GET target`` on ``sock`` one byte a second, until ``stop`` is set or it fails."""
    for byte in f"GET {target} HTTP/1.1\r\n\r\n".encode("ascii"):
        try:
            sock.send(bytes([byte]))
        except OSError:
            return
        if stop.wait(1.0):
            return


def read_reply(sock: socket.socket) -> bytes:
    """Everything the peer sends on ``sock`` until it closes (bounded by WAIT)."""
    sock.settimeout(WAIT)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------- HTTP servers


class Handler(BaseHTTPRequestHandler):
    """Reads each request whole, records it, then lets the server's ``respond`` answer."""

    protocol_version = "HTTP/1.1"
    timeout = WAIT  # socket timeout of each connection
    server: LocalServer
    body: bytes = b""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(OSError):
            super().handle()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.record(Request(self.command, self.path, headers, self.body))
        self.server.respond(self)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _dispatch

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Answer with ``body`` and a Content-Length."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def drop(self) -> None:
        """Close the connection without answering."""
        self.close_connection = True

    def wait_for_client_close(self, timeout: float = WAIT) -> bool:
        """Block until the client closes its end (True) or ``timeout`` passes (False)."""
        self.connection.settimeout(timeout)
        try:
            while self.connection.recv(4096):
                pass
        except TimeoutError:
            return False
        except OSError:
            return True
        return True


Respond = Callable[[Handler], None]


def ok(handler: Handler) -> None:
    """Answer every request with 200 and a small JSON body."""
    handler.reply(200, b'{"ok": true}', {"Content-Type": "application/json"})


class LocalServer(ThreadingHTTPServer):
    """An HTTP/1.1 server on 127.0.0.1 that answers every request with ``respond``.

    It counts TCP connections and records requests. ``listen=False`` binds the port
    without listening (connections are refused) until :meth:`start` is called.
    """

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, respond: Respond = ok) -> None:
        super().__init__(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.respond = respond
        self.server_bind()
        self.connections = 0
        self.requests: list[Request] = []
        self.events: dict[str, threading.Event] = {}
        self.values: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._live: dict[socket.socket, threading.Thread] = {}
        self._thread: threading.Thread | None = None

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup; not wanted here.
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def event(self, name: str) -> threading.Event:
        with self._lock:
            return self.events.setdefault(name, threading.Event())

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> LocalServer:
        self.server_activate()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._process, args=(request, client_address))
        thread.daemon = True
        with self._lock:
            self.connections += 1
            self._live[request] = thread
        thread.start()

    def _process(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # the test sees it as a failed request
            self.values.setdefault("errors", []).append(traceback.format_exc())
        finally:
            with self._lock:
                self._live.pop(request, None)
            self.shutdown_request(request)

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(WAIT)
        self.server_close()
        with self._lock:
            live = list(self._live.items())
        for sock, _ in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in live:
            thread.join(WAIT)


@contextlib.contextmanager
def serving(respond: Respond = ok) -> Iterator[LocalServer]:
    server = LocalServer(respond).start()
    try:
        yield server
    finally:
        server.stop()
    errors = server.values.get("errors")
    assert not errors, "a request handler of the test server failed:\n" + "\n".join(errors)


# --------------------------------------------------------------------------- requests, answers
#
# What both transports' tests send, and what they have a server answer: bodies over and
# at the limit, and connections that break.

FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
#: The code and the verifier ``post`` sends: secrets no log line or error may show.
SECRET_CODE = "the-code-QJ7Vw3mZp2"
SECRET_VERIFIER = "the-verifier-Xk29fLq0aB"


def post(url: str, *, retry_safe: bool = False) -> HttpRequest:
    """A token request as the core builds it (a code exchange is not retry-safe)."""
    body = f"grant_type=authorization_code&code={SECRET_CODE}&code_verifier={SECRET_VERIFIER}"
    return HttpRequest("POST", url, FORM, body.encode(), retry_safe=retry_safe)


def get(url: str) -> HttpRequest:
    """A discovery request (retry-safe)."""
    return HttpRequest("GET", url, {"Accept": "application/json"}, retry_safe=True)


def assert_posted_as_given(response: HttpResponse, server: LocalServer) -> Request:
    """``post`` to ``/token`` reached ``server`` as given, and its ``ok`` answer came back
    whole as ``response``. Returns the one request the server got."""
    assert response.status == 200
    assert response.body == b'{"ok": true}'
    assert response.headers["content-type"] == "application/json"
    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/token")
    assert request.body == post("x").body
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["user-agent"].startswith("pkceflow/")
    return request


def endless(declare_length: bool) -> Respond:
    """Offers 100 MiB, with a Content-Length or until the connection closes; the bytes
    that went out before the client hung up are ``values["sent"]``."""

    def respond(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if declare_length:
            handler.send_header("Content-Length", str(100 << 20))
        else:
            handler.send_header("Connection", "close")
        handler.end_headers()
        chunk, sent = b" " * 65536, 0
        try:
            while sent < 100 << 20:
                handler.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass
        handler.server.values["sent"] = sent
        handler.drop()

    return respond


def too_large_then_ok(handler: Handler) -> None:
    """A body one byte over MAX_RESPONSE_BYTES for the first request, ``ok`` after."""
    if len(handler.server.requests) == 1:
        handler.reply(200, b" " * (MAX_RESPONSE_BYTES + 1))
    else:
        ok(handler)


def drop_the_first(handler: Handler) -> None:
    """The first request's connection dropped unanswered, ``ok`` after."""
    if len(handler.server.requests) == 1:
        handler.drop()
    else:
        ok(handler)


def exactly_the_limit(handler: Handler) -> None:
    """A body of MAX_RESPONSE_BYTES bytes."""
    handler.reply(200, b"x" * MAX_RESPONSE_BYTES)


def reset_mid_body(handler: Handler) -> None:
    """A thousand bytes of a promised hundred thousand, then a reset (RST, not FIN)."""
    handler.send_response(200)
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    handler.wfile.write(b"{" * 1000)
    handler.wfile.flush()
    # Linger 0: closing sends RST instead of FIN.
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()
    handler.drop()


# --------------------------------------------------------------------------- processes
#
# Each worker reports through ``results`` as (name, value) and never raises: a failure
# is sent back as ("error", traceback) for the test to show.


def run_processes(
    target: Callable[..., None], arguments: list[tuple[Any, ...]], *, timeout: float = 60.0
) -> list[Any]:
    """Run ``target(*args, start, results)`` per tuple in ``spawn``-ed processes at once.

    ``start`` is a barrier all of them pass together. Returns the reported values;
    a worker's traceback fails the test.
    """
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start = context.Barrier(len(arguments))
    processes = [
        context.Process(target=target, args=(*args, start, results), daemon=True)
        for args in arguments
    ]
    for process in processes:
        process.start()
    reports: list[tuple[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(reports) < len(processes):
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker processes did not report within {timeout} s")
            everyone_exited = not any(process.is_alive() for process in processes)
            try:
                reports.append(results.get(timeout=1.0 if everyone_exited else 0.1))
            except queue.Empty:
                if everyone_exited:
                    codes = [process.exitcode for process in processes]
                    raise AssertionError(f"worker processes died (exit codes {codes})") from None
        for process in processes:
            process.join(WAIT)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(WAIT)
        results.close()
        results.join_thread()
    errors = [value for kind, value in reports if kind == "error"]
    if errors:
        raise AssertionError("a worker process failed:\n" + "\n".join(errors))
    assert all(process.exitcode == 0 for process in processes)
    return [value for _, value in reports]


def _client(token_url: str, authorization_url: str, directory: str | None) -> Any:
    """A Client with a file store in ``directory``, or the default one ($PKCEFLOW_HOME)."""
    from pkceflow import Client
    from pkceflow.file_store import FileStore
    from pkceflow.plugins import make_plugin_manager

    return Client(
        PUBLIC_CLIENT_ID,
        authorization_url=authorization_url,
        token_url=token_url,
        store="file" if directory is None else FileStore(directory),
        plugin_manager=make_plugin_manager(load_entry_points=False),
        http=HttpOptions(timeout=WAIT),
    )


def _close(client: Any) -> None:
    from pkceflow.transport import Urllib3Transport

    transport = client.transport
    if isinstance(transport, Urllib3Transport):
        transport.close()


def refresh_worker(
    token_url: str,
    authorization_url: str,
    directory: str | None,
    calls: int,
    min_ttl: float,
    start: Any,
    results: Any,
) -> None:
    """Call Client.tokens(min_ttl=...) ``calls`` times; report the access tokens got."""
    try:
        client = _client(token_url, authorization_url, directory)
        start.wait(WAIT)
        if min_ttl > 1e8:
            # "No token is ever fresh enough": a clock that runs backwards sees every
            # token set as obtained in its future, so every call refreshes.
            client.driver.clock = lambda: 4e9 - time.time()
        got = [client.tokens(min_ttl=min_ttl).access_token for _ in range(calls)]
        _close(client)
        results.put(("tokens", got))
    except BaseException:
        results.put(("error", traceback.format_exc()))


def counter_worker(directory: str, cycles: int, start: Any, results: Any) -> None:
    """``cycles`` times: lock, load, replace with the counter plus one; report what it saw."""
    try:
        from pkceflow import TokenSet
        from pkceflow.file_store import FileStore

        store = FileStore(directory)
        seen = []
        start.wait(WAIT)
        for _ in range(cycles):
            with store.lock("shared"):
                current = store.load("shared")
                assert current is not None
                value = int(current.access_token.split("-")[1])
                new = TokenSet(f"access-{value + 1}", refresh_token=f"refresh-{value + 1}")
                if not store.replace("shared", current, new):
                    raise AssertionError("replace() refused under the lock")
                seen.append(value + 1)
        results.put(("seen", seen))
    except BaseException:
        results.put(("error", traceback.format_exc()))


def read_only_folder_worker(directory: str, uid: int | None, start: Any, results: Any) -> None:
    """Save, make the folder read-only, save again; report what happened.

    Run as ``uid`` (root ignores folder permissions, so root tests drop to nobody).
    """
    try:
        # Everything is imported before dropping privileges: the interpreter's own
        # files may not be readable by the unprivileged user.
        import filelock  # noqa: F401  (FileStore.lock imports it on first use)

        from pkceflow import StoreError, TokenSet
        from pkceflow.file_store import FileStore

        store = FileStore(directory)
        if uid is not None:
            os.setgid(uid)
            os.setuid(uid)
        old = TokenSet("old-access", refresh_token="old-refresh")
        store.save("default", old)
        os.chmod(directory, 0o500)
        try:
            store.save("default", TokenSet("new-access", refresh_token="new-refresh"))
        except StoreError as exc:
            outcome = f"StoreError: {exc}"
        else:
            outcome = "saved"
        results.put(("outcome", (outcome, store.load("default") == old, os.listdir(directory))))
    except BaseException:
        results.put(("error", traceback.format_exc()))
    if uid is not None:
        # Exit without atexit hooks: a coverage run would try to save its data as
        # nobody, into a folder only root may write, and fail the process.
        results.close()
        results.join_thread()
        os._exit(0)
