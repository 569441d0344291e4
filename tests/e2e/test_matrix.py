"""The scenario matrix: every scenario against every real server of tests/e2e/servers/.

Each test takes ``real_server`` (conftest.py), parametrised over ``SERVER_NAMES``: run
one server with ``-k oidc-provider`` (or ``dot``, ``glewlwyd``, ``keycloak``). pkceflow
is driven as its users drive it, through the library (``Client.from_issuer``) and the
``pkceflow`` console script; the person's browser is the server's own sign-in
(``server.sign_in``), whose redirect the test then requests at pkceflow's listener.
Counts and token states come from the server, never from pkceflow.

Where ``server.limits`` names a scenario, the server cannot do that case and the test
asserts what the server and pkceflow do instead, with the limit in the message.

A token is made due without waiting: the library's driver clock is moved past its
lifetime, or the token set the CLI stored is aged by its lifetime (as if obtained that
long ago). Only ``short_lived_one_refresh`` waits for a real 20 s token to expire.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import attrs
import pytest

from pkceflow import Client
from pkceflow.file_store import FileStore
from pkceflow.plugins import make_plugin_manager
from pkceflow.settings import Interaction, Redirect
from pkceflow_core import (
    AuthorizationError,
    CallbackTimeoutError,
    MissingIssuerError,
    TokenSet,
)
from pkceflow_core._pkce import Pkce
from tests.support.threads import at_once

from .harness import http_request, query_params
from .servers.base import RealServer, RegisteredClient, SignInRefused
from .support import CliRun, PkceflowCli, ThreadedSignIn, Worker, deliver_redirect, relayed_url

Outcome = Literal["allow", "deny", "abandon"]

#: How long a login waits for its callback where the scenario expects one.
LOGIN_TIMEOUT = 30.0
#: The ``--timeout`` / ``timeout=`` of scenarios that expect none.
SHORT_TIMEOUT = 2.0
#: What a timed-out login may take beyond its timeout (start-up, discovery, the listener).
TIMEOUT_SLACK = 5.0
THREADS = 16
PROCESSES = 6
UNKNOWN_CLIENT_ID = "nobody-knows-me"


def _limit(server: RealServer, scenario: str) -> str | None:
    return server.limits.get(scenario)


def _issuer(server: RealServer, client: RegisteredClient) -> str:
    if client is server.short_lived:
        return str(getattr(server, "short_lived_issuer", server.issuer))
    return server.issuer


@attrs.frozen
class Attempt:
    """How a login goes, through the library or the CLI alike: the person's ``outcome``
    at the server's sign-in, the client id pkceflow is given (None: the registered
    one's), and how long the login waits for its callback."""

    outcome: Outcome = "allow"
    client_id: str | None = None
    timeout: float = LOGIN_TIMEOUT


#: The person signs in and allows, with the registered client id.
ALLOWED = Attempt()


# --------------------------------------------------------------------------------------------
# The library.


class SignInBrowser(ThreadedSignIn):
    """A BrowserLauncher: the server's own sign-in in a thread, then the redirect it ends
    at requested at pkceflow's listener, as a browser following it would."""

    def __init__(self, server: RealServer, outcome: Outcome = "allow") -> None:
        super().__init__()
        self.server = server
        self.outcome: Outcome = outcome
        #: Where the server sent the browser (None: it did not, e.g. "abandon").
        self.landed: str | None = None

    def _walk(self, url: str) -> None:
        self.landed = self.server.sign_in(url, outcome=self.outcome)
        if self.landed is not None:
            deliver_redirect(self.landed)

    def join(self, timeout: float = LOGIN_TIMEOUT) -> None:
        """Wait for the sign-in thread; re-raise what went wrong in it."""
        self.join_threads(timeout)


def make_client(
    server: RealServer, client: RegisteredClient, folder: Path, attempt: Attempt = ALLOWED
) -> tuple[Client, SignInBrowser]:
    browser = SignInBrowser(server, attempt.outcome)
    made = Client.from_issuer(
        _issuer(server, client),
        attempt.client_id or client.client_id,
        client_secret=client.client_secret,
        scope=client.scope,
        redirect=Redirect(
            host=client.redirect_host, port=client.redirect_port, path=client.redirect_path
        ),
        interaction=Interaction(paste=False, timeout=attempt.timeout),
        params=dict(client.params),
        store=FileStore(folder / "tokens"),
        browser=browser,
        plugin_manager=make_plugin_manager(load_entry_points=False),
    )
    return made, browser


