"""pkceflow-core: OAuth 2.0 Authorization Code + PKCE without I/O.

The names below are the whole public API; modules not listed here are internal.
Names are imported on first use, so a program that needs ``TokenSet`` does not load
the flow machinery; ``pkceflow_core.hookspecs`` (pluggy) and ``pkceflow_core.oidc``
(PyJWT) are imported only by those who use them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    AuthorizationError,
    CallbackError,
    CallbackTimeoutError,
    DuplicateParameterError,
    FlowStateError,
    IdentityChangedError,
    IdTokenAlgorithmError,
    IdTokenAtHashError,
    IdTokenAudienceError,
    IdTokenAuthTimeError,
    IdTokenError,
    IdTokenExpiredError,
    IdTokenIssuedAtError,
    IdTokenIssuerError,
    IdTokenKeyError,
    IdTokenMalformedError,
    IdTokenNonceError,
    IdTokenSignatureError,
    InsecureEndpointError,
    InvalidResponseError,
    IssuerMismatchError,
    JwksError,
    LoginEndedError,
    LoginRequiredError,
    MetadataError,
    MissingCodeError,
    MissingExtraError,
    MissingIssuerError,
    MissingStateError,
    PkceflowError,
    RefreshInDoubtError,
    RestoreError,
    ServerError,
    StateMismatchError,
    StoreError,
    TemporarilyUnavailableError,
    TokenError,
    TransportError,
    UsageError,
)

if TYPE_CHECKING:
    from .client_auth import (
        ClientConfig,
    )
    from .driver import (
        Driver,
        discover,
    )
    from .flow import (
        AuthorizationCodeFlow,
        FlowState,
    )
    from .http import (
        HttpRequest,
        HttpResponse,
    )
    from .metadata import (
        ServerMetadata,
        discovery_requests,
        parse_metadata,
    )
    from .pkce import (
        Pkce,
    )
    from .ports import (
        BrowserLauncher,
        CallbackReply,
        Events,
        RedirectListener,
        TokenStore,
        Transport,
    )
    from .providers import (
        ProviderPreset,
    )
    from .quirks import (
        Quirks,
    )
    from .token_request import (
        build_refresh_request,
        build_revocation_request,
        check_revocation_response,
    )
    from .token_response import (
        parse_token_response,
    )
    from .tokens import (
        TokenSet,
    )

__all__ = [
    "AuthorizationCodeFlow",
    "AuthorizationError",
    "BrowserLauncher",
    "CallbackError",
    "CallbackReply",
    "CallbackTimeoutError",
    "ClientConfig",
    "Driver",
    "DuplicateParameterError",
    "Events",
    "FlowState",
    "FlowStateError",
    "HttpRequest",
    "HttpResponse",
    "IdTokenAlgorithmError",
    "IdTokenAtHashError",
    "IdTokenAudienceError",
    "IdTokenAuthTimeError",
    "IdTokenError",
    "IdTokenExpiredError",
    "IdTokenIssuedAtError",
    "IdTokenIssuerError",
    "IdTokenKeyError",
    "IdTokenMalformedError",
    "IdTokenNonceError",
    "IdTokenSignatureError",
    "IdentityChangedError",
    "InsecureEndpointError",
    "InvalidResponseError",
    "IssuerMismatchError",
    "JwksError",
    "LoginEndedError",
    "LoginRequiredError",
    "MetadataError",
    "MissingCodeError",
    "MissingExtraError",
    "MissingIssuerError",
    "MissingStateError",
    "Pkce",
    "PkceflowError",
    "ProviderPreset",
    "Quirks",
    "RedirectListener",
    "RefreshInDoubtError",
    "RestoreError",
    "ServerError",
    "ServerMetadata",
    "StateMismatchError",
    "StoreError",
    "TemporarilyUnavailableError",
    "TokenError",
    "TokenSet",
    "TokenStore",
    "Transport",
    "TransportError",
    "UsageError",
    "build_refresh_request",
    "build_revocation_request",
    "check_revocation_response",
    "discover",
    "discovery_requests",
    "parse_metadata",
    "parse_token_response",
]

__version__ = "0.1.0"

_LAZY = {
    "ClientConfig": "client_auth",
    "Driver": "driver",
    "discover": "driver",
    "AuthorizationCodeFlow": "flow",
    "FlowState": "flow",
    "HttpRequest": "http",
    "HttpResponse": "http",
    "ServerMetadata": "metadata",
    "discovery_requests": "metadata",
    "parse_metadata": "metadata",
    "Pkce": "pkce",
    "BrowserLauncher": "ports",
    "CallbackReply": "ports",
    "Events": "ports",
    "RedirectListener": "ports",
    "TokenStore": "ports",
    "Transport": "ports",
    "ProviderPreset": "providers",
    "Quirks": "quirks",
    "build_refresh_request": "token_request",
    "build_revocation_request": "token_request",
    "check_revocation_response": "token_request",
    "parse_token_response": "token_response",
    "TokenSet": "tokens",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pkceflow_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
