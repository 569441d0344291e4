"""Helpers for the security suite: hostile servers on loopback, collectors, secret forms.

Every server here is a real socket on a 127.0.0.x address, written small on purpose so
that it can misbehave in ways a proper HTTP server would not (truncated bodies, resets,
50 MB answers, reflected requests). Every loop is bounded in count and in time.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import os
import selectors
import shlex
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import pluggy

from pkceflow.loopback import LoopbackListener
from pkceflow_core.hookspecs import hookimpl

#: Bounds every wait of the suite, so a bug fails a test instead of hanging the run.
WAIT = 10.0
#: The most a test server reads of one request head or body.
_MAX_HEAD = 64 * 1024
_MAX_BODY = 1 << 20

HERE = Path(__file__).resolve().parent
# The CLI suite's browser stand-in serves here too.
FAKE_BROWSER = HERE.parent / "cli" / "fake_browser.py"


# --------------------------------------------------------------------------- raw server


@dataclass(frozen=True)
class Request:
    """One request a test server read."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


_Server = TypeVar("_Server", bound="RawServer")

#: What a test server does with a request: write whatever it likes to the socket.
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
    (``requests``), so a test can prove that nothing reached it at all.
    """

    def __init__(self, behaviour: Behaviour | None = None, *, host: str = "127.0.0.1") -> None:
        self.behaviour: Behaviour = behaviour or answer(404, b"not found\n")
        self.host = host
        self._sock = socket.create_server((host, 0))
        self._sock.setblocking(False)
        self.port: int = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._connections = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._errors: list[str] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
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
            return self._connections

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
                except (BlockingIOError, OSError):
                    continue
                with self._lock:
                    self._connections += 1
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
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
        for thread in list(self._threads):
            thread.join(WAIT)

    def __enter__(self: _Server) -> _Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


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
    """Announce ``declared`` bytes, send ``body`` (fewer), then close or reset."""

    def behave(_request: Request, conn: socket.socket) -> None:
        head = [("Content-Type", "application/json"), ("Content-Length", str(declared))]
        conn.sendall(_head(200, head, "OK") + body)
        if reset:
            # SO_LINGER with a zero timeout makes close() send a RST, not a FIN.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    return behave


# --------------------------------------------------------------------------- a reflecting proxy


class ReflectingProxy(RawServer):
    """Forwards every request to ``upstream`` (the TestProvider) and records both ways.

    While ``reflect`` is above zero, each token endpoint request is not forwarded but
    answered with an error that echoes the whole request (form and headers), the way a
    careless server's error page does; ``reflect_html`` does the same as an HTML 500.
    """

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.behaviour = self._behave
        self._upstream = urlsplit(upstream)
        self.reflect = 0
        self.reflect_html = 0
        self.responses: list[tuple[str, bytes]] = []

    def _take(self, name: str) -> bool:
        with self._lock:
            left: int = getattr(self, name)
            if left > 0:
                setattr(self, name, left - 1)
                return True
            return False

    def _behave(self, request: Request, conn: socket.socket) -> None:
        if request.path.endswith("/token"):
            echo = request.body.decode("utf-8", "replace")
            echo += " with Authorization: " + request.headers.get("authorization", "-")
            if self._take("reflect"):
                payload = {"error": "invalid_request", "error_description": f"You sent {echo}"}
                json_answer(payload, 400)(request, conn)
                return
            if self._take("reflect_html"):
                page = f"<html><body><h1>Bad request</h1><pre>{echo}</pre></body></html>"
                answer(500, page.encode(), [("Content-Type", "text/html")])(request, conn)
                return
        host, port = self._upstream.hostname, self._upstream.port
        assert host is not None
        upstream = http.client.HTTPConnection(host, port, timeout=WAIT)
        try:
            skip = {"host", "connection", "content-length", "accept-encoding"}
            headers = {k: v for k, v in request.headers.items() if k not in skip}
            upstream.request(request.method, request.target, body=request.body, headers=headers)
            response = upstream.getresponse()
            body = response.read()
            keep = ("content-type", "cache-control", "pragma", "www-authenticate", "location")
            out = [(k, v) for k, v in response.getheaders() if k.lower() in keep]
        finally:
            upstream.close()
        with self._lock:
            self.responses.append((request.path, body))
        answer(response.status, body, out)(request, conn)


# --------------------------------------------------------------------------- listener spy


class ListenerSpy:
    """A plugin whose listener is pkceflow's real LoopbackListener, kept for the test."""

    def __init__(self) -> None:
        self.listeners: list[LoopbackListener] = []
        self.ready = threading.Event()

    @hookimpl(tryfirst=True)
    def pkceflow_listener(
        self, host: str, port: int, path: str, bind_host: str | None
    ) -> LoopbackListener:
        listener = LoopbackListener(host, port, path, bind_host=bind_host)
        self.listeners.append(listener)
        self.ready.set()
        return listener

    @property
    def listener(self) -> LoopbackListener:
        assert self.ready.wait(WAIT)
        return self.listeners[-1]


