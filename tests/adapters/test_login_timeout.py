"""A login that times out says why it probably did, and where the browser was sent.

A wrong client id or an unregistered redirect URI leaves the person at the server's own
error page: nothing is ever redirected to the listener. These tests make the real
TestProvider answer that way, through the Client and through the ``pkceflow`` command.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from pkceflow import CallbackTimeoutError
from pkceflow.settings import Interaction
from pkceflow.testing import HttpFollowingBrowser, TestProvider
from tests.cli.helpers import Cli

from .conftest import MakeClient
from .support import WAIT, Background, http_get

UNKNOWN_CLIENT = "no-such-client-at-this-server"
#: What the TestProvider's own error page says to a person for each mistake.
PAGES = {
    "unknown-client": f"Unknown client: {UNKNOWN_CLIENT}",
    "unregistered-redirect-uri": "The redirect_uri is not registered for this client",
}


def assert_explains(message: str, *, client_id: str, redirect_uri: str, url: str) -> None:
    """The likely causes, the client id, the redirect URI used and the URL, in full."""
    assert "no callback arrived within 1 s" in message
    assert f"does not know the client id {client_id!r}" in message
    assert f"the redirect URI {redirect_uri} is not registered" in message
    assert "the browser tab was closed, or the sign-in refused" in message
    assert message.endswith(f"The browser was sent to {url}")
    assert "\n" not in message


@pytest.mark.parametrize("mistake", sorted(PAGES))
def test_a_login_the_server_never_redirects_times_out_naming_the_likely_causes(
    provider: TestProvider, browser: HttpFollowingBrowser, make_client: MakeClient, mistake: str
) -> None:
    # 14.12: the message used to be only "no callback arrived within 1 s".
    if mistake == "unknown-client":
        client = make_client(
            UNKNOWN_CLIENT,
            interaction=Interaction(timeout=1.0),
        )
    else:
        provider.add_client("registered-elsewhere", redirect_uris=["http://127.0.0.1/elsewhere"])
        client = make_client(
            "registered-elsewhere",
            interaction=Interaction(timeout=1.0),
        )
    with pytest.raises(CallbackTimeoutError) as raised:
        client.login()

    page = browser.wait()
    assert page is not None
    assert PAGES[mistake] in page.text  # the person was left at the server's error page
    [url] = browser.opened
    redirect_uri = dict(parse_qsl(urlsplit(url).query))["redirect_uri"]
    assert raised.value.rejected == 0
    assert_explains(
        str(raised.value),
        client_id=client.config.client_id,
        redirect_uri=redirect_uri,
        url=url,
    )
    assert client.stored() is None


class RefusedThenAbandoned:
    """The browser is left at the server's error page; a stray request with a wrong
    state reaches the redirect URI meanwhile."""

    def __init__(self, browser: HttpFollowingBrowser) -> None:
        self.browser = browser
        self.urls: list[str] = []
        self.stray: Background[int] | None = None

    def open(self, url: str) -> bool:
        self.urls.append(url)
        redirect = urlsplit(dict(parse_qsl(urlsplit(url).query))["redirect_uri"])
        port = redirect.port
        assert port is not None
        # Answered once the listener waits, which is after open() returns.
        self.stray = Background(
            lambda: http_get(port, f"{redirect.path}?code=x&state=forged").status,
            name="test-stray",
        )
        return self.browser.open(url)


def test_the_timeout_message_counts_the_refused_callbacks(
    browser: HttpFollowingBrowser, make_client: MakeClient
) -> None:
    launcher = RefusedThenAbandoned(browser)
    client = make_client(
        UNKNOWN_CLIENT,
        browser=launcher,
        interaction=Interaction(timeout=1.0),
    )
    with pytest.raises(CallbackTimeoutError) as raised:
        client.login()

    assert launcher.stray is not None
    assert launcher.stray.result() == 400
    message = str(raised.value)
    assert raised.value.rejected == 1
    assert message.startswith(
        "no valid callback arrived within 1 s; 1 request(s) to the redirect URI were refused"
    )
    [url] = launcher.urls
    assert f"does not know the client id {UNKNOWN_CLIENT!r}" in message
    assert message.endswith(f"The browser was sent to {url}")


def test_a_very_long_authorization_url_is_cut_in_the_message(
    provider: TestProvider, make_client: MakeClient
) -> None:
    client = make_client(
        UNKNOWN_CLIENT, interaction=Interaction(timeout=1.0), params={"login_hint": "x" * 3000}
    )
    with pytest.raises(CallbackTimeoutError) as raised:
        client.login()

    message = str(raised.value)
    shown = message.split("The browser was sent to ", 1)[1]
    assert shown.startswith(provider.authorization_endpoint + "?response_type=code&client_id=")
    assert shown.endswith("\u2026")
    assert len(shown) == 1000


def test_the_login_command_exits_5_naming_the_likely_causes_and_the_url(
    provider: TestProvider, tmp_path: Path
) -> None:
    cli = Cli(tmp_path, tmp_path / "pycache")
    try:
        result = cli.login(provider, client_id=UNKNOWN_CLIENT, timeout="1")
        line = result.fails(5, alone=False)
        url = result.authorization_url()
        [visit] = cli.browser_visits(timeout=WAIT)
    finally:
        cli.close()
    assert PAGES["unknown-client"] in visit["final_page"]
    redirect_uri = dict(parse_qsl(urlsplit(url).query))["redirect_uri"]
    assert_explains(
        line.removeprefix("pkceflow: error: "),
        client_id=UNKNOWN_CLIENT,
        redirect_uri=redirect_uri,
        url=url,
    )
