"""URLs of the issuer ``/p``: DOT mounted under ``/p/`` only, the layout without an RFC 8414
document at the origin (it is served at ``/p/.well-known/oauth-authorization-server``, the
fallback form, and the OpenID document at ``/p/.well-known/openid-configuration``).

DOT builds its endpoint URLs with ``reverse("oauth2_provider:...")``, so each issuer needs
a URLconf of its own: ``middleware.issuer_urlconf`` picks this one for ``/p/...``."""

from __future__ import annotations

from django.urls import include, path  # type: ignore[import-not-found]
from oauth2_provider import urls as dot_urls  # type: ignore[import-not-found]

# What a native-app server needs: metadata, authorize/token/revoke/introspect, OIDC
# (discovery, JWKS, userinfo). The application-management pages are left out.
dot_patterns = [
    *dot_urls.metadata_urlpatterns,
    *dot_urls.base_urlpatterns,
    *dot_urls.oidc_urlpatterns,
]

urlpatterns = [
    path("p/", include((dot_patterns, dot_urls.app_name))),
]
