"""pkceflow-google: Google's desktop-client rules, reproduced with the local provider."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from pkceflow import Client
from pkceflow.testing import CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET, TestProvider
from pkceflow_core import UsageError
from pkceflow_google import PRESET, pkceflow_provider_presets
from tests.plugins.conftest import client_for


def confidential_client(provider: TestProvider, **options: object) -> Client:
    """The provider's confidential client through the Google preset, by client_secret_basic."""
    return client_for(
        PRESET,
        provider,
        CONFIDENTIAL_CLIENT_ID,
        client_secret=CONFIDENTIAL_CLIENT_SECRET,
        auth_method="client_secret_basic",
        **options,
    )


def test_the_plugin_supplies_google_by_discovery() -> None:
    assert pkceflow_provider_presets() == [PRESET]
    assert PRESET.issuer_for() == "https://accounts.google.com"
    assert "openid" in PRESET.default_scope


def test_google_wants_the_desktop_client_secret_even_with_pkce(provider: TestProvider) -> None:
    with pytest.raises(UsageError, match="client secret"):
        client_for(PRESET, provider, CONFIDENTIAL_CLIENT_ID)


def test_offline_access_and_consent_are_asked_for_so_a_refresh_token_comes(
    provider: TestProvider,
) -> None:
    provider.add_client("desktop", "desktop-secret", auth_method="client_secret_post")
    client = client_for(PRESET, provider, "desktop", client_secret="desktop-secret")

    tokens = client.login()

    authorize = next(r for r in provider.requests if r.endpoint == "authorize")
    assert (authorize.form["access_type"], authorize.form["prompt"]) == ("offline", "consent")
    assert tokens.refresh_token is not None
    assert client.id_token_claims() is not None  # validated against the JWKS


def test_the_caller_s_parameters_override_the_defaults(provider: TestProvider) -> None:
    client = confidential_client(provider, params={"prompt": "select_account"})

    client.login()

    authorize = next(r for r in provider.requests if r.endpoint == "authorize")
    assert authorize.form["prompt"] == "select_account"


def test_the_loopback_redirect_may_use_any_port(provider: TestProvider) -> None:
    client = confidential_client(provider)

    client.login()

    authorize = next(r for r in provider.requests if r.endpoint == "authorize")
    redirect = urlsplit(authorize.form["redirect_uri"])
    assert (redirect.hostname, redirect.path) == ("127.0.0.1", "/callback")
    assert redirect.port == client.settings.redirect.port or client.settings.redirect.port == 0
    assert redirect.port not in (None, 80)