def login(server: RealServer, client: RegisteredClient, folder: Path) -> tuple[Client, TokenSet]:
    made, browser = make_client(server, client, folder)
    tokens = made.login()
    browser.join()
    return made, tokens


def make_due(client: Client, tokens: TokenSet) -> None:
    """Move the client's clock past the access token's expiry (no waiting)."""
    assert tokens.lifetime is not None, "the server gave no expires_in"
    ahead = tokens.lifetime + 1
    client.driver.clock = lambda: time.time() + ahead


def in_threads(count: int, call: Callable[[], str]) -> list[str]:
    """``call()`` in ``count`` threads released at once; their results."""
    outcome = at_once(count, call, timeout=60.0)
    if outcome.errors:
        raise outcome.errors[0]
    return outcome.results


def refresh_form(client: RegisteredClient, refresh_token: str) -> dict[str, str]:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if client.client_secret is None:
        form["client_id"] = client.client_id
    return form


def assert_refresh_token_dead(
    server: RealServer, client: RegisteredClient, refresh_token: str
) -> None:
    """The server says the refresh token is inactive; where its introspection cannot tell
    (None, e.g. DOT looks up access tokens only), it refuses a refresh with it."""
    active = server.introspect(refresh_token)
    if active is None:
        status, body = server.token_request(client, refresh_form(client, refresh_token))
        assert 400 <= status < 500, (status, body)
    else:
        assert active is False


# --------------------------------------------------------------------------------------------
# The command line.


@attrs.frozen
class CliLogin:
    run: CliRun
    #: The authorization URL pkceflow gave its BROWSER.
    url: str
    #: Where the server sent the browser, or None.
    landed: str | None
    refused: SignInRefused | None


def cli_login(
    cli: PkceflowCli, server: RealServer, client: RegisteredClient, attempt: Attempt = ALLOWED
) -> CliLogin:
    """``pkceflow login --issuer ... --client-id ...`` with the relay BROWSER: the test
    walks the server's sign-in and delivers the redirect to pkceflow's listener."""
    args = [
        "login",
        "--issuer",
        _issuer(server, client),
        "--client-id",
        attempt.client_id or client.client_id,
        "--scope",
        client.scope,
        "--redirect-host",
        client.redirect_host,
        "--redirect-port",
        str(client.redirect_port),
        "--redirect-path",
        client.redirect_path,
        "--timeout",
        f"{attempt.timeout:g}",
    ]
    for key, value in client.params.items():
        args += ["--param", f"{key}={value}"]
    if client.client_secret is not None:
        args += ["--client-secret", client.client_secret]
    result_file = cli.next_result_file()
    worker = Worker(lambda: cli.run(*args, browser="relay", timeout=attempt.timeout + 30))
    url = relayed_url(result_file)
    landed: str | None = None
    refused: SignInRefused | None = None
    try:
        landed = server.sign_in(url, outcome=attempt.outcome)
    except SignInRefused as exc:
        refused = exc
    if landed is not None:
        deliver_redirect(landed)
    return CliLogin(worker.result(attempt.timeout + 40), url, landed, refused)


def cli_logged_in(cli: PkceflowCli, server: RealServer, client: RegisteredClient) -> TokenSet:
    """:func:`cli_login`, which succeeds: the token set the CLI stored."""
    done = cli_login(cli, server, client)
    assert done.run.returncode == 0, str(done.run)
    stored = cli.stored()
    assert stored is not None, "no stored login"
    return stored


def age_stored(cli: PkceflowCli, profile: str = "default") -> TokenSet:
    """Make the stored token set as old as its lifetime, as if obtained that long ago."""
    tokens = cli.stored(profile)
    assert tokens is not None, "no stored login"
    assert tokens.lifetime is not None
    assert tokens.obtained_at is not None
    assert tokens.expires_at is not None
    shift = tokens.lifetime + 1
    aged = attrs.evolve(
        tokens, obtained_at=tokens.obtained_at - shift, expires_at=tokens.expires_at - shift
    )
    FileStore(cli.tokens_dir).save(profile, aged)
    return aged


def status_line(cli: PkceflowCli) -> str:
    run = cli.run("status")
    assert run.returncode == 0, str(run)
    return run.stdout.splitlines()[0] if run.stdout else ""


# ============================================================================================
# login, wrong_verifier, id_token


