"""providers.py: provider presets are data, filled from templates."""

from __future__ import annotations

import pytest

from pkceflow_core import ProviderPreset, Quirks, UsageError

TENANTED = ProviderPreset(
    name="tenanted",
    title="Tenanted",
    issuer="https://id.example/{tenant}/v2.0",
    authorization_endpoint="https://id.example/{tenant}/authorize",
    token_endpoint="https://id.example/{tenant}/token",
    revocation_endpoint="https://id.example/{tenant}/revoke",
    userinfo_endpoint="https://graph.example/me",
    template_defaults={"tenant": "common"},
    quirks=Quirks(expires_in_as_string=True),
)


def test_placeholders_are_collected_from_every_url() -> None:
    assert TENANTED.placeholders == frozenset({"tenant"})


def test_the_server_is_filled_from_the_defaults() -> None:
    server = TENANTED.server()

    assert server.authorization_endpoint == "https://id.example/common/authorize"
    assert server.token_endpoint == "https://id.example/common/token"
    assert server.revocation_endpoint == "https://id.example/common/revoke"
    assert server.userinfo_endpoint == "https://graph.example/me"
    assert server.issuer == "https://id.example/common/v2.0"
    assert server.quirks == Quirks(expires_in_as_string=True)


def test_given_values_override_the_defaults() -> None:
    assert TENANTED.issuer_for({"tenant": "contoso"}) == "https://id.example/contoso/v2.0"


def test_a_value_that_would_leave_its_segment_is_refused() -> None:
    with pytest.raises(UsageError, match="not a valid tenant"):
        TENANTED.server({"tenant": "../evil"})


def test_a_missing_value_is_refused() -> None:
    preset = ProviderPreset(name="realm", title="Realm", issuer="https://id.example/realms/{realm}")

    with pytest.raises(UsageError, match=r"needs a value for \{realm\}"):
        preset.issuer_for()


def test_a_preset_without_discovery_needs_both_endpoints() -> None:
    with pytest.raises(UsageError, match="issuer or both endpoint URLs"):
        ProviderPreset(name="half", title="Half", authorization_endpoint="https://id.example/a")


def test_a_discovery_only_preset_has_no_static_server() -> None:
    preset = ProviderPreset(name="oidc", title="OIDC", issuer="https://id.example")

    assert preset.issuer_for() == "https://id.example"
    with pytest.raises(UsageError, match="discovery"):
        preset.server()


def test_a_preset_name_is_lower_case() -> None:
    with pytest.raises(UsageError, match="provider name"):
        ProviderPreset(name="GitHub", title="GitHub", issuer="https://id.example")


def test_a_preset_without_templates_uses_its_urls_as_they_are() -> None:
    preset = ProviderPreset(
        name="plain",
        title="Plain",
        authorization_endpoint="https://id.example/authorize",
        token_endpoint="https://id.example/token",
    )

    assert preset.values() == {}
    assert preset.issuer_for() is None
    assert preset.server().revocation_endpoint is None
