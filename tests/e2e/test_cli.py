"""The ``pkceflow`` command against a real oidc-provider.

Each run is the installed console script in a subprocess (``support.PkceflowCli``):
PKCEFLOW_HOME in tmp_path, stdin /dev/null, no display, and ``BROWSER`` set to
``browser_cli.py``, which logs in over plain HTTP in the background and follows the
redirect to pkceflow's listener. What pkceflow stored is checked at the provider.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from collections.abc import Callable

import attrs
import pytest

from pkceflow.oidc import unverified_claims

from .corrupt_verifier import ANNOUNCEMENT
from .harness import (
    CONFIDENTIAL_CLIENT_ID,
    CONFIDENTIAL_CLIENT_SECRET,
    PUBLIC_CLIENT_ID,
    CancelAt,
    OidcProviderServer,
)
from .support import PkceflowCli, wait_until_expired


def token_posts(requests: list[str]) -> list[str]:
    return [r for r in requests if r.startswith("POST /token ")]


def test_login_public_client(oidc_provider: OidcProviderServer, cli: PkceflowCli) -> None:
    server = oidc_provider
    mark = len(server.requests())
    run = cli.login(server, login="heidi")
    assert run.returncode == 0, run
    assert "Signed in; profile 'default' saved" in run.stderr, run
    outcome = run.browser()
    assert "<h1>Signed in</h1>" in outcome.page

    auth = outcome.authorization_params
    assert auth["client_id"] == PUBLIC_CLIENT_ID
    assert auth["code_challenge_method"] == "S256"
    assert auth["scope"] == "openid email profile"
    assert auth["nonce"]
    redirect = urllib.parse.urlsplit(auth["redirect_uri"])
    assert (redirect.hostname, redirect.path) == ("127.0.0.1", "/callback")
    assert redirect.port is not None
    assert redirect.port > 0
    assert outcome.callback_params["iss"] == server.issuer  # RFC 9207

    requests = server.requests()[mark:]
    # Discovery from --issuer alone, the id_token checked with the provider's JWKS.
    assert "GET /.well-known/openid-configuration 200" in requests
    assert "GET /jwks 200" in requests
    assert token_posts(requests) == [
        "POST /token 200 grant_type=authorization_code client_id=pkceflow-public"
    ]

    doc = server.discovery()
    profile = cli.profile()
    assert profile["issuer"] == server.issuer
    assert profile["auth_url"] == doc["authorization_endpoint"]
    assert profile["token_url"] == doc["token_endpoint"]
    assert profile["revocation_url"] == doc["revocation_endpoint"]
    assert profile["jwks_uri"] == doc["jwks_uri"]
    assert profile["iss_parameter_supported"] is True
    assert profile["scope"] == ["openid", "email", "profile"]

    stored = cli.stored()
    assert stored is not None
    assert stored.id_token is not None
    claims = unverified_claims(stored.id_token)
    assert claims["sub"] == "heidi"
    assert claims["nonce"] == auth["nonce"]

    # `pkceflow token`: the stored token, straight from the file, no request at all.
    mark = len(server.requests())
    token = cli.run("token")
    assert token.returncode == 0, token
    assert token.stdout == stored.access_token + "\n"
    assert token.stderr == ""
    assert server.requests()[mark:] == []

    introspection = server.introspect(stored.access_token)
    assert introspection["active"] is True
    assert introspection["client_id"] == PUBLIC_CLIENT_ID
    assert introspection["sub"] == "heidi"
    assert server.userinfo(stored.access_token)["email"] == "heidi@example.test"

    status = cli.run("status", "--json")
    assert status.returncode == 0, status
    (row,) = json.loads(status.stdout)
    assert row["logged_in"] is True
    assert row["refresh_token"] is False
    assert stored.access_token not in status.stdout


def test_login_confidential_client(
    oidc_provider_refresh: OidcProviderServer, cli: PkceflowCli
) -> None:
    server = oidc_provider_refresh
    mark = len(server.requests())
    run = cli.login(
        server,
        "--client-secret",
        CONFIDENTIAL_CLIENT_SECRET,
        client_id=CONFIDENTIAL_CLIENT_ID,
        login="ivan",
    )
    assert run.returncode == 0, run
    assert run.browser().authorization_params["code_challenge_method"] == "S256"
    # Only client_secret_basic works for this client at this provider, with PKCE.
    assert token_posts(server.requests()[mark:]) == [
        "POST /token 200 grant_type=authorization_code client_id=pkceflow-confidential"
    ]
    stored = cli.stored()
    assert stored is not None
    introspection = server.introspect(stored.access_token)
    assert introspection["active"] is True
    assert introspection["client_id"] == CONFIDENTIAL_CLIENT_ID
    assert introspection["sub"] == "ivan"

    # The secret is not in the profile, yet later commands authenticate with it.
    profile_text = (cli.profiles_dir / "default.toml").read_text("utf-8")
    assert CONFIDENTIAL_CLIENT_SECRET not in profile_text
    assert cli.profile()["has_client_secret"] is True
    mark = len(server.requests())
    refresh = cli.run("refresh", "--json")
    assert refresh.returncode == 0, refresh
    assert json.loads(refresh.stdout)["access_token"] != stored.access_token
    assert token_posts(server.requests()[mark:]) == [
        "POST /token 200 grant_type=refresh_token client_id=pkceflow-confidential"
    ]

    # Revocation authenticates with the kept secret too; logout forgets the secret.
    _, refresh_token = logout_revoking_both(cli, server, CONFIDENTIAL_CLIENT_ID)
    assert server.introspect(refresh_token)["active"] is False
    assert cli.stored("default.client-secret") is None


def logout_revoking_both(
    cli: PkceflowCli, server: OidcProviderServer, client_id: str
) -> tuple[str, str]:
    """``pkceflow logout`` of the stored login, which has a refresh token: the server was
    asked to revoke both tokens (RFC 7009), as ``client_id``. The two tokens."""
    stored = cli.stored()
    assert stored is not None
    assert stored.refresh_token is not None
    mark = len(server.requests())
    logout = cli.run("logout")
    assert logout.returncode == 0, logout
    assert "the server revoked its tokens" in logout.stderr
    assert server.requests()[mark:] == [f"POST /token/revocation 200 client_id={client_id}"] * 2
    return stored.access_token, stored.refresh_token


def test_token_refreshes_after_expiry(
    oidc_provider_short_ttl: Callable[[int], OidcProviderServer], cli: PkceflowCli
) -> None:
    server = oidc_provider_short_ttl(2)
    run = cli.login(server, scope="openid")
    assert run.returncode == 0, run
    first = cli.stored()
    assert first is not None
    assert first.refresh_token is not None

    # Expired: `pkceflow token` refreshes on its own and prints the new token.
    wait_until_expired(server, first)
    mark = len(server.requests())
    token = cli.run("token", "--min-ttl", "0")
    assert token.returncode == 0, token
    printed = token.stdout.strip()
    assert printed != first.access_token
    second = cli.stored()
    assert second is not None
    assert second.access_token == printed
    assert second.refresh_token not in (None, first.refresh_token)  # rotated
    assert token_posts(server.requests()[mark:]) == [
        "POST /token 200 grant_type=refresh_token client_id=pkceflow-public"
    ]
    assert server.introspect(printed)["active"] is True

    # --min-ttl: 30 s is capped at half the 2 s lifetime: refreshed once a second of
    # its life is gone, not at every call.
    time.sleep(1.1)
    again = cli.run("token", "--min-ttl", "30", "--json")
    assert again.returncode == 0, again
    answer = json.loads(again.stdout)
    assert answer["access_token"] not in (first.access_token, printed)
    assert answer["token_type"].lower() == "bearer"
    third = cli.stored()
    assert third is not None
    assert third.refresh_token not in (None, first.refresh_token, second.refresh_token)

    # The provider refuses a rotated-out refresh token and revokes the grant for it;
    # pkceflow's next refresh is refused (exit 4, the server's error shown) and the
    # login is forgotten (then exit 6).
    reused = server.token_request(
        {"grant_type": "refresh_token", "refresh_token": first.refresh_token}
    )
    assert reused.status == 400
    assert reused.json()["error"] == "invalid_grant"
    refused = cli.run("refresh")
    assert refused.returncode == 4, refused
    assert "invalid_grant" in refused.stderr
    assert refused.stdout == ""
    assert cli.stored() is None
    gone = cli.run("token")
    assert gone.returncode == 6, gone


@pytest.mark.parametrize("offline", [False, True], ids=["default-scope", "offline_access"])
def test_provider_default_refresh_policy(
    oidc_provider_default_short_ttl: OidcProviderServer, cli: PkceflowCli, offline: bool
) -> None:
    server = oidc_provider_default_short_ttl
    if offline:
        run = cli.login(server, "--param", "prompt=consent", scope="openid offline_access")
    else:
        run = cli.login(server, scope="openid")
    assert run.returncode == 0, run
    assert run.browser().authorization_params.get("prompt") == ("consent" if offline else None)
    stored = cli.stored()
    assert stored is not None
    assert (stored.refresh_token is not None) == offline
    status = cli.run("status", "--json")
    assert json.loads(status.stdout)[0]["refresh_token"] is offline

    wait_until_expired(server, stored)
    mark = len(server.requests())
    token = cli.run("token", "--min-ttl", "0")
    if not offline:
        assert token.returncode == 6, token  # no usable login
        assert token.stdout == ""
        assert "no refresh token" in token.stderr
        assert token_posts(server.requests()[mark:]) == []
        return
    assert token.returncode == 0, token
    assert token.stdout.strip() != stored.access_token
    assert server.introspect(token.stdout.strip())["active"] is True


@pytest.mark.parametrize("cancel_at", ["login", "consent"])
def test_cancel_exits_3(
    oidc_provider: OidcProviderServer, cli: PkceflowCli, cancel_at: CancelAt
) -> None:
    run = cli.login(oidc_provider, cancel_at=cancel_at)
    assert run.returncode == 3, run
    assert "access_denied" in run.stderr
    outcome = run.browser()
    assert outcome.callback_params["error"] == "access_denied"
    assert "<h1>Sign-in failed</h1>" in outcome.page
    assert not (cli.profiles_dir / "default.toml").exists()
    assert cli.stored() is None
    assert cli.run("token").returncode == 6


def test_wrong_code_verifier_exits_4(oidc_provider: OidcProviderServer, cli: PkceflowCli) -> None:
    # pkceflow's CLI entry point with a test plugin whose transport corrupts the verifier
    # (see corrupt_verifier.py for why not an installed entry-point plugin).
    mark = len(oidc_provider.requests())
    run = cli.login(oidc_provider, command=[sys.executable, "-m", "e2e.corrupt_verifier"])
    assert run.returncode == 4, run
    assert ANNOUNCEMENT in run.stderr
    assert "invalid_grant" in run.stderr
    assert token_posts(oidc_provider.requests()[mark:]) == [
        "POST /token 400 grant_type=authorization_code client_id=pkceflow-public"
    ]
    outcome = run.browser()
    assert "<h1>Sign-in failed</h1>" in outcome.page
    assert "invalid_grant" in outcome.page
    assert cli.stored() is None
    assert not (cli.profiles_dir / "default.toml").exists()


def test_logout_revokes(oidc_provider_refresh: OidcProviderServer, cli: PkceflowCli) -> None:
    server = oidc_provider_refresh
    run = cli.login(server)
    assert run.returncode == 0, run

    access_token, refresh_token = logout_revoking_both(cli, server, PUBLIC_CLIENT_ID)
    assert server.introspect(access_token)["active"] is False
    assert server.introspect(refresh_token)["active"] is False
    assert cli.stored() is None
    assert cli.run("token").returncode == 6


@pytest.mark.parametrize(
    ("redirect_host", "uri_host"), [("[::1]", "[::1]"), ("localhost", "localhost")]
)
def test_redirect_host(
    oidc_provider: OidcProviderServer, cli: PkceflowCli, redirect_host: str, uri_host: str
) -> None:
    run = cli.login(oidc_provider, "--redirect-host", redirect_host, scope="openid")
    assert run.returncode == 0, run
    outcome = run.browser()
    redirect_uri = outcome.authorization_params["redirect_uri"]
    port = urllib.parse.urlsplit(redirect_uri).port
    assert port is not None
    assert redirect_uri == f"http://{uri_host}:{port}/callback"
    assert str(outcome["landed"]).startswith(redirect_uri + "?")
    assert cli.profile()["redirect_host"] == redirect_host
    stored = cli.stored()
    assert stored is not None
    assert oidc_provider.introspect(stored.access_token)["active"] is True


def test_concurrent_token_commands_refresh_once(
    oidc_provider_refresh: OidcProviderServer, cli: PkceflowCli
) -> None:
    # Several scripts asking at once for an expired token: the file store's lock lets one
    # refresh reach the provider (a second use of the rotated refresh token would make
    # the provider revoke the grant); the others read what it stored.
    server = oidc_provider_refresh
    run = cli.login(server, scope="openid")
    assert run.returncode == 0, run
    stored = cli.stored()
    assert stored is not None
    # Expired as far as pkceflow knows (the provider still has it active).
    from pkceflow.file_store import FileStore

    FileStore(cli.tokens_dir).save("default", attrs.evolve(stored, expires_at=time.time() - 5))

    mark = len(server.requests())
    processes = [cli.spawn("token") for _ in range(6)]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [p.returncode for p in processes] == [0] * 6, outputs
    printed = {out.decode().strip() for out, _ in outputs}
    assert len(printed) == 1, outputs
    (access_token,) = printed
    assert access_token != stored.access_token
    assert token_posts(server.requests()[mark:]) == [
        "POST /token 200 grant_type=refresh_token client_id=pkceflow-public"
    ]
    assert server.introspect(access_token)["active"] is True


def test_browser_command_that_waits(oidc_provider: OidcProviderServer, cli: PkceflowCli) -> None:
    run = cli.login(oidc_provider, scope="openid", browser_waits=True, delivery_timeout=2)
    assert run.returncode == 0, run
    # The browser must see pkceflow's answer while it waits on the redirect.
    assert "<h1>Signed in</h1>" in run.browser().page