def test_login(real_server: RealServer, tmp_path: Path) -> None:
    server = real_server
    client, tokens = login(server, server.public, tmp_path)

    assert tokens.access_token
    assert tokens.refresh_token is not None, "the public client got no refresh token"
    assert tokens.id_token is not None
    # id_token: validated by pkceflow at login (signature, iss, aud, nonce, exp).
    claims = client.id_token_claims()
    assert claims is not None
    assert claims["iss"] == server.issuer, _limit(server, "id_token")
    assert claims["sub"]
    assert client.stored() == tokens
    # Discovery found userinfo and revocation, whichever document lists them (Django
    # OAuth Toolkit: userinfo only in its OpenID one, revocation only in RFC 8414's).
    assert client.server.revocation_endpoint is not None
    assert client.userinfo()["sub"] == claims["sub"]


def test_wrong_verifier(real_server: RealServer) -> None:
    """The server itself refuses a code redeemed with the wrong verifier."""
    server = real_server
    registered = server.public
    discovery = http_request(f"{server.issuer}/.well-known/openid-configuration")
    assert discovery.status == 200, discovery
    endpoint = str(discovery.json()["authorization_endpoint"])
    redirect_uri = (
        f"http://{registered.redirect_host}:{registered.redirect_port or 50999}"
        f"{registered.redirect_path}"
    )

    def code_for(pair: Pkce) -> str:
        query = {
            "response_type": "code",
            "client_id": registered.client_id,
            "redirect_uri": redirect_uri,
            "scope": registered.scope,
            "state": os.urandom(8).hex(),
            "nonce": os.urandom(8).hex(),
            "code_challenge": pair.challenge,
            "code_challenge_method": "S256",
            **registered.params,
        }
        landed = server.sign_in(f"{endpoint}?{urllib.parse.urlencode(query)}")
        assert landed is not None
        assert landed.split("?", 1)[0] == redirect_uri, landed
        return query_params(landed)["code"]

    def redeem(code: str, verifier: str) -> tuple[int, dict[str, object] | None]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        if registered.client_secret is None:
            form["client_id"] = registered.client_id
        return server.token_request(registered, form)

    limit = _limit(server, "wrong_verifier")
    wrong = Pkce.generate()
    status, body = redeem(code_for(Pkce.generate()), wrong.verifier)
    if limit is None:
        assert 400 <= status < 500, (status, body)
        assert body is None or "access_token" not in body, body
    else:
        assert status == 200, (limit, status, body)

    right = Pkce.generate()
    status, body = redeem(code_for(right), right.verifier)
    assert status == 200, (status, body)
    assert body is not None
    assert body.get("access_token"), body


# ============================================================================================
# cli_token_status


def test_cli_token_status(real_server: RealServer, cli: PkceflowCli) -> None:
    server = real_server
    stored = cli_logged_in(cli, server, server.public)

    token = cli.run("token")
    assert token.returncode == 0, str(token)
    assert token.stdout.strip() == stored.access_token

    status = cli.run("status")
    assert status.returncode == 0, str(status)
    assert status.stdout.startswith("default: signed in"), str(status)
    for secret in (stored.access_token, stored.refresh_token, stored.id_token):
        assert secret is not None
        assert secret not in status.stdout + status.stderr


# ============================================================================================
# refresh_rotation, old_refresh_refused


def test_refresh_rotation(real_server: RealServer, tmp_path: Path) -> None:
    server = real_server
    client, first = login(server, server.public, tmp_path)
    before = server.refresh_grants(server.public.client_id)

    second = client.refresh()

    assert server.refresh_grants(server.public.client_id) - before == 1
    assert second.access_token != first.access_token
    limit = _limit(server, "refresh_rotation")
    if limit is None:
        assert second.refresh_token not in (None, first.refresh_token)
    else:
        assert second.refresh_token == first.refresh_token, limit


def test_old_refresh_refused(real_server: RealServer, tmp_path: Path) -> None:
    server = real_server
    client, first = login(server, server.public, tmp_path)
    second = client.refresh()
    assert first.refresh_token is not None

    status, body = server.token_request(
        server.public, refresh_form(server.public, first.refresh_token)
    )

    limit = _limit(server, "old_refresh_refused")
    if limit is None:
        assert 400 <= status < 500, (status, body)
        assert body is None or "access_token" not in body, body
    else:
        assert status == 200, (limit, status, body)
    del second


# ============================================================================================
# reuse_detection


