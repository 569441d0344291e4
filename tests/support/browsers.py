"""Headless browsers of the tests: the fake ``BROWSER`` command and Debian's Chromium.

- ``FAKE_BROWSER`` is a script for ``BROWSER="<python> fake_browser.py %s"``: it signs
  in at a TestProvider with ``pkceflow.testing.HttpFollowingBrowser`` (which the
  in-process tests use directly, as a pkceflow browser adapter).
- ``chromium`` launches /usr/bin/chromium through Playwright, headless, and
  ``loopback_context`` gives a fresh context whose pages reach loopback hosts only:
  the one way the end-to-end suite and its ``BROWSER`` script drive a real browser.

Playwright is imported only where Chromium is launched: these tests skip without it.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Playwright, Route

__all__ = [
    "CHROMIUM_ARGS",
    "CHROMIUM_PATH",
    "FAKE_BROWSER",
    "LOOPBACK_HOSTS",
    "block_non_loopback",
    "chromium",
    "loopback_context",
]

FAKE_BROWSER = Path(__file__).with_name("fake_browser.py")
CHROMIUM_PATH = "/usr/bin/chromium"
# --host-resolver-rules is an extra guard on top of the flags asked for: no host name but
# localhost resolves, so nothing in a page can reach past loopback by name.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE ::1",
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@contextlib.contextmanager
def chromium(playwright: Playwright) -> Iterator[Browser]:
    """Debian's /usr/bin/chromium, headless, closed afterwards.

    Playwright gives each launch a fresh temporary profile (user-data dir) and removes
    it on close.
    """
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM_PATH, headless=True, args=list(CHROMIUM_ARGS)
    )
    try:
        yield browser
    finally:
        browser.close()


def block_non_loopback(context: BrowserContext) -> list[str]:
    """Abort every request a page makes to a non-loopback host; returns the list it fills
    with the URLs it blocked (so a test can assert that nothing tried to leave)."""
    blocked: list[str] = []

    def handle(route: Route) -> None:
        url = route.request.url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOOPBACK_HOSTS:
            blocked.append(url)
            route.abort("blockedbyclient")
            return
        route.continue_()

    context.route("**/*", handle)
    return blocked


@contextlib.contextmanager
def loopback_context(browser: Browser) -> Iterator[tuple[BrowserContext, list[str]]]:
    """A fresh context (no cookies) of ``browser`` whose pages reach loopback only, and
    the URLs it blocked (see ``block_non_loopback``); closed afterwards."""
    context = browser.new_context()
    blocked = block_non_loopback(context)
    try:
        yield context, blocked
    finally:
        context.close()
