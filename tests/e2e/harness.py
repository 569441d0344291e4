"""Helpers for the end-to-end suite: a real oidc-provider server and a real (or HTTP) browser.

Everything here talks to loopback addresses only. The fixtures that use these helpers live
in ``conftest.py``; tests in this package import the pieces they need with
``from .harness import ...``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import html
import json
import os
import re
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import pytest

from tests.support.browsers import CHROMIUM_PATH, LOOPBACK_HOSTS

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Request

E2E_DIR = Path(__file__).resolve().parent
SERVER_SCRIPT = E2E_DIR / "server.mjs"
OIDC_PROVIDER_PACKAGE = E2E_DIR / "node_modules" / "oidc-provider" / "package.json"

PUBLIC_CLIENT_ID = "pkceflow-public"
CONFIDENTIAL_CLIENT_ID = "pkceflow-confidential"
CONFIDENTIAL_CLIENT_SECRET = "pkceflow-confidential-secret"
REDIRECT_PATH = "/callback"
# Registered on both clients without a port; any port matches (RFC 8252 section 7.3).
REGISTERED_REDIRECT_URIS: tuple[str, ...] = (
    "http://127.0.0.1/callback",
    "http://[::1]/callback",
    "http://localhost/callback",
)

DEFAULT_ACCESS_TOKEN_TTL = 3600
STARTUP_TIMEOUT = 20.0
HTTP_TIMEOUT = 10.0

CancelAt = Literal["login", "consent"]
JSONObject = dict[str, Any]


class HarnessError(RuntimeError):
    """The harness itself could not do what was asked (server start, login walk, ...)."""


class AuthorizationServerError(HarnessError):
    """oidc-provider rendered its error page instead of redirecting to the client.

    ``status`` is the HTTP status (0 when seen through the browser), ``error`` and
    ``description`` the OAuth error code and description the page shows."""

    def __init__(self, status: int, error: str, description: str, url: str) -> None:
        super().__init__(
            f"authorization server error page ({status}) at {url}: {error}: {description}"
        )
        self.status = status
        self.error = error
        self.description = description
        self.url = url


# --------------------------------------------------------------------------------------------
# Environment checks: skip locally, fail on CI.


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"end-to-end prerequisites missing on CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_oidc_provider() -> None:
    """Skip (fail when CI=true) unless node and tests/e2e/node_modules are installed."""
    if shutil.which("node") is None:
        _missing("node is not installed (needed to run tests/e2e/server.mjs)")
    if not OIDC_PROVIDER_PACKAGE.is_file():
        _missing(f"oidc-provider is not installed: run `npm ci` in {E2E_DIR}")


def require_chromium() -> None:
    """Skip (fail when CI=true) unless Debian's chromium and the playwright package exist."""
    if not os.access(CHROMIUM_PATH, os.X_OK):
        _missing(f"{CHROMIUM_PATH} is missing: apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright Python package is not installed: pip install playwright")


# --------------------------------------------------------------------------------------------
# Small HTTP client pieces (urllib, loopback only).


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A response header, looked up case-insensitively."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def json(self) -> JSONObject:
        data = json.loads(self.body.decode("utf-8"))
        if not isinstance(data, dict):
            raise HarnessError(f"expected a JSON object, got {data!r}")
        return data


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> None:
        return None


