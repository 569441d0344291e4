"""Django settings: Django OAuth Toolkit configured as its documentation recommends for
native applications (PKCE S256 required, OpenID Connect with an RS256 key, refresh-token
rotation with reuse protection and no grace period, RFC 9207 ``iss``).

Everything specific to one start (database, key, secret key) comes from the state folder
named by ``DOT_E2E_STATE``, written by ``serve.py`` before Django is set up.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE = Path(os.environ["DOT_E2E_STATE"])
_state: dict[str, Any] = json.loads((STATE / "state.json").read_text())

# The one application whose access tokens live a short time (seconds); every other one
# gets ACCESS_TOKEN_EXPIRE_SECONDS.
SHORT_LIVED_CLIENT_ID: str = _state["short_lived_client_id"]
SHORT_LIVED_SECONDS: int = _state["short_lived_seconds"]

SECRET_KEY: str = _state["secret_key"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "[::1]", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
    "dot_e2e",
]

MIDDLEWARE = [
    "dot_e2e.middleware.issuer_urlconf",
    "dot_e2e.middleware.token_request_log",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "dot_e2e.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(STATE / "db.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The same algorithm as Django's default hasher with far fewer rounds: DOT hashes client
# secrets with it, so every confidential token request and introspection would otherwise
# spend a third of a second of CPU (1,000,000 rounds) on a slow two-core machine.
PASSWORD_HASHERS = ["dot_e2e.hashers.FastPBKDF2PasswordHasher"]

LOGIN_URL = "/accounts/login/"
SESSION_COOKIE_NAME = "dot_e2e_session"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}


def _access_token_lifetime(request: Any) -> int:
    """Per-application access-token lifetime (oauthlib calls this for every token it
    issues, with its own request object)."""
    client = getattr(request, "client", None)
    client_id = getattr(client, "client_id", None) or getattr(request, "client_id", None)
    if client_id == SHORT_LIVED_CLIENT_ID:
        return SHORT_LIVED_SECONDS
    return 3600


OAUTH2_PROVIDER: dict[str, Any] = {
    "PKCE_REQUIRED": True,
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": (STATE / "oidc-rsa.pem").read_text(),
    "SCOPES": {
        "openid": "OpenID Connect",
        "profile": "Profile",
        "email": "Email address",
        "read": "Read",
        "introspection": "Introspect tokens",
    },
    "DEFAULT_SCOPES": ["openid"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    # DOT's lifetime setting is global; oauthlib also accepts a callable, which makes it
    # per application (the short-lived client) in one server.
    "EXTRA_SERVER_KWARGS": {"token_expires_in": _access_token_lifetime},
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "REQUEST_APPROVAL_PROMPT": "force",
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}
