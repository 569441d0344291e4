"""LoopbackListener with raw sockets and http.client as the browser."""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from pkceflow import AuthorizationError, CallbackError, CallbackTimeoutError
from pkceflow.loopback import LoopbackListener
from pkceflow.settings import Redirect
from pkceflow.testing import HttpFollowingBrowser, TestProvider
from pkceflow_core import CallbackReply
from tests.support.closing import closing_all

from .conftest import MakeClient
from .support import (
    WAIT,
    Background,
    dribble_request,
    get_url,
    http_get,
    idle_connections,
    read_reply,
    wait_until,
)

STATE = "the-state-of-this-login"
GOOD = f"/callback?code=the-code&state={STATE}"
SUCCESS = "Signed in for the test."
STRAY = "This request does not belong to the sign-in in progress."

MakeListener = Callable[..., LoopbackListener]


def handle(target: str) -> CallbackReply:
    """Accept the callback carrying STATE, refuse every other one and keep waiting."""
    params = dict(parse_qsl(urlsplit(target).query))
    if params.get("state") == STATE:
        return CallbackReply(done=True, ok=True, message=SUCCESS)
    return CallbackReply(done=False, ok=False, message=STRAY)


@pytest.fixture
def make_listener() -> Iterator[MakeListener]:
    def make(*args: object, **kwargs: float) -> LoopbackListener:
        # Tests that do not fetch the result page should not wait for it long.
        kwargs.setdefault("linger", 0.05)
        return LoopbackListener(*args, **kwargs)  # type: ignore[arg-type]

    with closing_all(make) as tracked:
        yield tracked


@pytest.fixture
def listener(make_listener: MakeListener) -> LoopbackListener:
    return make_listener()


def wait_in_background(listener: LoopbackListener, timeout: float = WAIT) -> Background[None]:
    return Background(lambda: listener.wait(handle, timeout=timeout), name="test-wait")


# -------------------------------------------------------------- requests that are not the callback


def test_other_paths_get_404_and_the_wait_goes_on(listener: LoopbackListener) -> None:
    waiting = wait_in_background(listener)
    assert http_get(listener.port, "/favicon.ico").status == 404
    assert http_get(listener.port, "/").status == 404
    assert http_get(listener.port, GOOD).status == 303
    waiting.result()


@pytest.mark.parametrize(
    "target",
    ["/callback?code=the-code&state=another-state", "/callback?code=the-code", "/callback"],
    ids=["wrong-state", "no-state", "no-query"],
)
def test_a_callback_without_the_right_state_gets_an_error_page_and_the_wait_goes_on(
    listener: LoopbackListener, target: str
) -> None:
    waiting = wait_in_background(listener)
    reply = http_get(listener.port, target)
    assert reply.status == 400
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert STRAY in reply.text
    assert not waiting.finished
    assert http_get(listener.port, GOOD).status == 303
    waiting.result()


def test_a_post_to_the_callback_is_refused_and_the_wait_goes_on(
    listener: LoopbackListener,
) -> None:
    waiting = wait_in_background(listener)
    assert http_get(listener.port, GOOD, method="POST").status == 405
    assert http_get(listener.port, GOOD).status == 303
    waiting.result()


def test_the_timeout_after_only_refused_callbacks_says_how_many_were_refused(
    listener: LoopbackListener,
) -> None:
    waiting = wait_in_background(listener, timeout=1.0)
    assert http_get(listener.port, "/callback?code=x&state=forged").status == 400
    assert http_get(listener.port, "/callback?code=x").status == 400
    assert http_get(listener.port, "/favicon.ico").status == 404  # not a callback: not counted
    error = waiting.error()
    assert isinstance(error, CallbackTimeoutError)
    assert error.rejected == 2
    assert "2 request(s) to the redirect URI were refused" in str(error)


def test_the_timeout_without_any_callback_says_none_arrived(listener: LoopbackListener) -> None:
    started = time.monotonic()
    with pytest.raises(CallbackTimeoutError, match=r"no callback arrived within 0\.3 s") as caught:
        listener.wait(handle, timeout=0.3)
    assert caught.value.rejected == 0
    assert time.monotonic() - started < 2.0


