"""The HTTP of the loopback redirect listeners, without sockets.

The threaded listener (``pkceflow.loopback``) and the asyncio one
(``pkceflow.async_loopback``) read a request head, bounded in bytes, with
:func:`split_head`; :class:`Routes` chooses the answer for its target, and every
byte they write is made here. Nothing in this module reads, writes or waits.
"""

from __future__ import annotations

import html

from pkceflow_core import CallbackReply

__all__ = ["REASONS", "Callback", "Routes", "is_result_page", "refused", "render_page", "response"]

#: The statuses the listeners answer with, and their reason phrases.
REASONS = {
    200: "OK",
    303: "See Other",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }}
main {{ max-width: 34rem; margin: 12vh auto; padding: 2rem; background: #fff;
        border-radius: 12px; box-shadow: 0 1px 4px rgba(0,0,0,.12); }}
h1 {{ font-size: 1.4rem; margin: 0 0 .75rem; color: {colour}; }}
p {{ margin: 0 0 .5rem; overflow-wrap: anywhere; }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
<p>{message}</p>
<p>{hint}</p>
</main>
</body>
</html>
"""


def render_page(ok: bool, message: str) -> bytes:
    """The answer page: small, valid HTML, everything from the request escaped."""
    if ok:
        title, colour, hint = "Signed in", "#1a7f37", "You can close this tab."
    else:
        title, colour = "Sign-in failed", "#b42318"
        hint = "You can close this tab and return to the application."
    page = _PAGE.format(
        title=title, colour=colour, message=html.escape(message, quote=True), hint=hint
    )
    return page.encode("utf-8")


def response(status: int, body: bytes = b"", *, location: str | None = None) -> bytes:
    """A whole HTTP/1.1 response: never cached, never framed, no referrer, one request."""
    lines = [
        f"HTTP/1.1 {status} {REASONS[status]}",
        "Content-Type: text/html; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
        "Referrer-Policy: no-referrer",
        "X-Content-Type-Options: nosniff",
        "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'",
        "Connection: close",
    ]
    if location is not None:
        lines.append(f"Location: {location}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def split_head(received: bytes, limit: int) -> bytes | int | None:
    """The request head (request line and headers) once ``received`` holds all of it.

    431 when the head, or what has arrived of it, is longer than ``limit`` bytes;
    None when the blank line that ends it has not arrived yet (read on).
    """
    end = received.find(b"\r\n\r\n")
    if end < 0:
        return 431 if len(received) > limit else None
    # The chunk that brought the blank line may also have crossed the limit.
    return 431 if end > limit else received[:end]


def refused(status: int) -> bytes:
    """The answer to a head that was too large (431) or too slow to arrive (408)."""
    return response(status, render_page(False, "The request was refused."))


def is_result_page(answer: bytes) -> bool:
    """True for the answer that carries the result page (the only one answered 200)."""
    return answer.startswith(b"HTTP/1.1 200 ")


class Callback:
    """A GET of the redirect path: its ``target`` goes to the callback handler."""

    __slots__ = ("target",)

    def __init__(self, target: str) -> None:
        self.target = target


class Routes:
    """The answer each request gets, from its head alone.

    The redirect path is the callback; ``<path>/done`` is the clean address the
    final callback is sent on to, which serves the result page once there is one.
    Only GET is served (HEAD of the callback is refused too: it would spend the
    callback without a page to show); everything else is 404.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.done_path = path.rstrip("/") + "/done"

    def route(self, head: bytes, final: CallbackReply | None) -> bytes | Callback:
        """The whole answer for ``head``, or the Callback to hand to the handler.

        ``final`` is the outcome once it is decided (None before), shown on the
        result page.
        """
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return response(400, render_page(False, "That is not an HTTP request."))
        method, raw_target = parts[0], parts[1]
        try:
            target = raw_target.decode("ascii")
        except UnicodeDecodeError:
            return response(400, render_page(False, "The request address is not valid."))
        if method not in (b"GET", b"HEAD"):
            return response(405, render_page(False, "Only GET is served here."))
        path = target.split("?", 1)[0]
        if path == self.path:
            return response(405, b"") if method == b"HEAD" else Callback(target)
        if path == self.done_path and final is not None:
            return response(200, render_page(final.ok, final.message))
        return response(404, render_page(False, "Nothing is served at this address."))

    def callback_answer(self, reply: CallbackReply | None) -> bytes:
        """The answer to a callback the handler replied ``reply`` to (None: nobody waits)."""
        if reply is None:
            return response(404, render_page(False, "No sign-in is waiting here."))
        if reply.done:
            # 303 to a clean address takes the code out of the address bar and
            # the history before the person sees the page.
            return response(303, location=self.done_path)
        return response(400, render_page(False, reply.message))
