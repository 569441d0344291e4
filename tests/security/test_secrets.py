"""No secret reaches a log, a message, an event or a profile, even from a reflecting server.

A whole session (a login whose exchange the server answers by echoing the request, a
real login, refreshes, a refresh answered with an echo in JSON and one in HTML, status,
userinfo, logout) runs through the library with every logger at DEBUG (urllib3's too)
and through the ``pkceflow`` command with ``--debug``. The access, refresh and id
tokens, the authorization code, the PKCE verifier and the client secret, gathered from
the provider's and the proxy's records and the results, must appear nowhere: not in
clear, not percent-encoded, not in base64 (nor as the Basic credentials). Only
``token_received`` and ``token_changed`` carry a TokenSet, and only its repr is checked.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pluggy
import pytest

from pkceflow import Client
from pkceflow.file_store import FileStore
from pkceflow.settings import HttpOptions
from pkceflow.testing import (
    CONFIDENTIAL_CLIENT_ID,
    CONFIDENTIAL_CLIENT_SECRET,
    HttpFollowingBrowser,
    TestProvider,
)
from pkceflow_core import (
    Events,
    InvalidResponseError,
    LoginRequiredError,
    PkceflowError,
    ServerMetadata,
    TokenError,
    TokenSet,
)
from tests.support.cli import Cli
from tests.support.raw_http import RawServer, Request, answer

from .support import (
    PROFILE,
    WAIT,
    HookRecorder,
    LogCollector,
    ReflectingProxy,
    Secrets,
    basic_auth_forms,
    exception_texts,
    new_client,
)

CLIENT_ID = CONFIDENTIAL_CLIENT_ID
SECRET = CONFIDENTIAL_CLIENT_SECRET
EXPECTED_KINDS = {"access_token", "refresh_token", "id_token", "code", "code_verifier"}


class RecordingEvents(Events):
    """The driver's events as text; TokenSets by repr only (they carry tokens on purpose)."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.names: list[str] = []

    def _note(self, name: str, *values: object) -> None:
        self.names.append(name)
        self.texts += [f"{name} {value!r} {value}" for value in values]

    def authorization_url(self, url: str) -> None:
        self._note("authorization_url", url)

    def callback_received(self) -> None:
        self._note("callback_received")

    def token_received(self, key: str, tokens: TokenSet) -> None:
        self.names.append("token_received")
        self.texts.append(f"token_received {key} {tokens!r}")

    def refresh_done(self, key: str, expires_at: float | None) -> None:
        self._note("refresh_done", key, expires_at)

    def token_changed(self, key: str, tokens: TokenSet) -> None:
        self.names.append("token_changed")
        self.texts.append(f"token_changed {key} {tokens!r}")

    def error(self, key: str, error: PkceflowError) -> None:
        self.names.append("error")
        self.texts += [key, *exception_texts(error)]


@pytest.fixture
def proxy(provider: TestProvider) -> Iterator[ReflectingProxy]:
    with ReflectingProxy(provider.issuer) as running:
        yield running
    assert not running.errors, "\n".join(running.errors)


def gather(provider: TestProvider, proxy: ReflectingProxy, *sets: TokenSet) -> Secrets:
    """Every secret of the run, from the provider's and the proxy's records."""
    found = Secrets()
    for recorded in provider.requests:
        if recorded.endpoint in ("token", "revoke", "introspect"):
            found.add_form_values(recorded.form)
    for request in proxy.requests:
        found.add_form_values(request.form())
    for path, body in proxy.responses:
        if path.endswith("/token"):
            found.add_token_response(body)
    for info in provider.tokens():
        found.add(f"{info.kind}_token", info.token)
    for tokens in sets:
        found.add("access_token", tokens.access_token)
        found.add("refresh_token", tokens.refresh_token)
        found.add("id_token", tokens.id_token)
    found.add("client_secret", SECRET)
    found.add_form("client_secret_basic", basic_auth_forms(CLIENT_ID, SECRET))
    return found


def listener_pages(browser: HttpFollowingBrowser, provider: TestProvider) -> str:
    """The pages pkceflow's listener served (the provider's own pages are not ours)."""
    return "\n".join(r.text for r in browser.responses if not r.url.startswith(provider.origin))


# --------------------------------------------------------------------------- the library


