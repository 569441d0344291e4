"""In-memory fakes of the core's ports, small builders of server answers, and drivers on them.

Every fake records what the core asked of it, so a test can state both what came
out and what was done on the way: the requests sent, the replies given to the
browser, the events fired, what the store holds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pkceflow_core import (
    CallbackReply,
    CallbackTimeoutError,
    ClientConfig,
    Driver,
    Events,
    HttpRequest,
    HttpResponse,
    PkceflowError,
    Quirks,
    ServerMetadata,
    TokenSet,
)
from pkceflow_core.ports import CallbackHandler

ISSUER = "https://as.example.com"
AUTHORIZATION_ENDPOINT = "https://as.example.com/authorize"
TOKEN_ENDPOINT = "https://as.example.com/token"
REVOCATION_ENDPOINT = "https://as.example.com/revoke"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
#: A fixed clock reading (seconds since the epoch) that tests start from.
NOW = 1_700_000_000.0
#: The store key of the login the drivers' tests keep.
KEY = "work"


def make_server(
    *,
    issuer: str | None = ISSUER,
    authorization_endpoint: str = AUTHORIZATION_ENDPOINT,
    revocation_endpoint: str | None = REVOCATION_ENDPOINT,
    iss_supported: bool = False,
    quirks: Quirks = Quirks(),
) -> ServerMetadata:
    """The test authorization server, with the parts a test needs changed."""
    return ServerMetadata(
        authorization_endpoint=authorization_endpoint,
        token_endpoint=TOKEN_ENDPOINT,
        issuer=issuer,
        revocation_endpoint=revocation_endpoint,
        authorization_response_iss_parameter_supported=iss_supported,
        quirks=quirks,
    )


# -- answers of a server -------------------------------------------------------------


def json_response(doc: object, status: int = 200) -> HttpResponse:
    """An ``application/json`` answer holding ``doc``."""
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(doc).encode())


def token_response(
    access_token: str = "access-1", *, status: int = 200, **members: object
) -> HttpResponse:
    """A successful RFC 6749 5.1 token response; ``members`` adds or overrides fields."""
    doc: dict[str, object] = {"access_token": access_token, "token_type": "Bearer"}
    doc.update(members)
    return json_response(doc, status)


def error_response(error: str, status: int = 400, **members: object) -> HttpResponse:
    """An RFC 6749 5.2 error response."""
    return json_response({"error": error, **members}, status)


def form_of(request: HttpRequest) -> dict[str, str]:
    """The form fields of a POST body, refusing repeated names."""
    pairs = parse_qsl(request.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    form = dict(pairs)
    assert len(form) == len(pairs), "a form field was sent twice"
    return form


def query_of(url: str) -> dict[str, str]:
    """The query parameters of ``url``, refusing repeated names."""
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    query = dict(pairs)
    assert len(query) == len(pairs), "a query parameter was sent twice"
    return query


# -- Transport -----------------------------------------------------------------------

#: One scripted answer: a response, an error to raise, or a function of the request.
Step = HttpResponse | PkceflowError | Callable[[HttpRequest], HttpResponse]


class ScriptedTransport:
    """Answers requests from a script, in order, and records every request.

    ``delay`` seconds pass inside each send (outside the recording lock), so that
    concurrent callers really overlap. A request beyond the script fails the test.
    """

    def __init__(self, *script: Step, delay: float = 0.0) -> None:
        self._script = list(script)
        self._lock = threading.Lock()
        self.delay = delay
        self.requests: list[HttpRequest] = []

    def add(self, *steps: Step) -> None:
        """Append answers to the script."""
        with self._lock:
            self._script.extend(steps)

    def send(self, request: HttpRequest) -> HttpResponse:
        with self._lock:
            self.requests.append(request)
            if not self._script:
                raise AssertionError(f"unexpected request: {request.method} {request.url}")
            step = self._script.pop(0)
        if self.delay:
            time.sleep(self.delay)
        if isinstance(step, PkceflowError):
            raise step
        if isinstance(step, HttpResponse):
            return step
        return step(request)

    @property
    def forms(self) -> list[dict[str, str]]:
        """The form bodies of the POST requests sent, in order."""
        return [form_of(r) for r in self.requests if r.method == "POST"]


# -- BrowserLauncher and RedirectListener --------------------------------------------


class FakeBrowser:
    """Records the URLs it is asked to open; ``opens`` is what ``open`` answers."""

    def __init__(self, *, opens: bool = True) -> None:
        self.opens = opens
        self.opened: list[str] = []

    def open(self, url: str) -> bool:
        self.opened.append(url)
        return self.opens

    @property
    def params(self) -> dict[str, str]:
        """The query of the last URL opened (what the provider would have read)."""
        return query_of(self.opened[-1]) if self.opened else {}


class FakeListener:
    """Feeds callback request targets to the driver's handler and records its replies.

    Each target is a template filled in from the query of the URL the browser
    opened (``{state}``, ``{nonce}``...), standing in for the provider's redirect.
    When the targets run out before a reply says ``done``, ``wait`` raises
    CallbackTimeoutError, as a real listener would at its deadline.
    """

    def __init__(
        self,
        browser: FakeBrowser,
        targets: Sequence[str],
        *,
        redirect_uri: str = REDIRECT_URI,
    ) -> None:
        self._browser = browser
        self._redirect_uri = redirect_uri
        self.targets = list(targets)
        self.replies: list[CallbackReply] = []
        self.timeouts: list[float] = []
        self.closed = False

    @property
    def redirect_uri(self) -> str:
        return self._redirect_uri

    def feed(self, url_or_query: str) -> CallbackReply | None:
        """Paste-back is not part of these tests: nothing is waiting for it."""
        return None

    def wait(self, handle: CallbackHandler, *, timeout: float) -> None:
        self.timeouts.append(timeout)
        params = self._browser.params
        rejected = 0
        for template in self.targets:
            reply = handle(template.format_map(params))
            self.replies.append(reply)
            if reply.done:
                return
            rejected += 1
        raise CallbackTimeoutError("no valid callback arrived", rejected=rejected)

    def close(self) -> None:
        self.closed = True


# -- TokenStore ----------------------------------------------------------------------


class MemoryStore:
    """A thread-safe in-memory TokenStore whose ``lock`` is a threading.Lock per key."""

    def __init__(self, initial: Mapping[str, TokenSet] | None = None) -> None:
        self._data: dict[str, TokenSet] = dict(initial or {})
        self._mutex = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self.deleted: list[str] = []

    def load(self, key: str) -> TokenSet | None:
        with self._mutex:
            return self._data.get(key)

    def save(self, key: str, tokens: TokenSet) -> None:
        with self._mutex:
            self._data[key] = tokens

    def replace(self, key: str, old: TokenSet, new: TokenSet) -> bool:
        with self._mutex:
            if self._data.get(key) != old:
                return False
            self._data[key] = new
            return True

    def delete(self, key: str) -> None:
        with self._mutex:
            self._data.pop(key, None)
            self.deleted.append(key)

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        with self._mutex:
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:
            yield

    def is_locked(self, key: str) -> bool:
        """True while some thread holds ``lock(key)``."""
        with self._mutex:
            key_lock = self._locks.get(key)
        return key_lock is not None and key_lock.locked()


class ChangedMeanwhile(MemoryStore):
    """A MemoryStore in which ``meanwhile(store, key)`` runs each time a lock is taken:
    what another thread or process did with the login while the caller waited for it."""

    def __init__(
        self, initial: Mapping[str, TokenSet], meanwhile: Callable[[MemoryStore, str], None]
    ) -> None:
        super().__init__(initial)
        self._meanwhile = meanwhile

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        with super().lock(key):
            self._meanwhile(self, key)
            yield


# -- Clock, events, id_token check, entropy ------------------------------------------


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingEvents(Events):
    """Records every event as ``(name, arguments)``, in order, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _record(self, name: str, *args: Any) -> None:
        with self._lock:
            self.calls.append((name, args))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def authorization_url(self, url: str) -> None:
        self._record("authorization_url", url)

    def callback_received(self) -> None:
        self._record("callback_received")

    def token_received(self, key: str, tokens: TokenSet) -> None:
        self._record("token_received", key, tokens)

    def refresh_done(self, key: str, expires_at: float | None) -> None:
        self._record("refresh_done", key, expires_at)

    def token_changed(self, key: str, tokens: TokenSet) -> None:
        self._record("token_changed", key, tokens)

    def error(self, key: str, error: PkceflowError) -> None:
        self._record("error", key, error)


