"""HttpFollowingBrowser against small scripted loopback servers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pkceflow.testing import BrowserError, BrowserResponse, HttpFollowingBrowser

Route = tuple[int, dict[str, str], str]


class _Scripted(BaseHTTPRequestHandler):
    routes: dict[str, Route]
    seen: list[tuple[str, str, str, str]]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        type(self).seen.append((self.command, self.path, body, self.headers.get("Cookie", "")))
        path = self.path.split("?")[0]
        status, headers, text = type(self).routes.get(path, (404, {}, "missing"))
        data = text.encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Site:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[tuple[str, str, str, str]] = []
        handler = type("H", (_Scripted,), {"routes": self.routes, "seen": self.seen})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,))
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def final_page(browser: HttpFollowingBrowser, url: str) -> BrowserResponse:
    """Open ``url`` in ``browser`` and wait: the page it ended on (it must end on one)."""
    browser.open(url)
    final = browser.wait()
    assert final is not None
    return final


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.close()


HTML = {"Content-Type": "text/html; charset=utf-8"}


def test_refuses_non_loopback_urls() -> None:
    browser = HttpFollowingBrowser()
    for url in (
        "http://example.com/",
        "https://127.0.0.1/",
        "http://10.0.0.1/",
        "file:///etc/passwd",
        "http://127.0.0.1.example.com/",
    ):
        assert browser.open(url) is False
    assert browser.opened == []
    assert browser.wait() is None


def test_refuses_a_redirect_to_a_remote_host(site: Site) -> None:
    site.routes["/start"] = (302, {"Location": "http://example.com/steal"}, "")
    browser = HttpFollowingBrowser()
    assert browser.open(site.base + "/start")
    with pytest.raises(BrowserError, match="non-loopback"):
        browser.wait()
    assert browser.visited == [site.base + "/start"]


def test_follows_redirects_keeping_cookies(site: Site) -> None:
    site.routes["/a"] = (302, {"Location": "/b", "Set-Cookie": "sid=1; Path=/; HttpOnly"}, "")
    site.routes["/b"] = (303, {"Location": site.base + "/c?x=1"}, "")
    site.routes["/c"] = (200, HTML, "<p>done</p>")
    browser = HttpFollowingBrowser()
    final = final_page(browser, site.base + "/a")
    assert final.status == 200
    assert final.text == "<p>done</p>"
    assert final.url == site.base + "/c?x=1"
    assert browser.visited == [site.base + "/a", site.base + "/b", site.base + "/c?x=1"]
    assert [cookie for *_, cookie in site.seen] == ["", "sid=1", "sid=1"]
    assert browser.cookies("127.0.0.1") == {"sid": "1"}


def test_gives_up_after_too_many_redirects(site: Site) -> None:
    site.routes["/loop"] = (302, {"Location": "/loop"}, "")
    browser = HttpFollowingBrowser(max_redirects=3)
    browser.open(site.base + "/loop")
    with pytest.raises(BrowserError, match="redirects"):
        browser.wait()
    assert len(browser.visited) == 4


def test_submits_login_then_decision(site: Site) -> None:
    site.routes["/login"] = (
        200,
        HTML,
        '<form method="POST" action="/do-login"><input type="hidden" name="t" value="a&amp;b">'
        '<input name="username"><input type="checkbox" name="remember" checked>'
        '<input type="checkbox" name="spam"><input type="submit" value="Go"></form>',
    )
    site.routes["/do-login"] = (
        200,
        HTML,
        '<form action="/decide" method="get"><button name="d" value="no">Deny</button>'
        '<button name="d" value="yes">Approve</button></form>',
    )
    site.routes["/decide"] = (200, HTML, "<p>decided</p>")
    browser = HttpFollowingBrowser(username="zoë")
    final = final_page(browser, site.base + "/login")
    assert final.text == "<p>decided</p>"
    methods = [(m, p.split("?")[0], b) for m, p, b, _ in site.seen]
    assert methods[1] == ("POST", "/do-login", "t=a%26b&username=zo%C3%AB&remember=on")
    assert site.seen[2][1] == "/decide?d=yes"


def test_deny_button_by_value(site: Site) -> None:
    site.routes["/consent"] = (
        200,
        HTML,
        '<form method="post"><button name="decision" value="approve">OK</button>'
        '<button name="decision" value="deny">Cancel</button></form>',
    )
    browser = HttpFollowingBrowser(decision="deny", max_forms=1)
    browser.open(site.base + "/consent")
    with pytest.raises(BrowserError, match="forms"):
        browser.wait()  # the same page comes back: the form limit stops the loop
    assert site.seen[1][:3] == ("POST", "/consent", "decision=deny")


def test_page_without_usable_form_is_final(site: Site) -> None:
    site.routes["/p"] = (200, HTML, '<form><button name="x" value="other">Other</button></form>')
    browser = HttpFollowingBrowser()
    final = final_page(browser, site.base + "/p")
    assert final.status == 200
    assert len(site.seen) == 1


def test_stop_at(site: Site) -> None:
    site.routes["/go"] = (302, {"Location": "http://127.0.0.1:9/callback?code=1"}, "")
    browser = HttpFollowingBrowser(stop_at=["http://127.0.0.1:9/callback"])
    browser.open(site.base + "/go")
    assert browser.wait() is None
    assert browser.stopped_at == "http://127.0.0.1:9/callback?code=1"


def test_connection_errors_are_raised_by_wait() -> None:
    browser = HttpFollowingBrowser(timeout=2)
    browser.open("http://127.0.0.1:9/closed")
    with pytest.raises(OSError):
        browser.wait()
    assert len(browser.errors) == 1


def test_wait_times_out(site: Site) -> None:
    gate = threading.Event()

    class Slow(_Scripted):
        def do_GET(self) -> None:
            gate.wait(5)
            super()._answer()

    Slow.routes = {"/": (200, HTML, "ok")}
    Slow.seen = []
    site.server.RequestHandlerClass = Slow
    browser = HttpFollowingBrowser()
    browser.open(site.base + "/")
    with pytest.raises(TimeoutError):
        browser.wait(timeout=0.1)
    gate.set()
    final = browser.wait()
    assert final is not None
    assert final.text == "ok"
