"""GitHub as a pkceflow provider (OAuth apps and GitHub Apps).

GitHub is not an OpenID provider. Its token endpoint answers form-encoded unless
asked for JSON (pkceflow asks, and reads either), reports errors with HTTP 200,
separates granted scopes with commas, and wants the client secret even with PKCE.
Refresh tokens come only for GitHub Apps with expiring user tokens.
"""

from __future__ import annotations

from pkceflow_core import ProviderPreset, Quirks
from pkceflow_core.hookspecs import hookimpl

__all__ = ["PRESET", "pkceflow_provider_presets"]

PRESET = ProviderPreset(
    name="github",
    title="GitHub",
    authorization_endpoint="https://github.com/login/oauth/authorize",
    token_endpoint="https://github.com/login/oauth/access_token",
    default_scope=("read:user",),
    auth_method="client_secret_post",
    client_secret_required=True,
    quirks=Quirks(form_encoded_token_response=True, scope_separators=","),
    console_url="https://github.com/settings/developers",
)


@hookimpl
def pkceflow_provider_presets() -> list[ProviderPreset]:
    """GitHub's preset."""
    return [PRESET]
