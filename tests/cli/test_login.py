"""``pkceflow login``: the flow through a browser, the saved profile, the stored token."""

from __future__ import annotations

import os
import pty
import socket
import stat
import sys
from typing import Any

import pytest

from pkceflow.testing import (
    CONFIDENTIAL_CLIENT_ID,
    CONFIDENTIAL_CLIENT_SECRET,
    HttpFollowingBrowser,
    TestProvider,
)

from .helpers import Cli, query_pairs, redirect_port

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def _profile(cli: Cli, name: str = "work") -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(cli.profile_path(name).read_text("utf-8"))
    return data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_login_runs_the_flow_and_saves_the_profile_and_the_token(
    cli: Cli, provider: TestProvider
) -> None:
    result = cli.login(
        provider,
        "--redirect-host", "127.0.0.1", "--redirect-port", "0",
        "--param", "login_hint=bob@example.test", "--param", "audience=a=b",
    ).ok()  # fmt: skip

    assert result.stdout == ""
    assert "Opened your browser to sign in" in result.stderr
    assert "Signed in; profile 'work' saved. Access token expires in" in result.stderr
    endpoints = [r.endpoint for r in provider.requests if r.endpoint != "jwks"]
    assert endpoints == ["discovery", "authorize", "token"]
    (authorize,) = [r for r in provider.requests if r.endpoint == "authorize"]
    assert authorize.form["client_id"] == "pkceflow-test"
    assert authorize.form["code_challenge_method"] == "S256"
    assert authorize.form["scope"] == "openid offline_access"
    assert authorize.form["login_hint"] == "bob@example.test"
    assert authorize.form["audience"] == "a=b"  # split at the first "=" only
    pairs = query_pairs(result.authorization_url())
    assert ("login_hint", "bob@example.test") in pairs
    assert ("audience", "a=b") in pairs
    port = redirect_port(result.authorization_url())
    assert authorize.form["redirect_uri"] == f"http://127.0.0.1:{port}/callback"
    (visit,) = cli.browser_visits()
    assert visit["url"] == result.authorization_url()
    assert visit["visited"][-1] == f"http://127.0.0.1:{port}/callback/done"
    assert visit["final_status"] == 200

    profile = _profile(cli)
    assert profile["client_id"] == "pkceflow-test"
    assert profile["issuer"] == provider.issuer
    assert profile["auth_url"] == provider.authorization_endpoint
    assert profile["token_url"] == provider.token_endpoint
    assert profile["revocation_url"] == provider.revocation_endpoint
    assert profile["scope"] == ["openid", "offline_access"]
    assert profile["store"] == "file"
    assert profile["has_client_secret"] is False
    assert profile["params"] == {"login_hint": ["bob@example.test"], "audience": ["a=b"]}

    stored = cli.stored()
    assert stored is not None
    info = provider.token_info(stored["access_token"])
    assert info is not None
    assert info.kind == "access"
    assert info.active
    assert stored["refresh_token"] in provider.active_tokens()
    for path in (cli.profile_path(), cli.token_path()):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.token_path().parent.stat().st_mode) == 0o700


def test_the_profile_holds_no_secret_and_login_again_reuses_it(
    cli: Cli, provider: TestProvider
) -> None:
    cli.login(
        provider,
        "--client-secret", CONFIDENTIAL_CLIENT_SECRET,
        "--param", "login_hint=bob",
        "--redirect-path", "/callback",
        client_id=CONFIDENTIAL_CLIENT_ID,
        scope="openid email",
    ).ok()  # fmt: skip
    saved = cli.profile_path().read_text("utf-8")
    assert CONFIDENTIAL_CLIENT_SECRET not in saved
    assert _profile(cli)["has_client_secret"] is True
    holding = [p for p in cli.files() if CONFIDENTIAL_CLIENT_SECRET in p.read_text("utf-8")]
    assert holding == [cli.home / "tokens" / "client-secret@work.json"]
    first = cli.stored()
    assert first is not None

    # Only the profile: everything else, the secret included, comes from before.
    cli.run("login", "--profile", "work", "--timeout", "20").ok()

    def settings(text: str) -> list[str]:  # every line but the id of each login
        return [line for line in text.splitlines() if not line.startswith("login_id = ")]

    again = cli.profile_path().read_text("utf-8")
    assert settings(again) == settings(saved)
    assert again != saved  # a new login id
    assert provider.count("discovery") == 1  # the saved endpoints were used
    authorize = [r.form for r in provider.requests if r.endpoint == "authorize"]
    assert len(authorize) == 2
    for name in ("client_id", "scope", "login_hint"):
        assert authorize[0][name] == authorize[1][name]
    assert authorize[1]["login_hint"] == "bob"
    tokens = [r.headers for r in provider.requests if r.endpoint == "token"]
    assert len(tokens) == 2
    assert tokens[0]["authorization"].startswith("Basic ")
    assert tokens[1]["authorization"] == tokens[0]["authorization"]
    second = cli.stored()
    assert second is not None
    assert second["access_token"] != first["access_token"]

    # What is given changes; the rest stays.
    cli.run("login", "--profile", "work", "--scope", "openid", "--timeout", "20").ok()

    profile = _profile(cli)
    assert profile["scope"] == ["openid"]
    assert profile["params"] == {"login_hint": ["bob"]}
    assert (profile["client_id"], profile["issuer"]) == (CONFIDENTIAL_CLIENT_ID, provider.issuer)
    assert profile["has_client_secret"] is True
    assert [r.form for r in provider.requests if r.endpoint == "authorize"][-1]["scope"] == "openid"


