"""The discovery documents (RFC 8414 and OpenID Connect Discovery 1.0) and the JWK Set."""

from __future__ import annotations

from ._context import Context
from ._http import Request, Response, json_response
from .settings import AUTH_METHODS

_CLAIMS_SUPPORTED = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "name",
    "preferred_username",
    "email",
    "email_verified",
)


def discovery(ctx: Context, request: Request) -> Response:
    """The metadata document; both well-known URLs serve the same one."""
    settings = ctx.settings
    base = ctx.provider.issuer
    origin = ctx.provider.origin
    issuer = f"{origin}/{{tenantid}}/v2.0" if settings.templated_issuer else base
    methods = list(AUTH_METHODS)
    metadata: dict[str, object] = {
        "issuer": issuer,
        "authorization_endpoint": base + "/authorize",
        "token_endpoint": base + "/token",
        "revocation_endpoint": base + "/revoke",
        "introspection_endpoint": base + "/introspect",
        "userinfo_endpoint": base + "/userinfo",
        "jwks_uri": base + "/jwks",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_methods_supported": methods,
        "scopes_supported": list(settings.scopes_supported),
        "claims_supported": list(_CLAIMS_SUPPORTED),
        "id_token_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": (
            settings.advertise_iss_parameter and not settings.templated_issuer
        ),
    }
    return json_response(200, metadata)


def jwks(ctx: Context, request: Request) -> Response:
    """The JWK Set, newest key first."""
    return json_response(200, ctx.provider.jwks())
