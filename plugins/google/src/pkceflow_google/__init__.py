"""Google as a pkceflow provider (OpenID Connect, "Desktop app" OAuth clients).

Google issues desktop clients a secret that is not secret and wants it at the token
endpoint even with PKCE. A refresh token comes only with ``access_type=offline``,
and again on later logins only with ``prompt=consent``; both are defaults here.
Loopback redirects on any port are accepted (RFC 8252 7.3).
"""

from __future__ import annotations

from pkceflow_core import ProviderPreset
from pkceflow_core.hookspecs import hookimpl

__all__ = ["PRESET", "pkceflow_provider_presets"]

PRESET = ProviderPreset(
    name="google",
    title="Google",
    issuer="https://accounts.google.com",
    default_scope=("openid", "email", "profile"),
    default_params={"access_type": "offline", "prompt": "consent"},
    auth_method="client_secret_post",
    client_secret_required=True,
    console_url="https://console.cloud.google.com/apis/credentials",
)


@hookimpl
def pkceflow_provider_presets() -> list[ProviderPreset]:
    """Google's preset."""
    return [PRESET]