# ---------------------------------------------------------------- the callback and the result page


def test_success_answers_303_to_a_clean_path(listener: LoopbackListener) -> None:
    waiting = wait_in_background(listener)
    reply = http_get(listener.port, GOOD)
    assert reply.status == 303
    assert reply.headers["location"] == "/callback/done"
    assert reply.headers["cache-control"] == "no-store"
    waiting.result()


def test_the_clean_path_serves_the_success_page(make_listener: MakeListener) -> None:
    listener = make_listener(linger=WAIT)
    waiting = wait_in_background(listener)
    location = http_get(listener.port, GOOD).headers["location"]
    page = http_get(listener.port, location)
    waiting.result()
    assert page.status == 200
    assert "<title>Signed in</title>" in page.text
    assert SUCCESS in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


def test_the_clean_path_is_not_served_before_the_login_ends(listener: LoopbackListener) -> None:
    waiting = wait_in_background(listener)
    assert http_get(listener.port, "/callback/done").status == 404
    assert http_get(listener.port, GOOD).status == 303
    waiting.result()


def test_the_error_page_escapes_html_in_the_message(make_listener: MakeListener) -> None:
    script = '<script>alert("x")</script><img src=x onerror=alert(1)>'

    def refuse(target: str) -> CallbackReply:
        return CallbackReply(done=True, ok=False, message=f"The server refused: {script}")

    listener = make_listener(linger=WAIT)
    waiting = Background(lambda: listener.wait(refuse, timeout=WAIT))
    page = http_get(listener.port, http_get(listener.port, GOOD).headers["location"])
    waiting.result()
    assert "<title>Sign-in failed</title>" in page.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img" in page.text
    assert "<script" not in page.text
    assert "<img" not in page.text


def test_a_provider_error_description_is_shown_escaped_in_the_browser(
    provider: TestProvider, browser: HttpFollowingBrowser, make_client: MakeClient
) -> None:
    provider.settings.deny_consent = True
    provider.settings.deny_error_description = '<script>alert("pwned")</script>'
    client = make_client()
    with pytest.raises(AuthorizationError):
        client.login()
    page = browser.wait()
    assert page is not None
    assert page.url.endswith("/callback/done")
    assert "access_denied: &lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page.text
    assert "<script" not in page.text
    assert client.stored() is None


# ------------------------------------------------------------------------ hostile and slow clients


def test_oversized_request_headers_get_431_and_the_wait_goes_on(
    listener: LoopbackListener,
) -> None:
    waiting = wait_in_background(listener)
    head = f"GET {GOOD} HTTP/1.1\r\nHost: x\r\nX-Filler: {'a' * 20000}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", listener.port), timeout=WAIT) as sock:
        sock.sendall(head.encode("ascii"))
        assert read_reply(sock).startswith(b"HTTP/1.1 431 ")
    assert not waiting.finished  # the callback inside the oversized request was not taken
    assert http_get(listener.port, GOOD).status == 303
    waiting.result()


def test_a_slow_client_does_not_hold_up_the_callback(listener: LoopbackListener) -> None:
    waiting = wait_in_background(listener)
    stop = threading.Event()
    slow = socket.create_connection(("127.0.0.1", listener.port), timeout=WAIT)

    dribbler = Background(lambda: dribble_request(slow, GOOD, stop), name="test-slow-client")
    try:
        started = time.monotonic()
        assert http_get(listener.port, GOOD).status == 303
        waiting.result()
        assert time.monotonic() - started < 1.0
    finally:
        stop.set()
        dribbler.join()
        slow.close()


def test_fifty_idle_connections_do_not_hold_up_the_callback(listener: LoopbackListener) -> None:
    with idle_connections(listener.port, 50):
        waiting = wait_in_background(listener)
        started = time.monotonic()
        assert http_get(listener.port, GOOD).status == 303
        waiting.result()
        assert time.monotonic() - started < 2.0


