"""pkceflow against the servers people run: Django OAuth Toolkit and Glewlwyd.

Each server is started by the tests on 127.0.0.1 (servers/dot.py, servers/glewlwyd.py)
and stopped by PID; the person's browser is the server's own sign-in walked over plain
HTTP. Counts come from the server (its log or its database), never from pkceflow.
Where a server cannot do a case, its ``limits`` say so and the test asserts what
pkceflow does instead.
"""

from __future__ import annotations

import importlib
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pkceflow import Client
from pkceflow.file_store import FileStore
from pkceflow.plugins import make_plugin_manager
from pkceflow_core import (
    AuthorizationCodeFlow,
    AuthorizationError,
    CallbackTimeoutError,
    ClientConfig,
    LoginEndedError,
    MissingIssuerError,
    PkceflowError,
    TokenSet,
    discover,
)

from .servers.base import RealServer, RegisteredClient
from .support import deliver_redirect

SERVERS = ("dot", "glewlwyd")


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[RealServer]:
    module: Any = importlib.import_module(f"tests.e2e.servers.{request.param}")
    module.require()
    running: RealServer = module.start()
    try:
        yield running
    finally:
        running.stop()


class SignInBrowser:
    """A BrowserLauncher: the server's own sign-in, then the redirect to pkceflow."""

    def __init__(self, server: RealServer, outcome: str = "allow") -> None:
        self._server = server
        self._outcome = outcome
        self._threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def open(self, url: str) -> bool:
        def run() -> None:
            try:
                landed = self._server.sign_in(url, outcome=self._outcome)  # type: ignore[arg-type]
                if landed is not None:
                    deliver_redirect(landed)
            except BaseException as exc:  # reported by join()
                self.errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self._threads.append(thread)
        return True

    def join(self) -> None:
        for thread in self._threads:
            thread.join(30)
        if self.errors:
            raise self.errors[0]


def _issuer(server: RealServer, client: RegisteredClient) -> str:
    if client is server.short_lived:
        return str(getattr(server, "short_lived_issuer", server.issuer))
    return server.issuer


def make_client(
    server: RealServer,
    client: RegisteredClient,
    folder: Path,
    *,
    outcome: str = "allow",
    client_id: str | None = None,
    timeout: float = 30.0,
) -> Client:
    return Client.from_issuer(
        _issuer(server, client),
        client_id or client.client_id,
        client_secret=client.client_secret,
        scope=client.scope,
        redirect_host=client.redirect_host,
        redirect_port=client.redirect_port,
        # The path registered at the server: neither announces RFC 9207 reliably, and
        # pkceflow's own per-server path is what a person would register instead.
        redirect_path=client.redirect_path,
        params=dict(client.params),
        store=FileStore(folder / "tokens"),
        browser=SignInBrowser(server, outcome),
        paste=False,
        timeout=timeout,
        plugin_manager=make_plugin_manager(load_entry_points=False),
    )


def login(server: RealServer, client: RegisteredClient, folder: Path) -> tuple[Client, TokenSet]:
    made = make_client(server, client, folder)
    tokens = made.login()
    browser = made._browser
    assert isinstance(browser, SignInBrowser)
    browser.join()
    return made, tokens


def test_a_login_with_s256_gives_a_validated_id_token(server: RealServer, tmp_path: Path) -> None:
    client, tokens = login(server, server.public, tmp_path)

    assert tokens.refresh_token is not None
    claims = client.id_token_claims()
    assert claims is not None
    assert claims["iss"] == server.issuer
    assert claims["sub"]


def test_the_server_itself_refuses_a_wrong_verifier(server: RealServer) -> None:
    registered = server.public
    metadata = discover(_transport(), server.issuer)
    port = registered.redirect_port or 50999
    flow = AuthorizationCodeFlow(
        metadata,
        ClientConfig(registered.client_id),
        redirect_uri=f"http://127.0.0.1:{port}{registered.redirect_path}",
        scope=registered.scope,
    )
    landed = server.sign_in(flow.authorization_url)
    assert landed is not None
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(landed).query)["code"][0]

    status, body = server.token_request(
        registered,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": f"http://127.0.0.1:{port}{registered.redirect_path}",
            "client_id": registered.client_id,
            "code_verifier": "A" * 64,
        },
    )

    assert 400 <= status < 500, (status, body)
    assert body is None or "access_token" not in body


def test_a_refresh_rotates_and_the_server_refuses_the_old_token(
    server: RealServer, tmp_path: Path
) -> None:
    client, first = login(server, server.public, tmp_path)

    second = client.refresh()

    assert second.refresh_token not in (None, first.refresh_token)
    assert first.refresh_token is not None
    status, _ = server.token_request(
        server.public,
        {
            "grant_type": "refresh_token",
            "refresh_token": first.refresh_token,
            "client_id": server.public.client_id,
        },
    )
    assert status >= 400


