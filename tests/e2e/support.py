"""pkceflow's side of the end-to-end suite: browser adapters, transports, the CLI runner.

``harness.py`` gives the authorization server and the ways to log in; this module plugs
them into pkceflow:

- :class:`ThreadedSignIn`, a ``BrowserLauncher`` that walks a sign-in in a thread of its
  own, and :class:`HttpBrowser`, the one for ``Client(browser=...)`` that logs in over
  plain HTTP (``http_login``) and then requests the redirect at pkceflow's loopback
  listener, like a browser following the redirect would;
- :class:`QueueBrowser`, which hands the URL to the thread that owns Playwright (its sync
  API is not thread-safe), while ``client.login()`` runs in a :class:`Worker` thread;
- :class:`RecordingTransport`, a Transport wrapper that keeps every request pkceflow sent;
- :class:`PkceflowCli`, which runs the real ``pkceflow`` console script in a subprocess
  with ``PKCEFLOW_HOME`` in a temporary folder and ``BROWSER`` set to ``browser_cli.py``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any, Literal, TypeVar

from pkceflow.client import Client
from pkceflow.settings import Interaction
from pkceflow_core import HttpRequest, HttpResponse, TokenSet
from pkceflow_core.ports import BrowserLauncher, Transport
from tests.support.cli import Cli
from tests.support.threads import Background

from .harness import (
    E2E_DIR,
    HTTP_TIMEOUT,
    PUBLIC_CLIENT_ID,
    CancelAt,
    HarnessError,
    OidcProviderServer,
    http_login,
    http_request,
    query_params,
)

T = TypeVar("T")

#: The console script installed next to this interpreter, as a user would run it.
PKCEFLOW = Path(sys.executable).parent / "pkceflow"
#: On PYTHONPATH for the CLI subprocesses, so ``python -m e2e.browser_cli`` imports.
TESTS_DIR = E2E_DIR.parent
#: How long a login may wait for its callback in these tests (pkceflow's default is 300 s).
LOGIN_TIMEOUT = 30.0
#: What the library's Clients ask for unless a test says otherwise.
SCOPE = "openid email profile"


# --------------------------------------------------------------------------------------------
# The library's Client.


def make_client(
    server: OidcProviderServer,
    transport: Transport,
    browser: BrowserLauncher,
    *,
    client_id: str = PUBLIC_CLIENT_ID,
    scope: str = SCOPE,
    **kwargs: Any,
) -> Client:
    """Client.from_issuer: everything pkceflow needs comes from the issuer URL alone."""
    return Client.from_issuer(
        server.issuer,
        client_id,
        transport=transport,
        browser=browser,
        scope=scope,
        interaction=Interaction(timeout=LOGIN_TIMEOUT),
        **kwargs,
    )


# --------------------------------------------------------------------------------------------
# Delivering the redirect to pkceflow's listener.


@dataclass
class Delivery:
    """What pkceflow's loopback listener answered to the redirect.

    ``status`` is its answer to the callback (303 to the result page when the login is
    over), ``page_url`` and ``page`` the result page it redirected to ("Signed in" or
    "Sign-in failed" and why); without a redirect, ``page`` is the answer itself."""

    status: int
    page_url: str | None = None
    page_status: int | None = None
    page: str = ""

    @property
    def signed_in(self) -> bool:
        return self.page_status == 200 and "<h1>Signed in</h1>" in self.page

    @property
    def failed(self) -> bool:
        return self.page_status == 200 and "<h1>Sign-in failed</h1>" in self.page


def deliver_redirect(url: str, *, timeout: float = HTTP_TIMEOUT) -> Delivery:
    """Request the redirect URL as a browser would, following the listener's 303."""
    answer = http_request(url, headers={"Accept": "text/html"}, timeout=timeout)
    delivery = Delivery(answer.status)
    location = answer.header("Location")
    if answer.status != 303:
        delivery.page = answer.body.decode("utf-8", "replace")  # e.g. a refusal (400)
    elif location:
        delivery.page_url = urllib.parse.urljoin(url, location)
        page = http_request(delivery.page_url, headers={"Accept": "text/html"}, timeout=timeout)
        delivery.page_status = page.status
        delivery.page = page.body.decode("utf-8", "replace")
    return delivery


# --------------------------------------------------------------------------------------------
# Browser adapters for the library (Client(browser=...)).


