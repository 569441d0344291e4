"""Microsoft Entra ID as a pkceflow provider (the v2.0 endpoints).

The tenant is part of every URL: ``common``, ``organizations``, ``consumers`` or a
tenant id or domain (``--template tenant=contoso.onmicrosoft.com``). For the shared
tenants, discovery names the issuer ``https://login.microsoftonline.com/{tenantid}/v2.0``,
a template matched against each id_token's ``tid``. Refresh tokens need the
``offline_access`` scope; some endpoints send ``expires_in`` as a string.
Public ("mobile and desktop") clients use PKCE without a secret.
"""

from __future__ import annotations

from pkceflow_core import ProviderPreset, Quirks
from pkceflow_core.hookspecs import hookimpl

__all__ = ["PRESET", "pkceflow_provider_presets"]

PRESET = ProviderPreset(
    name="microsoft",
    title="Microsoft Entra ID",
    issuer="https://login.microsoftonline.com/{tenant}/v2.0",
    template_defaults={"tenant": "common"},
    default_scope=("openid", "profile", "email", "offline_access"),
    quirks=Quirks(expires_in_as_string=True, issuer_placeholder="{tenantid}"),
    console_url="https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps",
)


@hookimpl
def pkceflow_provider_presets() -> list[ProviderPreset]:
    """Microsoft Entra ID's preset."""
    return [PRESET]