def test_login_with_explicit_endpoints_skips_discovery(cli: Cli, provider: TestProvider) -> None:
    cli.run(
        "login",
        "--profile",
        "manual",
        "--client-id",
        "pkceflow-test",
        "--auth-url",
        provider.authorization_endpoint,
        "--token-url",
        provider.token_endpoint,
        "--revocation-url",
        provider.revocation_endpoint,
        "--timeout",
        "20",
    ).ok()

    assert provider.count("discovery") == 0
    profile = _profile(cli, "manual")
    assert "issuer" not in profile
    assert profile["auth_url"] == provider.authorization_endpoint
    assert profile["revocation_url"] == provider.revocation_endpoint
    assert cli.stored("manual") is not None


def test_redirect_host_port_and_path_make_the_redirect_uri(
    cli: Cli, provider: TestProvider
) -> None:
    provider.add_client("cli-test", redirect_uris=["http://127.0.0.1/oauth/done"])
    port = _free_port()
    cli.login(
        provider,
        "--redirect-host",
        "127.0.0.1",
        "--redirect-port",
        str(port),
        "--redirect-path",
        "/oauth/done",
        client_id="cli-test",
    ).ok()

    (authorize,) = [r.form for r in provider.requests if r.endpoint == "authorize"]
    assert authorize["redirect_uri"] == f"http://127.0.0.1:{port}/oauth/done"
    profile = _profile(cli)
    assert (profile["redirect_host"], profile["redirect_port"]) == ("127.0.0.1", port)
    assert profile["redirect_path"] == "/oauth/done"


def test_a_repeated_param_is_repeated_in_the_authorization_url(
    cli: Cli, provider: TestProvider
) -> None:
    result = cli.login(
        provider,
        "--param",
        "resource=https://a.example/",
        "--param",
        "resource=https://b.example/",
        "--param",
        "login_hint=bob",
    )

    resources = [v for k, v in query_pairs(result.authorization_url()) if k == "resource"]
    assert resources == ["https://a.example/", "https://b.example/"]
    (visit,) = cli.browser_visits()
    sent = [v for k, v in query_pairs(visit["visited"][0]) if k == "resource"]
    assert sent == ["https://a.example/", "https://b.example/"]
    # RFC 8707 2 allows resource more than once, and the login goes through.
    assert result.returncode == 0, result
    assert provider.count("token") == 1


def test_interactive_login_and_consent(cli: Cli, provider: TestProvider) -> None:
    provider.settings.interactive = True
    cli.login(provider).ok()

    posted = [(r.endpoint, r.form.get("decision")) for r in provider.requests if r.method == "POST"]
    assert posted == [("login", None), ("consent", "approve"), ("token", None)]
    assert cli.stored() is not None


def test_no_browser_prints_the_url_and_takes_the_callback(cli: Cli, provider: TestProvider) -> None:
    running = cli.start(
        "login", "--profile", "work", "--client-id", "pkceflow-test", "--issuer", provider.issuer,
        "--no-browser", "--timeout", "20",
    )  # fmt: skip
    url = running.wait_for_url()
    browser = HttpFollowingBrowser()
    assert browser.open(url)
    final = browser.wait()

    result = running.finish().ok()
    assert "Open this URL in a browser to sign in" in result.stderr
    assert "Opened your browser" not in result.stderr
    assert "paste" not in result.stderr  # standard input is not a terminal
    assert final is not None
    assert final.status == 200
    assert "Signed in" in final.text
    assert cli.browser_visits(timeout=0) == []  # BROWSER was not run
    assert cli.stored() is not None


def test_no_browser_with_a_terminal_takes_the_pasted_redirect(
    cli: Cli, provider: TestProvider
) -> None:
    # The browser is "on another machine": its redirect to the loopback listener goes
    # nowhere, and the person pastes the address into the terminal instead.
    controller, terminal = pty.openpty()
    try:
        running = cli.start(
            "login", "--profile", "work", "--client-id", "pkceflow-test",
            "--issuer", provider.issuer, "--no-browser", "--timeout", "20",
            stdin=terminal,
        )  # fmt: skip
        os.close(terminal)
        url = running.wait_for_url()
        running.wait_for_stderr("paste here the full address")
        port = redirect_port(url)
        browser = HttpFollowingBrowser(stop_at=[f"http://127.0.0.1:{port}/"])
        browser.open(url)
        browser.wait()
        assert browser.stopped_at is not None
        assert "code=" in browser.stopped_at
        os.write(controller, browser.stopped_at.encode("ascii") + b"\n")

        result = running.finish().ok()
    finally:
        os.close(controller)
    assert "Signed in; profile 'work' saved" in result.stderr
    assert provider.count("token") == 1
    assert cli.stored() is not None


@pytest.mark.parametrize("store", ["memory", "keyring"])
def test_other_token_stores(cli: Cli, provider: TestProvider, store: str) -> None:
    if store == "keyring":
        pytest.importorskip("keyrings.alt")
        # A plaintext backend in the test's own XDG_DATA_HOME (see Cli).
        cli.env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    cli.login(
        provider,
        "--store",
        store,
        "--client-secret",
        CONFIDENTIAL_CLIENT_SECRET,
        client_id=CONFIDENTIAL_CLIENT_ID,
    ).ok()

    assert _profile(cli)["store"] == store
    assert not (cli.home / "tokens").exists()
    assert CONFIDENTIAL_CLIENT_SECRET not in cli.profile_path().read_text("utf-8")
    token = cli.run("token", "--profile", "work")
    if store == "memory":
        # The login lived only as long as the login command.
        token.fails(6, "no stored login for 'work'")
    else:
        assert token.ok().stdout.strip() in provider.active_tokens()
        assert provider.count("token") == 1