# --------------------------------------------------------------------------- raw delivery


@dataclass(frozen=True)
class RawAnswer:
    status: int | None
    head: str
    body: bytes


def deliver(port: int, request_line: bytes, *, extra: bytes = b"") -> RawAnswer:
    """Send one raw request (line as given, bytes and all) to 127.0.0.1:``port``."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        data = request_line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra + b"\r\n"
        with contextlib.suppress(OSError):  # the listener may answer and hang up first
            sock.sendall(data)
        received = b""
        deadline = time.monotonic() + WAIT
        with contextlib.suppress(OSError):
            while time.monotonic() < deadline and len(received) < _MAX_BODY:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    first = head.split(b"\r\n", 1)[0].split(b" ")
    status = int(first[1]) if len(first) > 1 and first[1].isdigit() else None
    return RawAnswer(status, head.decode("latin-1"), body)


def get(port: int, target: str) -> RawAnswer:
    return deliver(port, f"GET {target} HTTP/1.1".encode("latin-1"))


# --------------------------------------------------------------------------- secrets


def _b64_forms(raw: bytes) -> set[str]:
    forms = set()
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        forms.add(text)
        forms.add(text.rstrip("="))
    return forms


def secret_forms(secret: str) -> set[str]:
    """``secret`` in clear, percent-encoded (quote, quote_plus) and base64 (all four)."""
    forms = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}
    forms |= _b64_forms(secret.encode("utf-8"))
    return {form for form in forms if form}


def basic_auth_forms(client_id: str, secret: str) -> set[str]:
    """The base64 of ``client_id:secret`` as client_secret_basic sends it (RFC 6749 2.3.1)."""
    forms = set()
    for pair in (f"{client_id}:{secret}", f"{quote_plus(client_id)}:{quote_plus(secret)}"):
        forms |= _b64_forms(pair.encode("utf-8"))
    return forms


#: Secrets made of random characters, where any long piece of one is a leak too.
RANDOM_KINDS = frozenset({"access_token", "refresh_token", "id_token", "code", "code_verifier"})
#: How long a piece of a random secret counts as a leak (20 characters: 120 bits).
FRAGMENT = 20


@dataclass
class Secrets:
    """The secret values of a run, by kind, and every form to look for."""

    values: dict[str, set[str]] = field(default_factory=dict)
    extra_forms: dict[str, set[str]] = field(default_factory=dict)

    def add(self, kind: str, value: str | None) -> None:
        if value:
            self.values.setdefault(kind, set()).add(value)

    def add_form(self, kind: str, forms: set[str]) -> None:
        self.extra_forms.setdefault(kind, set()).update(forms)

    def add_form_values(self, form: Mapping[str, str]) -> None:
        for kind in ("code", "code_verifier", "refresh_token", "client_secret"):
            self.add(kind, form.get(kind))

    def add_token_response(self, body: bytes) -> None:
        with contextlib.suppress(ValueError):
            doc = json.loads(body)
            if isinstance(doc, dict):
                for kind in ("access_token", "refresh_token", "id_token"):
                    value = doc.get(kind)
                    if isinstance(value, str):
                        self.add(kind, value)

    def kinds(self) -> set[str]:
        return set(self.values) | set(self.extra_forms)

    def forms(self) -> Iterator[tuple[str, str]]:
        for kind, values in self.values.items():
            for value in values:
                for form in secret_forms(value):
                    yield kind, form
        for kind, forms in self.extra_forms.items():
            for form in forms:
                yield kind, form

    def leaks(self, sinks: Mapping[str, str]) -> list[str]:
        """``where: kind`` for every sink holding a form of a secret, or a long piece of one.

        A piece is any FRAGMENT characters of a random secret (not of the client secret,
        which shares its start with the client_id): cutting a 43-character token to 40
        characters for a message does not make it safe to show.
        """
        found = []
        for kind, form in self.forms():
            for where, text in sinks.items():
                if form in text:
                    found.append(f"{where}: {kind} ({form[:6]}...)")
        pieces: dict[str, str] = {}
        for kind, values in self.values.items():
            if kind in RANDOM_KINDS:
                for value in values:
                    for start in range(max(len(value) - FRAGMENT + 1, 0)):
                        pieces[value[start : start + FRAGMENT]] = kind
        for where, text in sinks.items():
            for start in range(max(len(text) - FRAGMENT + 1, 0)):
                kind = pieces.get(text[start : start + FRAGMENT], "")
                if kind:
                    found.append(f"{where}: a piece of {kind}")
        return sorted(set(found))


# --------------------------------------------------------------------------- collectors


def exception_texts(exc: BaseException) -> list[str]:
    """str and repr of ``exc`` and of every exception chained to it, and its traceback."""
    texts: list[str] = []
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    for _ in range(50):  # bounded: chains are short, cycles are cut by ``seen``
        if not todo:
            break
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        todo += [current.__cause__, current.__context__]
    texts.append("".join(traceback.format_exception(exc)))
    return texts


class LogCollector(logging.Handler):
    """Every record of every logger at DEBUG, rendered (exceptions included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []
        self._saved: list[tuple[logging.Logger, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def __enter__(self) -> LogCollector:
        root = logging.getLogger()
        names = ["urllib3", "pkceflow", *logging.root.manager.loggerDict]
        loggers = [root, *(logging.getLogger(name) for name in names)]
        for logger in loggers:
            self._saved.append((logger, logger.level))
            logger.setLevel(logging.DEBUG)
        root.addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        logging.getLogger().removeHandler(self)
        for logger, level in self._saved:
            logger.setLevel(level)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class HookRecorder:
    """Every pluggy hook call's arguments, rendered; TokenSets by repr only."""

    #: These hooks carry the TokenSet on purpose; only its repr must be clean.
    TOKEN_HOOKS = frozenset({"pkceflow_token_received", "pkceflow_token_changed"})

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.texts: list[str] = []
        self.names: list[str] = []
        self._undo = manager.add_hookcall_monitoring(self._before, self._after)

    def _before(self, hook_name: str, _impls: Any, kwargs: Mapping[str, Any]) -> None:
        self.names.append(hook_name)
        for name, value in kwargs.items():
            if hook_name in self.TOKEN_HOOKS:
                self.texts.append(f"{hook_name} {name}={value!r}")
            elif isinstance(value, BaseException):
                self.texts += exception_texts(value)
            else:
                self.texts.append(f"{hook_name} {name}={value!r} {value}")

    def _after(self, *_: Any) -> None:
        pass

    def close(self) -> None:
        self._undo()


# --------------------------------------------------------------------------- the CLI


def pkceflow_command() -> list[str]:
    """The ``pkceflow`` console script next to the interpreter, else ``-m pkceflow.cli``."""
    script = Path(sys.executable).with_name("pkceflow")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "pkceflow.cli"]


def cli_env(root: Path, **extra: str) -> dict[str, str]:
    """An environment for ``pkceflow`` with its own home and the fake browser."""
    dropped = ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY", "PKCEFLOW_HOME")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        PKCEFLOW_HOME=str(root / "pkceflow-home"),
        XDG_CONFIG_HOME=str(root / "xdg-config"),
        XDG_DATA_HOME=str(root / "xdg-data"),
        XDG_STATE_HOME=str(root / "xdg-state"),
        BROWSER=f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE_BROWSER))} %s",
        FAKE_BROWSER_LOG=str(root / "browser.jsonl"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def run_cli(
    args: Iterable[str],
    env: Mapping[str, str],
    *,
    timeout: float = 40.0,
    umask: int | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``pkceflow *args`` to the end; stdin is /dev/null."""

    def set_umask() -> None:
        if umask is not None:
            os.umask(umask)

    return subprocess.run(
        [*pkceflow_command(), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=dict(env),
        timeout=timeout,
        check=False,
        preexec_fn=set_umask if umask is not None else None,
    )
