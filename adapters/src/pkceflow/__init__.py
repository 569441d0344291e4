"""pkceflow: OAuth 2.0 Authorization Code + PKCE for native and command-line programs.

    from pkceflow import Client

    client = Client("client-id", authorization_url="https://...", token_url="https://...")
    client.login()
    client.token()

Errors are the core's (``pkceflow.PkceflowError`` and its subclasses). Adapters
live in their own modules (``pkceflow.transport``, ``pkceflow.loopback``,
``pkceflow.file_store`` ...) and are imported only when used.
"""

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

from .client import Client

__all__ = [
    "AuthorizationError",
    "CallbackError",
    "CallbackTimeoutError",
    "Client",
    "Events",
    "IdTokenError",
    "LoginRequiredError",
    "PkceflowError",
    "ServerError",
    "StoreError",
    "TokenError",
    "TokenSet",
    "TransportError",
    "UsageError",
]

__version__ = "0.1.0"
