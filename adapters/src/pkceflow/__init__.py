"""pkceflow: OAuth 2.0 Authorization Code + PKCE for native and command-line programs.

    from pkceflow import Client

    client = Client("client-id", authorization_url="https://...", token_url="https://...")
    client.login()
    client.token()

Errors are the core's (``pkceflow.PkceflowError`` and its subclasses). Adapters
live in their own modules (``pkceflow.transport``, ``pkceflow.loopback``,
``pkceflow.file_store`` ...). Names are imported on first use, so that
``pkceflow token`` and programs that need one name do not pay for the rest.
"""

from __future__ import annotations

import importlib

# Not typing.TYPE_CHECKING: typing alone would double what ``pkceflow token`` imports.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pkceflow_core import (
        AuthorizationError,
        CallbackError,
        CallbackTimeoutError,
        Events,
        IdTokenError,
        LoginRequiredError,
        PkceflowError,
        ServerError,
        StoreError,
        TokenError,
        TokenSet,
        TransportError,
        UsageError,
    )

    from .async_client import AsyncClient
    from .client import Client
    from .settings import HttpOptions, IdTokenOptions, Interaction, Redirect, Settings

__all__ = [
    "AsyncClient",
    "AuthorizationError",
    "CallbackError",
    "CallbackTimeoutError",
    "Client",
    "Events",
    "HttpOptions",
    "IdTokenError",
    "IdTokenOptions",
    "Interaction",
    "LoginRequiredError",
    "PkceflowError",
    "Redirect",
    "ServerError",
    "Settings",
    "StoreError",
    "TokenError",
    "TokenSet",
    "TransportError",
    "UsageError",
]

__version__ = "0.1.0"


#: The names pkceflow defines itself, and the module each comes from.
_OWN = {
    "AsyncClient": "async_client",
    "Client": "client",
    "HttpOptions": "settings",
    "IdTokenOptions": "settings",
    "Interaction": "settings",
    "Redirect": "settings",
    "Settings": "settings",
}


def __getattr__(name: str) -> Any:
    module = _OWN.get(name)
    if module is not None:
        return getattr(importlib.import_module(f".{module}", __name__), name)
    if name in __all__:
        return getattr(importlib.import_module("pkceflow_core"), name)
    raise AttributeError(f"module 'pkceflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
