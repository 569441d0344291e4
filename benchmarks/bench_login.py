"""5. A whole loopback login against the TestProvider, with the HTTP-following browser.

Every login: bind a loopback listener on a free port, build the authorization URL,
hand it to ``HttpFollowingBrowser`` (which follows the provider's redirect to the
listener from its own thread), take the one callback, exchange the code. Timed from
making the client until the token is in hand; the rounds interleave the clients.

The clients use one confidential client (``client_secret_basic``), because
google-auth-oauthlib insists on a client secret, and scope ``profile email`` (no
id_token, so nobody validates one); pkceflow's OpenID variant (discovery once per
process, id_token signature and claims checked) is reported on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import re
import time
import warnings
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from benchmarks._common import Row, emit, fmt_ms, log, median, row
from benchmarks._provider import ProviderProcess
from pkceflow.settings import Interaction

CLIENT_ID = "bench-confidential"
CLIENT_SECRET = "bench-confidential-secret"
SCOPE = "profile email"
GOAL = 0.6
_URL = re.compile(r"http://\S+/authorize\?\S+")


class _UrlFollower(io.StringIO):
    """Standard output for google-auth-oauthlib: opens the URL it prints in the browser."""

    def __init__(self, browser: Any) -> None:
        super().__init__()
        self._browser = browser

    def write(self, text: str) -> int:
        found = _URL.search(text)
        if found:
            self._browser.open(found.group(0))
        return len(text)


class _CallbackHandler(BaseHTTPRequestHandler):
    """A hand-written redirect listener, as Authlib's documentation leaves it to you."""

    def do_GET(self) -> None:
        self.server.callback_path = self.path  # type: ignore[attr-defined]
        body = b"<!doctype html><p>Signed in. You can close this tab.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_logins(provider: ProviderProcess) -> dict[str, Callable[[Any], str]]:
    """{label: login(browser) -> access token}."""
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # requests-oauthlib, loopback provider
    os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = "1"
    warnings.simplefilter("ignore")
    from authlib.common.security import generate_token  # type: ignore[import-untyped, import-not-found, unused-ignore]
    from authlib.integrations.requests_client import (  # type: ignore[import-untyped, import-not-found, unused-ignore]
        OAuth2Session,
    )
    from google_auth_oauthlib.flow import InstalledAppFlow  # type: ignore[import-untyped, import-not-found, unused-ignore]

    from pkceflow import Client

    auth_url = provider["authorization_endpoint"]
    token_url = provider["token_endpoint"]

    def pkceflow_login(browser: Any) -> str:
        client = Client(
            CLIENT_ID,
            client_secret=CLIENT_SECRET,
            authorization_url=auth_url,
            token_url=token_url,
            scope=SCOPE,
            browser=browser,
            store="memory",
            interaction=Interaction(paste=False, timeout=30.0),
        )
        return client.login().access_token

    def pkceflow_oidc_login(browser: Any) -> str:
        client = Client.from_issuer(
            provider["issuer"],
            CLIENT_ID,
            client_secret=CLIENT_SECRET,
            scope="openid " + SCOPE,
            browser=browser,
            store="memory",
            interaction=Interaction(paste=False, timeout=30.0),
        )
        return client.login().access_token

    def authlib_login(browser: Any) -> str:
        server = HTTPServer(("127.0.0.1", 0), _CallbackHandler)
        try:
            redirect = f"http://127.0.0.1:{server.server_address[1]}/callback"
            session = OAuth2Session(
                CLIENT_ID,
                CLIENT_SECRET,
                redirect_uri=redirect,
                scope=SCOPE,
                code_challenge_method="S256",
            )
            verifier = generate_token(64)
            url, _state = session.create_authorization_url(auth_url, code_verifier=verifier)
            browser.open(url)
            server.timeout = 30.0
            server.handle_request()
            path = server.callback_path  # type: ignore[attr-defined]
            token = session.fetch_token(
                token_url,
                authorization_response=f"http://127.0.0.1:{server.server_address[1]}{path}",
                code_verifier=verifier,
            )
            return str(token["access_token"])
        finally:
            server.server_close()

    def google_login(browser: Any) -> str:
        flow = InstalledAppFlow.from_client_config(
            {
                "installed": {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "auth_uri": auth_url,
                    "token_uri": token_url,
                    "redirect_uris": ["http://127.0.0.1"],
                }
            },
            scopes=SCOPE.split(),
        )
        with contextlib.redirect_stdout(_UrlFollower(browser)):
            credentials = flow.run_local_server(
                host="127.0.0.1",
                port=0,
                open_browser=False,
                authorization_prompt_message="{url}",
                success_message="Signed in. You can close this tab.",
                timeout_seconds=30,
            )
        return str(credentials.token)

    return {
        "pkceflow Client.login()": pkceflow_login,
        "pkceflow Client.from_issuer(openid).login(), id_token checked": pkceflow_oidc_login,
        "Authlib OAuth2Session + http.server listener": authlib_login,
        "google-auth-oauthlib InstalledAppFlow.run_local_server": google_login,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=15)
    args = parser.parse_args()
    from pkceflow.testing import DEFAULT_REDIRECT_URIS, HttpFollowingBrowser

    with ProviderProcess() as provider:
        provider.call(
            "add_client",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uris=[*DEFAULT_REDIRECT_URIS, "http://127.0.0.1/"],
        )
        logins = make_logins(provider)
        times: dict[str, list[float]] = {label: [] for label in logins}
        rng = random.Random(11)
        labels = list(logins)
        for round_ in range(args.logins + 1):  # round 0 warms up (imports, discovery cache)
            rng.shuffle(labels)
            for label in labels:
                browser = HttpFollowingBrowser(timeout=10.0)
                start = time.perf_counter()
                token = logins[label](browser)
                elapsed = time.perf_counter() - start
                browser.wait(timeout=10.0)
                if not token:
                    raise RuntimeError(f"{label}: no access token")
                if round_:
                    times[label].append(elapsed)
        log(f"login: {args.logins} logins each, token requests: {provider.call('count')}")
    medians = {label: median(values) for label, values in times.items()}
    peers = {k: v for k, v in medians.items() if not k.startswith("pkceflow")}
    best_peer = min(peers, key=lambda k: peers[k])
    rows: list[Row] = []
    for label, value in medians.items():
        ours = label == "pkceflow Client.login()"
        rows.append(
            row(
                "5 loopback login",
                label,
                fmt_ms(value),
                versus=f"best peer ({best_peer.split()[0]}) {fmt_ms(peers[best_peer])}",
                ratio=value / peers[best_peer],
                goal=f"<= {GOAL:g}x" if ours else "",
                met=(value / peers[best_peer] <= GOAL) if ours else None,
                note=f"median of {args.logins}, min {fmt_ms(min(times[label]))}",
            )
        )
    emit(rows)


if __name__ == "__main__":
    main()
