"""The browser launcher: the system browser through ``webbrowser``, or the terminal."""

from __future__ import annotations

import os
import sys
import threading
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


#: How long to wait for the browser command to say whether it started.
LAUNCH_WAIT = 2.0


def _launch(url: str) -> bool:
    """Run ``webbrowser.open`` without letting a browser command block the login.

    ``webbrowser`` waits for a ``BROWSER`` command that does not end in ``&`` (a
    terminal browser such as w3m runs until it is quit), but the redirect it will
    follow can only be answered once the listener waits. So the launch runs in a
    thread; one still running after LAUNCH_WAIT has started a browser.
    """
    result: list[bool] = []

    def run() -> None:
        try:
            result.append(webbrowser.open(url, new=1, autoraise=True))
        except webbrowser.Error:
            result.append(False)

    thread = threading.Thread(target=run, name="pkceflow-browser", daemon=True)
    thread.start()
    thread.join(LAUNCH_WAIT)
    return result[0] if result else True


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
        opened = self._open and browser_available() and _launch(url)
        if opened:
            self._say(f"Opened your browser to sign in. If it did not open, visit:\n\n  {url}\n")
        else:
            self._say(f"Open this URL in a browser to sign in:\n\n  {url}\n")
        return opened
