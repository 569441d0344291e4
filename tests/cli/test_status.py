"""``pkceflow status``: profiles, expiry and scopes, and never a token."""

from __future__ import annotations

import re
import time

import pytest

from pkceflow.testing import CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET, TestProvider

from .helpers import Cli


def _secrets(cli: Cli, provider: TestProvider) -> set[str]:
    """Every token the provider issued, the id_tokens stored, and the client secret."""
    found = {info.token for info in provider.tokens()} | {CONFIDENTIAL_CLIENT_SECRET}
    for name in ("work", "ci"):
        data = cli.stored(name)
        assert data is not None
        assert data["id_token"]
        found.add(data["id_token"])
    return found


def test_status_without_profiles(cli: Cli) -> None:
    assert cli.run("status").ok().stdout == "No profiles yet: pkceflow login --profile NAME ...\n"
    assert cli.run("status", "--json").ok().json() == []


def test_status_shows_profiles_expiry_and_scopes_and_never_a_token(
    cli: Cli, provider: TestProvider
) -> None:
    cli.seed(provider, profile="work")
    cli.seed(
        provider,
        profile="ci",
        client_id=CONFIDENTIAL_CLIENT_ID,
        client_secret=CONFIDENTIAL_CLIENT_SECRET,
        scope="openid email",
    )
    cli.seed(provider, profile="old", refresh_token=False)
    cli.run("logout", "--profile", "old", "--no-revoke").ok()

    text = cli.run("status").ok()
    rows = cli.run("status", "--json").ok()

    issuer = re.escape(provider.issuer)
    assert re.fullmatch(
        r"ci: signed in, expires in \d+ s, refresh token kept\n"
        rf"  client pkceflow-confidential at {issuer} \(store: file\)\n"
        r"  scope: openid email\n"
        r"old: signed out\n"
        rf"  client pkceflow-test at {issuer} \(store: file\)\n"
        r"  scope: openid offline_access\n"
        r"work: signed in, expires in \d+ s, refresh token kept\n"
        rf"  client pkceflow-test at {issuer} \(store: file\)\n"
        r"  scope: openid offline_access\n",
        text.stdout,
    ), text.stdout
    data = rows.json()
    assert [row["profile"] for row in data] == ["ci", "old", "work"]
    ci = data[0]
    assert ci["client_id"] == CONFIDENTIAL_CLIENT_ID
    assert ci["issuer"] == provider.issuer
    assert ci["store"] == "file"
    assert (ci["logged_in"], ci["expired"], ci["refresh_token"]) == (True, False, True)
    assert ci["scope"] == ["openid", "email"]
    assert ci["expires_at"] == pytest.approx(time.time() + 3600, abs=60)
    assert (data[1]["logged_in"], data[1]["expires_at"], data[1]["expired"]) == (False, None, None)

    secrets = _secrets(cli, provider)
    assert len(secrets) >= 8  # access, refresh, id_token of each signed-in profile...
    for output in (text.stdout, text.stderr, rows.stdout, rows.stderr):
        leaked = [s for s in secrets if s in output]
        assert leaked == []


def test_status_of_an_expired_access_token(cli: Cli, provider: TestProvider) -> None:
    provider.settings.access_token_lifetime = 0
    cli.seed(provider)

    text = cli.run("status").ok().stdout
    (row,) = cli.run("status", "--json").ok().json()

    assert text.startswith("work: signed in, access token expired, refresh token kept\n")
    assert (row["logged_in"], row["expired"]) == (True, True)
    assert provider.count("token") == 0  # status never refreshes


def test_status_of_a_token_without_a_stated_expiry(cli: Cli, provider: TestProvider) -> None:
    cli.seed(provider, expires=False)

    text = cli.run("status").ok().stdout
    (row,) = cli.run("status", "--json").ok().json()

    assert text.startswith("work: signed in, refresh token kept\n")
    assert (row["expires_at"], row["expired"]) == (None, False)


def test_status_of_one_profile(cli: Cli, provider: TestProvider) -> None:
    cli.seed(provider, profile="work")
    cli.seed(provider, profile="ci", scope="openid")

    text = cli.run("status", "--profile", "ci").ok().stdout
    rows = cli.run("status", "--profile", "ci", "--json").ok().json()

    assert text.startswith("ci: signed in")
    assert "work" not in text
    assert [row["profile"] for row in rows] == ["ci"]
