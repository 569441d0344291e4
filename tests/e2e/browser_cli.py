"""The browser of the CLI tests: ``python -m e2e.browser_cli URL`` (tests/ and the
repository root on PYTHONPATH).

pkceflow's WebBrowserLauncher opens the authorization URL with ``webbrowser``, which runs
``$BROWSER``. The tests set ``BROWSER="<python> -m e2e.browser_cli %s &"``: with the
trailing ``&`` webbrowser starts it in the background (its BackgroundBrowser); without it,
webbrowser would wait for this command to exit before pkceflow starts serving its
redirect listener, and the redirect below would hang.

It then does what a person would: logs in (and consents, or cancels) and follows the
redirect to pkceflow's loopback listener, then its result page. Settings come from the
environment (set by ``support.PkceflowCli``):

- ``E2E_BROWSER_RESULT``: the JSON file to write the outcome to (required); anything this
  process prints goes to the same path with ``.log`` instead of ``.json``;
- ``E2E_BROWSER_MODE``: ``http`` (default) walks the pages with ``harness.http_login``;
  ``chromium`` launches Debian's /usr/bin/chromium through Playwright the way the tests
  do (``tests.support.browsers``), only loopback hosts reachable, and uses
  ``harness.complete_login``;
  ``relay`` only writes the URL to the result file, for a test that walks the sign-in
  of a real server itself (``support.relayed_url``) and delivers the redirect;
- ``E2E_BROWSER_LOGIN``: the login name (``alice``);
- ``E2E_BROWSER_CANCEL_AT``: ``login`` or ``consent`` to press ``[ Cancel ]`` there;
- ``E2E_BROWSER_DELIVERY_TIMEOUT``: seconds to wait for pkceflow's listener to answer the
  redirect (http mode; 10 by default).

The outcome: ``authorization_url``, ``landed`` (where the authorization server sent the
browser), ``status`` (the listener's answer to it), ``page_url`` and ``page`` (pkceflow's
result page), ``blocked`` (non-loopback requests Chromium tried), or ``error``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
import urllib.parse
from pathlib import Path
from typing import Any, cast

from tests.support.browsers import chromium, loopback_context

from .harness import HTTP_TIMEOUT, CancelAt, complete_login, http_login
from .support import deliver_redirect

#: The whole run is bounded: a stuck browser must not outlive the test by much.
WATCHDOG_SECONDS = 90.0


def _http(url: str, login: str, cancel_at: CancelAt | None) -> dict[str, Any]:
    landed = http_login(url, login=login, cancel_at=cancel_at)
    timeout = float(os.environ.get("E2E_BROWSER_DELIVERY_TIMEOUT") or HTTP_TIMEOUT)
    delivery = deliver_redirect(landed, timeout=timeout)
    return {
        "landed": landed,
        "status": delivery.status,
        "page_url": delivery.page_url,
        "page": delivery.page,
    }


def _chromium(url: str, login: str, cancel_at: CancelAt | None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with (
        sync_playwright() as playwright,
        chromium(playwright) as browser,
        loopback_context(browser) as (context, blocked),
    ):
        page = context.new_page()
        landed = complete_login(page, url, login=login, cancel_at=cancel_at)
        # The listener answers the callback with a 303 to its result page.
        done = urllib.parse.urlsplit(landed).path.rstrip("/") + "/done"
        page.wait_for_url(
            lambda current: urllib.parse.urlsplit(current).path == done,
            wait_until="load",
            timeout=10_000,
        )
        return {
            "landed": landed,
            "page_url": page.url,
            "page": page.content(),
            "blocked": blocked,
        }


def main(argv: list[str]) -> int:
    result_path = Path(os.environ["E2E_BROWSER_RESULT"])
    # Keep pkceflow's stdout and stderr (inherited) for pkceflow alone.
    log = os.open(result_path.with_suffix(".log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    watchdog = threading.Timer(WATCHDOG_SECONDS, os._exit, args=(3,))
    watchdog.daemon = True
    watchdog.start()

    url = argv[0] if argv else ""
    mode = os.environ.get("E2E_BROWSER_MODE", "http")
    login = os.environ.get("E2E_BROWSER_LOGIN", "alice")
    cancel_at = cast("CancelAt | None", os.environ.get("E2E_BROWSER_CANCEL_AT") or None)
    outcome: dict[str, Any] = {"mode": mode, "authorization_url": url, "pid": os.getpid()}
    try:
        if len(argv) != 1:
            raise ValueError(f"expected one URL argument, got {argv!r}")
        if mode != "relay":
            run = _chromium if mode == "chromium" else _http
            outcome.update(run(url, login, cancel_at))
    except BaseException as exc:  # reported to the test in the result file
        outcome["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    tmp = result_path.with_name(result_path.name + ".tmp")
    tmp.write_text(json.dumps(outcome), "utf-8")
    os.replace(tmp, result_path)  # the test polls for the file: write it whole
    return 1 if "error" in outcome else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
