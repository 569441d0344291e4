"""``pkceflow refresh``: a new access token now, the rotated refresh token kept."""

from __future__ import annotations

import pytest

from pkceflow.testing import TestProvider

from .helpers import Cli


def test_refresh_stores_the_new_tokens(cli: Cli, provider: TestProvider) -> None:
    seeded = cli.seed(provider)

    result = cli.run("refresh", "--profile", "work").ok()

    assert result.stdout == ""
    assert result.stderr.startswith("Refreshed; access token expires in ")
    stored = cli.stored()
    assert stored is not None
    assert stored["access_token"] != seeded.access_token
    assert stored["refresh_token"] != seeded.refresh_token
    active = provider.active_tokens()
    assert stored["access_token"] in active
    assert stored["refresh_token"] in active
    assert seeded.refresh_token not in active  # rotated away at the provider
    assert cli.token() == stored["access_token"]
    assert provider.count("token") == 1


def test_refresh_json(cli: Cli, provider: TestProvider) -> None:
    cli.seed(provider)

    result = cli.run("refresh", "--profile", "work", "--json").ok()

    assert result.stderr == ""
    data = result.json()
    assert set(data) == {"access_token", "token_type", "expires_at", "scope"}
    stored = cli.stored()
    assert stored is not None
    assert data["access_token"] == stored["access_token"]
    assert (data["token_type"], data["scope"]) == ("Bearer", "openid offline_access")


@pytest.mark.parametrize("rotation", ["rotate", "omit"])
def test_refreshing_again_uses_the_refresh_token_kept(
    cli: Cli, provider: TestProvider, rotation: str
) -> None:
    provider.settings.refresh_token_rotation = rotation  # type: ignore[assignment]
    seeded = cli.seed(provider)

    cli.run("refresh", "--profile", "work").ok()
    cli.run("refresh", "--profile", "work").ok()

    stored = cli.stored()
    assert stored is not None
    assert stored["refresh_token"] in provider.active_tokens()
    assert (stored["refresh_token"] == seeded.refresh_token) == (rotation != "rotate")
    assert provider.count("token") == 2


@pytest.mark.parametrize("command", [["refresh"], ["token", "--min-ttl", "7200"]])
def test_a_refused_refresh_exits_4_and_forgets_the_login(
    cli: Cli, provider: TestProvider, command: list[str]
) -> None:
    cli.seed(provider)
    provider.settings.refresh_invalid_grant = True

    result = cli.run(*command, "--profile", "work")

    result.fails(4, "invalid_grant", "The refresh token is expired or revoked.")
    assert cli.stored() is None
    cli.run("token", "--profile", "work").fails(6, "no stored login for 'work'")


def test_refresh_without_a_refresh_token(cli: Cli, provider: TestProvider) -> None:
    seeded = cli.seed(provider, refresh_token=False)

    cli.run("refresh", "--profile", "work").fails(6, "no refresh token")

    assert provider.count() == 0
    assert cli.token() == seeded.access_token  # the login is still there