def test_reuse_detection(real_server: RealServer, cli: PkceflowCli) -> None:
    server = real_server
    first = cli_logged_in(cli, server, server.public)
    assert first.refresh_token is not None
    rotated = cli.run("refresh")
    assert rotated.returncode == 0, str(rotated)
    # Someone replays the rotated-away refresh token.
    status, body = server.token_request(
        server.public, refresh_form(server.public, first.refresh_token)
    )
    assert status >= 400, (status, body)
    age_stored(cli)

    token = cli.run("token", "--min-ttl", "0")

    limit = _limit(server, "reuse_detection")
    if limit is None:
        # The server revoked the family: the stored refresh token is dead too.
        assert token.returncode == 4, str(token)
        assert "log in again" in token.stderr.lower(), str(token)
        assert cli.stored() is None, str(token)
        assert status_line(cli) == "default: signed out"
    elif token.returncode == 0:  # the server did not revoke the family
        assert status_line(cli).startswith("default: signed in"), limit
    else:  # revoked, but refused in a way pkceflow cannot take as the login's end
        assert token.returncode == 4, f"{limit}\n{token}"
        assert "log in again" in token.stderr.lower(), f"{limit}\n{token}"
        kept = "login is kept" in token.stderr
        assert (cli.stored() is not None) == kept, f"{limit}\n{token}"


# ============================================================================================
# logout_revokes


def test_logout_revokes(real_server: RealServer, cli: PkceflowCli) -> None:
    server = real_server
    tokens = cli_logged_in(cli, server, server.public)
    assert tokens.refresh_token is not None

    logout = cli.run("logout")

    limit = _limit(server, "logout_revokes")
    assert cli.stored() is None
    if limit is None:
        assert logout.returncode == 0, str(logout)
        assert "revoked" in logout.stderr, str(logout)
        assert server.introspect(tokens.access_token) is False
        assert_refresh_token_dead(server, server.public, tokens.refresh_token)
    else:
        assert "remain valid" in logout.stderr, f"{limit}\n{logout}"
        # No revocation endpoint: nothing went wrong (0); a revocation the server
        # refused: said, and exit 1.
        refused = "revoking them failed" in logout.stderr
        assert logout.returncode == (1 if refused else 0), f"{limit}\n{logout}"
        assert server.introspect(tokens.access_token) in (True, None), limit
    assert status_line(cli) == "default: signed out"


# ============================================================================================
# consent_denied, consent_abandoned


def test_consent_denied(real_server: RealServer, tmp_path: Path, cli: PkceflowCli) -> None:
    server = real_server
    limit = _limit(server, "consent_denied")
    denied = Attempt("deny", timeout=LOGIN_TIMEOUT if limit is None else SHORT_TIMEOUT)
    client, browser = make_client(server, server.public, tmp_path, denied)

    if limit is None:
        with pytest.raises(AuthorizationError) as refused:
            client.login()
        assert refused.value.error == "access_denied"
    else:
        with pytest.raises((CallbackTimeoutError, MissingIssuerError)) as refused_otherwise:
            client.login()
        # No deny button: the person closes the tab (no redirect at all); or a refusal
        # without the iss the server promised: pkceflow refuses the callback.
        expected = CallbackTimeoutError if browser.landed is None else MissingIssuerError
        assert isinstance(refused_otherwise.value, expected), limit
    browser.join()
    assert client.stored() is None

    done = cli_login(cli, server, server.public, denied)
    if limit is None:
        assert done.run.returncode == 3, str(done.run)
        assert "access_denied" in done.run.stderr, str(done.run)
    elif done.landed is None:  # no redirect: the person closed the tab
        assert done.run.returncode == 5, f"{limit}\n{done.run}"
    else:  # a refusal pkceflow cannot trust (no iss): an error, never a login
        assert done.run.returncode != 0, f"{limit}\n{done.run}"
        assert "iss" in done.run.stderr, f"{limit}\n{done.run}"
    assert cli.stored() is None


def test_consent_abandoned(real_server: RealServer, tmp_path: Path, cli: PkceflowCli) -> None:
    server = real_server
    abandoned = Attempt("abandon", timeout=SHORT_TIMEOUT)
    client, browser = make_client(server, server.public, tmp_path, abandoned)

    with pytest.raises(CallbackTimeoutError):
        client.login()
    browser.join()
    assert browser.landed is None
    assert client.stored() is None

    done = cli_login(cli, server, server.public, abandoned)
    assert done.run.returncode == 5, str(done.run)
    assert cli.stored() is None


# ============================================================================================
# confidential


