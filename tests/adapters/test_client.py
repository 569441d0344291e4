"""The Client end to end: TestProvider as the server, HttpFollowingBrowser as the browser."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pluggy
import pytest

from pkceflow import (
    AuthorizationError,
    CallbackTimeoutError,
    Client,
    Events,
    LoginRequiredError,
    PkceflowError,
    TokenError,
    TokenSet,
)
from pkceflow.file_store import FileStore
from pkceflow.loopback import LoopbackListener
from pkceflow.memory_store import MemoryStore
from pkceflow.settings import Interaction, Redirect
from pkceflow.testing import (
    CONFIDENTIAL_CLIENT_ID,
    CONFIDENTIAL_CLIENT_SECRET,
    PUBLIC_CLIENT_ID,
    HttpFollowingBrowser,
    TestProvider,
)
from pkceflow_core.hookspecs import hookimpl
from pkceflow_core.ports import RedirectListener
from tests.core.fakes import FakeBrowser

from .conftest import MakeClient, close_client
from .support import (
    WAIT,
    Background,
    Reply,
    http_get,
    refresh_worker,
    run_processes,
    secrets_seen,
    wait_until,
)

SCOPE = "openid offline_access"


def token_requests(provider: TestProvider, grant_type: str) -> list[dict[str, Any]]:
    """The token requests ``provider`` received for ``grant_type``: form and headers."""
    return [
        {"form": r.form, "headers": r.headers}
        for r in provider.requests
        if r.endpoint == "token" and r.form.get("grant_type") == grant_type
    ]


def code_and_refresh_requests(client: Client, provider: TestProvider) -> list[dict[str, Any]]:
    """Log in and refresh once; the two token requests that sent (code, then refresh)."""
    client.login()
    client.refresh()
    requests = token_requests(provider, "authorization_code")
    requests += token_requests(provider, "refresh_token")
    assert len(requests) == 2
    return requests


def authorize_params(provider: TestProvider) -> dict[str, str]:
    [request] = [r for r in provider.requests if r.endpoint == "authorize"]
    return request.form


# ------------------------------------------------------------------- login, token, refresh, logout


def test_login_returns_and_stores_the_tokens_the_provider_issued(
    provider: TestProvider, client: Client
) -> None:
    tokens = client.login()
    assert client.stored() == tokens
    assert tokens.scope == ("openid", "offline_access")
    assert tokens.id_token is not None
    access, refresh = (
        provider.token_info(tokens.access_token),
        provider.token_info(tokens.refresh_token or ""),
    )
    assert access is not None
    assert access.active
    assert access.client_id == PUBLIC_CLIENT_ID
    assert refresh is not None
    assert refresh.active
    assert refresh.kind == "refresh"


def test_login_sends_pkce_s256_and_the_verifier_that_matches(
    provider: TestProvider, client: Client
) -> None:
    from pkceflow.testing.provider import s256_challenge

    client.login()
    params = authorize_params(provider)
    [exchange] = token_requests(provider, "authorization_code")
    assert params["code_challenge_method"] == "S256"
    assert s256_challenge(exchange["form"]["code_verifier"]) == params["code_challenge"]


def test_login_leaves_the_browser_on_the_success_page(
    browser: HttpFollowingBrowser, client: Client
) -> None:
    client.login()
    page = browser.wait()
    assert page is not None
    assert page.status == 200
    assert "<title>Signed in</title>" in page.text
    assert "code=" not in page.url


def test_token_returns_the_stored_access_token_without_a_request(
    provider: TestProvider, client: Client
) -> None:
    tokens = client.login()
    provider.clear_requests()
    assert client.token() == tokens.access_token
    assert provider.count() == 0


def test_token_without_a_login_raises_login_required(client: Client) -> None:
    with pytest.raises(LoginRequiredError, match="no stored login for 'default'"):
        client.token()


def test_token_refreshes_an_access_token_about_to_expire(
    provider: TestProvider, client: Client
) -> None:
    provider.settings.access_token_lifetime = 300
    old = client.login()
    provider.settings.access_token_lifetime = 3600
    assert client.tokens(min_ttl=60) == old  # 300 s left: nothing to do
    client.driver.clock = lambda: time.time() + 250  # 50 s left
    new = client.tokens(min_ttl=60)
    assert new.access_token != old.access_token
    assert len(token_requests(provider, "refresh_token")) == 1
    assert client.stored() == new


def test_refresh_keeps_the_rotated_refresh_token(provider: TestProvider, client: Client) -> None:
    old = client.login()
    new = client.refresh()
    assert new.refresh_token not in (None, old.refresh_token)
    assert client.stored() == new
    assert new.refresh_token in provider.active_tokens()
    assert old.refresh_token not in provider.active_tokens()
    # The stored, rotated refresh token is the one that works next time.
    assert client.refresh().access_token != new.access_token


def test_logout_revokes_at_the_provider_and_empties_the_store(
    provider: TestProvider, client: Client
) -> None:
    tokens = client.login()
    assert client.logout() is True
    revoked = [r.form for r in provider.requests if r.endpoint == "revoke"]
    assert [(f["token"], f["token_type_hint"]) for f in revoked] == [
        (tokens.refresh_token, "refresh_token"),
        (tokens.access_token, "access_token"),
    ]
    assert not {tokens.access_token, tokens.refresh_token} & provider.active_tokens()
    assert client.stored() is None


def test_logout_without_revoking_only_forgets_the_login(
    provider: TestProvider, client: Client
) -> None:
    tokens = client.login()
    assert client.logout(revoke=False) is False
    assert provider.count("revoke") == 0
    assert tokens.access_token in provider.active_tokens()
    assert client.stored() is None


def test_from_issuer_discovers_the_endpoints_and_logs_in(
    provider: TestProvider,
    browser: HttpFollowingBrowser,
    plugin_manager: pluggy.PluginManager,
) -> None:
    client = Client.from_issuer(
        provider.issuer,
        PUBLIC_CLIENT_ID,
        plugin_manager=plugin_manager,
        browser=browser,
        interaction=Interaction(paste=False, timeout=WAIT),
        scope=SCOPE,
    )
    try:
        assert client.server.issuer == provider.issuer
        assert client.server.token_endpoint == provider.token_endpoint
        assert client.server.revocation_endpoint == provider.revocation_endpoint
        assert client.server.authorization_response_iss_parameter_supported is True
        assert provider.count("discovery") == 1
        assert client.login().id_token is not None
    finally:
        close_client(client)


def test_from_issuer_finds_the_metadata_of_an_issuer_with_a_path(
    pkceflow_provider_factory: Any, plugin_manager: pluggy.PluginManager
) -> None:
    provider: TestProvider = pkceflow_provider_factory(issuer_path="/tenant-a")
    client = Client.from_issuer(provider.issuer, PUBLIC_CLIENT_ID, plugin_manager=plugin_manager)
    try:
        assert client.server.issuer == provider.issuer
        assert client.server.authorization_endpoint == provider.url("/authorize")
        [request] = provider.requests
        assert request.path == "/.well-known/oauth-authorization-server/tenant-a"
    finally:
        close_client(client)


# --------------------------------------------------------------------------- client authentication


def test_a_confidential_client_authenticates_with_client_secret_basic(
    provider: TestProvider, make_client: MakeClient
) -> None:
    client = make_client(
        CONFIDENTIAL_CLIENT_ID, client_secret=CONFIDENTIAL_CLIENT_SECRET, scope=SCOPE
    )
    for request in code_and_refresh_requests(client, provider):
        assert request["headers"]["authorization"].startswith("Basic ")
        assert "client_secret" not in request["form"]


def test_a_confidential_client_authenticates_with_client_secret_post(
    provider: TestProvider, make_client: MakeClient
) -> None:
    provider.add_client("post-client", "post-secret", auth_method="client_secret_post")
    client = make_client(
        "post-client", client_secret="post-secret", auth_method="client_secret_post", scope=SCOPE
    )
    for request in code_and_refresh_requests(client, provider):
        assert request["form"]["client_id"] == "post-client"
        assert request["form"]["client_secret"] == "post-secret"
        assert "authorization" not in request["headers"]


def test_a_confidential_client_with_a_wrong_secret_is_refused_at_the_exchange(
    make_client: MakeClient,
) -> None:
    client = make_client(CONFIDENTIAL_CLIENT_ID, client_secret="not-the-secret")
    with pytest.raises(TokenError, match="invalid_client"):
        client.login()
    assert client.stored() is None


# --------------------------------------------------------------------------- the redirect URI


def test_redirect_port_zero_puts_the_real_port_in_the_redirect_uri(
    provider: TestProvider, browser: HttpFollowingBrowser, make_client: MakeClient
) -> None:
    make_client(
        redirect=Redirect(port=0),
    ).login()
    redirect_uri = authorize_params(provider)["redirect_uri"]
    port = urlsplit(redirect_uri).port
    assert port not in (None, 0)
    assert redirect_uri == f"http://127.0.0.1:{port}/callback"
    [exchange] = token_requests(provider, "authorization_code")
    assert exchange["form"]["redirect_uri"] == redirect_uri
    assert any(url.startswith(redirect_uri + "?code=") for url in browser.visited)


def test_an_ipv6_loopback_redirect_host_works(
    provider: TestProvider, browser: HttpFollowingBrowser, make_client: MakeClient
) -> None:
    tokens = make_client(
        redirect=Redirect(host="::1"),
    ).login()
    redirect_uri = authorize_params(provider)["redirect_uri"]
    assert redirect_uri.startswith("http://[::1]:")
    assert any(url.startswith(redirect_uri + "?code=") for url in browser.visited)
    assert tokens.access_token in provider.active_tokens()


def test_a_redirect_path_of_choice_is_used(provider: TestProvider, make_client: MakeClient) -> None:
    provider.add_client("custom-path", redirect_uris=["http://127.0.0.1/oauth/done"])
    make_client(
        "custom-path",
        redirect=Redirect(path="/oauth/done"),
    ).login()
    assert urlsplit(authorize_params(provider)["redirect_uri"]).path == "/oauth/done"


# ---------------------------------------------------------------------- refresh from a given token


def _issued(provider: TestProvider) -> dict[str, Any]:
    return provider.issue_tokens(PUBLIC_CLIENT_ID, scope=SCOPE)


def test_refresh_with_a_given_refresh_token_stores_what_it_returns(
    provider: TestProvider, client: Client
) -> None:
    given = _issued(provider)["refresh_token"]
    tokens = client.refresh(refresh_token=given)
    assert client.stored() == tokens
    assert tokens.access_token in provider.active_tokens()
    assert tokens.refresh_token not in (None, given)
    assert given not in provider.active_tokens()
    [refresh] = token_requests(provider, "refresh_token")
    assert refresh["form"]["refresh_token"] == given


def test_refresh_with_a_given_refresh_token_keeps_it_when_the_server_sends_none(
    provider: TestProvider, client: Client
) -> None:
    provider.settings.refresh_token_rotation = "omit"
    given = _issued(provider)["refresh_token"]
    tokens = client.refresh(refresh_token=given)
    assert tokens.refresh_token == given
    assert client.stored() == tokens


# --------------------------------------------------------------------------- refused refresh tokens


def test_a_refused_refresh_token_clears_the_store_and_asks_for_a_new_login(
    provider: TestProvider, client: Client
) -> None:
    client.login()
    provider.settings.refresh_invalid_grant = True
    with pytest.raises(LoginRequiredError, match=r"invalid_grant\)?: log in again"):
        client.refresh()
    assert client.stored() is None


def test_a_refused_refresh_keeps_a_login_stored_meanwhile(
    provider: TestProvider, make_client: MakeClient
) -> None:
    store = MemoryStore()  # its save() takes no lock, as a process that does not lock
    client = make_client(store=store, scope=SCOPE)
    client.login()
    issued = _issued(provider)
    newer = TokenSet(
        issued["access_token"],
        expires_at=time.time() + issued["expires_in"],
        refresh_token=issued["refresh_token"],
    )
    provider.settings.refresh_invalid_grant = True
    provider.settings.token_delay = 0.3
    provider.clear_requests()
    refreshing = Background(client.refresh)
    wait_until(lambda: provider.count("token") == 1)  # the refresh is at the provider
    store.save(client.profile, newer)
    assert refreshing.result() == newer
    assert client.stored() == newer


# --------------------------------------------------------------------------- single flight


@pytest.fixture
def expiring_login(provider: TestProvider, browser: HttpFollowingBrowser) -> Iterator[None]:
    """The next login's access token lives 2 s; the refreshed ones an hour; refreshes
    take 50 ms at the provider."""
    provider.settings.access_token_lifetime = 2
    yield
    provider.settings.access_token_lifetime = 3600


def _expire_and_slow_down(provider: TestProvider, browser: HttpFollowingBrowser) -> None:
    browser.wait()
    time.sleep(1.05)  # into the second half of the 2 s lifetime: due for a refresh
    provider.settings.access_token_lifetime = 3600
    provider.settings.token_delay = 0.05
    provider.clear_requests()


@pytest.mark.usefixtures("expiring_login")
def test_thirty_two_threads_asking_for_an_expired_token_cause_one_refresh(
    provider: TestProvider, browser: HttpFollowingBrowser, client: Client
) -> None:
    stale = client.login()
    _expire_and_slow_down(provider, browser)
    start = threading.Barrier(32)

    def ask() -> TokenSet:
        start.wait(WAIT)
        return client.tokens(min_ttl=60)

    askers = [Background(ask) for _ in range(32)]
    got = [asker.result() for asker in askers]
    assert provider.count("token") == 1
    assert all(tokens == got[0] for tokens in got)
    assert got[0].access_token != stale.access_token
    assert client.stored() == got[0]


@pytest.mark.usefixtures("expiring_login")
def test_eight_processes_asking_for_an_expired_token_cause_one_refresh(
    provider: TestProvider,
    browser: HttpFollowingBrowser,
    make_client: MakeClient,
    pkceflow_home: Path,
) -> None:
    stale = make_client(store="file", scope=SCOPE).login()  # in $PKCEFLOW_HOME/tokens
    _expire_and_slow_down(provider, browser)
    arguments = (provider.token_endpoint, provider.authorization_endpoint, None, 1, 60.0)
    got = run_processes(refresh_worker, [arguments] * 8)
    assert provider.count("token") == 1
    tokens = {token for [token] in got}
    assert len(tokens) == 1
    assert stale.access_token not in tokens
    stored = FileStore(pkceflow_home / "tokens").load("default")
    assert stored is not None
    assert {stored.access_token} == tokens


# --------------------------------------------------------------------------- failures of the login


def test_a_login_nobody_completes_times_out_and_closes_the_listener(
    provider: TestProvider, make_client: MakeClient
) -> None:
    launcher = FakeBrowser(opens=False)  # a person who never signs in
    client = make_client(
        browser=launcher,
        interaction=Interaction(timeout=0.3),
    )
    with pytest.raises(CallbackTimeoutError):
        client.login()
    assert client.stored() is None
    assert provider.count("token") == 0
    redirect_uri = dict(parse_qsl(urlsplit(launcher.opened[0]).query))["redirect_uri"]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", urlsplit(redirect_uri).port or 0)).close()


def test_a_denied_login_raises_authorization_error_and_stores_nothing(
    provider: TestProvider, client: Client
) -> None:
    provider.settings.deny_consent = True
    with pytest.raises(AuthorizationError, match="access_denied") as denied:
        client.login()
    assert denied.value.error == "access_denied"
    assert client.stored() is None
    assert provider.count("token") == 0


class StrayFirst:
    """A browser launcher that lets a forged callback reach the redirect URI first."""

    def __init__(self, browser: HttpFollowingBrowser) -> None:
        self.browser = browser
        self.stray: Background[Reply] | None = None

    def open(self, url: str) -> bool:
        redirect = urlsplit(dict(parse_qsl(urlsplit(url).query))["redirect_uri"])

        def go() -> Reply:
            reply = http_get(redirect.port or 0, f"{redirect.path}?code=forged&state=forged")
            self.browser.open(url)
            return reply

        self.stray = Background(go)
        return True


def test_a_forged_callback_is_refused_and_the_real_login_completes(
    provider: TestProvider, browser: HttpFollowingBrowser, make_client: MakeClient
) -> None:
    launcher = StrayFirst(browser)
    tokens = make_client(browser=launcher).login()
    assert launcher.stray is not None
    assert launcher.stray.result().status == 400
    [exchange] = token_requests(provider, "authorization_code")
    assert exchange["form"]["code"] != "forged"
    assert tokens.access_token in provider.active_tokens()


class ListenerPlugin:
    """Supplies the LoopbackListener, so that the test can feed it a pasted URL."""

    def __init__(self) -> None:
        self.listener: LoopbackListener | None = None

    @hookimpl
    def pkceflow_listener(self, host: str, port: int, path: str) -> RedirectListener:
        self.listener = LoopbackListener(host, port, path, linger=0.2)
        return self.listener


class PastingPerson:
    """A browser whose redirect cannot reach the listener; the person pastes its URL."""

    def __init__(self, plugin: ListenerPlugin) -> None:
        self.plugin = plugin
        self.browser: HttpFollowingBrowser | None = None
        self.pasting: Background[None] | None = None

    def open(self, url: str) -> bool:
        listener = self.plugin.listener
        assert listener is not None
        self.browser = HttpFollowingBrowser(stop_at=[listener.redirect_uri])
        self.browser.open(url)

        def paste() -> None:
            assert self.browser is not None
            self.browser.wait()
            pasted = self.browser.stopped_at
            assert pasted is not None
            wait_until(lambda: listener.feed(pasted) is not None)

        self.pasting = Background(paste)
        return True


def test_a_pasted_redirect_url_completes_the_login(
    provider: TestProvider, plugin_manager: pluggy.PluginManager, make_client: MakeClient
) -> None:
    plugin = ListenerPlugin()
    plugin_manager.register(plugin)
    person = PastingPerson(plugin)
    tokens = make_client(browser=person).login()
    assert person.pasting is not None
    person.pasting.result()
    assert tokens.access_token in provider.active_tokens()
    assert person.browser is not None
    assert person.browser.stopped_at is not None


class BrowserOnAnotherMachine:
    """A browser whose redirect to 127.0.0.1 goes nowhere: the person copies the address
    it was sent to and pastes it into the terminal (here: a pipe standing for stdin)."""

    def __init__(self, terminal: int, first: str | None = None) -> None:
        self.terminal = terminal
        self.first = first
        self.browser: HttpFollowingBrowser | None = None
        self.typing: Background[None] | None = None

    def open(self, url: str) -> bool:
        redirect_uri = dict(parse_qsl(urlsplit(url).query))["redirect_uri"]
        self.browser = HttpFollowingBrowser(stop_at=[redirect_uri])
        self.browser.open(url)

        def paste() -> None:
            assert self.browser is not None
            self.browser.wait()
            # A person reads the page before copying its address: by then the
            # listener waits, and a wrong address is answered at once (one pasted
            # before the wait began is only kept, and checked silently).
            time.sleep(0.5)
            lines = [self.first] if self.first is not None else []
            lines.append(self.browser.stopped_at or "")
            os.write(self.terminal, "".join(line + "\n" for line in lines).encode())

        self.typing = Background(paste)
        return False


def test_a_redirect_url_pasted_into_the_terminal_completes_the_login(
    provider: TestProvider,
    make_client: MakeClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "r") as stdin, os.fdopen(write_end, "w") as terminal:
        monkeypatch.setattr(sys, "stdin", stdin)
        person = BrowserOnAnotherMachine(terminal.fileno(), first="http://127.0.0.1/x?state=no")
        tokens = make_client(
            browser=person,
            interaction=Interaction(paste=True),
        ).login()
        assert person.typing is not None
        person.typing.result()
    assert tokens.access_token in provider.active_tokens()
    shown = capsys.readouterr().err
    assert "paste here the full address" in shown
    assert "That address does not belong to this sign-in" in shown  # the first line pasted


# --------------------------------------------------------------------------- events


class RecordingEvents(Events):
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def authorization_url(self, url: str) -> None:
        self.calls.append(("authorization_url", (url,)))

    def callback_received(self) -> None:
        self.calls.append(("callback_received", ()))

    def token_received(self, key: str, tokens: TokenSet) -> None:
        self.calls.append(("token_received", (key, tokens)))

    def refresh_done(self, key: str, expires_at: float | None) -> None:
        self.calls.append(("refresh_done", (key, expires_at)))

    def token_changed(self, key: str, tokens: TokenSet) -> None:
        self.calls.append(("token_changed", (key, tokens)))

    def error(self, key: str, error: PkceflowError) -> None:
        self.calls.append(("error", (key, error)))


def test_an_events_object_hears_every_event(
    provider: TestProvider, browser: HttpFollowingBrowser, make_client: MakeClient
) -> None:
    events = RecordingEvents()
    client = make_client(events=events, scope=SCOPE)
    login = client.login()
    refreshed = client.refresh()
    provider.settings.refresh_invalid_grant = True
    with pytest.raises(LoginRequiredError) as refused:
        client.refresh()
    assert events.calls == [
        ("authorization_url", (browser.opened[0],)),
        ("callback_received", ()),
        ("token_received", ("default", login)),
        ("token_changed", ("default", login)),
        ("refresh_done", ("default", refreshed.expires_at)),
        ("token_changed", ("default", refreshed)),
        ("error", ("default", refused.value)),
    ]


def test_an_events_object_hears_a_failed_login(
    provider: TestProvider, make_client: MakeClient
) -> None:
    provider.settings.deny_consent = True
    events = RecordingEvents()
    client = make_client(events=events)
    with pytest.raises(AuthorizationError) as denied:
        client.login()
    assert [name for name, _ in events.calls] == ["authorization_url", "error"]
    assert events.calls[-1] == ("error", ("default", denied.value))


def test_the_events_that_only_signal_receive_no_secret(
    provider: TestProvider, make_client: MakeClient
) -> None:
    events = RecordingEvents()
    client = make_client(events=events, scope=SCOPE)
    secrets = secrets_seen(provider, client.login(), client.refresh())
    signals = [args for name, args in events.calls if name in ("callback_received", "refresh_done")]
    assert len(signals) == 2
    shown = repr(signals)
    assert not [secret for secret in secrets if secret in shown]


def test_closing_a_client_drops_its_connections_and_keeps_it_usable(client: Client) -> None:
    with client:
        client.login()
    client.refresh()  # a new connection is made on demand

    assert client.token()
