"""pkceflow-github: GitHub's quirks, reproduced with the local provider."""

from __future__ import annotations

import pytest

from pkceflow import Client, LoginRequiredError
from pkceflow.memory_store import MemoryStore
from pkceflow.settings import Interaction
from pkceflow.testing import HttpFollowingBrowser, TestProvider
from pkceflow_core import InvalidResponseError, TokenError, UsageError
from pkceflow_github import PRESET, pkceflow_provider_presets
from tests.plugins.conftest import client_for


@pytest.fixture
def github(provider: TestProvider) -> TestProvider:
    provider.add_client("github-app", "github-secret", auth_method="client_secret_post")
    provider.settings.token_response_format = "form_always"
    provider.settings.scopes_supported = ("read:user", "repo", "openid")
    return provider


def test_the_plugin_supplies_github_s_endpoints_without_openid() -> None:
    assert pkceflow_provider_presets() == [PRESET]
    assert PRESET.server().token_endpoint == "https://github.com/login/oauth/access_token"
    assert "openid" not in PRESET.default_scope


def test_github_wants_the_client_secret_even_with_pkce(github: TestProvider) -> None:
    with pytest.raises(UsageError, match="client secret"):
        client_for(PRESET, github, "github-app")


def test_a_form_encoded_token_response_is_read_with_the_secret_posted(
    github: TestProvider,
) -> None:
    client = client_for(PRESET, github, "github-app", client_secret="github-secret")

    tokens = client.login()

    assert tokens.access_token
    exchange = [r for r in github.requests if r.endpoint == "token"][-1]
    assert exchange.form["client_secret"] == "github-secret"


def test_without_the_quirk_a_form_encoded_answer_is_refused(github: TestProvider) -> None:
    client = Client(
        "github-app",
        client_secret="github-secret",
        auth_method="client_secret_post",
        authorization_url=github.authorization_endpoint,
        token_url=github.token_endpoint,
        browser=HttpFollowingBrowser(),
        store=MemoryStore(),
        interaction=Interaction(timeout=20.0),
    )

    with pytest.raises(InvalidResponseError, match="not JSON"):
        client.login()
    assert client.stored() is None


def test_comma_separated_granted_scopes_are_split(github: TestProvider) -> None:
    github.settings.scope_as_list = True  # the form format joins it with commas
    client = client_for(
        PRESET, github, "github-app", client_secret="github-secret", scope="read:user repo"
    )

    assert client.login().scope == ("read:user", "repo")


def test_an_error_sent_with_http_200_is_still_an_error(github: TestProvider) -> None:
    github.settings.token_errors_status_200 = True
    client = client_for(PRESET, github, "github-app", client_secret="github-secret")
    client.login()
    github.settings.refresh_invalid_grant = True

    with pytest.raises(LoginRequiredError) as raised:
        client.refresh()

    assert isinstance(raised.value.__cause__, TokenError)
    assert raised.value.__cause__.error == "invalid_grant"
    assert raised.value.__cause__.status == 200
