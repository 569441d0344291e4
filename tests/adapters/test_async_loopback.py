"""AsyncLoopbackListener with raw sockets and http.client (in threads) as the browser.

Each test runs its coroutine with ``asyncio.run``; the listener serves on that loop
while the blocking clients of ``support`` talk to it from worker threads.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import pluggy
import pytest

from pkceflow import CallbackError, CallbackTimeoutError, UsageError
from pkceflow.async_loopback import AsyncLoopbackListener
from pkceflow.async_transport import HttpxTransport
from pkceflow.loopback import LoopbackListener
from pkceflow.testing import PUBLIC_CLIENT_ID, HttpFollowingBrowser, TestProvider
from pkceflow_core import CallbackReply, ClientConfig, TokenSet
from pkceflow_core._flow import AuthorizationCodeFlow, FlowState

from . import test_loopback as _sync_tests
from .conftest import provider_metadata
from .support import (
    WAIT,
    Background,
    Reply,
    dribble_request,
    http_get,
    idle_connections,
    read_reply,
)

T = TypeVar("T")
STATE = "the-state-of-this-login"
GOOD = f"/callback?code=the-code&state={STATE}"
SUCCESS = "Signed in for the test."
STRAY = "This request does not belong to the sign-in in progress."


async def handle(target: str) -> CallbackReply:
    """Accept the callback carrying STATE, refuse every other one and keep waiting."""
    params = dict(parse_qsl(urlsplit(target).query))
    if params.get("state") == STATE:
        return CallbackReply(done=True, ok=True, message=SUCCESS)
    return CallbackReply(done=False, ok=False, message=STRAY)


def make(*args: Any, **kwargs: Any) -> AsyncLoopbackListener:
    # Tests that do not fetch the result page should not wait for it long.
    kwargs.setdefault("linger", 0.05)
    return AsyncLoopbackListener(*args, **kwargs)


def run(main: Callable[[], Awaitable[T]]) -> T:
    """``main()`` on a new event loop, bounded so that a bug fails instead of hanging."""

    async def bounded() -> T:
        return await asyncio.wait_for(main(), WAIT * 3)

    return asyncio.run(bounded())


async def fetch(port: int, target: str, **options: Any) -> Reply:
    """One request with http.client, from a worker thread."""
    return await asyncio.to_thread(http_get, port, target, **options)


def start_waiting(
    listener: AsyncLoopbackListener, timeout: float = WAIT, handler: Any = handle
) -> asyncio.Task[None]:
    return asyncio.create_task(listener.wait(handler, timeout=timeout))


async def finish(
    listener: AsyncLoopbackListener, waiting: asyncio.Task[None], host: str = "127.0.0.1"
) -> None:
    """Deliver the real callback (answered 303) and let the wait return."""
    assert (await fetch(listener.port, GOOD, host=host)).status == 303
    await waiting


class Recording:
    """``handle``, remembering every target it was given."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, target: str) -> CallbackReply:
        self.seen.append(target)
        return await handle(target)


