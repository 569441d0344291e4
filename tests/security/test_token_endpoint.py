"""Hostile token endpoint answers, through the real Urllib3Transport and a real Client.

The authorization code comes from a real TestProvider (through the real loopback
listener); the token endpoint is a small misbehaving server on loopback. Every answer
must end in the expected PkceflowError subclass and nothing else, the code exchange and
the refresh must reach the server exactly once, a login must store nothing, and a
refresh must leave the stored token set as it was, byte for byte (RFC 6749 5.1-5.2,
RFC 9700 4.11, RFC 8252 8).
"""

from __future__ import annotations

import resource
import secrets
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import attrs
import pluggy
import pytest

from pkceflow import Client
from pkceflow.file_store import FileStore
from pkceflow.settings import Redirect
from pkceflow.testing import PUBLIC_CLIENT_ID, HttpFollowingBrowser, TestProvider
from pkceflow.transport import Urllib3Transport
from pkceflow_core import (
    InvalidResponseError,
    PkceflowError,
    Quirks,
    RefreshInDoubtError,
    ServerMetadata,
    TemporarilyUnavailableError,
    TokenSet,
    TransportError,
)
from tests.support.raw_http import (
    Behaviour,
    RawServer,
    Request,
    StreamStats,
    answer,
    json_answer,
    stream_body,
    truncated_body,
)

from .support import PROFILE, WAIT, new_client

OPS = ("login", "refresh")
MIB = 1 << 20
GOOD = {"access_token": "fresh-access-" + "a" * 24, "token_type": "Bearer", "expires_in": 3600}


def _json_raw(text: str) -> Behaviour:
    return answer(200, text.encode())


def _json_with(**members: object) -> Behaviour:
    return json_answer({**GOOD, **members})


def _json_without(name: str) -> Behaviour:
    return json_answer({k: v for k, v in GOOD.items() if k != name})


@dataclass(frozen=True)
class Case:
    behaviour: Callable[[], Behaviour]
    error: type[PkceflowError]


