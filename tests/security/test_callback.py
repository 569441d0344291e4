"""Hostile requests to the redirect URI, through the real LoopbackListener and Client.login.

The browser fetches the genuine callback from a real TestProvider but does not deliver
it at once: first the hostile variants go to the listener over raw sockets (or are
pasted), while the real login is waiting. A request that cannot be tied to the login is
answered with an error page and does not end the wait; one that can (its state matches)
but is wrong ends the login with a CallbackError and the code is never redeemed
(RFC 6749 4.1.2, 10.12; RFC 9207 2.4; RFC 8252 7.3, 8).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pluggy
import pytest

from pkceflow import Client
from pkceflow.file_store import FileStore
from pkceflow.loopback import LoopbackListener
from pkceflow.settings import HttpOptions
from pkceflow.testing import PUBLIC_CLIENT_ID, HttpFollowingBrowser, TestProvider
from pkceflow_core import (
    AuthorizationError,
    CallbackError,
    CallbackReply,
    CallbackTimeoutError,
    IssuerMismatchError,
    MissingIssuerError,
    ServerMetadata,
)
from pkceflow_core.ports import BrowserLauncher
from tests.support.cli import Cli

from .support import PROFILE, WAIT, ListenerSpy, RawAnswer, deliver, get, new_client

DECOY = "decoy-code-" + "d" * 32
HOSTILE_DESCRIPTION = (
    '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
    " \x1b[2J\x1b]0;title\x07 \x9b31m done"
)


@dataclass
class Genuine:
    """The real callback the provider redirected to, not yet delivered."""

    url: str
    port: int
    path: str
    params: dict[str, str]

    @property
    def target(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.path}?{parts.query}"

    def target_with(self, query: str) -> str:
        return f"{self.path}?{query}"


Script = Callable[[Genuine, LoopbackListener], None]


@dataclass
class ScriptedBrowser:
    """Gets the genuine callback from the provider, then runs ``script`` against the listener."""

    script: Script
    spy: ListenerSpy
    errors: list[BaseException] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def open(self, url: str) -> bool:
        self._thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._thread.start()
        return True

    def _run(self, url: str) -> None:
        try:
            (redirect_uri,) = parse_qs(urlsplit(url).query)["redirect_uri"]
            follower = HttpFollowingBrowser(stop_at=(redirect_uri,), timeout=WAIT)
            follower.open(url)
            follower.wait(WAIT)
            callback = follower.stopped_at
            assert callback is not None, follower.visited
            parts = urlsplit(callback)
            assert parts.port is not None
            params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            self.script(Genuine(callback, parts.port, parts.path, params), self.spy.listener)
        except BaseException as exc:  # reported by join()
            self.errors.append(exc)

    def join(self) -> None:
        assert self._thread is not None
        self._thread.join(WAIT)
        assert not self._thread.is_alive()
        if self.errors:
            raise self.errors[0]


@pytest.fixture
def spy(plugin_manager: pluggy.PluginManager) -> ListenerSpy:
    listeners = ListenerSpy()
    plugin_manager.register(listeners, name="listener-spy")
    return listeners


def metadata(provider: TestProvider, *, iss_supported: bool = True) -> ServerMetadata:
    return ServerMetadata(
        issuer=provider.issuer,
        authorization_endpoint=provider.authorization_endpoint,
        token_endpoint=provider.token_endpoint,
        authorization_response_iss_parameter_supported=iss_supported,
    )


def make_client(
    provider: TestProvider,
    browser: BrowserLauncher,
    store: FileStore,
    plugin_manager: pluggy.PluginManager,
    *,
    timeout: float = WAIT,
    iss_supported: bool = True,
) -> Client:
    return new_client(
        PUBLIC_CLIENT_ID,
        server=metadata(provider, iss_supported=iss_supported),
        store=store,
        browser=browser,
        plugin_manager=plugin_manager,
        timeout=timeout,
        http=HttpOptions(timeout=WAIT),
    )


#: ``scripted(script, **options)``: a ScriptedBrowser that runs ``script``, and a Client
#: (``make_client``'s ``options``) that logs in through it.
ScriptedLogin = Callable[..., tuple[ScriptedBrowser, Client]]


@pytest.fixture
def scripted(
    provider: TestProvider, store: FileStore, plugin_manager: pluggy.PluginManager, spy: ListenerSpy
) -> ScriptedLogin:
    def make(script: Script, **options: Any) -> tuple[ScriptedBrowser, Client]:
        browser = ScriptedBrowser(script, spy)
        return browser, make_client(provider, browser, store, plugin_manager, **options)

    return make


def redeemed_codes(provider: TestProvider) -> list[str]:
    return [r.form.get("code", "") for r in provider.requests if r.endpoint == "token"]


# --------------------------------------------------------------------------- strays


def _query(genuine: Genuine, **changes: str) -> str:
    params = {**genuine.params, "code": DECOY, **changes}
    return urlencode(params)


def _double_encoded(state: str) -> str:
    once = "".join(f"%{ord(c):02X}" for c in state)
    return quote(once, safe="")


def stray_requests(genuine: Genuine) -> dict[str, bytes]:
    """Request lines that carry the login's state in a form that must not be believed."""
    state = genuine.params["state"]
    iss = quote(genuine.params["iss"], safe="")
    path = genuine.path.encode("ascii")
    targets: dict[str, bytes] = {
        "state-repeated": f"{_query(genuine)}&state={state}".encode(),
        "state-missing": f"code={DECOY}&iss={iss}".encode(),
        "state-with-nul": f"code={DECOY}&state={state}%00&iss={iss}".encode(),
        "state-double-percent-encoded": (
            f"code={DECOY}&state={_double_encoded(state)}&iss={iss}".encode()
        ),
        "state-with-overlong-utf8": f"code={DECOY}&state={state}%C0%AE&iss={iss}".encode(),
        "state-plus-as-space": f"code={DECOY}&state={state}+&iss={iss}".encode(),
        "state-percent-20": f"code={DECOY}&state={state}%20&iss={iss}".encode(),
        "state-of-another-login": _query(genuine, state=secrets.token_urlsafe(32)).encode(),
        "query-not-utf8": f"{_query(genuine)}&x=%FF%FE".encode(),
        "query-raw-non-utf8-bytes": _query(genuine).encode() + b"&x=\xff\xfe\xc0\xae",
        "parameters-in-a-fragment": f"#code={DECOY}&state={state}&iss={iss}".encode(),
        "query-of-100-kb": f"{_query(genuine)}&pad={'a' * 100_000}".encode(),
    }
    return {name: b"GET " + path + b"?" + target + b" HTTP/1.1" for name, target in targets.items()}


