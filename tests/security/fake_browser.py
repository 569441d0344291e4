"""A stand-in for the system browser: ``BROWSER="<python> fake_browser.py %s"``.

``webbrowser`` waits for the BROWSER command, so this forks: the parent exits 0 at once
and the child, detached from the command's pipes, follows the authorization URL with
``pkceflow.testing.HttpFollowingBrowser`` to the loopback listener. It appends one JSON
line per URL to ``FAKE_BROWSER_LOG``: the URL, the final status and page, any error.
"""

from __future__ import annotations

import json
import os
import sys


def _detach() -> bool:
    """Fork; True in the child, cut off from the caller's session and pipes."""
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

    browser = HttpFollowingBrowser(timeout=10.0)
    record: dict[str, object] = {"url": url, "opened": browser.open(url)}
    try:
        final = browser.wait(timeout=15.0)
        if final is not None:
            record["final_status"] = final.status
            record["final_page"] = final.text
    except Exception as exc:  # recorded for the test to look at
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["visited"] = browser.visited
    return record


def main(argv: list[str]) -> None:
    if len(argv) != 2 or not _detach():
        os._exit(0)  # never make webbrowser fall back to a real browser
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