HTML = b"<!doctype html><html><body><h1>Oops</h1><p>Something went wrong.</p></body></html>"
CASES: dict[str, Case] = {
    "html-error-page-with-200": Case(
        lambda: answer(200, HTML, [("Content-Type", "text/html")]), InvalidResponseError
    ),
    "json-array": Case(lambda: _json_raw('["access_token", "Bearer"]'), InvalidResponseError),
    "json-string": Case(lambda: _json_raw('"access_token"'), InvalidResponseError),
    "json-arrays-1000-deep": Case(lambda: _json_raw("[" * 1000 + "]" * 1000), InvalidResponseError),
    "json-objects-1000-deep": Case(
        lambda: _json_raw('{"a":' * 1000 + "1" + "}" * 1000), InvalidResponseError
    ),
    # Parses, but a member nested ~1000 deep cannot be written to the store again.
    "json-member-nested-990-deep": Case(
        lambda: _json_raw(
            '{"access_token": "a", "token_type": "Bearer", "x": ' + "[" * 990 + "]" * 990 + "}"
        ),
        InvalidResponseError,
    ),
    "missing-access-token": Case(lambda: _json_without("access_token"), InvalidResponseError),
    "empty-access-token": Case(lambda: _json_with(access_token=""), InvalidResponseError),
    "access-token-not-a-string": Case(lambda: _json_with(access_token=42), InvalidResponseError),
    # A token is sent in an Authorization header and printed for shell scripts: a line
    # break in it injects headers (RFC 6749 A.12: access-token = 1*VSCHAR).
    "access-token-with-line-break": Case(
        lambda: _json_with(access_token="abc\r\nX-Injected: 1"), InvalidResponseError
    ),
    "refresh-token-with-control-characters": Case(
        lambda: _json_with(refresh_token="r\x1b[2Jr"), InvalidResponseError
    ),
    # Scopes are shown in the terminal by ``pkceflow status`` (RFC 6749 A.4: NQCHAR).
    "scope-with-terminal-escape": Case(
        lambda: _json_with(scope="openid \x1b]0;pwned\x07"), InvalidResponseError
    ),
    "token-type-mac": Case(lambda: _json_with(token_type="mac"), InvalidResponseError),
    "token-type-dpop": Case(lambda: _json_with(token_type="DPoP"), InvalidResponseError),
    "token-type-missing": Case(lambda: _json_without("token_type"), InvalidResponseError),
    "expires-in-negative": Case(lambda: _json_with(expires_in=-1), InvalidResponseError),
    "expires-in-zero": Case(lambda: _json_with(expires_in=0), InvalidResponseError),
    "expires-in-huge": Case(lambda: _json_with(expires_in=10**12), InvalidResponseError),
    "expires-in-5000-digits": Case(
        lambda: _json_raw(
            '{"access_token": "a", "token_type": "Bearer", "expires_in": ' + "9" * 5000 + "}"
        ),
        InvalidResponseError,
    ),
    "expires-in-float": Case(lambda: _json_with(expires_in=3600.0), InvalidResponseError),
    "expires-in-fraction": Case(lambda: _json_with(expires_in=3599.5), InvalidResponseError),
    "expires-in-digit-string-without-quirk": Case(
        lambda: _json_with(expires_in="3600"), InvalidResponseError
    ),
    "expires-in-non-numeric-string": Case(
        lambda: _json_with(expires_in="soon"), InvalidResponseError
    ),
    "expires-in-boolean": Case(lambda: _json_with(expires_in=True), InvalidResponseError),
    "expires-in-nan": Case(
        lambda: _json_raw('{"access_token": "a", "token_type": "Bearer", "expires_in": NaN}'),
        InvalidResponseError,
    ),
    "expires-in-infinite": Case(
        lambda: _json_raw('{"access_token": "a", "token_type": "Bearer", "expires_in": 1e400}'),
        InvalidResponseError,
    ),
    "status-500": Case(
        lambda: answer(500, b"Internal Server Error\n", [("Content-Type", "text/plain")]),
        InvalidResponseError,
    ),
    "status-502": Case(
        lambda: answer(502, b"<html>Bad Gateway</html>", [("Content-Type", "text/html")]),
        TemporarilyUnavailableError,
    ),
    "status-503-retry-after-an-hour": Case(
        lambda: answer(
            503,
            b"Service Unavailable\n",
            [("Content-Type", "text/plain"), ("Retry-After", "3600")],
        ),
        TemporarilyUnavailableError,
    ),
}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def bad() -> Iterator[RawServer]:
    """The misbehaving token endpoint on 127.0.0.1."""
    with RawServer() as server:
        yield server
    assert not server.errors, "\n".join(server.errors)


@dataclass
class Run:
    """A Client aimed at ``bad`` for its token endpoint, and what a test compares."""

    client: Client
    browser: HttpFollowingBrowser
    store: FileStore
    op: str
    seeded: TokenSet | None
    before: bytes | None

    def attempt(self) -> PkceflowError:
        """Run the operation; it must fail with a PkceflowError (anything else escapes)."""
        started = time.monotonic()
        with pytest.raises(PkceflowError) as info:
            self.perform()
        self.browser.wait(WAIT)
        # Nothing waited for a Retry-After or a body that never ends.
        assert time.monotonic() - started < WAIT
        return info.value

    def attempt_cut_off_at_the_limit(self) -> int:
        """Run the operation, which must be cut off at the 1 MiB limit; the peak of the
        memory traced meanwhile."""
        tracemalloc.start()
        try:
            error = self.attempt()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert type(error) is cut_short(self.op)
        assert f"larger than {MIB} bytes" in str(error)
        return peak

    def perform(self) -> TokenSet:
        if self.op == "login":
            return self.client.login()
        return self.client.refresh()

    def assert_store_untouched(self) -> None:
        path = self.store.path(PROFILE)
        if self.op == "login":
            assert not path.exists()
            leftovers = list(self.store.directory.glob("*.json")) + list(
                self.store.directory.glob(".*.tmp")
            )
            assert leftovers == [], leftovers
        else:
            loaded = self.store.load(PROFILE)
            assert loaded is not None
            if loaded.unconfirmed_refresh_at is None:
                assert path.read_bytes() == self.before
            # An answer cut short may have been carried out: the login is only marked.
            assert attrs.evolve(loaded, unconfirmed_refresh_at=None) == self.seeded