STRAYS = list(
    stray_requests(Genuine("http://127.0.0.1:1/cb", 1, "/cb", {"state": "s", "iss": "i"}))
)


@pytest.mark.parametrize("variant", STRAYS)
def test_a_callback_whose_state_cannot_be_trusted_does_not_end_the_login(
    variant: str, provider: TestProvider, store: FileStore, scripted: ScriptedLogin
) -> None:
    answers: list[RawAnswer] = []
    codes: list[str] = []

    def script(genuine: Genuine, _listener: LoopbackListener) -> None:
        codes.append(genuine.params["code"])
        answers.append(deliver(genuine.port, stray_requests(genuine)[variant]))
        answers.append(get(genuine.port, genuine.target))
        get(genuine.port, genuine.path + "/done")  # as a browser would: ends the wait

    browser, client = scripted(script)

    tokens = client.login()
    browser.join()

    stray, real = answers
    if variant == "query-of-100-kb":
        # Refused while still reading the head; the answer may be lost to the reset.
        assert stray.status in (431, None), stray
    else:
        assert stray.status == 400, stray
        assert b"Sign-in failed" in stray.body
        assert b"decoy" not in stray.body
    assert real.status == 303
    # Only the genuine code was ever redeemed, once; the decoy never left the client.
    assert redeemed_codes(provider) == codes
    assert store.load(PROFILE) == tokens


def test_parameters_only_in_the_fragment_of_a_pasted_url_are_not_read(
    provider: TestProvider, store: FileStore, scripted: ScriptedLogin
) -> None:
    replies: list[CallbackReply | None] = []

    def script(genuine: Genuine, listener: LoopbackListener) -> None:
        base = genuine.url.split("?", 1)[0]
        # A paste before the wait begins is only queued; feed once it is waiting,
        # so the reply is the verdict.
        deadline = time.monotonic() + 5
        while listener._handle is None and time.monotonic() < deadline:
            time.sleep(0.01)
        # What a person might paste from an implicit-flow style redirect.
        replies.append(listener.feed(f"{base}#{urlsplit(genuine.url).query}"))

    browser, client = scripted(script, timeout=1.5)

    with pytest.raises(CallbackTimeoutError) as raised:
        client.login()
    browser.join()

    (reply,) = replies
    assert reply is not None
    assert (reply.done, reply.ok) == (False, False)
    assert raised.value.rejected == 1
    assert redeemed_codes(provider) == []
    assert store.load(PROFILE) is None


# --------------------------------------------------------------------------- final outcomes