def test_a_library_session_leaks_no_secret_even_to_a_reflecting_server(
    provider: TestProvider,
    proxy: ReflectingProxy,
    plugin_manager: pluggy.PluginManager,
    store: FileStore,
    capfd: pytest.CaptureFixture[str],
) -> None:
    server = ServerMetadata(
        issuer=provider.issuer,
        authorization_endpoint=provider.authorization_endpoint,
        token_endpoint=proxy.url("/token"),
        revocation_endpoint=proxy.url("/revoke"),
        userinfo_endpoint=proxy.url("/userinfo"),
        jwks_uri=provider.jwks_uri,
        authorization_response_iss_parameter_supported=True,
    )
    browser = HttpFollowingBrowser(timeout=WAIT)
    events = RecordingEvents()
    hooks = HookRecorder(plugin_manager)
    errors: list[PkceflowError] = []
    results: list[TokenSet] = []
    status: list[str] = []

    def fails(kind: type[PkceflowError], operation: Callable[[], object]) -> PkceflowError:
        with pytest.raises(kind) as raised:
            operation()
        errors.append(raised.value)
        return raised.value

    with LogCollector() as logs:
        client = new_client(
            CLIENT_ID,
            client_secret=SECRET,
            server=server,
            scope="openid offline_access",
            store=store,
            browser=browser,
            plugin_manager=plugin_manager,
            events=events,
            http=HttpOptions(timeout=WAIT),
        )
        proxy.reflect = 1
        reflected = fails(TokenError, client.login)
        browser.wait(WAIT)
        results.append(client.login())
        browser.wait(WAIT)
        results.append(client.refresh())
        proxy.reflect = 1
        fails(TokenError, client.refresh)
        proxy.reflect_html = 1
        fails(InvalidResponseError, client.refresh)
        stored = client.require_login()
        results.append(stored)
        status += [repr(stored), str(stored), repr(client.stored()), repr(client)]
        status += [repr(client.driver), repr(client.config), repr(client.server)]
        status += [json.dumps(client.userinfo()), repr(client.id_token_claims())]
        assert client.logout() is True
        fails(LoginRequiredError, client.refresh)
    hooks.close()
    captured = capfd.readouterr()

    found = gather(provider, proxy, *results)
    assert found.kinds() >= EXPECTED_KINDS, found.kinds()
    # The attack was real: the server did hand the code and verifier back to the client.
    assert isinstance(reflected, TokenError)
    assert reflected.error_description is not None
    assert any(v in reflected.error_description for v in found.values["code_verifier"])
    sinks = {
        "log": logs.text,
        "hooks": "\n".join(hooks.texts),
        "events": "\n".join(events.texts),
        "status": "\n".join(status),
        "stdout": captured.out,
        "stderr": captured.err,
        "pages": listener_pages(browser, provider),
    }
    for number, error in enumerate(errors):
        sinks[f"error {number} {type(error).__name__}"] = "\n".join(exception_texts(error))
    assert logs.lines, "no log record was collected"
    assert any(line.startswith("DEBUG urllib3") for line in logs.lines)
    assert "pkceflow_error" in hooks.names
    assert {"authorization_url", "callback_received", "refresh_done", "error"} <= set(events.names)
    assert found.leaks(sinks) == []


# --------------------------------------------------------------------------- reflected elsewhere


Shape = Callable[[str, str], tuple[int, bytes]]


def _json(status: int, payload: object) -> tuple[int, bytes]:
    return status, json.dumps(payload).encode()


def _split(secret: str) -> str:
    """``secret`` with a control character every 8 characters (removed when shown)."""
    return "\x07".join(secret[i : i + 8] for i in range(0, len(secret), 8))


def _reflect(shape: Shape) -> Callable[[Request, socket.socket], None]:
    def behave(request: Request, conn: socket.socket) -> None:
        refresh_token = request.form().get("refresh_token", "")
        authorization = request.headers.get("authorization", "")
        status, body = shape(refresh_token, authorization)
        answer(status, body)(request, conn)

    return behave


