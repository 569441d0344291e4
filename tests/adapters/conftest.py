"""Fixtures for the adapter tests: an isolated PKCEFLOW_HOME, the test provider, clients.

The pkceflow.testing plugin's fixtures are imported here too, so these tests also run
where its ``pytest11`` entry point is not installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pluggy
import pytest

from pkceflow import Client
from pkceflow.settings import HttpOptions, Interaction
from pkceflow.testing import PUBLIC_CLIENT_ID, HttpFollowingBrowser, TestProvider
from pkceflow.testing.pytest_plugin import (
    pkceflow_browser,
    pkceflow_provider,
    pkceflow_provider_factory,
)
from pkceflow.transport import Urllib3Transport
from pkceflow_core import ServerMetadata
from tests.support.fixtures import pkceflow_home, plugin_manager

from .support import WAIT

__all__ = [
    "MakeClient",
    "pkceflow_browser",
    "pkceflow_home",
    "pkceflow_provider",
    "pkceflow_provider_factory",
    "plugin_manager",
]

MakeClient = Callable[..., Client]


def provider_metadata(provider: TestProvider) -> ServerMetadata:
    """What discovery would say of ``provider`` (so id_tokens are validated)."""
    return ServerMetadata(
        issuer=provider.issuer,
        authorization_endpoint=provider.authorization_endpoint,
        token_endpoint=provider.token_endpoint,
        revocation_endpoint=provider.revocation_endpoint,
        jwks_uri=provider.jwks_uri,
        authorization_response_iss_parameter_supported=provider.settings.advertise_iss_parameter,
    )


def close_client(client: Client) -> None:
    """Close the pooled connections of a client's urllib3 transport."""
    transport = client.transport
    if isinstance(transport, Urllib3Transport):
        transport.close()


@pytest.fixture
def provider(pkceflow_provider: TestProvider) -> TestProvider:
    """A running TestProvider on 127.0.0.1 (strict, refresh token rotation on)."""
    return pkceflow_provider


@pytest.fixture
def browser(pkceflow_browser: HttpFollowingBrowser) -> HttpFollowingBrowser:
    """A headless browser that approves the provider's consent."""
    return pkceflow_browser


@pytest.fixture
def make_client(
    provider: TestProvider, browser: HttpFollowingBrowser, plugin_manager: pluggy.PluginManager
) -> Iterator[MakeClient]:
    """Make Clients wired to ``provider``, ``browser`` and the built-in adapters.

    The server is ``provider``'s metadata unless ``server`` or ``token_url`` is given.
    Keyword arguments override the defaults; transports are closed after the test.
    """
    clients: list[Client] = []

    def make(client_id: str = PUBLIC_CLIENT_ID, **kwargs: Any) -> Client:
        if "server" not in kwargs and "token_url" not in kwargs:
            kwargs["server"] = provider_metadata(provider)
        kwargs.setdefault("browser", browser)
        kwargs.setdefault("plugin_manager", plugin_manager)
        kwargs.setdefault("interaction", Interaction(paste=False, timeout=WAIT))
        kwargs.setdefault("http", HttpOptions(timeout=WAIT))
        client = Client(client_id, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        close_client(client)


@pytest.fixture
def client(make_client: MakeClient) -> Client:
    """A public client of ``provider`` asking for ``openid offline_access``."""
    return make_client(scope="openid offline_access")