def cut_short(op: str) -> type[TransportError]:
    """What an answer that never arrived whole raises: a refresh may have been carried out."""
    return RefreshInDoubtError if op == "refresh" else TransportError


def _transport() -> Urllib3Transport:
    return Urllib3Transport(timeout=WAIT / 2, connect_timeout=WAIT / 2)


def make_run(
    op: str,
    provider: TestProvider,
    token_url: str,
    store: FileStore,
    plugin_manager: pluggy.PluginManager,
    *,
    quirks: Quirks | None = None,
    transport: Urllib3Transport | None = None,
) -> Run:
    server = ServerMetadata(
        authorization_endpoint=provider.authorization_endpoint,
        token_endpoint=token_url,
        quirks=quirks or Quirks(),
    )
    browser = HttpFollowingBrowser(timeout=WAIT)
    client = new_client(
        PUBLIC_CLIENT_ID,
        server=server,
        store=store,
        browser=browser,
        plugin_manager=plugin_manager,
        transport=transport or _transport(),
        redirect=Redirect(path="/callback"),
        # the provider's registration; the token endpoint is not its
    )
    assert isinstance(client.transport, Urllib3Transport)
    seeded = before = None
    if op == "refresh":
        seeded = TokenSet(
            access_token="stale-access-" + secrets.token_urlsafe(16),
            expires_at=time.time() - 5,
            refresh_token="seeded-refresh-" + secrets.token_urlsafe(16),
            scope=("profile",),
        )
        store.save(PROFILE, seeded)
        before = store.path(PROFILE).read_bytes()
    return Run(client, browser, store, op, seeded, before)


#: ``start_run(op, **options)``: ``make_run`` with ``bad`` for the token endpoint.
StartRun = Callable[..., Run]


@pytest.fixture
def start_run(
    bad: RawServer, provider: TestProvider, store: FileStore, plugin_manager: pluggy.PluginManager
) -> StartRun:
    def start(op: str, **options: Any) -> Run:
        return make_run(op, provider, bad.url("/token"), store, plugin_manager, **options)

    return start


def assert_sent_once(run: Run, bad: RawServer, provider: TestProvider) -> Request:
    """The grant reached the configured endpoint exactly once, and only there."""
    (request,) = [r for r in bad.requests if r.path == "/token"]
    form = request.form()
    if run.op == "login":
        assert form["grant_type"] == "authorization_code"
        assert form["code"]
        assert form["code_verifier"]
    else:
        assert run.seeded is not None
        assert form == {
            "grant_type": "refresh_token",
            "refresh_token": run.seeded.refresh_token,
            "client_id": PUBLIC_CLIENT_ID,
        }
    assert provider.count("token") == 0
    return request


# --------------------------------------------------------------------------- the table


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
@pytest.mark.parametrize("op", OPS)
def test_a_malformed_token_answer_is_a_typed_error_and_changes_nothing(
    op: str, case: Case, bad: RawServer, provider: TestProvider, start_run: StartRun
) -> None:
    bad.behaviour = case.behaviour()
    run = start_run(op)

    error = run.attempt()

    assert type(error) is case.error, repr(error)
    assert_sent_once(run, bad, provider)
    run.assert_store_untouched()


@pytest.mark.parametrize("op", OPS)
def test_expires_in_as_a_digit_string_is_accepted_with_the_quirk(
    op: str, bad: RawServer, store: FileStore, start_run: StartRun
) -> None:
    bad.behaviour = _json_with(expires_in="3600")
    quirks = Quirks(expires_in_as_string=True)
    run = start_run(op, quirks=quirks)

    tokens = run.perform()

    assert tokens.expires_at is not None
    assert 3590 < tokens.expires_at - time.time() <= 3600
    assert store.load(PROFILE) == tokens


# --------------------------------------------------------------------------- size limits


def _max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


