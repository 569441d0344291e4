"""_callback_http.py, the loopback listeners' HTTP without sockets: any bytes, no exception."""

from __future__ import annotations

import html

from hypothesis import given
from hypothesis import strategies as st

from pkceflow._callback_http import REASONS, Callback, Routes, render_page, split_head
from pkceflow_core import CallbackReply

ROUTES = Routes("/callback")
FINAL = CallbackReply(done=True, ok=True, message="Signed in.")

heads = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda method, target, version, rest: b" ".join((method, target, version)) + rest,
        st.sampled_from([b"GET", b"HEAD", b"POST", b"get", b""]),
        st.one_of(
            st.sampled_from([b"/callback", b"/callback/done", b"/callback?code=c", b"/"]),
            st.binary(max_size=40),
        ),
        st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b""]),
        st.binary(max_size=60),
    ),
)


@given(st.binary(max_size=400), st.integers(min_value=0, max_value=300))
def test_split_head_finds_the_head_or_says_to_read_on_or_refuses(
    received: bytes, limit: int
) -> None:
    result = split_head(received, limit)
    if result is None:
        assert b"\r\n\r\n" not in received
        assert len(received) <= limit
    elif result == 431:
        end = received.find(b"\r\n\r\n")
        assert (end if end >= 0 else len(received)) > limit
    else:
        assert isinstance(result, bytes)
        assert received.startswith(result + b"\r\n\r\n")
        assert b"\r\n\r\n" not in result
        assert len(result) <= limit


@given(heads, st.sampled_from([None, FINAL]))
def test_every_head_gets_a_whole_answer_or_goes_to_the_handler(
    head: bytes, final: CallbackReply | None
) -> None:
    route = ROUTES.route(head, final)
    if isinstance(route, Callback):
        assert head.startswith(b"GET ")
        assert route.target.split("?", 1)[0] == "/callback"
        return
    status_line, _, _ = route.partition(b"\r\n")
    version, status, reason = status_line.split(b" ", 2)
    assert version == b"HTTP/1.1"
    assert REASONS[int(status)] == reason.decode()
    assert b"\r\nContent-Security-Policy: default-src 'none'" in route
    assert b"\r\nConnection: close\r\n" in route
    if int(status) == 200:
        assert final is not None
        assert head.split(b" ", 2)[1].split(b"?")[0] == b"/callback/done"


@given(st.sampled_from([None, FINAL, CallbackReply(done=False, ok=False, message="<b>")]))
def test_a_callback_is_answered_303_404_or_400(reply: CallbackReply | None) -> None:
    answer = ROUTES.callback_answer(reply)
    if reply is None:
        assert answer.startswith(b"HTTP/1.1 404 ")
    elif reply.done:
        assert answer.startswith(b"HTTP/1.1 303 ")
        assert b"\r\nLocation: /callback/done\r\n" in answer
    else:
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert b"&lt;b&gt;" in answer


@given(st.booleans(), st.text(max_size=200))
def test_the_page_shows_the_message_escaped(ok: bool, message: str) -> None:
    page = render_page(ok, message).decode("utf-8")
    assert f"<p>{html.escape(message, quote=True)}</p>" in page
    assert page.count("<p>") == 2