def test_a_callback_with_both_code_and_error_fails_and_redeems_nothing(
    provider: TestProvider, store: FileStore, scripted: ScriptedLogin
) -> None:
    answers: list[RawAnswer] = []

    def script(genuine: Genuine, _listener: LoopbackListener) -> None:
        query = urlencode({**genuine.params, "error": "access_denied"})
        answers.append(get(genuine.port, genuine.target_with(query)))
        # The genuine callback afterwards is too late: the outcome is final.
        answers.append(get(genuine.port, genuine.target))
        answers.append(get(genuine.port, genuine.path + "/done"))

    browser, client = scripted(script)

    with pytest.raises(CallbackError, match="both code and error") as raised:
        client.login()
    browser.join()

    assert type(raised.value) is CallbackError
    both, late, page = answers
    assert both.status == late.status == 303
    assert page.status == 200
    assert b"both code and error" in page.body
    assert redeemed_codes(provider) == []
    assert store.load(PROFILE) is None


def test_an_iss_naming_another_server_is_a_mix_up_and_the_code_is_never_redeemed(
    provider: TestProvider, store: FileStore, plugin_manager: pluggy.PluginManager
) -> None:
    provider.settings.authorization_iss = "wrong"
    browser = HttpFollowingBrowser(timeout=WAIT)
    client = make_client(provider, browser, store, plugin_manager)

    with pytest.raises(IssuerMismatchError):
        client.login()
    browser.wait(WAIT)

    assert provider.count("token") == 0
    assert store.load(PROFILE) is None
    final = browser.final
    assert final is not None
    assert "another authorization server" in final.text


def test_a_missing_iss_when_the_server_promised_one_is_refused_unredeemed(
    provider: TestProvider, store: FileStore, plugin_manager: pluggy.PluginManager
) -> None:
    provider.settings.authorization_iss = "omit"
    browser = HttpFollowingBrowser(timeout=WAIT)
    client = make_client(provider, browser, store, plugin_manager, iss_supported=True)

    with pytest.raises(MissingIssuerError):
        client.login()
    browser.wait(WAIT)

    assert provider.count("token") == 0
    assert store.load(PROFILE) is None


def test_an_iss_swapped_by_hand_is_refused_even_with_the_right_state(
    provider: TestProvider, store: FileStore, scripted: ScriptedLogin
) -> None:
    answers: list[RawAnswer] = []

    def script(genuine: Genuine, _listener: LoopbackListener) -> None:
        query = urlencode({**genuine.params, "iss": provider.issuer + "/other"})
        answers.append(get(genuine.port, genuine.target_with(query)))
        get(genuine.port, genuine.path + "/done")

    browser, client = scripted(script)

    with pytest.raises(IssuerMismatchError):
        client.login()
    browser.join()

    assert [a.status for a in answers] == [303]
    assert provider.count("token") == 0
    assert store.load(PROFILE) is None


# --------------------------------------------------------------------------- provider text


def test_an_error_description_is_escaped_in_the_page_and_stripped_in_the_message(
    provider: TestProvider, store: FileStore, plugin_manager: pluggy.PluginManager
) -> None:
    provider.settings.deny_consent = True
    provider.settings.deny_error_description = HOSTILE_DESCRIPTION
    browser = HttpFollowingBrowser(timeout=WAIT)
    client = make_client(provider, browser, store, plugin_manager)

    with pytest.raises(AuthorizationError) as raised:
        client.login()
    browser.wait(WAIT)

    error = raised.value
    assert error.error == "access_denied"
    assert error.error_description == HOSTILE_DESCRIPTION  # kept as sent, for programs
    message = str(error)
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in message), repr(message)
    assert "<script>" in message  # text, for a terminal; it is the page that escapes it
    page = browser.final
    assert page is not None
    assert page.status == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text
    assert "<img" not in page.text
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "\x1b" not in page.text
    assert "\x07" not in page.text
    assert "\x9b" not in page.text
    assert provider.count("token") == 0
    assert store.load(PROFILE) is None


def test_the_cli_shows_an_error_description_without_control_characters(
    provider: TestProvider, tmp_path: Path
) -> None:
    provider.settings.deny_consent = True
    provider.settings.deny_error_description = HOSTILE_DESCRIPTION
    cli = Cli(tmp_path)

    result = cli.login(provider, profile="evil", scope=None)

    stderr = result.stderr
    assert result.returncode == 3, stderr
    assert result.stdout == ""
    assert "\x1b" not in stderr
    assert "\x07" not in stderr
    assert "\x9b" not in stderr
    (error_line,) = [line for line in stderr.splitlines() if line.startswith("pkceflow: error:")]
    assert "access_denied" in error_line
    assert "[2J" in error_line  # what is left of the sequence is shown as text
    assert provider.count("token") == 0
    assert not cli.profile_path("evil").exists()