def test_sixteen_threads_on_a_due_token_send_one_refresh_counted_at_the_server(
    server: RealServer, tmp_path: Path
) -> None:
    client, first = login(server, server.public, tmp_path)
    assert first.lifetime is not None
    due = first.lifetime - 30  # in the second half of its life, with 30 s left
    client.driver.clock = lambda: time.time() + due
    before = server.refresh_grants(server.public.client_id)
    start = threading.Barrier(16)
    got: list[str] = []

    def ask() -> None:
        start.wait(10)
        got.append(client.token())

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert server.refresh_grants(server.public.client_id) - before == 1
    assert len(got) == 16
    assert len(set(got)) == 1
    assert got[0] != first.access_token


def test_twenty_second_tokens_cause_no_refresh_after_login_and_one_when_due(
    server: RealServer, tmp_path: Path
) -> None:
    short = server.short_lived
    client, first = login(server, short, tmp_path)
    assert first.lifetime is not None
    assert first.lifetime <= 30
    before = server.refresh_grants(short.client_id)

    assert client.token() == first.access_token  # min_ttl 60 > 20 s: capped at half
    assert server.refresh_grants(short.client_id) == before
    time.sleep(first.lifetime / 2 + 0.5)  # really due now
    got = [client.token() for _ in range(3)]

    assert server.refresh_grants(short.client_id) - before == 1
    assert len(set(got)) == 1
    assert got[0] != first.access_token


def test_logout_revokes_where_the_server_can_and_says_so_where_it_cannot(
    server: RealServer, tmp_path: Path
) -> None:
    confidential, tokens = login(server, server.confidential, tmp_path / "c")
    assert confidential.logout() is True
    assert server.introspect(tokens.access_token) is False

    public, tokens = login(server, server.public, tmp_path / "p")
    limit = server.limits.get("logout_revokes")
    if limit is None:
        assert public.logout() is True
        assert server.introspect(tokens.access_token) is False
    else:
        with pytest.raises(PkceflowError):  # the server refused: said, not hidden
            public.logout()
        assert server.introspect(tokens.access_token) is True, limit
    assert public.stored() is None


def test_discovery_finds_userinfo_and_revocation_whichever_document_holds_them(
    server: RealServer, tmp_path: Path
) -> None:
    # Django OAuth Toolkit lists userinfo only in its OpenID document and revocation
    # only in its RFC 8414 one; Glewlwyd has no RFC 8414 document at all.
    client, _ = login(server, server.public, tmp_path)

    assert client.server.userinfo_endpoint is not None
    assert client.server.revocation_endpoint is not None
    claims = client.id_token_claims()
    assert claims is not None
    assert client.userinfo()["sub"] == claims["sub"]


def test_a_replayed_refresh_token_ends_the_login_with_log_in_again(
    server: RealServer, tmp_path: Path
) -> None:
    client, first = login(server, server.public, tmp_path)
    client.refresh()
    assert first.refresh_token is not None
    # Someone replays the rotated-away token: reuse detection kills the whole chain.
    server.token_request(
        server.public,
        {
            "grant_type": "refresh_token",
            "refresh_token": first.refresh_token,
            "client_id": server.public.client_id,
        },
    )

    with pytest.raises(LoginEndedError) as ended:
        client.refresh()

    # invalid_grant (DOT) ends the login; an empty 400 (Glewlwyd) says log in again
    # but keeps it, since a proxy's error page would look the same.
    assert (client.stored() is None) == (not ended.value.login_kept)


def _transport() -> Any:
    from pkceflow.transport import Urllib3Transport

    return Urllib3Transport(timeout=10.0)


def test_a_sign_in_abandoned_at_the_login_page_times_out_and_stores_nothing(
    server: RealServer, tmp_path: Path
) -> None:
    client = make_client(server, server.public, tmp_path, outcome="abandon", timeout=2.0)

    with pytest.raises(CallbackTimeoutError, match="Likely causes"):
        client.login()

    assert client.stored() is None


def test_consent_denied_is_refused_as_the_server_allows(server: RealServer, tmp_path: Path) -> None:
    client = make_client(server, server.public, tmp_path, outcome="deny", timeout=2.0)
    limit = server.limits.get("consent_denied")

    if limit is None:
        with pytest.raises(AuthorizationError, match="access_denied"):
            client.login()
    elif "no deny button" in limit:
        with pytest.raises(CallbackTimeoutError):  # the person closes the tab
            client.login()
    else:  # DOT: its refusal comes back without the iss it promised
        with pytest.raises(MissingIssuerError):
            client.login()
    assert client.stored() is None


def test_a_wrong_client_id_leaves_the_browser_at_the_servers_page_and_says_why(
    server: RealServer, tmp_path: Path
) -> None:
    client = make_client(server, server.public, tmp_path, client_id="nobody-knows-me", timeout=2.0)
    started = time.monotonic()

    with pytest.raises(CallbackTimeoutError) as raised:
        client.login()

    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert "does not know the client id 'nobody-knows-me'" in message
    assert "client_id=nobody-knows-me" in message  # the URL the browser was sent to
    browser = client._browser
    assert isinstance(browser, SignInBrowser)
    for thread in browser._threads:
        thread.join(10)
    assert [type(e).__name__ for e in browser.errors] == ["SignInRefused"]