def test_idle_connections_are_dropped_when_the_wait_ends(listener: LoopbackListener) -> None:
    with idle_connections(listener.port, 5) as idle:
        waiting = wait_in_background(listener)
        assert http_get(listener.port, GOOD).status == 303
        waiting.result()
        assert all(read_reply(sock) == b"" for sock in idle)


# --------------------------------------------------------------------------- after the wait


def test_after_the_wait_the_listening_socket_is_closed(listener: LoopbackListener) -> None:
    waiting = wait_in_background(listener)
    assert http_get(listener.port, GOOD).status == 303
    waiting.result()
    assert listener.wait_closed(WAIT)  # the result page was not asked for: linger passed
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", listener.port), timeout=WAIT).close()


def test_after_the_wait_no_listener_thread_remains(make_listener: MakeListener) -> None:
    before = set(threading.enumerate())
    listener = make_listener()
    with idle_connections(listener.port, 5):
        waiting = wait_in_background(listener)
        assert http_get(listener.port, "/favicon.ico").status == 404
        assert http_get(listener.port, GOOD).status == 303
        waiting.result()
        assert listener.wait_closed(WAIT)
        assert set(threading.enumerate()) <= before


def test_the_wait_closes_the_socket_after_a_timeout_too(listener: LoopbackListener) -> None:
    with pytest.raises(CallbackTimeoutError):
        listener.wait(handle, timeout=0.1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", listener.port), timeout=WAIT).close()


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_an_ipv6_loopback_host_is_bracketed_and_served(
    make_listener: MakeListener, host: str
) -> None:
    listener = make_listener(host)
    assert listener.redirect_uri == f"http://[::1]:{listener.port}/callback"
    waiting = wait_in_background(listener)
    assert http_get(listener.port, GOOD, host="::1").status == 303
    waiting.result()


def test_localhost_is_served_on_127_0_0_1(make_listener: MakeListener) -> None:
    listener = make_listener("localhost")
    assert listener.redirect_uri == f"http://localhost:{listener.port}/callback"
    waiting = wait_in_background(listener)
    assert http_get(listener.port, GOOD, host="127.0.0.1").status == 303
    waiting.result()


def test_bind_host_binds_another_address_and_logs_a_warning(
    make_listener: MakeListener, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pkceflow.loopback"):
        listener = make_listener("127.0.0.1", bind_host="0.0.0.0")
    assert listener.redirect_uri == f"http://127.0.0.1:{listener.port}/callback"
    [record] = [r for r in caplog.records if r.name == "pkceflow.loopback"]
    assert record.levelno == logging.WARNING
    assert "0.0.0.0, which is not a loopback address" in record.getMessage()
    waiting = wait_in_background(listener)
    assert http_get(listener.port, GOOD).status == 303
    waiting.result()


def test_a_loopback_bind_host_keeps_the_redirect_host_without_a_warning(
    make_listener: MakeListener, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pkceflow.loopback"):
        listener = make_listener("127.0.0.1", bind_host="127.0.0.2")
    assert not caplog.records
    assert listener.redirect_uri == f"http://127.0.0.1:{listener.port}/callback"
    waiting = wait_in_background(listener)
    assert http_get(listener.port, GOOD, host="127.0.0.2").status == 303
    waiting.result()


# --------------------------------------------------------------------------- the paste-back path


def _feed_when_waiting(listener: LoopbackListener, url: str) -> CallbackReply:
    """Poll feed() until a reply comes from the handler (not the before-the-wait queue)."""
    replies: list[CallbackReply] = []

    def fed() -> bool:
        if listener._handle is None:
            return False
        reply = listener.feed(url)
        if reply is not None:
            replies.append(reply)
        return reply is not None

    wait_until(fed)
    return replies[0]


def test_a_paste_before_the_wait_starts_is_kept_and_checked_when_it_does(
    listener: LoopbackListener,
) -> None:
    early = listener.feed(listener.redirect_uri + f"?code=c&state={STATE}")

    assert early is not None
    assert (early.done, early.ok) == (False, True)
    listener.wait(handle, timeout=WAIT)  # returns at once: the kept paste completes it


def test_feed_completes_the_wait_like_a_real_callback(listener: LoopbackListener) -> None:
    waiting = wait_in_background(listener)
    reply = _feed_when_waiting(listener, listener.redirect_uri + f"?code=c&state={STATE}")
    assert (reply.done, reply.ok, reply.message) == (True, True, SUCCESS)
    waiting.result()


def test_feed_rejects_a_url_with_a_wrong_state(listener: LoopbackListener) -> None:
    waiting = wait_in_background(listener)
    reply = _feed_when_waiting(listener, listener.redirect_uri + "?code=c&state=forged")
    assert (reply.done, reply.ok) == (False, False)
    assert not waiting.finished
    assert listener.feed(listener.redirect_uri + f"?code=c&state={STATE}") is not None
    waiting.result()


def test_a_fed_callback_ends_the_wait_without_lingering_for_the_result_page(
    make_listener: MakeListener,
) -> None:
    listener = make_listener(linger=WAIT)  # a browser gets this long to fetch the page
    waiting = wait_in_background(listener)
    _feed_when_waiting(listener, listener.redirect_uri + f"?code=c&state={STATE}")
    started = time.monotonic()
    waiting.result()
    assert time.monotonic() - started < 1.0


# ------------------------------------------------------------- localhost: both loopback addresses


def _bind_as_another_program(address: str, port: int) -> None:
    """Try to take ``address:port`` the way a hostile local program would (reuse options on)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((address, port))
        sock.listen()


@pytest.mark.parametrize("port", ["free", "given"])
def test_localhost_holds_the_port_on_127_0_0_1_and_on_ipv6_loopback(
    make_listener: MakeListener, port: str
) -> None:
    # 14.7: with localhost bound on 127.0.0.1 alone, another user could listen on
    # [::1]:<port>, where browsers try first, and receive the code and the state.
    chosen = 0
    if port == "given":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            chosen = probe.getsockname()[1]
    listener = make_listener("localhost", chosen)
    assert chosen in (0, listener.port)
    for address in ("::1", "127.0.0.1"):
        with pytest.raises(OSError) as taken:
            _bind_as_another_program(address, listener.port)
        assert taken.value.errno == errno.EADDRINUSE, address
    assert listener.addresses == ["127.0.0.1", "::1"]


def test_a_callback_on_ipv6_loopback_completes_a_localhost_wait(
    make_listener: MakeListener,
) -> None:
    listener = make_listener("localhost")
    waiting = wait_in_background(listener)
    assert http_get(listener.port, "/callback?code=x&state=forged", host="::1").status == 400
    assert http_get(listener.port, GOOD, host="::1").status == 303
    waiting.result()
    assert listener.wait_closed(WAIT)
    for address in ("127.0.0.1", "::1"):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, listener.port), timeout=WAIT).close()


class SendsTheRedirectToIpv6:
    """A browser for which localhost is ::1: it takes the provider's redirect there."""

    def __init__(self, provider: TestProvider) -> None:
        self.provider = provider
        self.delivered: Background[int] | None = None

    def open(self, url: str) -> bool:
        def deliver() -> int:
            authorize = urlsplit(url)
            sent = http_get(self.provider.port, f"{authorize.path}?{authorize.query}")
            assert sent.status == 302, sent
            callback = urlsplit(sent.headers["location"])
            assert callback.hostname == "localhost"
            assert callback.port is not None
            return http_get(callback.port, f"{callback.path}?{callback.query}", host="::1").status

        self.delivered = Background(deliver, name="test-ipv6-browser")
        return True


def test_a_localhost_login_whose_redirect_arrives_on_ipv6_loopback_completes(
    provider: TestProvider, make_client: MakeClient
) -> None:
    browser = SendsTheRedirectToIpv6(provider)
    client = make_client(
        browser=browser,
        redirect=Redirect(host="localhost"),
    )
    tokens = client.login()
    assert browser.delivered is not None
    assert browser.delivered.result() == 303
    assert tokens.access_token in provider.active_tokens()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_an_ip_literal_host_binds_that_address_only(make_listener: MakeListener, host: str) -> None:
    listener = make_listener(host)
    assert listener.addresses == [host]


# ------------------------------------------------------- the wait returns when the outcome is known


def assert_result_page(address: str, title: str) -> None:
    """The listener serves the result page at ``address`` (200), titled ``title``."""
    answer = get_url(address)
    assert answer.status == 200
    assert f"<title>{title}</title>" in answer.text


class StopsAtTheResultPage:
    """A browser that follows the provider to the redirect URI but not the listener's 303.

    As a closed tab or a client that does not follow redirects would: the result page
    is never asked for by it.
    """

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.browser: HttpFollowingBrowser | None = None

    def open(self, url: str) -> bool:
        redirect_uri = dict(parse_qsl(urlsplit(url).query))["redirect_uri"]
        self.browser = HttpFollowingBrowser(stop_at=[redirect_uri + "/done"])
        opened = self.browser.open(url)
        self.opened.set()
        return opened

    def result_page_address(self) -> str:
        """Where the listener's 303 sent the browser, once it has answered the callback."""
        assert self.opened.wait(WAIT)
        assert self.browser is not None
        self.browser.wait()
        stopped = self.browser.stopped_at
        assert stopped is not None, "the browser was never sent to the result page"
        return stopped


def test_login_returns_before_the_result_page_is_asked_for_and_it_is_served_afterwards(
    provider: TestProvider, make_client: MakeClient
) -> None:
    # 14.13: the login used to return only once the browser had fetched the result
    # page, or the 2 s linger had passed. This browser never fetches it by itself.
    browser = StopsAtTheResultPage()
    client = make_client(browser=browser)
    login = Background(client.login, name="test-login")
    page_address = browser.result_page_address()  # the 303 was answered: outcome decided
    tokens = login.result()
    # Only now is the page asked for: the listener still serves it, in the background.
    assert_result_page(page_address, "Signed in")
    assert tokens.access_token in provider.active_tokens()
    # The thread that served it is a daemon (it never holds up the process's exit) and ends.
    wait_until(lambda: not [t for t in threading.enumerate() if t.name == "pkceflow-result-page"])


class MixUpCallback:
    """Sends the listener a callback with this login's state but another server's ``iss``
    (RFC 9207), and does not follow the 303."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.delivered: Background[str] | None = None

    def open(self, url: str) -> bool:
        def deliver() -> str:
            query = dict(parse_qsl(urlsplit(url).query))
            callback = urlsplit(query["redirect_uri"])
            assert callback.port is not None
            target = f"{callback.path}?code=c&state={query['state']}&iss=https://other.example"
            reply = http_get(callback.port, target)
            assert reply.status == 303
            return f"http://127.0.0.1:{callback.port}{reply.headers['location']}"

        self.delivered = Background(deliver, name="test-mix-up")
        self.opened.set()
        return True


def test_a_refused_mix_up_callback_ends_the_login_before_the_result_page_is_asked_for(
    provider: TestProvider, make_client: MakeClient
) -> None:
    browser = MixUpCallback()
    client = make_client(browser=browser)
    login = Background(client.login, name="test-login")
    assert browser.opened.wait(WAIT)
    assert browser.delivered is not None
    page_address = browser.delivered.result()
    assert isinstance(login.error(), CallbackError)
    assert_result_page(page_address, "Sign-in failed")
    assert client.stored() is None


def test_the_result_page_thread_is_a_daemon_and_bounded_by_linger(
    make_listener: MakeListener,
) -> None:
    listener = make_listener(linger=0.5)
    waiting = wait_in_background(listener)
    assert http_get(listener.port, GOOD).status == 303
    waiting.result()
    [thread] = [t for t in threading.enumerate() if t.name == "pkceflow-result-page"]
    assert thread.daemon
    listener.close()  # the caller's close leaves the page to be served
    assert http_get(listener.port, "/callback/done").status == 200
    assert listener.wait_closed(WAIT)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", listener.port), timeout=WAIT).close()