def connect(port: int, host: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection((host, port), timeout=WAIT)


def refuses_connections(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=WAIT).close()
    except ConnectionRefusedError:
        return True
    return False


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens on ``host``:``port`` any more: another program can listen there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.create_server((host, port), family=family).close()
    except OSError:
        return False
    return True


async def exchange_raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a new connection and read everything until the listener closes it."""

    def talk() -> bytes:
        with connect(port) as sock:
            sock.sendall(data)
            return read_reply(sock)

    return await asyncio.to_thread(talk)


# -------------------------------------------------------------- requests that are not the callback


def test_other_paths_get_404_and_the_wait_goes_on() -> None:
    async def main() -> None:
        async with make() as listener:
            waiting = start_waiting(listener)
            assert (await fetch(listener.port, "/favicon.ico")).status == 404
            assert (await fetch(listener.port, "/")).status == 404
            assert not waiting.done()
            await finish(listener, waiting)

    run(main)


@pytest.mark.parametrize(
    "target",
    ["/callback?code=the-code&state=another-state", "/callback?code=the-code", "/callback"],
    ids=["wrong-state", "no-state", "no-query"],
)
def test_a_callback_without_the_right_state_gets_an_error_page_and_the_wait_goes_on(
    target: str,
) -> None:
    async def main() -> None:
        async with make() as listener:
            waiting = start_waiting(listener)
            reply = await fetch(listener.port, target)
            assert reply.status == 400
            assert reply.headers["content-type"] == "text/html; charset=utf-8"
            assert STRAY in reply.text
            assert not waiting.done()
            await finish(listener, waiting)

    run(main)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_a_method_other_than_get_is_refused_and_the_wait_goes_on(method: str) -> None:
    async def main() -> None:
        async with make() as listener:
            waiting = start_waiting(listener)
            reply = await fetch(listener.port, GOOD, method=method)
            assert reply.status == 405
            assert "Only GET is served here." in reply.text
            assert not waiting.done()
            await finish(listener, waiting)

    run(main)


def test_a_head_of_the_callback_is_refused_without_spending_it() -> None:
    recording = Recording()

    async def main() -> None:
        async with make() as listener:
            waiting = start_waiting(listener, handler=recording)
            reply = await fetch(listener.port, GOOD, method="HEAD")
            assert (reply.status, reply.body) == (405, b"")
            assert recording.seen == []
            await finish(listener, waiting)
        assert recording.seen == [GOOD]

    run(main)


@pytest.mark.parametrize(
    "head",
    [b"GARBAGE\r\n\r\n", b"GET /callback HTTP/2\r\n\r\n", b"GET /callback?\xff HTTP/1.1\r\n\r\n"],
    ids=["no-request-line", "not-http-1", "not-ascii"],
)
def test_a_request_that_is_not_http_gets_400_and_the_wait_goes_on(head: bytes) -> None:
    async def main() -> None:
        async with make() as listener:
            waiting = start_waiting(listener)
            assert (await exchange_raw(listener.port, head)).startswith(b"HTTP/1.1 400 ")
            assert not waiting.done()
            await finish(listener, waiting)

    run(main)


def test_the_timeout_after_only_refused_callbacks_says_how_many_were_refused() -> None:
    async def main() -> None:
        listener = make()
        waiting = start_waiting(listener, timeout=1.0)
        assert (await fetch(listener.port, "/callback?code=x&state=forged")).status == 400
        assert (await fetch(listener.port, "/callback?code=x")).status == 400
        assert (await fetch(listener.port, "/favicon.ico")).status == 404  # not counted
        with pytest.raises(CallbackTimeoutError) as caught:
            await waiting
        assert caught.value.rejected == 2
        assert "2 request(s) to the redirect URI were refused" in str(caught.value)

    run(main)


def test_the_timeout_without_any_callback_says_none_arrived() -> None:
    async def main() -> None:
        listener = make()
        started = time.monotonic()
        with pytest.raises(CallbackTimeoutError, match=r"no callback arrived within 0\.3 s") as c:
            await listener.wait(handle, timeout=0.3)
        assert c.value.rejected == 0
        assert 0.25 < time.monotonic() - started < 2.0
        assert refuses_connections(listener.port)

    run(main)


def test_a_callback_under_way_at_the_deadline_is_awaited() -> None:
    async def slow(target: str) -> CallbackReply:
        await asyncio.sleep(0.6)  # the code exchange outlasts the wait's timeout
        return await handle(target)

    async def main() -> None:
        listener = make()
        waiting = start_waiting(listener, timeout=0.3, handler=slow)
        assert (await fetch(listener.port, GOOD)).status == 303
        await waiting  # no CallbackTimeoutError: the callback arrived in time

    run(main)


# ---------------------------------------------------------------- the callback and the result page


def test_success_answers_303_to_a_clean_path() -> None:
    async def main() -> None:
        listener = make()
        waiting = start_waiting(listener)
        reply = await fetch(listener.port, GOOD)
        assert reply.status == 303
        assert reply.headers["location"] == "/callback/done"
        assert reply.headers["cache-control"] == "no-store"
        assert reply.body == b""
        await waiting

    run(main)


def test_without_a_linger_the_303_still_goes_out_before_the_listener_closes() -> None:
    async def main() -> None:
        for _ in range(20):
            listener = make(linger=0)
            waiting = start_waiting(listener)
            await finish(listener, waiting)
            assert refuses_connections(listener.port)

    run(main)


def test_the_result_page_is_served_after_the_wait_returned() -> None:
    async def main() -> None:
        listener = make(linger=WAIT)
        waiting = start_waiting(listener)
        location = (await fetch(listener.port, GOOD)).headers["location"]
        await waiting  # returns before the page is asked for
        page = await fetch(listener.port, location)
        assert page.status == 200
        assert "<title>Signed in</title>" in page.text
        assert SUCCESS in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        started = time.monotonic()
        await listener.wait_closed()  # the page is out: no need to wait for the linger
        assert time.monotonic() - started < 2.0
        assert refuses_connections(listener.port)

    run(main)


def test_the_clean_path_is_not_served_before_the_login_ends() -> None:
    async def main() -> None:
        listener = make()
        waiting = start_waiting(listener)
        assert (await fetch(listener.port, "/callback/done")).status == 404
        await finish(listener, waiting)

    run(main)


def test_the_error_page_escapes_html_in_the_message() -> None:
    script = '<script>alert("x")</script><img src=x onerror=alert(1)>'

    async def refuse(target: str) -> CallbackReply:
        return CallbackReply(done=True, ok=False, message=f"The server refused: {script}")

    async def main() -> Reply:
        listener = make(linger=WAIT)
        waiting = start_waiting(listener, handler=refuse)
        location = (await fetch(listener.port, GOOD)).headers["location"]
        await waiting
        page = await fetch(listener.port, location)
        await listener.wait_closed()
        return page

    page = run(main)
    assert "<title>Sign-in failed</title>" in page.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img" in page.text
    assert "<script" not in page.text
    assert "<img" not in page.text


def test_the_result_page_task_is_bounded_by_linger_and_left_alone_by_aclose() -> None:
    async def main() -> None:
        listener = make(linger=0.5)
        waiting = start_waiting(listener)
        await finish(listener, waiting)
        [task] = [t for t in asyncio.all_tasks() if t.get_name() == "pkceflow-result-page"]
        await listener.aclose()  # the caller's close leaves the page to be served
        assert (await fetch(listener.port, "/callback/done")).status == 200
        await listener.wait_closed()
        assert task.done()
        assert refuses_connections(listener.port)

    run(main)


def test_an_unfetched_result_page_stops_being_served_after_linger() -> None:
    async def main() -> None:
        listener = make(linger=0.3)
        waiting = start_waiting(listener)
        await finish(listener, waiting)
        started = time.monotonic()
        await listener.wait_closed()
        assert 0.2 < time.monotonic() - started < 2.0
        assert refuses_connections(listener.port)

    run(main)


def test_a_handler_that_fails_ends_the_wait_with_its_error() -> None:
    class Bug(Exception):
        pass

    async def broken(target: str) -> CallbackReply:
        raise Bug("the application's own bug")

    async def main() -> None:
        listener = make(linger=WAIT)
        waiting = start_waiting(listener, handler=broken)
        reply = await fetch(listener.port, GOOD)
        assert reply.status == 303
        with pytest.raises(Bug):
            await waiting
        assert refuses_connections(listener.port)  # no result page to linger for

    run(main)


# ------------------------------------------------------------------------ hostile and slow clients


def test_oversized_request_headers_get_431_and_the_wait_goes_on() -> None:
    async def main() -> None:
        listener = make()
        waiting = start_waiting(listener)
        head = f"GET {GOOD} HTTP/1.1\r\nHost: x\r\nX-Filler: {'a' * 20000}\r\n\r\n"
        assert (await exchange_raw(listener.port, head.encode())).startswith(b"HTTP/1.1 431 ")
        assert not waiting.done()  # the callback inside the oversized request was not taken
        await finish(listener, waiting)

    run(main)


def test_a_head_that_never_ends_gets_408_after_the_request_timeout() -> None:
    async def main() -> None:
        listener = make(request_timeout=0.3)
        waiting = start_waiting(listener)
        started = time.monotonic()
        answer = await exchange_raw(listener.port, f"GET {GOOD} HTTP/1.1\r\nHost: x\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert 0.25 < time.monotonic() - started < 2.0
        assert not waiting.done()
        await finish(listener, waiting)

    run(main)


def test_a_slow_client_does_not_hold_up_the_callback() -> None:
    stop = threading.Event()

    async def main() -> None:
        listener = make()
        waiting = start_waiting(listener)
        with connect(listener.port) as slow:
            dribbler = asyncio.create_task(asyncio.to_thread(dribble_request, slow, GOOD, stop))
            try:
                started = time.monotonic()
                await finish(listener, waiting)
                assert time.monotonic() - started < 1.0
            finally:
                stop.set()
                await dribbler

    run(main)


def test_a_flood_beyond_the_cap_pushes_out_the_oldest_and_the_callback_gets_through() -> None:
    async def main() -> None:
        listener = make(max_connections=8)
        with idle_connections(listener.port, 40) as idle:
            waiting = start_waiting(listener)
            # The oldest connections are dropped while the wait goes on.
            assert await asyncio.to_thread(read_reply, idle[0]) == b""
            assert await asyncio.to_thread(read_reply, idle[31]) == b""
            assert not waiting.done()
            started = time.monotonic()
            await finish(listener, waiting)
            assert time.monotonic() - started < 2.0
            # The rest are dropped when the wait ends.
            for sock in idle[32:]:
                assert await asyncio.to_thread(read_reply, sock) == b""

    run(main)


def test_idle_connections_are_dropped_when_the_wait_ends() -> None:
    async def main() -> None:
        listener = make()
        with idle_connections(listener.port, 5) as idle:
            waiting = start_waiting(listener)
            await finish(listener, waiting)
            for sock in idle:
                assert await asyncio.to_thread(read_reply, sock) == b""

    run(main)


def test_handler_calls_never_overlap() -> None:
    active = most = 0

    async def slow(target: str) -> CallbackReply:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.05)
        active -= 1
        return await handle(target)

    async def main() -> None:
        listener = make()
        waiting = start_waiting(listener, handler=slow)
        await asyncio.sleep(0)
        assert listener.feed("?code=x&state=pasted-one") is not None
        strays = [fetch(listener.port, f"/callback?code=x&state=stray-{n}") for n in range(5)]
        assert listener.feed("?code=x&state=pasted-two") is not None
        replies = await asyncio.gather(*strays)
        assert [r.status for r in replies] == [400] * 5
        await finish(listener, waiting)

    run(main)
    assert most == 1


# --------------------------------------------------------------------------- closing


def test_after_the_wait_the_listening_socket_is_closed() -> None:
    async def main() -> None:
        listener = make()
        waiting = start_waiting(listener)
        await finish(listener, waiting)
        await listener.wait_closed()  # the result page was not asked for: linger passed
        assert refuses_connections(listener.port)
        assert port_is_free(listener.port)

    run(main)


def test_cancelling_the_wait_closes_everything_and_frees_the_port() -> None:
    started = asyncio.Event()
    cancelled = []

    async def never_done(target: str) -> CallbackReply:
        started.set()
        try:
            await asyncio.sleep(WAIT * 10)  # a code exchange that hangs
        except asyncio.CancelledError:
            cancelled.append(target)
            raise
        raise AssertionError("not cancelled")

    def callback(port: int) -> BaseException | None:
        try:
            http_get(port, GOOD)
        except Exception as exc:  # the listener closes the connection unanswered
            return exc
        return None

    async def main() -> None:
        listener = make("localhost")
        with idle_connections(listener.port, 3) as idle:
            waiting = start_waiting(listener, handler=never_done)
            browser = asyncio.create_task(asyncio.to_thread(callback, listener.port))
            await asyncio.wait_for(started.wait(), WAIT)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert cancelled == [GOOD]  # the handler's call was cancelled with the wait
            assert isinstance(await browser, ConnectionError)
            for sock in idle:
                assert await asyncio.to_thread(read_reply, sock) == b""
            for address in ("127.0.0.1", "::1"):
                assert refuses_connections(listener.port, address)
                assert port_is_free(listener.port, address)
            await asyncio.sleep(0.05)
            left = {t.get_coro().__name__ for t in asyncio.all_tasks()}  # type: ignore[union-attr]
            assert not left & {"_serve", "_dispatch", "wait", "_serve_result_page"}
            assert listener.feed(GOOD) is None  # nobody waits any more

    run(main)


def test_cancelling_before_any_connection_also_frees_the_port() -> None:
    async def main() -> None:
        listener = make()
        waiting = start_waiting(listener)
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert port_is_free(listener.port)

    run(main)


def test_aclose_during_the_wait_ends_it_with_a_usage_error() -> None:
    async def main() -> None:
        listener = make()
        waiting = start_waiting(listener)
        await asyncio.sleep(0.05)
        await listener.aclose()
        with pytest.raises(UsageError, match="closed during its wait"):
            await waiting
        assert port_is_free(listener.port)

    run(main)


def test_aclose_is_idempotent_and_async_with_closes() -> None:
    async def main() -> None:
        async with make() as listener:
            port = listener.port
            assert not port_is_free(port)
        assert port_is_free(port)
        await listener.aclose()
        await listener.aclose()
        with pytest.raises(UsageError):
            await listener.wait(handle, timeout=WAIT)

    run(main)


def test_a_listener_never_waited_on_releases_its_port_on_aclose() -> None:
    listener = make()  # made outside any event loop, as the hook does
    assert not port_is_free(listener.port)
    run(listener.aclose)
    assert port_is_free(listener.port)


def test_a_second_wait_is_a_usage_error() -> None:
    async def main() -> None:
        listener = make()
        waiting = start_waiting(listener)
        await asyncio.sleep(0)
        with pytest.raises(UsageError, match="one wait"):
            await listener.wait(handle, timeout=WAIT)
        await finish(listener, waiting)

    run(main)


# --------------------------------------------------------------------------- the paste-back path


def test_a_paste_before_the_wait_starts_is_kept_and_checked_when_it_does() -> None:
    listener = make(linger=WAIT)
    early = listener.feed(listener.redirect_uri + f"?code=c&state={STATE}")
    assert early is not None
    assert (early.done, early.ok) == (False, True)

    async def main() -> None:
        started = time.monotonic()
        await listener.wait(handle, timeout=WAIT)  # returns at once: the kept paste completes it
        assert time.monotonic() - started < 1.0
        await listener.wait_closed()  # nothing lingers: no browser asks for a page
        assert port_is_free(listener.port)

    run(main)


def test_a_paste_during_the_wait_completes_it_without_lingering() -> None:
    async def main() -> None:
        listener = make(linger=WAIT)  # a browser would get this long to fetch the page
        waiting = start_waiting(listener)
        await asyncio.sleep(0.05)
        reply = listener.feed(listener.redirect_uri + f"?code=c&state={STATE}")
        assert reply is not None
        assert (reply.done, reply.ok) == (False, True)  # received, checked by a task
        started = time.monotonic()
        await waiting
        assert time.monotonic() - started < 1.0
        final = listener.feed(listener.redirect_uri + f"?code=c&state={STATE}")
        assert final == CallbackReply(done=True, ok=True, message=SUCCESS)
        await listener.wait_closed()
        assert port_is_free(listener.port)

    run(main)


def test_a_paste_with_a_wrong_state_is_refused_and_the_wait_goes_on() -> None:
    async def main() -> None:
        listener = make()
        waiting = start_waiting(listener, timeout=0.5)
        await asyncio.sleep(0.05)
        assert listener.feed(listener.redirect_uri + "?code=c&state=forged") is not None
        with pytest.raises(CallbackTimeoutError) as caught:
            await waiting
        assert caught.value.rejected == 1
        assert listener.feed(listener.redirect_uri + f"?code=c&state={STATE}") is None

    run(main)


def test_pastes_before_and_during_the_wait_and_the_socket_take_turns() -> None:
    recording = Recording()

    async def main() -> None:
        listener = make()
        assert listener.feed("?code=c&state=early") is not None
        waiting = start_waiting(listener, handler=recording)
        assert (await fetch(listener.port, "/callback?code=c&state=socket")).status == 400
        assert listener.feed("?code=c&state=late") is not None
        assert listener.feed(f"?code=c&state={STATE}") is not None
        await waiting

    run(main)
    assert recording.seen == [
        "?code=c&state=early",
        "/callback?code=c&state=socket",
        "?code=c&state=late",
        f"?code=c&state={STATE}",
    ]


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_an_ipv6_loopback_host_is_bracketed_and_served(host: str) -> None:
    async def main() -> None:
        listener = make(host)
        assert listener.redirect_uri == f"http://[::1]:{listener.port}/callback"
        assert listener.addresses == ["::1"]
        waiting = start_waiting(listener)
        await finish(listener, waiting, host="::1")

    run(main)


def test_localhost_holds_the_port_on_both_loopback_addresses_and_serves_both() -> None:
    async def main() -> None:
        listener = make("localhost")
        assert listener.redirect_uri == f"http://localhost:{listener.port}/callback"
        assert listener.addresses == ["127.0.0.1", "::1"]
        for address in ("::1", "127.0.0.1"):
            with pytest.raises(OSError) as taken:
                _sync_tests._bind_as_another_program(address, listener.port)
            assert taken.value.errno == errno.EADDRINUSE, address
        waiting = start_waiting(listener)
        forged = "/callback?code=x&state=forged"
        assert (await fetch(listener.port, forged, host="127.0.0.1")).status == 400
        assert (await fetch(listener.port, forged, host="::1")).status == 400
        await finish(listener, waiting, host="::1")
        await listener.wait_closed()
        for address in ("127.0.0.1", "::1"):
            assert refuses_connections(listener.port, address)

    run(main)


def test_bind_host_binds_another_address_and_logs_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="pkceflow.loopback"):
        listener = make("127.0.0.1", bind_host="0.0.0.0")
    assert listener.redirect_uri == f"http://127.0.0.1:{listener.port}/callback"
    [record] = [r for r in caplog.records if r.name == "pkceflow.loopback"]
    assert "0.0.0.0, which is not a loopback address" in record.getMessage()

    async def main() -> None:
        waiting = start_waiting(listener)
        await finish(listener, waiting)

    run(main)


def test_the_built_in_hook_makes_a_bound_asyncio_listener(
    plugin_manager: pluggy.PluginManager,
) -> None:
    hook = plugin_manager.hook
    listener = hook.pkceflow_async_listener(host="::1", port=0, path="/cb", bind_host=None)
    assert isinstance(listener, AsyncLoopbackListener)
    assert listener.redirect_uri == f"http://[::1]:{listener.port}/cb"
    run(listener.aclose)


# ------------------------------------------------------------- the same answers as the threaded one


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /callback HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"HEAD /callback HTTP/1.1\r\n\r\n",
        b"GET /callback/done HTTP/1.1\r\n\r\n",
        b"GET /callback?state=forged HTTP/1.1\r\n\r\n",
        b"nonsense\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: " + b"a" * 17000 + b"\r\n\r\n",
    ],
    ids=["404", "post", "head", "done-too-early", "forged", "garbage", "too-large"],
)
def test_each_answer_is_byte_for_byte_the_threaded_listeners(request_bytes: bytes) -> None:
    threaded = LoopbackListener(linger=0.05)

    def sync_handle(target: str) -> CallbackReply:
        return asyncio.run(handle(target))

    def threaded_answer() -> bytes:
        waiting = Background(lambda: threaded.wait(sync_handle, timeout=0.5))
        with connect(threaded.port) as sock:
            sock.sendall(request_bytes)
            answer = read_reply(sock)
        assert isinstance(waiting.error(), CallbackTimeoutError)
        return answer

    async def asyncio_answer() -> bytes:
        listener = make()
        waiting = start_waiting(listener, timeout=0.5)
        answer = await exchange_raw(listener.port, request_bytes)
        with pytest.raises(CallbackTimeoutError):
            await waiting
        return answer

    try:
        expected = threaded_answer()
    finally:
        threaded.close()
    assert expected.startswith(b"HTTP/1.1 ")
    assert run(asyncio_answer) == expected


# ------------------------------------------------------------------- a login through both adapters


def test_a_login_through_the_test_provider_completes(
    provider: TestProvider, browser: HttpFollowingBrowser
) -> None:
    """The core's flow, driven by hand over the asyncio listener and transport."""
    metadata = provider_metadata(provider)

    async def main() -> tuple[TokenSet, str]:
        async with HttpxTransport(timeout=WAIT) as transport, make(linger=WAIT) as listener:
            flow = AuthorizationCodeFlow(
                metadata,
                ClientConfig(PUBLIC_CLIENT_ID),
                redirect_uri=listener.redirect_uri,
                scope="openid",
            )
            got: list[TokenSet] = []

            async def exchange(target: str) -> CallbackReply:
                try:
                    request = flow.receive_callback(target)
                except CallbackError as exc:
                    if flow.state is FlowState.AWAITING_CALLBACK:
                        return CallbackReply(done=False, ok=False, message=str(exc))
                    raise
                response = await transport.send(request)
                got.append(flow.receive_token_response(response, now=time.time()))
                return CallbackReply(done=True, ok=True, message=SUCCESS)

            waiting = start_waiting(listener, handler=exchange)
            # A stray request first: refused, and the login goes on.
            assert (await fetch(listener.port, "/callback?code=x&state=forged")).status == 400
            assert browser.open(flow.authorization_url)
            await waiting
            page = await asyncio.to_thread(browser.wait)
            await listener.wait_closed()
            assert page is not None
            assert page.url.endswith("/callback/done")
            return got[0], page.text

    tokens, page = run(main)
    assert SUCCESS in page
    assert tokens.access_token in provider.active_tokens()
    assert provider.count("token") == 1
