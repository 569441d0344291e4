"""pkceflow providers, and login --provider with a preset's settings."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pkceflow.testing import TestProvider
from tests.cli.helpers import Cli, Result

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RUNNER = Path(__file__).with_name("local_presets.py")


def run_with_local_presets(cli: Cli, origin: str, *args: str) -> Result:
    return cli.run(*args, command=[sys.executable, str(RUNNER), origin])


def test_providers_lists_the_installed_presets(cli: Cli) -> None:
    result = cli.run("providers")

    assert result.returncode == 0, result
    assert "github: GitHub" in result.stdout
    assert "needs a client secret (--client-secret-file)" in result.stdout
    assert "microsoft: Microsoft Entra ID" in result.stdout
    assert "--template tenant (default tenant=common)" in result.stdout


def test_login_with_a_provider_uses_its_quirks_then_and_later(
    cli: Cli, provider: TestProvider
) -> None:
    provider.add_client("gh-app", "gh-secret", auth_method="client_secret_post")
    provider.settings.token_response_format = "form_always"
    provider.settings.scopes_supported = ("read:user",)

    login = run_with_local_presets(
        cli, provider.origin, "login", "--profile", "gh", "--provider", "local-github",
        "--client-id", "gh-app", "--client-secret", "gh-secret",
    )  # fmt: skip
    assert login.returncode == 0, login
    profile = tomllib.loads((cli.home / "profiles" / "gh.toml").read_text())
    assert (profile["provider"], profile["scope"]) == ("local-github", ["read:user"])
    assert profile["auth_method"] == "client_secret_post"
    assert "gh-secret" not in str(profile)

    # A later refresh still reads GitHub's form-encoded answer: the quirk comes
    # from the preset named in the profile.
    refresh = run_with_local_presets(cli, provider.origin, "refresh", "--profile", "gh")
    assert refresh.returncode == 0, refresh


@pytest.fixture
def entra() -> Iterator[TestProvider]:
    with TestProvider(issuer_path="/common/v2.0") as provider:
        provider.settings.templated_issuer = True
        provider.settings.expires_in_as_string = True
        yield provider


def test_login_with_a_tenant_template_matches_the_templated_issuer(
    cli: Cli, entra: TestProvider
) -> None:
    login = run_with_local_presets(
        cli, entra.origin, "login", "--profile", "ms", "--provider", "local-microsoft",
        "--client-id", "pkceflow-test", "--template", "tenant=common",
    )  # fmt: skip

    assert login.returncode == 0, login
    profile = tomllib.loads((cli.home / "profiles" / "ms.toml").read_text())
    assert profile["template"] == {"tenant": "common"}
    assert profile["issuer_template"] == f"{entra.origin}/{{tenantid}}/v2.0"
    assert "offline_access" in profile["scope"]
