"""Helpers for the security suite: a reflecting proxy, listener spies, collectors, secrets.

The servers are ``tests.support.raw_http`` servers on 127.0.0.x addresses, written small
on purpose so that they can misbehave in ways a proper HTTP server would not; raw
requests go to pkceflow's listener byte for byte. Every loop is bounded in count and in
time.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import socket
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import pluggy

from pkceflow import Client
from pkceflow.file_store import FileStore
from pkceflow.loopback import LoopbackListener
from pkceflow.settings import Interaction
from pkceflow_core import ServerMetadata
from pkceflow_core.hookspecs import hookimpl
from pkceflow_core.ports import BrowserLauncher
from tests.support.raw_http import RawServer, Request, answer, json_answer

#: Bounds every wait of the suite, so a bug fails a test instead of hanging the run.
WAIT = 10.0
#: The profile the suite's clients keep their logins under.
PROFILE = "sec"
#: The most a raw delivery reads of an answer.
_MAX_ANSWER = 1 << 20


# --------------------------------------------------------------------------- clients


def new_client(
    client_id: str,
    *,
    server: ServerMetadata,
    store: FileStore,
    browser: BrowserLauncher,
    plugin_manager: pluggy.PluginManager,
    scope: str = "profile",
    timeout: float = WAIT,
    **options: Any,
) -> Client:
    """A Client keeping its login in ``store`` as PROFILE, asking nobody to paste and
    waiting ``timeout`` seconds for the callback; ``options`` go to Client as they are."""
    return Client(
        client_id,
        server=server,
        scope=scope,
        store=store,
        profile=PROFILE,
        browser=browser,
        plugin_manager=plugin_manager,
        interaction=Interaction(paste=False, timeout=timeout),
        **options,
    )


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
            while time.monotonic() < deadline and len(received) < _MAX_ANSWER:
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
