"""URLs of the issuer ``/o``: DOT mounted under ``/o/`` with its RFC 8414 document ALSO at
the origin (``/.well-known/oauth-authorization-server/o``), as DOT's documentation advises
for prefixed deployments. Sign-in pages live here too, for both issuers."""

from __future__ import annotations

from django.contrib.auth import views as auth_views  # type: ignore[import-not-found]
from django.urls import include, path  # type: ignore[import-not-found]
from oauth2_provider import urls as dot_urls  # type: ignore[import-not-found]
from oauth2_provider.views import OAuthServerMetadataView  # type: ignore[import-not-found]

from .urls_p import dot_patterns

urlpatterns = [
    path(
        ".well-known/oauth-authorization-server/o",
        OAuthServerMetadataView.as_view(),
    ),
    path("o/", include((dot_patterns, dot_urls.app_name))),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
