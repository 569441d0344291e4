"""``pkceflow token``: only the access token on stdout, refreshed when it is due."""

from __future__ import annotations

import shlex
import subprocess
import time

import pytest

from pkceflow.testing import TestProvider

from .helpers import Cli, bearer_get


def test_token_after_login_prints_only_a_usable_access_token(
    cli: Cli, provider: TestProvider
) -> None:
    cli.login(provider).ok()

    token = cli.token()  # checks that stdout holds the token and a newline, stderr nothing

    stored = cli.stored()
    assert stored is not None
    assert token == stored["access_token"]
    assert provider.count("token") == 1  # from the store, no request
    assert bearer_get(provider.userinfo_endpoint, token) == 200


def test_token_works_in_a_shell_command_substitution(cli: Cli, provider: TestProvider) -> None:
    seeded = cli.seed(provider)
    command = " ".join(shlex.quote(part) for part in cli.command)
    script = f'printf "Authorization: Bearer %s|" "$({command} token --profile work)"'

    shell = subprocess.run(
        ["sh", "-c", script],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=cli.env,
        timeout=30,
        check=True,
    )

    assert shell.stdout.decode() == f"Authorization: Bearer {seeded.access_token}|"
    assert shell.stderr == b""


def test_token_json(cli: Cli, provider: TestProvider) -> None:
    seeded = cli.seed(provider)

    result = cli.run("token", "--profile", "work", "--json").ok()

    assert result.stderr == ""
    assert result.stdout.count("\n") == 1
    assert result.json() == {
        "access_token": seeded.access_token,
        "token_type": "Bearer",
        "expires_at": pytest.approx(seeded.expires_at),
        "scope": "openid offline_access",
    }


def test_a_fresh_token_comes_from_the_store(cli: Cli, provider: TestProvider) -> None:
    seeded = cli.seed(provider)

    assert cli.token() == seeded.access_token
    assert cli.token("work", "--min-ttl", "3000") == seeded.access_token

    assert provider.count() == 0


def test_token_refreshes_when_it_expires_sooner_than_min_ttl(
    cli: Cli, provider: TestProvider
) -> None:
    seeded = cli.seed(provider)  # valid for an hour

    token = cli.token("work", "--min-ttl", "7200")

    assert token != seeded.access_token
    (refresh,) = [r.form for r in provider.requests if r.endpoint == "token"]
    assert refresh["grant_type"] == "refresh_token"
    assert refresh["refresh_token"] == seeded.refresh_token
    stored = cli.stored()
    assert stored is not None
    assert stored["access_token"] == token
    assert stored["refresh_token"] in provider.active_tokens()  # the rotated one was kept
    # From now on the new token comes from the store.
    assert cli.token() == token
    assert provider.count("token") == 1


def test_token_refreshes_an_expiring_token_by_default(cli: Cli, provider: TestProvider) -> None:
    provider.settings.access_token_lifetime = 30  # less than the default --min-ttl of 60
    seeded = cli.seed(provider)
    provider.settings.access_token_lifetime = 3600

    data = cli.run("token", "--profile", "work", "--json").ok().json()

    assert data["access_token"] != seeded.access_token
    assert data["expires_at"] > time.time() + 3000
    assert provider.count("token") == 1


def test_concurrent_token_commands_refresh_once(cli: Cli, provider: TestProvider) -> None:
    provider.settings.access_token_lifetime = 30
    cli.seed(provider)
    provider.settings.access_token_lifetime = 3600

    running = [cli.start("token", "--profile", "work") for _ in range(4)]
    results = [r.finish() for r in running]

    assert all(r.ok().stderr == "" for r in results)
    assert len({r.stdout for r in results}) == 1
    assert provider.count("token") == 1
