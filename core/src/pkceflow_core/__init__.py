"""pkceflow-core: OAuth 2.0 Authorization Code + PKCE without I/O.

``__all__`` is the whole public API of the package, and these modules are public
too: ``errors`` (the one error hierarchy), ``ports`` (what adapters implement),
``steps`` (the rules as steps, for runners of one's own), ``async_driver``,
``hookspecs`` (the plugin contract; imports pluggy) and ``oidc`` (id_token
validation; imports PyJWT). Modules named with a leading underscore are internal.
Names are imported on first use, so a program that needs ``TokenSet`` does not load
the flow machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    AuthorizationError as AuthorizationError,
)
from .errors import (
    CallbackError as CallbackError,
)
from .errors import (
    CallbackTimeoutError as CallbackTimeoutError,
)
from .errors import (
    DuplicateParameterError as DuplicateParameterError,
)
from .errors import (
    FlowStateError as FlowStateError,
)
from .errors import (
    IdentityChangedError as IdentityChangedError,
)
from .errors import (
    IdTokenError as IdTokenError,
)
from .errors import (
    IdTokenRule as IdTokenRule,
)
from .errors import (
    InsecureEndpointError as InsecureEndpointError,
)
from .errors import (
    InvalidResponseError as InvalidResponseError,
)
from .errors import (
    IssuerMismatchError as IssuerMismatchError,
)
from .errors import (
    LoginEndedError as LoginEndedError,
)
from .errors import (
    LoginRequiredError as LoginRequiredError,
)
from .errors import (
    MetadataError as MetadataError,
)
from .errors import (
    MissingCodeError as MissingCodeError,
)
from .errors import (
    MissingExtraError as MissingExtraError,
)
from .errors import (
    MissingIssuerError as MissingIssuerError,
)
from .errors import (
    MissingStateError as MissingStateError,
)
from .errors import (
    PkceflowError as PkceflowError,
)
from .errors import (
    RefreshInDoubtError as RefreshInDoubtError,
)
from .errors import (
    RestoreError as RestoreError,
)
from .errors import (
    ServerError as ServerError,
)
from .errors import (
    StateMismatchError as StateMismatchError,
)
from .errors import (
    StoreError as StoreError,
)
from .errors import (
    TemporarilyUnavailableError as TemporarilyUnavailableError,
)
from .errors import (
    TokenError as TokenError,
)
from .errors import (
    TransportError as TransportError,
)
from .errors import (
    UsageError as UsageError,
)

if TYPE_CHECKING:
    from ._authorization_url import (
        ExtraParams as ExtraParams,
    )
    from ._client_auth import (
        AuthMethod as AuthMethod,
    )
    from ._client_auth import (
        ClientConfig as ClientConfig,
    )
    from ._driver import (
        Driver as Driver,
    )
    from ._driver import (
        discover as discover,
    )
    from ._driver import (
        discover_with_lifetime as discover_with_lifetime,
    )
    from ._endpoints import (
        check_endpoint as check_endpoint,
    )
    from ._endpoints import (
        is_loopback_host as is_loopback_host,
    )
    from ._flow import (
        TRANSITIONS as TRANSITIONS,
    )
    from ._flow import (
        AuthorizationCodeFlow as AuthorizationCodeFlow,
    )
    from ._flow import (
        FlowEvent as FlowEvent,
    )
    from ._flow import (
        FlowState as FlowState,
    )
    from ._http import (
        HttpRequest as HttpRequest,
    )
    from ._http import (
        HttpResponse as HttpResponse,
    )
    from ._http import (
        freshness_lifetime as freshness_lifetime,
    )
    from ._http import (
        retry_after as retry_after,
    )
    from ._metadata import (
        ServerMetadata as ServerMetadata,
    )
    from ._metadata import (
        discovery_requests as discovery_requests,
    )
    from ._metadata import (
        metadata_from_document as metadata_from_document,
    )
    from ._metadata import (
        parse_metadata as parse_metadata,
    )
    from ._pkce import (
        Pkce as Pkce,
    )
    from ._providers import (
        ProviderPreset as ProviderPreset,
    )
    from ._quirks import (
        Quirks as Quirks,
    )
    from ._scope import (
        normalize_scope as normalize_scope,
    )
    from ._token_request import (
        build_refresh_request as build_refresh_request,
    )
    from ._token_request import (
        build_revocation_request as build_revocation_request,
    )
    from ._token_request import (
        check_revocation_response as check_revocation_response,
    )
    from ._token_response import (
        parse_token_response as parse_token_response,
    )
    from ._tokens import (
        TokenSet as TokenSet,
    )
    from .async_driver import (
        AsyncDriver as AsyncDriver,
    )
    from .async_driver import (
        discover_async as discover_async,
    )
    from .ports import (
        BrowserLauncher as BrowserLauncher,
    )
    from .ports import (
        CallbackReply as CallbackReply,
    )
    from .ports import (
        Events as Events,
    )
    from .ports import (
        RedirectListener as RedirectListener,
    )
    from .ports import (
        TokenStore as TokenStore,
    )
    from .ports import (
        Transport as Transport,
    )
    from .steps import (
        Policy as Policy,
    )

#: The lazily imported names, by the module they come from: the one list of them.
#: (The imports above say the same to type checkers; tests/core/test_import.py checks
#: that the two agree.)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "_authorization_url": ("ExtraParams",),
    "_client_auth": (
        "AuthMethod",
        "ClientConfig",
    ),
    "_driver": (
        "Driver",
        "discover",
        "discover_with_lifetime",
    ),
    "_endpoints": (
        "check_endpoint",
        "is_loopback_host",
    ),
    "_flow": (
        "TRANSITIONS",
        "AuthorizationCodeFlow",
        "FlowEvent",
        "FlowState",
    ),
    "_http": (
        "HttpRequest",
        "HttpResponse",
        "freshness_lifetime",
        "retry_after",
    ),
    "_metadata": (
        "ServerMetadata",
        "discovery_requests",
        "metadata_from_document",
        "parse_metadata",
    ),
    "_pkce": ("Pkce",),
    "_providers": ("ProviderPreset",),
    "_quirks": ("Quirks",),
    "_scope": ("normalize_scope",),
    "_token_request": (
        "build_refresh_request",
        "build_revocation_request",
        "check_revocation_response",
    ),
    "_token_response": ("parse_token_response",),
    "_tokens": ("TokenSet",),
    "async_driver": (
        "AsyncDriver",
        "discover_async",
    ),
    "ports": (
        "BrowserLauncher",
        "CallbackReply",
        "Events",
        "RedirectListener",
        "TokenStore",
        "Transport",
    ),
    "steps": ("Policy",),
}

_LAZY = {name: module for module, names in _EXPORTS.items() for name in names}

#: The whole public API: the error classes above and every lazily imported name.
__all__ = sorted([*(name for name in dir() if name.endswith("Error")), "IdTokenRule", *_LAZY])

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pkceflow_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