def _check_loopback(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise HarnessError(f"refusing to contact a non-loopback URL: {url}")


def _send(
    opener: urllib.request.OpenerDirector,
    url: str,
    *,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    method: str | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> HttpResponse:
    """One request, no redirect following; any status comes back as an HttpResponse."""
    _check_loopback(url)
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}), method=method)
    try:
        with opener.open(request, timeout=timeout) as response:
            return HttpResponse(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as err:
        with err:
            return HttpResponse(err.code, dict(err.headers.items()), err.read())


_PLAIN_OPENER = urllib.request.build_opener(_NoRedirect())


def http_request(
    url: str,
    *,
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    method: str | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> HttpResponse:
    """A plain loopback request (form-encoded POST when ``form`` is given), no redirects."""
    data = urllib.parse.urlencode(form).encode("ascii") if form is not None else None
    all_headers = {"Accept": "application/json", **(headers or {})}
    if data is not None:
        all_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    return _send(_PLAIN_OPENER, url, data=data, headers=all_headers, method=method, timeout=timeout)


def basic_auth(client_id: str, client_secret: str) -> str:
    """An RFC 6749 section 2.3.1 Authorization header value (form-urlencoded id and secret)."""
    quote = urllib.parse.quote_plus
    raw = f"{quote(client_id)}:{quote(client_secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


# --------------------------------------------------------------------------------------------
# The oidc-provider server process.


@dataclass(frozen=True)
class ServerConfig:
    """What a server start can vary; one running server per distinct config in a session."""

    always_issue_refresh: bool = False
    access_token_ttl: int = DEFAULT_ACCESS_TOKEN_TTL


@dataclass
class OidcProviderServer:
    """A running ``node server.mjs``. Start with :meth:`start`, end with :meth:`stop`."""

    issuer: str
    port: int
    config: ServerConfig
    process: subprocess.Popen[bytes]
    _stderr: IO[bytes] = field(repr=False)
    _discovery: JSONObject | None = field(default=None, repr=False)

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def start(
        cls, config: ServerConfig | None = None, *, timeout: float = STARTUP_TIMEOUT
    ) -> OidcProviderServer:
        config = config or ServerConfig()
        node = shutil.which("node")
        if node is None:
            raise HarnessError("node is not on PATH")
        env = {k: v for k, v in os.environ.items() if not k.startswith("E2E_")}
        env["E2E_ACCESS_TOKEN_TTL"] = str(config.access_token_ttl)
        env["E2E_ALWAYS_ISSUE_REFRESH"] = "1" if config.always_issue_refresh else "0"
        env["NODE_ENV"] = "development"
        stderr = tempfile.TemporaryFile(prefix="e2e-oidc-provider-", suffix=".log")  # noqa: SIM115
        # node shares this open file (and its offset): append-only, so that reading the log
        # from here can never make node write over what it wrote before.
        flags = fcntl.fcntl(stderr.fileno(), fcntl.F_GETFL)
        fcntl.fcntl(stderr.fileno(), fcntl.F_SETFL, flags | os.O_APPEND)
        try:
            process = subprocess.Popen(
                [node, str(SERVER_SCRIPT), "--port", "0", "--exit-on-stdin-close"],
                cwd=E2E_DIR,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        except BaseException:
            stderr.close()
            raise
        try:
            line = _read_first_line(process, timeout)
            announced = json.loads(line)
            issuer, port = str(announced["issuer"]), int(announced["port"])
        except BaseException as err:
            _stop_process(process)
            log = _read_log(stderr)
            stderr.close()
            raise HarnessError(
                f"oidc-provider server did not start ({err}); exit code {process.returncode}; "
                f"stderr:\n{log}"
            ) from err
        return cls(issuer=issuer, port=port, config=config, process=process, _stderr=stderr)

    def stop(self) -> None:
        """Terminate the server by its PID (SIGTERM, then SIGKILL after 5 s) and clean up."""
        _stop_process(self.process)
        self._stderr.close()

    def __enter__(self) -> OidcProviderServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        """What the server wrote to stderr so far (for failure messages)."""
        return _read_log(self._stderr)

    def requests(self) -> list[str]:
        """Every request the server has answered so far, oldest first, one string each:
        ``"METHOD PATH STATUS [grant_type=G] [client_id=C]"`` (server.mjs logs them).

        Compare ``len()`` before and after an action to see what it sent."""
        prefix = "e2e request: "
        return [line[len(prefix) :] for line in self.log().splitlines() if line.startswith(prefix)]

    # -- endpoints -------------------------------------------------------------------------

    def discovery(self) -> JSONObject:
        """The discovery document (fetched once, then cached)."""
        if self._discovery is None:
            response = http_request(f"{self.issuer}/.well-known/openid-configuration")
            if response.status != 200:
                raise HarnessError(f"discovery failed: {response.status} {response.body!r}")
            self._discovery = response.json()
        return self._discovery

    def endpoint(self, name: str) -> str:
        """An endpoint URL from discovery, e.g. ``endpoint("token_endpoint")``."""
        return str(self.discovery()[name])

    @property
    def authorization_endpoint(self) -> str:
        return self.endpoint("authorization_endpoint")

    @property
    def token_endpoint(self) -> str:
        return self.endpoint("token_endpoint")

    def authorization_url(
        self,
        *,
        redirect_uri: str,
        code_challenge: str | None,
        state: str | None = None,
        client_id: str = PUBLIC_CLIENT_ID,
        scope: str = "openid email profile",
        code_challenge_method: str | None = "S256",
        **extra: str,
    ) -> str:
        """An authorization request URL; parameters set to None are left out."""
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": code_challenge_method if code_challenge else None,
            **extra,
        }
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return f"{self.authorization_endpoint}?{query}"

    def token_request(
        self,
        form: Mapping[str, str],
        *,
        client_id: str = PUBLIC_CLIENT_ID,
        client_secret: str | None = None,
    ) -> HttpResponse:
        """POST to the token endpoint: a public client sends client_id in the body, a
        confidential one (client_secret given) uses client_secret_basic."""
        body = dict(form)
        headers: dict[str, str] = {}
        if client_secret is None:
            body.setdefault("client_id", client_id)
        else:
            headers["Authorization"] = basic_auth(client_id, client_secret)
        return http_request(self.token_endpoint, form=body, headers=headers)

    def introspect(self, token: str, *, token_type_hint: str | None = None) -> JSONObject:
        """RFC 7662 introspection as the confidential client (client_secret_basic)."""
        form = {"token": token}
        if token_type_hint is not None:
            form["token_type_hint"] = token_type_hint
        response = http_request(
            self.endpoint("introspection_endpoint"),
            form=form,
            headers={
                "Authorization": basic_auth(CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET)
            },
        )
        if response.status != 200:
            raise HarnessError(f"introspection failed: {response.status} {response.body!r}")
        return response.json()

    def userinfo(self, access_token: str) -> JSONObject:
        """The userinfo response for a bearer access token (raises on a non-200 answer)."""
        response = http_request(
            self.endpoint("userinfo_endpoint"),
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if response.status != 200:
            raise HarnessError(
                f"userinfo failed: {response.status} "
                f"{response.header('WWW-Authenticate') or ''} {response.body!r}"
            )
        return response.json()

    def revoke(
        self,
        token: str,
        *,
        client_id: str = PUBLIC_CLIENT_ID,
        client_secret: str | None = None,
        token_type_hint: str | None = None,
    ) -> HttpResponse:
        """RFC 7009 revocation, authenticated like :meth:`token_request`."""
        form = {"token": token}
        if token_type_hint is not None:
            form["token_type_hint"] = token_type_hint
        headers: dict[str, str] = {}
        if client_secret is None:
            form["client_id"] = client_id
        else:
            headers["Authorization"] = basic_auth(client_id, client_secret)
        return http_request(self.endpoint("revocation_endpoint"), form=form, headers=headers)


def _read_first_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HarnessError(f"no JSON line on stdout within {timeout:g} s")
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                process.wait(timeout=5)
                raise HarnessError(f"stdout closed before a JSON line (got {buffer!r})")
            buffer += chunk
    return buffer.split(b"\n", 1)[0].decode("utf-8")


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _read_log(stream: IO[bytes]) -> str:
    # pread: reading must not move the file offset node shares.
    try:
        fd = stream.fileno()
        size = os.fstat(fd).st_size
        chunks: list[bytes] = []
        offset = 0
        while offset < size:
            chunk = os.pread(fd, size - offset, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks).decode("utf-8", "replace")
    except (OSError, ValueError):
        return "<stderr unavailable>"


class ServerPool:
    """Starts servers on demand, one per :class:`ServerConfig`, and stops them all at close."""

    def __init__(self) -> None:
        self._shared: dict[ServerConfig, OidcProviderServer] = {}
        self._all: list[OidcProviderServer] = []

    def get(
        self,
        *,
        always_issue_refresh: bool = False,
        access_token_ttl: int = DEFAULT_ACCESS_TOKEN_TTL,
        fresh: bool = False,
    ) -> OidcProviderServer:
        config = ServerConfig(always_issue_refresh, access_token_ttl)
        if not fresh and config in self._shared:
            return self._shared[config]
        server = OidcProviderServer.start(config)
        self._all.append(server)
        if not fresh:
            self._shared[config] = server
        return server

    def close(self) -> None:
        while self._all:
            self._all.pop().stop()
        self._shared.clear()


# --------------------------------------------------------------------------------------------
# The loopback redirect target a test runs.


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackHTTPServer

    def do_GET(self) -> None:
        self.server.record(self.path)
        body = b"<!DOCTYPE html><title>done</title><p>You can close this window.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _CallbackHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily) -> None:
        self.address_family = family
        super().__init__(address, _CallbackHandler)
        self.paths: list[str] = []
        self.arrived = threading.Condition()

    def record(self, path: str) -> None:
        with self.arrived:
            self.paths.append(path)
            self.arrived.notify_all()


class LoopbackCallbackServer:
    """A tiny http.server on a loopback address and a free port that records every request.

    Use as a context manager. ``redirect_uri`` is ``http://HOST:PORT/callback``;
    :meth:`wait_for_callback` returns the query of the first request that arrives.
    """

    def __init__(self, host: str = "127.0.0.1", path: str = REDIRECT_PATH) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = _CallbackHTTPServer((host, 0), family)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.host = host
        self.port: int = self._server.server_address[1]
        url_host = f"[{host}]" if ":" in host else host
        self.redirect_uri = f"http://{url_host}:{self.port}{path}"

    def __enter__(self) -> LoopbackCallbackServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def requests(self) -> list[str]:
        """Request targets (path and query) received so far."""
        with self._server.arrived:
            return list(self._server.paths)

    def wait_for_callback(self, timeout: float = HTTP_TIMEOUT) -> dict[str, str]:
        """The first request's query parameters (first value of each)."""
        with self._server.arrived:
            if not self._server.arrived.wait_for(lambda: bool(self._server.paths), timeout):
                raise HarnessError(f"no request reached {self.redirect_uri} within {timeout:g} s")
            path = self._server.paths[0]
        return query_params(path)


def query_params(url: str) -> dict[str, str]:
    """The query of a URL (or path) as a dict, first value of each parameter."""
    parsed = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items()}


# --------------------------------------------------------------------------------------------
# Logging in: devInteractions' login and consent pages.


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or ""), port


def _redirect_target(authorization_url: str) -> tuple[tuple[str, str, int | None], str | None]:
    redirect_uri = query_params(authorization_url).get("redirect_uri")
    return _origin(authorization_url), redirect_uri


def _is_redirect_target(
    url: str, issuer_origin: tuple[str, str, int | None], redirect_uri: str | None
) -> bool:
    """True once a URL leaves the authorization server (or hits the redirect_uri)."""
    if url.startswith(("about:", "chrome-error:", "data:")):
        return False
    if _origin(url) != issuer_origin:
        return True
    if redirect_uri is None:
        return False
    base = urllib.parse.urlsplit(url)._replace(query="", fragment="").geturl()
    return base == urllib.parse.urlsplit(redirect_uri)._replace(query="", fragment="").geturl()


_ERROR_RE = re.compile(r'<pre id="op-error">(.*?)</pre>', re.DOTALL)


def _error_from_html(status: int, text: str, url: str) -> AuthorizationServerError | None:
    match = _ERROR_RE.search(text)
    if match is None:
        return None
    return _error_from_json(status, html.unescape(match.group(1)), url)


def _error_from_json(status: int, text: str, url: str) -> AuthorizationServerError:
    try:
        out = json.loads(text)
    except ValueError:
        return AuthorizationServerError(status, "unknown", text, url)
    if not isinstance(out, dict):
        return AuthorizationServerError(status, "unknown", text, url)
    return AuthorizationServerError(
        status, str(out.get("error", "unknown")), str(out.get("error_description", "")), url
    )


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self.links: list[tuple[str, str]] = []
        self._form: _Form | None = None
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = _Form(attributes.get("action", ""), attributes.get("method", "get"))
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and "name" in attributes:
            self._form.fields[attributes["name"]] = attributes.get("value", "")
        elif tag == "a" and "href" in attributes:
            self._href, self._text = attributes["href"], []

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)


