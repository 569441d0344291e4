"""Mix-up without RFC 9207 ``iss`` (item 14.6): a flow stays bound to its server.

The attacker runs an authorization server of their own (``attacker``) that the person
has a login for. When that login starts, the attacker's authorize endpoint bounces the
browser to the real server (``honest``) with the real client_id and pkceflow's own
redirect URI, state and challenge. Neither server sends ``iss``. Before, both logins
used ``/callback``: the honest server redirected its code to pkceflow's listener, and
pkceflow sent that code and its verifier to the attacker's token endpoint. Now each
server without ``iss`` gets a redirect path of its own (RFC 9700 4.4.2), so the honest
server refuses a redirect URI that is not one registered with it, and nothing reaches
the attacker's token endpoint.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from pkceflow import Client
from pkceflow.plugins import make_plugin_manager
from pkceflow.settings import Interaction, Redirect
from pkceflow.testing import PUBLIC_CLIENT_ID, HttpFollowingBrowser, TestProvider
from pkceflow_core import CallbackTimeoutError, ServerMetadata, TokenError

from .support import get


def _without_iss(provider: TestProvider) -> TestProvider:
    provider.settings.authorization_iss = "omit"
    provider.settings.advertise_iss_parameter = False
    return provider


@pytest.fixture
def honest() -> Iterator[TestProvider]:
    with TestProvider() as running:
        yield _without_iss(running)


@pytest.fixture
def attacker() -> Iterator[TestProvider]:
    with TestProvider() as running:
        yield _without_iss(running)


class BouncingBrowser(HttpFollowingBrowser):
    """The attacker's authorize endpoint redirecting to the honest one, same query."""

    def __init__(self, attacker: TestProvider, honest: TestProvider) -> None:
        super().__init__()
        self._from = urlsplit(attacker.authorization_endpoint)
        self._to = urlsplit(honest.authorization_endpoint)

    def open(self, url: str) -> bool:
        parts = urlsplit(url)
        if (parts.scheme, parts.netloc, parts.path) == (
            self._from.scheme,
            self._from.netloc,
            self._from.path,
        ):
            url = urlunsplit(parts._replace(netloc=self._to.netloc, path=self._to.path))
        return super().open(url)


def _client(server: TestProvider, browser: HttpFollowingBrowser, **kwargs: object) -> Client:
    metadata = ServerMetadata(
        server.authorization_endpoint, server.token_endpoint, issuer=server.issuer
    )
    return Client(
        PUBLIC_CLIENT_ID,
        server=metadata,
        scope="offline_access",
        browser=browser,
        interaction=Interaction(paste=False, timeout=3.0),
        plugin_manager=make_plugin_manager(load_entry_points=False),
        **kwargs,  # type: ignore[arg-type]
    )


def test_each_server_without_iss_gets_its_own_redirect_path(
    honest: TestProvider, attacker: TestProvider
) -> None:
    browser = HttpFollowingBrowser()
    paths = {_client(p, browser).redirect_path for p in (honest, attacker)}

    assert len(paths) == 2
    assert all(path.startswith("/callback/") for path in paths)


def test_a_login_bounced_to_another_server_never_sends_its_code_to_the_attacker(
    honest: TestProvider, attacker: TestProvider
) -> None:
    browser = BouncingBrowser(attacker, honest)
    client = _client(attacker, browser)

    with pytest.raises(CallbackTimeoutError):
        client.login()

    browser.wait()
    assert honest.count("authorize") == 1
    assert browser.final is not None
    assert "redirect_uri is not registered" in browser.final.text
    assert honest.count("token") == 0
    assert attacker.count("token") == 0  # the code and the verifier never left
    assert client.stored() is None


def test_an_explicit_shared_redirect_path_is_what_the_defence_rests_on(
    honest: TestProvider, attacker: TestProvider
) -> None:
    # With one redirect path for both servers the bounce succeeds at the honest
    # server, and the code would go to the attacker's token endpoint: the residual
    # risk docs/security.md names for servers that match paths loosely or for people
    # who register one path everywhere.
    browser = BouncingBrowser(attacker, honest)
    client = _client(attacker, browser, redirect=Redirect(path="/callback"))

    with pytest.raises(TokenError, match="Unknown authorization code"):
        client.login()  # the attacker's server cannot redeem the honest server's code...

    assert attacker.count("token") == 1  # ...but it received it: the mix-up itself


def test_a_callback_on_another_servers_path_is_refused(honest: TestProvider) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    browser = HttpFollowingBrowser(stop_at=(f"http://127.0.0.1:{port}/",))
    client = _client(honest, browser, redirect=Redirect(port=port))
    result: dict[str, BaseException | None] = {}

    def run() -> None:
        try:
            client.login()
            result["error"] = None
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while browser.stopped_at is None and time.monotonic() < deadline:
        time.sleep(0.01)
    genuine = browser.stopped_at
    assert genuine is not None
    parts = urlsplit(genuine)
    assert parts.path == client.redirect_path
    assert parts.port is not None

    assert get(parts.port, f"/callback?{parts.query}").status == 404
    assert get(parts.port, f"{parts.path}?{parts.query}").status == 303
    thread.join(10)
    assert result["error"] is None