class ThreadedSignIn:
    """A BrowserLauncher whose ``open(url)`` returns at once (pkceflow then waits at its
    listener) while a thread of its own runs :meth:`_walk` (each subclass's sign-in).

    :meth:`join_threads` waits for those threads and re-raises what went wrong in them.
    """

    #: The name of the sign-in threads.
    thread_name = "e2e-sign-in"

    def __init__(self) -> None:
        self.urls: list[str] = []
        #: What the sign-in threads raised, first failure first.
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def open(self, url: str) -> bool:
        self.urls.append(url)
        thread = threading.Thread(target=self._run, args=(url,), name=self.thread_name, daemon=True)
        self._threads.append(thread)
        thread.start()
        return True

    def _run(self, url: str) -> None:
        try:
            self._walk(url)
        except BaseException as exc:  # handed to the test thread by join_threads()
            self.errors.append(exc)

    def _walk(self, url: str) -> None:
        """Sign in at ``url`` (in the sign-in thread)."""
        raise NotImplementedError

    def join_threads(self, timeout: float) -> None:
        """Wait for the sign-in threads; re-raise the first error in them."""
        for thread in self._threads:
            thread.join(timeout)
            if thread.is_alive():
                raise HarnessError(f"the sign-in did not end within {timeout:g} s")
        if self.errors:
            raise self.errors[0]