class IdTokenChecker:
    """An id_token check that records its calls and raises ``error`` when given one."""

    def __init__(self, error: PkceflowError | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, str | None]] = []
        self.previous: list[TokenSet | None] = []

    def __call__(self, tokens: TokenSet, nonce: str | None, previous: TokenSet | None) -> None:
        self.calls.append((tokens.id_token or "", nonce))
        self.previous.append(previous)
        if self.error is not None:
            raise self.error


class CountingEntropy:
    """Deterministic ``token_bytes``: a counter's bytes, with every request recorded."""

    def __init__(self) -> None:
        self.requests: list[int] = []

    def __call__(self, n: int) -> bytes:
        self.requests.append(n)
        seed = len(self.requests)
        return bytes((seed * 31 + i) % 256 for i in range(n))


# -- drivers on the fakes -------------------------------------------------------------------


def make_driver(
    transport: ScriptedTransport,
    store: MemoryStore,
    clock: FakeClock,
    *,
    server: ServerMetadata | None = None,
    **options: Any,
) -> Driver:
    """A Driver of the public client ``pkceflow-cli`` at ``server`` (``make_server()``)."""
    return Driver(
        server or make_server(),
        ClientConfig("pkceflow-cli"),
        transport,
        store,
        clock=clock,
        **options,
    )


@dataclass
class Rig:
    """A driver wired to fakes of every port."""

    server: ServerMetadata = field(default_factory=make_server)
    transport: ScriptedTransport = field(default_factory=ScriptedTransport)
    store: MemoryStore = field(default_factory=MemoryStore)
    events: RecordingEvents = field(default_factory=RecordingEvents)
    clock: FakeClock = field(default_factory=FakeClock)
    checker: IdTokenChecker = field(default_factory=IdTokenChecker)
    browser: FakeBrowser = field(default_factory=FakeBrowser)

    @property
    def driver(self) -> Driver:
        return make_driver(
            self.transport,
            self.store,
            self.clock,
            server=self.server,
            events=self.events,
            check_id_token=self.checker,
        )

    def listener(self, *targets: str) -> FakeListener:
        return FakeListener(self.browser, targets)

    def login(self, *targets: str, **kwargs: Any) -> TokenSet:
        return self.driver.login(
            KEY, listener=self.listener(*targets), browser=self.browser, **kwargs
        )
