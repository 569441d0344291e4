"""A stand-in for the system browser, for ``BROWSER="<python> fake_browser.py %s"``.

``webbrowser`` runs a BROWSER command with ``subprocess.Popen`` and waits for it
(``GenericBrowser``); a non-zero exit makes it try the next browser, and the redirect
it follows can only be answered once the login's listener waits. So this script
forks: the parent exits 0 at once (the launch is instant, whether or not pkceflow
waits for it), and the child, detached from the command's session and pipes (so
the test's capture of them ends with the command), follows the authorization URL
with ``pkceflow.testing.HttpFollowingBrowser`` through the provider's redirect to
the loopback listener.

Environment: ``FAKE_BROWSER_LOG`` (a file to append one JSON line per URL to:
the URL, the URLs visited, the final status and page, and any error) and
``FAKE_BROWSER_DECISION`` (``approve``, the default, or ``deny`` on a consent page).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Literal


def _detach() -> bool:
    """Fork; True in the child, which is cut off from the caller's session and pipes."""
    if os.fork():
        return False
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    return True


def _follow(url: str) -> dict[str, object]:
    from pkceflow.testing import HttpFollowingBrowser

    decision: Literal["approve", "deny"] = (
        "deny" if os.environ.get("FAKE_BROWSER_DECISION") == "deny" else "approve"
    )
    browser = HttpFollowingBrowser(decision=decision, timeout=10.0)
    record: dict[str, object] = {"url": url, "opened": browser.open(url)}
    try:
        final = browser.wait(timeout=15.0)
        record["final_status"] = None if final is None else final.status
        record["final_page"] = "" if final is None else final.text
    except Exception as exc:  # recorded for the test to look at
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["visited"] = browser.visited
    return record


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.stderr.write("usage: fake_browser.py URL\n")
        os._exit(0)  # never make webbrowser fall back to a real browser
    if not _detach():
        os._exit(0)
    try:
        record = _follow(argv[1])
    except BaseException as exc:  # the child must always end quietly
        record = {"url": argv[1], "error": f"{type(exc).__name__}: {exc}"}
    log = os.environ.get("FAKE_BROWSER_LOG")
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
        finally:
            os.close(fd)
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