class HttpBrowser(ThreadedSignIn):
    """A BrowserLauncher that logs in over plain HTTP, in a thread of its own.

    ``open(url)`` returns at once (pkceflow then waits at its listener) while the thread
    runs :func:`http_login` and requests the redirect it ends at. ``rewrite`` may change
    that redirect URL first (to drop or alter ``iss``); each query in ``stray`` is sent
    to the redirect URI before the real redirect (forged callbacks), its answer kept in
    ``stray_deliveries``. Call :meth:`join` after ``client.login()`` returns or raises:
    it re-raises what went wrong in the thread.
    """

    thread_name = "e2e-http-browser"

    def __init__(
        self,
        *,
        login: str = "alice",
        consent: bool = True,
        cancel_at: CancelAt | None = None,
        rewrite: Callable[[str], str] | None = None,
        stray: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.login = login
        self.consent = consent
        self.cancel_at = cancel_at
        self.rewrite = rewrite
        self.stray = tuple(stray)
        self.stray_deliveries: list[Delivery] = []
        #: The URL the authorization server redirected to (before ``rewrite``).
        self.landed: str | None = None
        #: The URL requested at pkceflow's listener (after ``rewrite``).
        self.delivered: str | None = None
        self.delivery: Delivery | None = None

    def _walk(self, url: str) -> None:
        self.landed = http_login(
            url, login=self.login, consent=self.consent, cancel_at=self.cancel_at
        )
        redirect_uri = self.landed.split("?", 1)[0]
        for query in self.stray:
            self.stray_deliveries.append(deliver_redirect(f"{redirect_uri}?{query}"))
        self.delivered = self.rewrite(self.landed) if self.rewrite else self.landed
        self.delivery = deliver_redirect(self.delivered)

    def join(self, timeout: float = 2 * HTTP_TIMEOUT) -> Delivery:
        """Wait for the thread; re-raise its error; return the listener's answer."""
        self.join_threads(timeout)
        if self.delivery is None:
            raise HarnessError("the HTTP browser was never opened")
        return self.delivery

    @property
    def authorization_params(self) -> dict[str, str]:
        """The query of the (one) authorization URL pkceflow opened."""
        assert len(self.urls) == 1, self.urls
        return query_params(self.urls[0])

    @property
    def callback_params(self) -> dict[str, str]:
        """The query of the redirect the authorization server sent."""
        assert self.landed is not None
        return query_params(self.landed)


class QueueBrowser:
    """A BrowserLauncher that only hands the URL over to another thread (Playwright's)."""

    def __init__(self) -> None:
        self._urls: Queue[str] = Queue()

    def open(self, url: str) -> bool:
        self._urls.put(url)
        return True

    def next_url(self, timeout: float = HTTP_TIMEOUT) -> str:
        try:
            return self._urls.get(timeout=timeout)
        except Empty:
            raise HarnessError(f"pkceflow opened no URL within {timeout:g} s") from None


class Worker(Background[T]):
    """Runs ``function`` in a daemon thread; :meth:`result` returns or re-raises."""

    def __init__(self, function: Callable[[], T], name: str = "e2e-worker") -> None:
        super().__init__(function, name=name)

    def result(self, timeout: float = LOGIN_TIMEOUT + 10) -> T:
        """The call's return value, within a login's time; re-raises what it raised."""
        return super().result(timeout)


def relayed_url(result_file: Path, *, timeout: float = 20.0) -> str:
    """The authorization URL ``browser_cli.py`` in relay mode wrote to ``result_file``."""
    deadline = time.monotonic() + timeout
    while not result_file.exists():
        if time.monotonic() > deadline:
            raise HarnessError(f"no authorization URL reached {result_file} within {timeout:g} s")
        time.sleep(0.02)
    outcome = json.loads(result_file.read_text("utf-8"))
    if outcome.get("error"):
        raise HarnessError(f"the BROWSER script failed: {outcome['error']}")
    return str(outcome["authorization_url"])


# --------------------------------------------------------------------------------------------
# Transports.


@dataclass(frozen=True)
class Exchange:
    """One request pkceflow sent through a :class:`RecordingTransport` and its answer."""

    request: HttpRequest
    response: HttpResponse | None

    @property
    def form(self) -> dict[str, str]:
        """The request body as form fields (first value each)."""
        return dict(urllib.parse.parse_qsl(self.request.body.decode("ascii")))


class RecordingTransport:
    """Passes every request to ``inner`` and keeps it, with the answer, in ``exchanges``."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.exchanges: list[Exchange] = []

    def send(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse | None = None
        try:
            response = self.inner.send(request)
            return response
        finally:
            self.exchanges.append(Exchange(request, response))

    def to(self, url: str) -> list[Exchange]:
        """The exchanges with ``url`` (an endpoint, compared without the query)."""
        return [e for e in self.exchanges if e.request.url.split("?", 1)[0] == url]


# --------------------------------------------------------------------------------------------
# Waiting for the provider to expire an access token.


def wait_until_expired(
    server: OidcProviderServer, tokens: TokenSet, *, timeout: float = 10.0
) -> None:
    """Until the provider says the access token is inactive and pkceflow's own clock has
    passed its ``expires_at`` too (the provider counts whole seconds)."""
    assert tokens.expires_at is not None
    deadline = time.monotonic() + timeout
    while server.introspect(tokens.access_token)["active"] or time.time() <= tokens.expires_at:
        if time.monotonic() > deadline:
            raise HarnessError(f"the access token did not expire within {timeout:g} s")
        time.sleep(0.1)


# --------------------------------------------------------------------------------------------
# The command line.

#: ``relay`` only writes the URL to the result file: the test then signs in itself.
BrowserMode = Literal["http", "chromium", "relay"]


@dataclass(frozen=True)
class BrowserOutcome:
    """What ``browser_cli.py`` wrote: the authorization URL it was given, where the
    authorization server sent it (``landed``) and pkceflow's result page, or ``error``."""

    data: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def authorization_params(self) -> dict[str, str]:
        return query_params(str(self.data["authorization_url"]))

    @property
    def callback_params(self) -> dict[str, str]:
        return query_params(str(self.data["landed"]))

    @property
    def page(self) -> str:
        return str(self.data.get("page") or "")


@dataclass
class CliRun:
    """One finished ``pkceflow`` run; ``str()`` is a report for assertion messages."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    result_file: Path | None = None
    _outcome: BrowserOutcome | None = field(default=None, repr=False)

    def __str__(self) -> str:
        text = (
            f"pkceflow {shlex.join(self.args)} -> exit {self.returncode}\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )
        if self.result_file is not None:
            for path in (self.result_file, self.result_file.with_suffix(".log")):
                if path.exists():
                    text += f"--- {path.name}\n{path.read_text('utf-8', 'replace')}\n"
        return text

    def browser(self, timeout: float = 20.0) -> BrowserOutcome:
        """What the BROWSER script did (waits for it to finish; it runs in the background)."""
        if self._outcome is not None:
            return self._outcome
        if self.result_file is None:
            raise HarnessError("this run had no browser")
        deadline = time.monotonic() + timeout
        while not self.result_file.exists():
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"the BROWSER script wrote no result within {timeout:g} s\n{self}"
                )
            time.sleep(0.05)
        self._outcome = BrowserOutcome(json.loads(self.result_file.read_text("utf-8")))
        if self._outcome.data.get("error"):
            raise HarnessError(f"the BROWSER script failed: {self._outcome['error']}\n{self}")
        return self._outcome


class PkceflowCli:
    """Runs the real ``pkceflow`` console script with ``PKCEFLOW_HOME`` = ``home``.

    A ``tests.support.cli.Cli`` without its fake browser does the running: stdin is
    /dev/null (no paste prompt), there is no display, and ``BROWSER``, when a run asks
    for one, runs ``browser_cli.py`` (``browser="http"`` or ``"chromium"``) in the
    background, which writes what it did to a JSON file (:meth:`CliRun.browser`).
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.tokens_dir = home / "tokens"
        self.profiles_dir = home / "profiles"
        self._runs = 0
        self._cli = Cli(home.parent, home=home, fake_browser=False)
        self._cli.command = [str(PKCEFLOW)]
        env = self._cli.env
        for name in [n for n in env if n.startswith("E2E_") or n in ("TERM", "CI")]:
            del env[name]
        for name in [n for n in env if n.startswith("PKCEFLOW_") and n != "PKCEFLOW_HOME"]:
            del env[name]
        # browser_cli.py is ``e2e.browser_cli``, and imports ``tests.support``.
        path = [str(TESTS_DIR), str(TESTS_DIR.parent), *filter(None, [env.get("PYTHONPATH")])]
        env["PYTHONPATH"] = os.pathsep.join(path)

    def env(self) -> dict[str, str]:
        """The environment of every run (without a browser)."""
        return dict(self._cli.env)

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """Start ``pkceflow *args`` without a browser; the caller waits and reads its pipes."""
        return self._cli.spawn(*args)

    def run(
        self,
        *args: str,
        browser: BrowserMode | None = None,
        login: str = "alice",
        cancel_at: CancelAt | None = None,
        command: list[str] | None = None,
        browser_waits: bool = False,
        delivery_timeout: float | None = None,
        timeout: float = LOGIN_TIMEOUT + 15,
    ) -> CliRun:
        """``pkceflow ARGS...`` (or ``command + ARGS``); waits for it to exit.

        ``browser_waits`` leaves the ``&`` off BROWSER, so that webbrowser waits for the
        browser command to exit (as it does for ``BROWSER=w3m``); ``delivery_timeout``
        bounds how long the browser waits for pkceflow's listener to answer."""
        env: dict[str, str] = {}
        result_file: Path | None = None
        if browser is not None:
            result_file = self.next_result_file()
            self._runs += 1
            env["E2E_BROWSER_RESULT"] = str(result_file)
            env["E2E_BROWSER_MODE"] = browser
            env["E2E_BROWSER_LOGIN"] = login
            if cancel_at is not None:
                env["E2E_BROWSER_CANCEL_AT"] = cancel_at
            if delivery_timeout is not None:
                env["E2E_BROWSER_DELIVERY_TIMEOUT"] = str(delivery_timeout)
            # webbrowser splits BROWSER at os.pathsep, substitutes %s after shlex-splitting,
            # and with a trailing "&" starts it in the background without waiting for it.
            command_line = f"{shlex.quote(sys.executable)} -m e2e.browser_cli %s"
            env["BROWSER"] = command_line if browser_waits else command_line + " &"
            assert os.pathsep not in env["BROWSER"]
        done = self._cli.run(*args, env=env, command=command, timeout=timeout)
        return CliRun(list(args), done.returncode, done.stdout, done.stderr, result_file)

    def next_result_file(self) -> Path:
        """The file the BROWSER script of the next :meth:`run` with a browser writes."""
        return self.home.parent / f"browser-{self._runs + 1}.json"

    def login(
        self,
        server: OidcProviderServer,
        *extra: str,
        client_id: str = PUBLIC_CLIENT_ID,
        scope: str = "openid email profile",
        browser: BrowserMode = "http",
        login: str = "alice",
        cancel_at: CancelAt | None = None,
        command: list[str] | None = None,
        **options: Any,
    ) -> CliRun:
        """``pkceflow login --issuer ISSUER --client-id ID --scope SCOPE EXTRA...``."""
        return self.run(
            "login",
            "--issuer",
            server.issuer,
            "--client-id",
            client_id,
            "--scope",
            scope,
            "--timeout",
            str(LOGIN_TIMEOUT),
            *extra,
            browser=browser,
            login=login,
            cancel_at=cancel_at,
            command=command,
            **options,
        )

    def stored(self, profile: str = "default") -> TokenSet | None:
        """The token set the file store holds for ``profile`` (read with pkceflow's FileStore)."""
        from pkceflow.file_store import FileStore

        return FileStore(self.tokens_dir).load(profile)

    def profile(self, name: str = "default") -> dict[str, Any]:
        """The saved profile file, parsed."""
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - 3.10 only
            import tomli as tomllib

        data: dict[str, Any] = tomllib.loads(
            (self.profiles_dir / f"{name}.toml").read_text("utf-8")
        )
        return data