SHAPES: dict[str, Shape] = {
    "error-description": lambda rt, auth: _json(
        400,
        {
            "error": "invalid_grant",
            "error_description": f"refresh_token={rt} Authorization: {auth}",
        },
    ),
    "error-code": lambda rt, auth: _json(400, {"error": rt, "error_description": auth}),
    "error-uri": lambda rt, auth: _json(
        400, {"error": "invalid_request", "error_uri": f"https://x.test/?rt={rt}&a={auth}"}
    ),
    "token-type": lambda rt, auth: _json(200, {"access_token": "a", "token_type": rt}),
    "token-type-basic": lambda rt, auth: _json(200, {"access_token": "a", "token_type": auth}),
    "error-description-split-by-controls": lambda rt, auth: _json(
        400, {"error": "invalid_grant", "error_description": _split(rt) + " " + _split(auth)}
    ),
    "not-json-split-by-controls": lambda rt, auth: (400, f"{_split(rt)} {_split(auth)}".encode()),
    "repeated-member": lambda rt, auth: (200, f'{{"{rt}": 1, "{rt}": 2}}'.encode()),
    "not-json": lambda rt, auth: (400, f"refresh_token={rt}&auth={auth}".encode()),
}


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
def test_a_refresh_token_reflected_into_any_server_string_stays_out_of_the_error(
    shape: Shape,
    plugin_manager: pluggy.PluginManager,
    store: FileStore,
) -> None:
    refresh_token = secrets.token_urlsafe(32)
    stored = TokenSet("a" * 20, expires_at=time.time() - 5, refresh_token=refresh_token)
    store.save(PROFILE, stored)
    with RawServer(_reflect(shape)) as token_endpoint:
        client = Client(
            CLIENT_ID,
            client_secret=SECRET,
            authorization_url=token_endpoint.url("/authorize"),
            token_url=token_endpoint.url("/token"),
            store=store,
            profile=PROFILE,
            plugin_manager=plugin_manager,
        )
        with LogCollector() as logs, pytest.raises(PkceflowError) as raised:
            client.refresh()
        client.close()

    found = Secrets()
    found.add("refresh_token", refresh_token)
    found.add("client_secret", SECRET)
    found.add_form("client_secret_basic", basic_auth_forms(CLIENT_ID, SECRET))
    sinks = {"error": "\n".join(exception_texts(raised.value)), "log": logs.text}
    assert found.leaks(sinks) == []


# --------------------------------------------------------------------------- the command


def test_a_cli_session_with_debug_leaks_no_secret_even_to_a_reflecting_server(
    provider: TestProvider, proxy: ReflectingProxy, tmp_path: Path
) -> None:
    cli = Cli(tmp_path)
    home = cli.home
    outputs: dict[str, str] = {}

    def run(name: str, *args: str, code: int = 0, stdout: bool = True) -> str:
        result = cli.run("--debug", *args, timeout=40.0)
        out, err = result.stdout, result.stderr
        assert result.returncode == code, f"{name}: {result.returncode}\n{err}"
        if stdout:
            outputs[f"{name} stdout"] = out
        outputs[f"{name} stderr"] = err
        return err

    login = ["login", "--profile", PROFILE, "--client-id", CLIENT_ID, "--client-secret", SECRET]
    login += ["--auth-url", provider.authorization_endpoint, "--token-url", proxy.url("/token")]
    login += ["--revocation-url", proxy.url("/revoke"), "--scope", "openid offline_access"]
    login += ["--timeout", "20", "--redirect-path", "/callback"]  # the provider's registration
    proxy.reflect = 1
    shown = run("reflected login", *login, code=4)
    assert "You sent" in shown  # the echo did reach the terminal, secrets elided
    run("login", *login)
    run("refresh", "refresh", "--profile", PROFILE)
    proxy.reflect = 1
    run("reflected refresh", "refresh", "--profile", PROFILE, code=4)
    proxy.reflect_html = 1
    run("reflected refresh in html", "refresh", "--profile", PROFILE, code=1)
    run("status", "status")
    run("status json", "status", "--json")
    run("status of the profile", "status", "--profile", PROFILE)
    run("token", "token", "--profile", PROFILE, stdout=False)
    run("token after a refresh", "token", "--profile", PROFILE, "--min-ttl", "99999", stdout=False)
    # The client secret is kept in the store too, as the "access token" of its own key.
    stored = [p.read_text("utf-8") for p in sorted((home / "tokens").glob(f"{PROFILE}.json"))]
    kept_secret = json.loads((home / "tokens" / f"client-secret@{PROFILE}.json").read_text())
    assert kept_secret["access_token"] == SECRET
    profiles = {
        f"profile {p.name}": p.read_text("utf-8") for p in sorted((home / "profiles").iterdir())
    }
    run("logout", "logout", "--profile", PROFILE)
    profiles |= {
        f"after logout {p.name}": p.read_text("utf-8")
        for p in sorted((home / "profiles").iterdir())
    }
    visits = cli.browser_visits(count=2)  # the two logins
    assert visits, "the fake browser left no record"
    pages = [visit.get("final_page", "") for visit in visits]

    found = gather(provider, proxy)
    for text in stored:
        found.add_token_response(text.encode())
    assert found.kinds() >= EXPECTED_KINDS, found.kinds()
    assert profiles, "the login saved no profile"
    sinks = {**outputs, **profiles, "pages": "\n".join(pages)}
    assert any("DEBUG" in text or "urllib3" in text for text in outputs.values())
    assert found.leaks(sinks) == []
