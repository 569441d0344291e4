"""pytest fixtures for `pkceflow.testing` (registered through the ``pytest11`` entry point).

- ``pkceflow_provider``: a running `TestProvider` with default settings, stopped after
  the test.  Change ``pkceflow_provider.settings`` inside the test to make it misbehave.
  The test errors at teardown if the provider hit an internal error.
- ``pkceflow_provider_factory``: a callable taking `TestProvider`'s arguments (for an
  issuer path, other clients, IPv6...) that starts providers and stops them afterwards.
- ``pkceflow_browser``: an `HttpFollowingBrowser`, joined after the test.
- ``pkceflow_client``: a `pkceflow.Client` for ``pkceflow_provider``'s public client that
  signs in through ``pkceflow_browser``; ``pkceflow_client.login()`` needs nothing else.

This module imports nothing heavy: the server is imported inside the fixtures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pkceflow.client import Client
    from pkceflow.testing.browser import HttpFollowingBrowser
    from pkceflow.testing.provider import TestProvider

__all__ = [
    "pkceflow_browser",
    "pkceflow_client",
    "pkceflow_provider",
    "pkceflow_provider_factory",
]


def _stop_and_check(provider: TestProvider) -> None:
    provider.stop()
    if provider.errors:
        pytest.fail(
            "the pkceflow test provider hit internal errors:\n" + "\n".join(provider.errors),
            pytrace=False,
        )


@pytest.fixture
def pkceflow_provider_factory() -> Iterator[Callable[..., TestProvider]]:
    """Start `TestProvider` instances with custom arguments; all stop after the test."""
    from pkceflow.testing.provider import TestProvider

    started: list[TestProvider] = []

    def start(*args: Any, **kwargs: Any) -> TestProvider:
        provider = TestProvider(*args, **kwargs).start()
        started.append(provider)
        return provider

    yield start
    for provider in started:
        _stop_and_check(provider)


@pytest.fixture
def pkceflow_provider() -> Iterator[TestProvider]:
    """A running `TestProvider` on 127.0.0.1 with default settings."""
    from pkceflow.testing.provider import TestProvider

    provider = TestProvider().start()
    try:
        yield provider
    finally:
        _stop_and_check(provider)


@pytest.fixture
def pkceflow_browser() -> Iterator[HttpFollowingBrowser]:
    """An `HttpFollowingBrowser` that approves consent as user ``alice``."""
    from pkceflow.testing.browser import HttpFollowingBrowser

    browser = HttpFollowingBrowser()
    yield browser
    # Join the navigations; whether their errors matter is for the test to decide.
    with contextlib.suppress(Exception):
        browser.wait(timeout=5.0)


@pytest.fixture
def pkceflow_client(
    pkceflow_provider: TestProvider, pkceflow_browser: HttpFollowingBrowser
) -> Client:
    """A pkceflow `Client` for ``pkceflow_provider``'s public client, signing in through
    ``pkceflow_browser``, with an in-memory store. ``pkceflow_client.login()`` just works."""
    from pkceflow.client import Client
    from pkceflow.memory_store import MemoryStore
    from pkceflow.settings import Interaction
    from pkceflow.testing.provider import PUBLIC_CLIENT_ID

    return Client.from_issuer(
        pkceflow_provider.issuer,
        PUBLIC_CLIENT_ID,
        scope="openid profile email offline_access",
        browser=pkceflow_browser,
        store=MemoryStore(),
        interaction=Interaction(timeout=30.0),
    )
