"""Fixtures for the end-to-end suite: oidc-provider servers and Debian's Chromium.

Servers are started once per session and configuration (see ``oidc_provider_factory``);
Chromium is launched once per session and each test gets a fresh browser context.
Missing prerequisites skip these tests locally and fail them when CI=true.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from tests.support.browsers import chromium, loopback_context

from .harness import (
    DEFAULT_ACCESS_TOKEN_TTL,
    E2E_DIR,
    LoopbackCallbackServer,
    OidcProviderServer,
    ServerPool,
    _missing,
    require_chromium,
    require_oidc_provider,
)
from .servers import SERVER_NAMES, ServerNotWritten, load
from .servers.base import RealServer
from .support import PkceflowCli, RecordingTransport

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright


class ProviderFactory(Protocol):
    """``oidc_provider_factory(always_issue_refresh=..., access_token_ttl=..., fresh=...)``."""

    def __call__(
        self,
        *,
        always_issue_refresh: bool = False,
        access_token_ttl: int = DEFAULT_ACCESS_TOKEN_TTL,
        fresh: bool = False,
    ) -> OidcProviderServer: ...


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/e2e carries the ``e2e`` marker (``-m "not e2e"`` skips them)."""
    for item in items:
        if E2E_DIR in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def oidc_provider_factory() -> Iterator[ProviderFactory]:
    """Starts (or reuses) a server per configuration; all are stopped at session end.

    ``fresh=True`` always starts a new server (still stopped at session end)."""
    require_oidc_provider()
    pool = ServerPool()
    try:
        yield pool.get
    finally:
        pool.close()


@pytest.fixture(scope="session")
def oidc_provider(oidc_provider_factory: ProviderFactory) -> OidcProviderServer:
    """The default server: oidc-provider's own refresh-token policy (offline_access with
    prompt=consent), access tokens valid for an hour."""
    return oidc_provider_factory()


@pytest.fixture(scope="session")
def oidc_provider_refresh(oidc_provider_factory: ProviderFactory) -> OidcProviderServer:
    """A server that issues a refresh token on every authorization_code grant (rotation on)."""
    return oidc_provider_factory(always_issue_refresh=True)


@pytest.fixture(scope="session")
def oidc_provider_short_ttl(
    oidc_provider_factory: ProviderFactory,
) -> Callable[[int], OidcProviderServer]:
    """``oidc_provider_short_ttl(seconds)``: a server whose access tokens live that long
    (refresh tokens always issued, so a test can refresh after expiry)."""

    def start(access_token_ttl: int) -> OidcProviderServer:
        return oidc_provider_factory(always_issue_refresh=True, access_token_ttl=access_token_ttl)

    return start


@pytest.fixture(scope="session")
def oidc_provider_default_short_ttl(oidc_provider_factory: ProviderFactory) -> OidcProviderServer:
    """oidc-provider's own refresh-token policy (offline_access with prompt=consent) and
    access tokens that live 2 s: what happens when one expires without a refresh token."""
    return oidc_provider_factory(access_token_ttl=2)


@pytest.fixture(scope="session", params=SERVER_NAMES, ids=SERVER_NAMES)
def real_server(request: pytest.FixtureRequest) -> Iterator[RealServer]:
    """Each real server of tests/e2e/servers/, started once per session (pytest runs the
    tests of one server before starting the next) and stopped at the end."""
    name: str = request.param
    try:
        start, require = load(name)
    except ServerNotWritten as missing:
        _missing(str(missing))
        raise  # unreachable: _missing skips or fails
    require()
    server = start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def callback_server() -> Iterator[LoopbackCallbackServer]:
    """A loopback http.server on 127.0.0.1 and a free port recording the redirect."""
    with LoopbackCallbackServer() as server:
        yield server


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    try:
        yield manager
    finally:
        manager.stop()


@pytest.fixture(scope="session")
def chromium_browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Debian's /usr/bin/chromium, headless, for the session; tests use a fresh context each."""
    with chromium(playwright_instance) as browser:
        yield browser


@pytest.fixture
def chromium_context(chromium_browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context (no cookies) whose pages can reach loopback hosts only.

    Requests to any other host are aborted, and make the test fail at teardown."""
    with loopback_context(chromium_browser) as (context, blocked):
        yield context
    if blocked:
        pytest.fail(f"a page tried to reach non-loopback hosts: {blocked}", pytrace=False)


@pytest.fixture
def chromium_page(chromium_context: BrowserContext) -> Page:
    """A new page in a fresh context."""
    return chromium_context.new_page()


# -- pkceflow itself -------------------------------------------------------------------------


@pytest.fixture
def transport() -> Iterator[RecordingTransport]:
    """pkceflow's real Urllib3Transport, recording every request it sends; closed after."""
    from pkceflow.transport import Urllib3Transport

    inner = Urllib3Transport(timeout=10.0)
    try:
        yield RecordingTransport(inner)
    finally:
        inner.close()


@pytest.fixture
def cli(tmp_path: Path) -> PkceflowCli:
    """The ``pkceflow`` console script with PKCEFLOW_HOME in tmp_path (see support.py)."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    return PkceflowCli(home)
