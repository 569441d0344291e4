"""pkceflow-microsoft: tenants and the templated issuer, reproduced with the local provider."""

from __future__ import annotations

import pytest

from pkceflow import Client, IdTokenError
from pkceflow.memory_store import MemoryStore
from pkceflow.testing import HttpFollowingBrowser, TestProvider
from pkceflow_core import MetadataError, UsageError
from pkceflow_microsoft import PRESET, pkceflow_provider_presets
from tests.plugins.conftest import client_for, local, manager_with


def test_the_plugin_puts_the_tenant_in_the_urls() -> None:
    assert pkceflow_provider_presets() == [PRESET]
    assert PRESET.issuer_for() == "https://login.microsoftonline.com/common/v2.0"
    assert (
        PRESET.issuer_for({"tenant": "contoso.onmicrosoft.com"})
        == "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0"
    )


def test_a_multi_tenant_login_matches_the_id_token_through_its_tid(entra: TestProvider) -> None:
    client = client_for(PRESET, entra, "pkceflow-test")

    tokens = client.login()

    claims = client.id_token_claims()
    assert claims is not None
    assert claims["iss"] == entra.tenant_issuer
    assert claims["tid"] == entra.settings.tenant_id
    assert client.server.issuer_template == f"{entra.origin}/{{tenantid}}/v2.0"
    assert tokens.expires_at is not None  # expires_in came as a string
    assert "offline_access" in (tokens.scope or ())
    assert tokens.refresh_token is not None


def test_without_the_quirk_the_templated_issuer_is_refused(entra: TestProvider) -> None:
    with pytest.raises(MetadataError, match="names issuer"):
        Client.from_issuer(entra.issuer, "pkceflow-test", store=MemoryStore())


def test_an_id_token_from_another_issuer_is_still_refused(entra: TestProvider) -> None:
    entra.settings.id_token_defect = "wrong_iss"
    client = client_for(PRESET, entra, "pkceflow-test")

    with pytest.raises(IdTokenError) as raised:
        client.login()
    assert raised.value.check == "issuer"
    assert client.stored() is None


def test_a_tenant_that_would_leave_its_url_segment_is_refused(entra: TestProvider) -> None:
    with pytest.raises(UsageError, match="not a valid tenant"):
        Client.for_provider(
            "microsoft",
            "pkceflow-test",
            template_values={"tenant": "a/../b"},
            plugin_manager=manager_with(local(PRESET, entra)),
            browser=HttpFollowingBrowser(),
            store=MemoryStore(),
        )