def _abort_link(parser: _PageParser, base: str) -> str:
    for href, text in parser.links:
        if "cancel" in text.lower() or href.rstrip("/").endswith("/abort"):
            return urllib.parse.urljoin(base, href)
    raise HarnessError(f"no [ Cancel ] link on the interaction page {base}")


def http_login(
    url: str,
    *,
    login: str = "alice",
    password: str = "any-password",
    consent: bool = True,
    cancel_at: CancelAt | None = None,
    cookie_jar: CookieJar | None = None,
    max_steps: int = 20,
) -> str:
    """Walk an authorization request through devInteractions with plain HTTP requests.

    Follows redirects, fills the login form (any password works) and approves the consent
    form, or follows the page's ``[ Cancel ]`` link at ``cancel_at``. With ``consent=False``
    a consent page is an error (for requests expected to need no consent). Returns the URL
    the authorization server redirects to (the redirect_uri with code/state/iss or
    error/...), WITHOUT requesting it. Pass the same ``cookie_jar`` to several calls to
    keep the authorization server's session between them. Raises AuthorizationServerError
    when the server shows its error page instead of redirecting.
    """
    issuer_origin, redirect_uri = _redirect_target(url)
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(cookie_jar if cookie_jar is not None else CookieJar()),
        _NoRedirect(),
    )
    current, data = url, None
    for _ in range(max_steps):
        if _is_redirect_target(current, issuer_origin, redirect_uri):
            return current
        response = _send(opener, current, data=data, headers={"Accept": "text/html"})
        data = None
        location = response.header("Location")
        if response.status in (301, 302, 303, 307, 308) and location:
            if response.status in (307, 308):
                raise HarnessError(f"unexpected {response.status} redirect at {current}")
            current = urllib.parse.urljoin(current, location)
            continue
        text = response.body.decode("utf-8", "replace")
        error = _error_from_html(response.status, text, current)
        if error is not None:
            raise error
        if response.status != 200:
            raise HarnessError(f"unexpected {response.status} at {current}: {text[:500]}")
        parser = _PageParser()
        parser.feed(text)
        parser.close()
        form = next((f for f in parser.forms if f.method.lower() == "post"), None)
        if form is None:
            raise HarnessError(f"no form on the page at {current}: {text[:500]}")
        prompt = form.fields.get("prompt")
        if prompt not in ("login", "consent"):
            raise HarnessError(f"unexpected interaction {prompt!r} at {current}")
        if cancel_at == prompt:
            current = _abort_link(parser, current)
            continue
        if prompt == "login":
            form.fields.update(login=login, password=password)
        elif not consent:
            raise HarnessError(f"a consent page appeared at {current} but consent=False")
        current = urllib.parse.urljoin(current, form.action)
        data = urllib.parse.urlencode(form.fields).encode("ascii")
    raise HarnessError(f"no redirect to the client after {max_steps} steps (last: {current})")


