"""``pkceflow logout``: revoke at the provider (or not) and forget the stored login."""

from __future__ import annotations

from pkceflow.testing import CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET, TestProvider

from .helpers import Cli


def test_logout_revokes_and_forgets_the_login(cli: Cli, provider: TestProvider) -> None:
    seeded = cli.seed(provider)

    result = cli.run("logout", "--profile", "work").ok()

    assert result.stdout == ""
    assert result.stderr == "Signed out of 'work' (tokens revoked).\n"
    revoked = [(r.form["token"], r.form["token_type_hint"]) for r in provider.requests]
    assert revoked == [
        (seeded.refresh_token, "refresh_token"),
        (seeded.access_token, "access_token"),
    ]
    assert provider.active_tokens() == set()
    assert cli.stored() is None
    assert cli.profile_path().exists()  # the settings stay for the next login
    cli.run("token", "--profile", "work").fails(6, "no stored login for 'work'")


def test_logout_no_revoke_only_forgets(cli: Cli, provider: TestProvider) -> None:
    seeded = cli.seed(provider)

    result = cli.run("logout", "--profile", "work", "--no-revoke").ok()

    assert result.stderr == "Signed out of 'work'.\n"
    assert provider.count() == 0
    assert {seeded.access_token, seeded.refresh_token} <= provider.active_tokens()
    assert cli.stored() is None
    cli.run("token", "--profile", "work").fails(6, "no stored login for 'work'")


def test_logout_twice(cli: Cli, provider: TestProvider) -> None:
    cli.seed(provider)
    cli.run("logout", "--profile", "work").ok()

    again = cli.run("logout", "--profile", "work").ok()

    assert again.stderr == "Signed out of 'work'.\n"
    assert provider.count("revoke") == 2  # from the first logout only


def test_logout_forgets_the_client_secret_too(cli: Cli, provider: TestProvider) -> None:
    cli.seed(provider, client_id=CONFIDENTIAL_CLIENT_ID, client_secret=CONFIDENTIAL_CLIENT_SECRET)

    cli.run("logout", "--profile", "work").ok()

    revocations = [r for r in provider.requests if r.endpoint == "revoke"]
    assert len(revocations) == 2
    assert all(r.headers["authorization"].startswith("Basic ") for r in revocations)
    assert not [p for p in cli.files() if CONFIDENTIAL_CLIENT_SECRET in p.read_text("utf-8")]
    # Signing in again takes the secret again.
    cli.run(
        "login", "--profile", "work", "--client-secret", CONFIDENTIAL_CLIENT_SECRET,
        "--timeout", "20",
    ).ok()  # fmt: skip
    assert cli.stored() is not None


def test_logout_when_revocation_fails_still_forgets(cli: Cli, provider: TestProvider) -> None:
    cli.seed(provider)
    provider.stop()

    cli.run("logout", "--profile", "work").fails(1, "failed")

    assert cli.stored() is None