def test_confidential(real_server: RealServer, tmp_path: Path, cli: PkceflowCli) -> None:
    server = real_server
    registered = server.confidential
    assert registered.client_secret is not None
    limit = _limit(server, "confidential")
    before = server.refresh_grants(registered.client_id)

    client, first = login(server, registered, tmp_path)
    assert first.refresh_token is not None, limit
    second = client.refresh()
    assert second.access_token != first.access_token
    assert server.refresh_grants(registered.client_id) - before == 1
    assert client.logout() is True, limit
    assert server.introspect(second.access_token) is False, limit
    assert client.stored() is None

    cli_logged_in(cli, server, registered)
    assert cli.run("refresh").returncode == 0
    stored = cli.stored()
    assert stored is not None
    logout = cli.run("logout")
    assert logout.returncode == 0, str(logout)
    assert "revoked" in logout.stderr, str(logout)
    assert server.introspect(stored.access_token) is False, limit


# ============================================================================================
# wrong_client_id


def test_wrong_client_id(
    real_server: RealServer,
    tmp_path: Path,
    cli: PkceflowCli,
    record_property: Callable[[str, object], None],
) -> None:
    server = real_server
    unknown = Attempt(client_id=UNKNOWN_CLIENT_ID, timeout=SHORT_TIMEOUT)
    client, browser = make_client(server, server.public, tmp_path, unknown)
    started = time.monotonic()

    with pytest.raises(CallbackTimeoutError) as raised:
        client.login()

    took = time.monotonic() - started
    record_property("wrong_client_id_library_seconds", round(took, 2))
    assert took < SHORT_TIMEOUT + TIMEOUT_SLACK, took
    with pytest.raises(SignInRefused):
        browser.join()
    [url] = browser.urls
    message = str(raised.value)
    # The message names the URL the browser was sent to (the person sees that page).
    assert url.split("?", 1)[0] in message, message
    assert f"client_id={UNKNOWN_CLIENT_ID}" in message, message

    started = time.monotonic()
    done = cli_login(cli, server, server.public, unknown)
    took = time.monotonic() - started
    record_property("wrong_client_id_cli_seconds", round(took, 2))
    assert done.refused is not None, "the server redirected for an unknown client id"
    assert done.run.returncode == 5, str(done.run)
    assert f"client_id={UNKNOWN_CLIENT_ID}" in done.run.stderr, str(done.run)
    assert took < SHORT_TIMEOUT + 2 * TIMEOUT_SLACK, took


# ============================================================================================
# threads_one_refresh, processes_one_refresh, short_lived_one_refresh


def test_threads_one_refresh(real_server: RealServer, tmp_path: Path) -> None:
    server = real_server
    client_id = server.public.client_id
    client, first = login(server, server.public, tmp_path)
    make_due(client, first)
    before = server.refresh_grants(client_id)

    got = in_threads(THREADS, lambda: client.token(min_ttl=0))

    assert server.refresh_grants(client_id) - before == 1, _limit(server, "threads_one_refresh")
    assert len(got) == THREADS
    assert len(set(got)) == 1
    assert got[0] != first.access_token


def test_processes_one_refresh(real_server: RealServer, cli: PkceflowCli) -> None:
    server = real_server
    client_id = server.public.client_id
    cli_logged_in(cli, server, server.public)
    aged = age_stored(cli)
    before = server.refresh_grants(client_id)

    processes = [cli.spawn("token", "--min-ttl", "0") for _ in range(PROCESSES)]
    answers = [process.communicate(timeout=60) for process in processes]

    report = [
        (p.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
        for p, (out, err) in zip(processes, answers, strict=True)
    ]
    assert all(code == 0 for code, _, _ in report), report
    tokens = {out.strip() for _, out, _ in report}
    assert len(tokens) == 1, report
    assert aged.access_token not in tokens
    assert server.refresh_grants(client_id) - before == 1, _limit(server, "processes_one_refresh")


def test_short_lived_one_refresh(real_server: RealServer, tmp_path: Path) -> None:
    server = real_server
    short = server.short_lived
    client, first = login(server, short, tmp_path)
    assert first.lifetime is not None
    assert first.expires_at is not None
    assert first.lifetime <= 30, first.lifetime
    before = server.refresh_grants(short.client_id)

    # Just obtained, default min_ttl (60 s > the 20 s lifetime): no refresh.
    assert client.token() == first.access_token
    assert server.refresh_grants(short.client_id) == before, "a token just obtained was refreshed"

    # Really expired (the one wait of the matrix).
    time.sleep(max(0.0, first.expires_at - time.time()) + 0.5)
    got = in_threads(THREADS, client.token)

    assert server.refresh_grants(short.client_id) - before == 1, _limit(
        server, "short_lived_one_refresh"
    )
    assert len(set(got)) == 1
    assert got[0] != first.access_token
    # And the one just refreshed is not refreshed again.
    assert client.token() == got[0]
    assert server.refresh_grants(short.client_id) - before == 1
