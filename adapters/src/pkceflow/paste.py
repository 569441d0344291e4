"""Paste-back: a redirect address pasted into the terminal, handed to the listener.

When the browser runs on another machine (SSH, a container), its redirect to
127.0.0.1 fails there; the person copies the address it was sent to and pastes
it here. It goes through the listener's ``feed``, so the same checks apply as to
a callback through the socket.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

from pkceflow_core import CallbackReply

__all__ = ["PasteReader", "paste_wanted"]


def paste_wanted(paste: bool | None, *, open_browser: bool) -> bool:
    """Whether a login reads pasted addresses: ``paste``, or by the terminal when None.

    By default, when standard input is a terminal and no browser will open here.
    """
    if paste is not None:
        return paste
    from .browser import browser_available

    interactive = sys.stdin is not None and sys.stdin.isatty()
    return interactive and (not open_browser or not browser_available())


class PasteReader:
    """Reads redirect addresses pasted into the terminal and hands each to ``feed``.

    ``feed`` is a listener's ``feed`` (called on this reader's thread; an asyncio
    listener's is wrapped to run on its loop). :meth:`start` prints the hint and
    reads standard input on a daemon thread (POSIX ``select``, so it can stop);
    :meth:`stop` ends it.
    """

    def __init__(self, feed: Callable[[str], CallbackReply | None]) -> None:
        self._feed_to = feed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pkceflow-paste", daemon=True)

    def start(self) -> None:
        sys.stderr.write(
            "If the browser is on another machine, paste here the full address it was"
            " sent to after signing in (it may show an error page), then press Enter.\n"
        )
        sys.stderr.flush()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)

    def _run(self) -> None:
        import select

        fd = sys.stdin.fileno()
        buffer = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                text = line.decode("utf-8", "replace").strip()
                if text and not self._feed(text):
                    return

    def _feed(self, text: str) -> bool:
        reply = self._feed_to(text)
        if reply is None or reply.done:
            return False
        if reply.ok:  # kept until the listener starts waiting
            return True
        sys.stderr.write("That address does not belong to this sign-in; paste the full address.\n")
        sys.stderr.flush()
        return True
