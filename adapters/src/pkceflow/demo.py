"""``pkceflow demo``: a whole login against the built-in test provider, narrated."""

from __future__ import annotations

import sys
import time
from typing import TextIO
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from pkceflow_core import Events, PkceflowError, TokenSet

from .settings import Interaction

__all__ = ["run_demo"]

_ELIDE = {"state", "nonce"}


def _elide(url: str) -> str:
    """The URL with its secret-ish parameters shortened to their first characters."""
    parts = urlsplit(url)
    query = "&".join(
        f"{quote(k)}={quote(v[:6]) + chr(0x2026) if k in _ELIDE else quote(v, safe=':/')}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit(parts._replace(query=query))


def _describe(tokens: TokenSet, now: float) -> str:
    left = tokens.expires_in(now)
    return (
        f"a Bearer access token ({len(tokens.access_token)} characters, kept secret),"
        f" expiring in {int(left)} s"
        if left is not None
        else "a Bearer access token"
    )


class _Narrator(Events):
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.step = 2

    def say(self, text: str) -> None:
        self.step += 1
        self._out.write(f"\n{self.step}. {text}\n")
        self._out.flush()

    def authorization_url(self, url: str) -> None:
        query = dict(parse_qsl(urlsplit(url).query))
        self.say(
            "Made a PKCE code verifier (kept in memory, never sent yet) and its S256"
            f" challenge {query.get('code_challenge')}, a random state and a nonce;"
            " the browser goes to the authorization URL (state and nonce shortened here):\n"
            f"   {_elide(url)}"
        )

    def callback_received(self) -> None:
        self.say(
            "The browser came back to the loopback listener with a code; the state"
            " matched and the RFC 9207 iss named our provider. Exchanging the code"
            " together with the verifier at the token endpoint."
        )

    def refresh_done(self, key: str, expires_at: float | None) -> None:
        left = "" if expires_at is None else f", expiring in {int(expires_at - time.time())} s"
        self.say(f"Refreshed: a new access token{left}.")


def run_demo(*, real_browser: bool = False, out: TextIO | None = None) -> int:
    """Start the test provider, log in, refresh and log out, saying what happens."""
    from .browser import WebBrowserLauncher
    from .client import Client
    from .memory_store import MemoryStore
    from .testing import PUBLIC_CLIENT_ID, HttpFollowingBrowser, TestProvider

    stream = out or sys.stdout
    narrator = _Narrator(stream)
    with TestProvider() as provider:
        provider.settings.interactive = real_browser
        stream.write(f"1. Started pkceflow's local test provider at {provider.issuer}\n")
        browser = WebBrowserLauncher() if real_browser else HttpFollowingBrowser()
        client = Client.from_issuer(
            provider.issuer,
            PUBLIC_CLIENT_ID,
            scope="openid profile email offline_access",
            browser=browser,
            store=MemoryStore(),
            events=narrator,
            interaction=Interaction(timeout=300.0 if real_browser else 30.0),
        )
        server = client.server
        stream.write(
            "\n2. Discovered its endpoints (RFC 8414):\n"
            f"   authorize  {server.authorization_endpoint}\n"
            f"   token      {server.token_endpoint}\n"
            f"   revocation {server.revocation_endpoint}\n"
            f"   S256 supported: {'S256' in (server.code_challenge_methods_supported or ())};"
            f" iss in the redirect (RFC 9207): "
            f"{server.authorization_response_iss_parameter_supported}\n"
        )
        try:
            tokens = client.login()
            narrator.say(
                f"Signed in: {_describe(tokens, time.time())}, a refresh token"
                f" ({'present' if tokens.refresh_token else 'absent'}), an id_token"
                f" ({'present' if tokens.id_token else 'absent'}), scope"
                f" {' '.join(tokens.scope or ())!r}."
            )
            before = tokens.refresh_token
            refreshed = client.refresh()
            rotated = refreshed.refresh_token != before
            stream.write(
                "   The provider rotated the refresh token and pkceflow stored the new one.\n"
                if rotated
                else "   The provider kept the same refresh token.\n"
            )
            revoked = client.logout()
            narrator.say(
                "Logged out: "
                + ("tokens revoked at the provider (RFC 7009)" if revoked else "forgotten")
                + f" and removed from the store; {provider.count('token')} token requests in all."
            )
        except PkceflowError:
            stream.write("\nThe demo failed; the error follows.\n")
            raise
    stream.write("\nDone. Try it against your own provider: pkceflow login --help\n")
    return 0
