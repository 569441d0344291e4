"""A headless stand-in for the system browser that speaks plain HTTP to loopback hosts.

`HttpFollowingBrowser.open` returns at once and, from a daemon thread, does what a user's
browser would do with an authorization URL: GET it, follow redirects (including the
final one to the client's loopback redirect URI), keep cookies, and fill in the
`TestProvider` login and consent forms.  It never connects anywhere but loopback.
"""

from __future__ import annotations

import http.client
import ipaddress
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import CookieError, SimpleCookie
from typing import Literal
from urllib.parse import urlencode, urljoin, urlsplit

__all__ = ["BrowserError", "BrowserResponse", "HttpFollowingBrowser"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_BODY_BYTES = 1024 * 1024
_TEXT_INPUTS = frozenset({"text", "email", "password", "search", "tel", "url"})


class BrowserError(Exception):
    """The browser could not complete a navigation."""


@dataclass(frozen=True)
class BrowserResponse:
    """A response the browser received."""

    url: str
    status: int
    headers: dict[str, str]
    """Headers with lower-case names (repeated ones joined with ``, ``)."""
    body: bytes

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (with replacement characters)."""
        return self.body.decode("utf-8", "replace")


def is_loopback_host(host: str | None) -> bool:
    """Whether `host` is ``localhost`` or a loopback IP address."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class _Submit:
    name: str | None
    value: str
    label: str = ""


@dataclass
class _Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    text_inputs: list[str] = field(default_factory=list)
    submits: list[_Submit] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[_Form] = []
        self._form: _Form | None = None
        self._button: _Submit | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._form = _Form(values.get("action", ""), values.get("method", "get").lower())
            self.forms.append(self._form)
            return
        form = self._form
        if form is None:
            return
        name = values.get("name")
        if tag == "input":
            kind = values.get("type", "text").lower()
            if kind in ("submit", "image"):
                form.submits.append(_Submit(name, values.get("value", ""), values.get("value", "")))
            elif kind in ("checkbox", "radio"):
                if name and "checked" in values:
                    form.fields.append((name, values.get("value", "on")))
            elif name and kind not in ("button", "reset", "file"):
                form.fields.append((name, values.get("value", "")))
                if kind in _TEXT_INPUTS:
                    form.text_inputs.append(name)
        elif tag == "button" and values.get("type", "submit").lower() == "submit":
            self._button = _Submit(name, values.get("value", ""))
            form.submits.append(self._button)

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.label += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "button":
            self._button = None


class HttpFollowingBrowser:
    """A browser adapter for headless tests and demos.

    Args:
        decision: which consent button to press, ``"approve"`` or ``"deny"``.
        username: what to type into a login form's ``username`` field.
        max_redirects: redirects followed per navigation before giving up.
        max_forms: forms submitted per navigation before giving up.
        timeout: socket timeout of each request, in seconds.
        stop_at: URL prefixes that are recorded (as `stopped_at`) but not requested,
            e.g. a redirect URI nobody listens on.
    """

    def __init__(
        self,
        *,
        decision: Literal["approve", "deny"] = "approve",
        username: str = "alice",
        max_redirects: int = 10,
        max_forms: int = 5,
        timeout: float = 10.0,
        stop_at: Iterable[str] = (),
    ) -> None:
        self.decision: Literal["approve", "deny"] = decision
        self.username = username
        self.max_redirects = max_redirects
        self.max_forms = max_forms
        self.timeout = timeout
        self.stop_at: tuple[str, ...] = tuple(stop_at)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._cookies: dict[str, dict[str, str]] = {}
        self._opened: list[str] = []
        self._visited: list[str] = []
        self._responses: list[BrowserResponse] = []
        self._final: BrowserResponse | None = None
        self._stopped_at: str | None = None
        self._errors: list[BaseException] = []

    # ---- the adapter interface

    def open(self, url: str) -> bool:
        """Start navigating to `url` in a daemon thread; False (and nothing done) when the
        URL is not ``http`` on a loopback host."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not is_loopback_host(parts.hostname):
            return False
        thread = threading.Thread(
            target=self._run, args=(url,), name="pkceflow-testing-browser", daemon=True
        )
        with self._lock:
            self._opened.append(url)
            self._threads.append(thread)
        thread.start()
        return True

    def wait(self, timeout: float | None = 10.0) -> BrowserResponse | None:
        """Join the navigations; re-raise the first error; return the `final` response.

        Raises TimeoutError when a navigation is still running after `timeout` seconds.
        """
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError("the browser is still navigating")
        with self._lock:
            if self._errors:
                raise self._errors[0]
            return self._final

    # ---- what happened

    @property
    def opened(self) -> list[str]:
        """The URLs passed to `open`."""
        with self._lock:
            return list(self._opened)

    @property
    def visited(self) -> list[str]:
        """Every URL requested, in order."""
        with self._lock:
            return list(self._visited)

    @property
    def responses(self) -> list[BrowserResponse]:
        """Every response received, in order."""
        with self._lock:
            return list(self._responses)

    @property
    def final(self) -> BrowserResponse | None:
        """The response that ended the last navigation (not a redirect, no form sent)."""
        with self._lock:
            return self._final

    @property
    def stopped_at(self) -> str | None:
        """The URL matching `stop_at` that ended the last navigation, if any."""
        with self._lock:
            return self._stopped_at

    @property
    def errors(self) -> list[BaseException]:
        """Errors of the navigations so far."""
        with self._lock:
            return list(self._errors)

    def cookies(self, host: str) -> dict[str, str]:
        """The cookies kept for `host`."""
        with self._lock:
            return dict(self._cookies.get(host.lower().strip("[]"), {}))

    # ---- navigation

    def _run(self, url: str) -> None:
        try:
            self._navigate(url)
        except Exception as exc:  # noqa: BLE001 - reported by wait()
            with self._lock:
                self._errors.append(exc)

    def _navigate(self, url: str) -> None:
        method, body = "GET", None
        redirects = forms = 0
        while True:
            if any(url.startswith(prefix) for prefix in self.stop_at):
                with self._lock:
                    self._stopped_at, self._final = url, None
                return
            response = self._request(method, url, body)
            location = response.headers.get("location")
            if response.status in _REDIRECTS and location:
                redirects += 1
                if redirects > self.max_redirects:
                    raise BrowserError(f"more than {self.max_redirects} redirects")
                url = urljoin(url, location)
                if response.status in (301, 302, 303):
                    method, body = "GET", None
                continue
            submission = self._form_submission(response)
            if submission is not None:
                forms += 1
                if forms > self.max_forms:
                    raise BrowserError(f"more than {self.max_forms} forms")
                method, url, body = submission
                continue
            with self._lock:
                self._final, self._stopped_at = response, None
            return

    def _request(self, method: str, url: str, body: bytes | None) -> BrowserResponse:
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise BrowserError(f"refusing a non-http URL: {url}")
        host = parts.hostname
        if not is_loopback_host(host) or host is None:
            raise BrowserError(f"refusing to connect to a non-loopback host: {url}")
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        headers = {
            "User-Agent": "pkceflow-testing-browser",
            "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
        }
        with self._lock:
            self._visited.append(url)
            jar = dict(self._cookies.get(host.lower(), {}))
        if jar:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(host, parts.port or 80, timeout=self.timeout)
        try:
            connection.request(method, target, body=body, headers=headers)
            raw = connection.getresponse()
            content = raw.read(_MAX_BODY_BYTES)
            names: dict[str, str] = {}
            for name, value in raw.getheaders():
                key = name.lower()
                names[key] = f"{names[key]}, {value}" if key in names else value
            self._store_cookies(host.lower(), raw.msg.get_all("Set-Cookie") or [])
            response = BrowserResponse(url, raw.status, names, content)
        finally:
            connection.close()
        with self._lock:
            self._responses.append(response)
        return response

    def _store_cookies(self, host: str, headers: list[str]) -> None:
        for header in headers:
            cookie: SimpleCookie = SimpleCookie()
            try:
                cookie.load(header)
            except CookieError:
                continue
            with self._lock:
                jar = self._cookies.setdefault(host, {})
                for name, morsel in cookie.items():
                    if morsel["max-age"] == "0" or morsel.value == "":
                        jar.pop(name, None)
                    else:
                        jar[name] = morsel.value

    def _form_submission(self, response: BrowserResponse) -> tuple[str, str, bytes | None] | None:
        content_type = response.headers.get("content-type", "")
        if response.status != 200 or not content_type.lower().startswith("text/html"):
            return None
        parser = _FormParser()
        parser.feed(response.text)
        parser.close()
        for form in parser.forms:
            fields = self._fill(form)
            if fields is None:
                continue
            action = urljoin(response.url, form.action or response.url)
            encoded = urlencode(fields)
            if form.method == "post":
                return "POST", action, encoded.encode("ascii")
            parts = urlsplit(action)
            return "GET", parts._replace(query=encoded, fragment="").geturl(), None
        return None

    def _fill(self, form: _Form) -> list[tuple[str, str]] | None:
        if "username" in form.text_inputs:
            fields = [
                (name, self.username if name == "username" else value)
                for name, value in form.fields
            ]
            submit = form.submits[0] if form.submits else None
        else:
            wanted = self.decision.lower()
            submit = next(
                (
                    s
                    for s in form.submits
                    if wanted in (s.value.strip().lower(), s.label.strip().lower())
                ),
                None,
            )
            if submit is None:
                return None
            fields = list(form.fields)
        if submit is not None and submit.name:
            fields.append((submit.name, submit.value))
        return fields