@pytest.mark.parametrize("op", OPS)
def test_a_50_mb_answer_is_cut_off_after_1_mib_without_being_read(
    op: str, bad: RawServer, provider: TestProvider, start_run: StartRun
) -> None:
    total = 50 * MIB
    stats = StreamStats()
    bad.behaviour = stream_body(total, stats)
    run = start_run(op)
    rss_before = _max_rss_bytes()
    peak = run.attempt_cut_off_at_the_limit()

    assert stats.done.wait(WAIT)
    # The server saw the connection closed long before it finished sending.
    assert not stats.completed
    assert stats.error in ("ConnectionResetError", "BrokenPipeError"), stats
    assert stats.sent < 16 * MIB, stats
    # Nothing near 50 MB was ever held.
    assert peak < 16 * MIB, peak
    assert _max_rss_bytes() - rss_before < 32 * MIB
    assert_sent_once(run, bad, provider)
    run.assert_store_untouched()


def _gzip_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"0" * (64 * 1024)
    return b"".join(compressor.compress(zeros) for _ in range(size // len(zeros))) + (
        compressor.flush()
    )


@pytest.mark.parametrize("op", OPS)
def test_a_gzip_bomb_is_not_inflated_past_the_limit(
    op: str, bad: RawServer, provider: TestProvider, start_run: StartRun
) -> None:
    bomb = _gzip_bomb(50 * MIB)
    assert len(bomb) < MIB
    headers = [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]
    bad.behaviour = answer(200, bomb, headers)
    run = start_run(op)
    peak = run.attempt_cut_off_at_the_limit()

    assert peak < 16 * MIB, peak
    assert_sent_once(run, bad, provider)
    run.assert_store_untouched()


def test_the_transport_is_clean_after_an_answer_it_cut_off(
    bad: RawServer, store: FileStore, start_run: StartRun
) -> None:
    stats = StreamStats()
    bad.behaviour = stream_body(50 * MIB, stats)
    run = start_run("refresh")
    assert type(run.attempt()) is RefreshInDoubtError

    # The rest of the 50 MB must not be read as the next answer on a pooled connection.
    bad.behaviour = json_answer(GOOD)
    tokens = run.client.refresh()

    assert tokens.access_token == GOOD["access_token"]
    assert store.load(PROFILE) == tokens


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
@pytest.mark.parametrize("op", OPS)
def test_an_answer_that_stops_half_way_is_a_transport_error(
    op: str, reset: bool, bad: RawServer, provider: TestProvider, start_run: StartRun
) -> None:
    half = b'{"access_token": "' + b"a" * 1000
    bad.behaviour = truncated_body(2 * len(half), half, reset=reset)
    run = start_run(op)

    error = run.attempt()

    assert type(error) is cut_short(op)
    assert_sent_once(run, bad, provider)
    run.assert_store_untouched()


# --------------------------------------------------------------------------- redirects


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("op", OPS)
def test_a_redirect_to_another_host_is_never_followed(
    op: str, status: int, bad: RawServer, provider: TestProvider, start_run: StartRun
) -> None:
    with RawServer(json_answer(GOOD), host="127.0.0.2") as other:
        location = other.url("/token")
        bad.behaviour = answer(status, b"moved\n", [("Location", location)])
        run = start_run(op)

        error = run.attempt()

        assert type(error) is InvalidResponseError
        assert f"HTTP {status}" in str(error)
        request = assert_sent_once(run, bad, provider)
        assert other.connections == 0
        assert other.requests == []
        run.assert_store_untouched()
    # The code and verifier (or refresh token) went to the configured endpoint only.
    assert b"code_verifier=" in request.body or b"refresh_token=" in request.body


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("depth", [40, 900, 950])
def test_an_extra_member_nested_too_deep_to_store_is_refused(
    op: str, depth: int, bad: RawServer, provider: TestProvider, start_run: StartRun
) -> None:
    # A login's exchange is parsed on the listener's thread and stored on the caller's,
    # deeper in its stack: a member nested 900 deep parsed there, then json.dumps in
    # FileStore gave up with a RecursionError (not a PkceflowError) here.
    nested = "[" * depth + "]" * depth
    bad.behaviour = _json_raw(f'{{"access_token": "a", "token_type": "Bearer", "x": {nested}}}')
    run = start_run(op)

    error = run.attempt()

    assert type(error) is InvalidResponseError
    assert_sent_once(run, bad, provider)
    run.assert_store_untouched()
