"""pkceflow providers, and login --provider with a preset's settings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pkceflow.testing import TestProvider
from tests.cli.helpers import Cli, Result

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RUNNER = Path(__file__).with_name("local_presets.py")


def run_with_local_presets(cli: Cli, origin: str, *args: str) -> Result:
    return cli.run(*args, command=[sys.executable, str(RUNNER), origin])


def login_with_local_presets(cli: Cli, origin: str, profile: str, *args: str) -> dict[str, Any]:
    """``pkceflow login --profile PROFILE ARGS...`` with the local presets; it must
    succeed. The profile it saved, parsed."""
    login = run_with_local_presets(cli, origin, "login", "--profile", profile, *args)
    assert login.returncode == 0, login
    saved: dict[str, Any] = tomllib.loads(cli.profile_path(profile).read_text())
    return saved


def test_providers_lists_the_installed_presets(cli: Cli) -> None:
    result = cli.run("providers")

    assert result.returncode == 0, result
    assert "github: GitHub" in result.stdout
    assert "needs a client secret (--client-secret-file)" in result.stdout
    assert "microsoft: Microsoft Entra ID" in result.stdout
    assert "--template tenant (default tenant=common)" in result.stdout
    assert "  register an application at https://github.com/settings/developers\n" in (
        result.stdout
    )


def test_login_with_a_provider_uses_its_quirks_then_and_later(
    cli: Cli, provider: TestProvider
) -> None:
    provider.add_client("gh-app", "gh-secret", auth_method="client_secret_post")
    provider.settings.token_response_format = "form_always"
    provider.settings.scopes_supported = ("read:user",)

    profile = login_with_local_presets(
        cli, provider.origin, "gh", "--provider", "local-github",
        "--client-id", "gh-app", "--client-secret", "gh-secret",
    )  # fmt: skip
    assert (profile["provider"], profile["scope"]) == ("local-github", ["read:user"])
    assert profile["auth_method"] == "client_secret_post"
    assert "gh-secret" not in str(profile)

    # A later refresh still reads GitHub's form-encoded answer: the quirk comes
    # from the preset named in the profile.
    refresh = run_with_local_presets(cli, provider.origin, "refresh", "--profile", "gh")
    assert refresh.returncode == 0, refresh


def test_login_with_a_tenant_template_matches_the_templated_issuer(
    cli: Cli, entra: TestProvider
) -> None:
    profile = login_with_local_presets(
        cli, entra.origin, "ms", "--provider", "local-microsoft",
        "--client-id", "pkceflow-test", "--template", "tenant=common",
    )  # fmt: skip

    assert profile["template"] == {"tenant": "common"}
    assert profile["issuer_template"] == f"{entra.origin}/{{tenantid}}/v2.0"
    assert "offline_access" in profile["scope"]
