"""``pkceflow logout``: revoke at the provider (or not) and forget the stored login."""

from __future__ import annotations

from pkceflow.testing import CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET, TestProvider

from .helpers import Cli


def test_logout_revokes_and_forgets_the_login(cli: Cli, provider: TestProvider) -> None:
    seeded = cli.seed(provider)

    result = cli.run("logout", "--profile", "work").ok()

    assert result.stdout == ""
    assert result.stderr == "Signed out of 'work'; the server revoked its tokens.\n"
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

    assert result.stderr.startswith(
        "Signed out of 'work' on this machine only: --no-revoke was given, so its tokens"
        " remain valid at the server until they expire (the access token in "
    )
    assert provider.count() == 0
    assert {seeded.access_token, seeded.refresh_token} <= provider.active_tokens()
    assert cli.stored() is None
    cli.run("token", "--profile", "work").fails(6, "no stored login for 'work'")


def test_logout_twice(cli: Cli, provider: TestProvider) -> None:
    cli.seed(provider)
    cli.run("logout", "--profile", "work").ok()

    again = cli.run("logout", "--profile", "work").ok()

    assert again.stderr == "There was no stored login for 'work'; nothing to sign out of.\n"
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

    result = cli.run("logout", "--profile", "work")

    assert result.returncode == 1
    assert result.stderr.startswith(
        "Signed out of 'work' on this machine only: revoking them failed (POST to 127.0.0.1"
    )
    assert "so its tokens remain valid at the server until they expire" in result.stderr
    assert cli.stored() is None


def test_logout_without_a_revocation_endpoint_says_the_tokens_remain_valid(
    cli: Cli, provider: TestProvider
) -> None:
    # item 14.3: "Signed out" alone let people believe the tokens were dead.
    cli.run(
        "login", "--profile", "work", "--client-id", "pkceflow-test",
        "--auth-url", provider.authorization_endpoint, "--token-url", provider.token_endpoint,
        "--redirect-path", "/callback", "--timeout", "20",
    ).ok()  # fmt: skip
    seeded = cli.stored()
    assert seeded is not None

    result = cli.run("logout", "--profile", "work").ok()

    assert "on this machine only: the server offers no revocation endpoint" in result.stderr
    assert "its tokens remain valid at the server until they expire" in result.stderr
    assert provider.count("revoke") == 0
    assert seeded["access_token"] in provider.active_tokens()
    assert cli.stored() is None
