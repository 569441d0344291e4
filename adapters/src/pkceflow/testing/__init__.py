"""A local OAuth 2.0 / OpenID Connect authorization server for tests and demos.

``pkceflow.testing`` gives tests a real authorization server on loopback and a headless
browser to drive it::

    from pkceflow.testing import HttpFollowingBrowser, TestProvider

    with TestProvider() as provider:
        provider.settings.interactive = True        # login form + consent page
        browser = HttpFollowingBrowser(decision="approve")
        browser.open(authorization_url)              # returns at once
        browser.wait()

`TestProvider` is strict like a real server (exact redirect URI matching with the RFC
8252 loopback port exception, PKCE S256 only, single-use codes, refresh token rotation)
and misbehaves on request through `ProviderSettings` (``provider.settings``), which may be
changed while it runs.  It shares no code with the pkceflow client on purpose.

The pytest plugin (``pkceflow.testing.pytest_plugin``, registered through the ``pytest11``
entry point) provides the ``pkceflow_provider``, ``pkceflow_provider_factory`` and
``pkceflow_browser`` fixtures.  Run ``python -m pkceflow.testing`` for a demo server.

Importing this package is cheap: the server (which needs PyJWT and cryptography) is only
imported when one of its names is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pkceflow.testing.browser import BrowserError, BrowserResponse, HttpFollowingBrowser
    from pkceflow.testing.provider import (
        CONFIDENTIAL_CLIENT_ID,
        CONFIDENTIAL_CLIENT_SECRET,
        DEFAULT_REDIRECT_URIS,
        PUBLIC_CLIENT_ID,
        ProviderSettings,
        RecordedRequest,
        RegisteredClient,
        TestProvider,
        TokenInfo,
    )

__all__ = [
    "CONFIDENTIAL_CLIENT_ID",
    "CONFIDENTIAL_CLIENT_SECRET",
    "DEFAULT_REDIRECT_URIS",
    "PUBLIC_CLIENT_ID",
    "BrowserError",
    "BrowserResponse",
    "HttpFollowingBrowser",
    "ProviderSettings",
    "RecordedRequest",
    "RegisteredClient",
    "TestProvider",
    "TokenInfo",
]

_BROWSER_NAMES = frozenset({"BrowserError", "BrowserResponse", "HttpFollowingBrowser"})


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = "browser" if name in _BROWSER_NAMES else "provider"
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
