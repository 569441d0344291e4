"""pkceflow through real Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Library: Playwright's sync API belongs to the thread that started it, so ``client.login()``
runs in a worker thread whose BrowserLauncher (:class:`support.QueueBrowser`) only hands
the URL over; the test thread drives Chromium through the login, to pkceflow's listener
and its result page. CLI: ``BROWSER`` runs ``browser_cli.py`` in its ``chromium`` mode,
which launches its own Chromium the same way (``tests.support.browsers``).
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

import pytest

from pkceflow.client import Client
from pkceflow_core import AuthorizationError, TokenSet

from .harness import OidcProviderServer, complete_login, query_params
from .support import PkceflowCli, QueueBrowser, RecordingTransport, Worker, make_client

if TYPE_CHECKING:
    from playwright.sync_api import Page


def _wait_for_result_page(page: Page, landed: str) -> str:
    """pkceflow answers the callback with a 303 to ``<redirect path>/done``; its heading."""
    done = urllib.parse.urlsplit(landed).path.rstrip("/") + "/done"
    page.wait_for_url(
        lambda url: urllib.parse.urlsplit(url).path == done, wait_until="load", timeout=10_000
    )
    return page.inner_text("h1")


def _start_login(
    server: OidcProviderServer, transport: RecordingTransport, scope: str
) -> tuple[Client, QueueBrowser, Worker[TokenSet]]:
    """A Client of ``server``'s public client logging in, in a worker thread, through a
    QueueBrowser: the test drives Chromium to the URL it hands over."""
    browser = QueueBrowser()
    client = make_client(server, transport, browser, scope=scope)
    return client, browser, Worker(client.login, name="e2e-client-login")


def test_library_login_in_chromium(
    oidc_provider: OidcProviderServer, transport: RecordingTransport, chromium_page: Page
) -> None:
    client, browser, login = _start_login(oidc_provider, transport, "openid email profile")
    url = browser.next_url()
    landed = complete_login(chromium_page, url, login="frank")
    assert _wait_for_result_page(chromium_page, landed) == "Signed in"
    # The 303 took the code out of the address bar.
    assert "code=" not in chromium_page.url
    tokens = login.result()

    callback = query_params(landed)
    assert callback["iss"] == oidc_provider.issuer
    assert callback["state"] == query_params(url)["state"]
    introspection = oidc_provider.introspect(tokens.access_token)
    assert introspection["active"] is True
    assert introspection["sub"] == "frank"
    claims = client.id_token_claims()
    assert claims is not None
    assert claims["sub"] == "frank"


def test_library_cancel_in_chromium(
    oidc_provider: OidcProviderServer, transport: RecordingTransport, chromium_page: Page
) -> None:
    client, browser, login = _start_login(oidc_provider, transport, "openid")
    landed = complete_login(chromium_page, browser.next_url(), cancel_at="consent")
    assert _wait_for_result_page(chromium_page, landed) == "Sign-in failed"
    assert "access_denied" in chromium_page.inner_text("body")
    with pytest.raises(AuthorizationError) as excinfo:
        login.result()
    assert excinfo.value.error == "access_denied"
    assert client.stored() is None


def test_cli_login_in_chromium(oidc_provider: OidcProviderServer, cli: PkceflowCli) -> None:
    run = cli.login(oidc_provider, browser="chromium", login="grace")
    assert run.returncode == 0, run
    outcome = run.browser()
    assert outcome["blocked"] == []
    assert "<h1>Signed in</h1>" in outcome.page
    assert outcome.callback_params["iss"] == oidc_provider.issuer

    token = cli.run("token")
    assert token.returncode == 0, token
    access_token = token.stdout.strip()
    introspection = oidc_provider.introspect(access_token)
    assert introspection["active"] is True
    assert introspection["sub"] == "grace"
    assert oidc_provider.userinfo(access_token)["email"] == "grace@example.test"