def complete_login(
    target: Page | BrowserContext,
    url: str,
    *,
    login: str = "alice",
    password: str = "any-password",
    consent: bool = True,
    cancel_at: CancelAt | None = None,
    timeout: float = 15.0,
) -> str:
    """Drive real Chromium through devInteractions, like :func:`http_login`.

    Opens ``url`` in ``target`` (a Page, or a BrowserContext in which a new page is opened
    and closed again), types the login and any password, clicks Sign-in, then clicks
    Continue on the consent page (or the ``[ Cancel ]`` link at ``cancel_at``), and waits
    until the browser navigates to the redirect target and that request has finished
    (answered, or failed when nothing listens there). Returns the URL it landed on.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Page

    page = target if isinstance(target, Page) else target.new_page()
    try:
        return _drive_login(
            page, url, login, password, consent, cancel_at, timeout, PlaywrightError
        )
    finally:
        if page is not target:
            page.close()


def _drive_login(  # the arguments of complete_login, in its order
    page: Page,
    url: str,
    login: str,
    password: str,
    consent: bool,
    cancel_at: CancelAt | None,
    timeout: float,
    playwright_error: type[Exception],
) -> str:
    issuer_origin, redirect_uri = _redirect_target(url)
    landed: list[Request] = []
    finished: list[Request] = []

    def on_request(request: Request) -> None:
        if (
            not landed
            and request.is_navigation_request()
            and _is_redirect_target(request.url, issuer_origin, redirect_uri)
        ):
            landed.append(request)

    def on_done(request: Request) -> None:
        if landed and request is landed[0]:
            finished.append(request)

    page.on("request", on_request)
    page.on("requestfinished", on_done)
    page.on("requestfailed", on_done)
    deadline = time.monotonic() + timeout
    try:
        try:
            page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
        except playwright_error:
            if not landed:
                raise
        handled = ""
        while not finished:
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"timed out after {timeout:g} s without reaching the redirect target; "
                    f"page at {page.url}: {_page_text(page, playwright_error)[:500]}"
                )
            if landed or page.url == handled:
                page.wait_for_timeout(25)
                continue
            prompt = _page_prompt(page, playwright_error)
            if prompt is None:
                page.wait_for_timeout(25)
                continue
            handled = page.url
            try:
                _act(page, prompt, login, password, consent, cancel_at)
            except playwright_error:
                if not landed:
                    raise
        return landed[0].url
    finally:
        page.remove_listener("request", on_request)
        page.remove_listener("requestfinished", on_done)
        page.remove_listener("requestfailed", on_done)


def _page_prompt(page: Page, playwright_error: type[Exception]) -> str | None:
    """'login', 'consent', or None while the page is still loading / not an interaction."""
    try:
        page.wait_for_load_state("domcontentloaded", timeout=2000)
        error = page.locator("#op-error")
        if error.count():
            raise _error_from_json(0, error.inner_text(), page.url)
        prompt = page.locator('form input[name="prompt"]')
        if not prompt.count():
            return None
        return prompt.first.get_attribute("value")
    except playwright_error:
        return None  # navigated away while looking: look again


def _act(
    page: Page,
    prompt: str,
    login: str,
    password: str,
    consent: bool,
    cancel_at: CancelAt | None,
) -> None:
    if cancel_at == prompt:
        page.get_by_role("link", name="[ Cancel ]").click()
    elif prompt == "login":
        page.fill('input[name="login"]', login)
        page.fill('input[name="password"]', password)
        page.click('form button[type="submit"]')
    elif prompt == "consent":
        if not consent:
            raise HarnessError(f"a consent page appeared at {page.url} but consent=False")
        page.click('form button[type="submit"]')
    else:
        raise HarnessError(f"unexpected interaction {prompt!r} at {page.url}")


def _page_text(page: Page, playwright_error: type[Exception]) -> str:
    try:
        return page.inner_text("body", timeout=1000)
    except playwright_error:
        return "<unavailable>"


def iter_registered_redirect_uris(port: int) -> Iterator[str]:
    """The registered loopback redirect URIs with ``port`` filled in."""
    for uri in REGISTERED_REDIRECT_URIS:
        parts = urllib.parse.urlsplit(uri)
        yield parts._replace(netloc=f"{parts.netloc}:{port}").geturl()
