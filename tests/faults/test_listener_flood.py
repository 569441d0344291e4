"""The redirect listener under load: a real login completes through junk, idle and slow peers.

While ``Client.login()`` waits, the test opens 200 junk connections (random bytes, bad
request lines, oversized heads, callbacks with a wrong state), holds 50 idle ones, and
trickles a request one byte a second on another. Then it delivers the real callback
(the provider's redirect, as a browser would follow it). The login completes, and
within two seconds of its end the listener's threads and sockets are all gone, while
the peers still hold their ends open.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

import pluggy
import pytest

from pkceflow import Client, TokenSet
from pkceflow.settings import HttpOptions, Interaction
from pkceflow.testing import PUBLIC_CLIENT_ID, TestProvider

from .support import WAIT, Resources, wait_released

SEED = 8252
JUNK, JUNK_THREADS, IDLE = 200, 4, 50
#: Seconds between two junk connections of one thread: the flood lasts about 3 s.
PACE = 0.06


class RecordingBrowser:
    """A BrowserLauncher that only remembers the URL; the test plays the browser."""

    def __init__(self) -> None:
        self.url = ""
        self.opened = threading.Event()

    def open(self, url: str) -> bool:
        self.url = url
        self.opened.set()
        return True


class Call:
    """Runs ``fn`` in a thread and keeps its result or exception."""

    def __init__(self, fn: Callable[[], TokenSet], name: str) -> None:
        self._fn = fn
        self.result: TokenSet | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.started = time.monotonic()
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self._fn()
        except BaseException as exc:  # handed to the test
            self.error = exc

    def get(self, timeout: float = WAIT) -> TokenSet:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the call did not end within {timeout} s"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _get(port: int, target: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def _junk_payload(rng: random.Random, index: int) -> bytes:
    kind = index % 6
    if kind == 0:
        return rng.randbytes(rng.randint(1, 3000))
    if kind == 1:
        return rng.randbytes(rng.randint(1, 200)) + b"\r\n\r\n"
    if kind == 2:
        return b"BREW /pot HTCPCP/1.0\r\n\r\n"
    if kind == 3:
        return b"GET /callback?code=stolen&state=guessed HTTP/1.1\r\nHost: x\r\n\r\n"
    if kind == 4:
        return b"GET /callback HTTP/1.1\r\nX-Pad: " + b"a" * 20_000 + b"\r\n\r\n"
    return b"GET\x00/\xff\xfe HTTP/1.1\r\n\r\n"


def _send_junk(port: int, rng: random.Random, indices: range, seen: Counter[str]) -> None:
    for index in indices:
        time.sleep(PACE)  # spread over the wait, so the callback lands mid-flood
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as conn:
                try:
                    conn.sendall(_junk_payload(rng, index))
                    conn.shutdown(socket.SHUT_WR)
                    reply = conn.recv(64)
                except ConnectionResetError:
                    seen["reset"] += 1
                    continue
        except OSError as exc:  # refused: the listener is gone (the login ended)
            seen[type(exc).__name__] += 1
            continue
        seen[reply[:12].decode("ascii", "replace") or "closed"] += 1


class Trickle:
    """A peer that sends a request one byte a second (bounded), from a thread."""

    REQUEST = b"GET /callback?code=slow&state=slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    def __init__(self, port: int) -> None:
        self.conn = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-trickle", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for byte in self.REQUEST:
            if self._stop.wait(1.0):
                return
            try:
                self.conn.sendall(bytes([byte]))
            except OSError:
                return
            self.sent += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(WAIT)


def test_a_login_completes_through_junk_idle_and_slow_connections_and_the_listener_cleans_up(
    provider: TestProvider, plugin_manager: pluggy.PluginManager, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED)
    before = Resources.now()
    browser = RecordingBrowser()
    client = Client(
        PUBLIC_CLIENT_ID,
        authorization_url=provider.authorization_endpoint,
        token_url=provider.token_endpoint,
        browser=browser,
        interaction=Interaction(paste=False, timeout=WAIT * 2),
        http=HttpOptions(timeout=WAIT),
        plugin_manager=plugin_manager,
    )
    login = Call(client.login, "test-login")
    assert browser.opened.wait(WAIT)
    # The provider approves at once and redirects to the listener with the code.
    authorize = urlsplit(browser.url)
    redirect = _get(provider.port, f"{authorize.path}?{authorize.query}")
    assert redirect.status == 302
    callback = urlsplit(redirect.headers["Location"])
    port = callback.port
    assert port is not None

    idle = [socket.create_connection(("127.0.0.1", port), timeout=WAIT) for _ in range(IDLE)]
    slow = Trickle(port)
    seen: Counter[str] = Counter()
    junk = [
        threading.Thread(
            target=_send_junk,
            args=(port, random.Random(rng.random()), range(i, JUNK, JUNK_THREADS), seen),
            name="test-junk",
            daemon=True,
        )
        for i in range(JUNK_THREADS)
    ]
    for thread in junk:
        thread.start()
    deadline = time.monotonic() + WAIT
    while slow.sent < 2 and time.monotonic() < deadline:  # bounded by WAIT
        time.sleep(0.05)
    assert slow.sent >= 2
    answered_before = sum(seen.values())
    try:
        # The real callback, in the middle of the flood.
        answer = _get(port, f"{callback.path}?{callback.query}")
        assert answer.status == 303
        assert answer.headers["Location"] == f"{callback.path}/done"
        page = _get(port, f"{callback.path}/done")
        assert page.status == 200
        tokens = login.get()
        ended = time.monotonic()
    finally:
        for thread in junk:
            thread.join(WAIT)
    assert tokens.access_token in provider.active_tokens()
    assert client.stored() == tokens

    # The test's own peers still hold their ends open; everything else must go.
    slow.stop()
    client.close()  # its pooled connection to the provider
    peers = [*idle, slow.conn]
    ours = [conn.fileno() for conn in peers]
    released = wait_released(before, timeout=2.0, ignore_fds=ours)
    # And the listener closed the other end of each of them.
    dropped = 0
    for conn in peers:
        conn.settimeout(2.0)
        with contextlib.suppress(ConnectionResetError):
            assert conn.recv(1) == b""
        dropped += 1
        conn.close()
    with capsys.disabled():
        print(
            f"\nlistener flood: {sum(seen.values())} junk connections ({dict(seen)};"
            f" {answered_before} of them before the real callback),"
            f" {IDLE} idle and 1 slow ({slow.sent} bytes trickled) all dropped;"
            f" the login ended {ended - login.started:.2f} s after it began;"
            f" threads and sockets gone {released:.2f} s after client.close()"
        )
    assert sum(seen.values()) == JUNK
    assert answered_before >= JUNK // 4
    # Junk and stray callbacks (wrong state) were refused without ending the wait; none
    # was served a page (200) or broke the listener (5xx).
    assert seen["HTTP/1.1 400"] > 0
    assert not [status for status in seen if status.startswith(("HTTP/1.1 2", "HTTP/1.1 5"))]
    assert dropped == IDLE + 1
