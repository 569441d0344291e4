"""The browser launcher: the system browser through ``webbrowser``, or the terminal."""

from __future__ import annotations

import os
import sys
import webbrowser
from typing import TextIO

__all__ = ["WebBrowserLauncher", "browser_available"]


def browser_available(environ: dict[str, str] | None = None, platform: str = sys.platform) -> bool:
    """Whether a graphical browser can plausibly be opened here.

    ``BROWSER`` always counts (``webbrowser`` honours it). On Linux and the BSDs a
    display is needed; over SSH without one, or in a container, there is none.
    """
    env = os.environ if environ is None else environ
    if env.get("BROWSER"):
        return True
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    return True


class WebBrowserLauncher:
    """Opens the authorization URL with ``webbrowser`` and always shows it too.

    With ``open_browser`` False, or where no browser can open, only the URL is
    shown, on ``out`` (default: standard error, so standard output stays clean
    for scripts), and the login goes on: the person opens it wherever they are.
    """

    def __init__(self, *, open_browser: bool = True, out: TextIO | None = None) -> None:
        self._open = open_browser
        self._out = out

    def _say(self, text: str) -> None:
        out = self._out or sys.stderr
        out.write(text + "\n")
        out.flush()

    def open(self, url: str) -> bool:
        """Open ``url``; return False when only the URL could be shown."""
        opened = False
        if self._open and browser_available():
            try:
                opened = webbrowser.open(url, new=1, autoraise=True)
            except webbrowser.Error:
                opened = False
        if opened:
            self._say(f"Opened your browser to sign in. If it did not open, visit:\n\n  {url}\n")
        else:
            self._say(f"Open this URL in a browser to sign in:\n\n  {url}\n")
        return opened
