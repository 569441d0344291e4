"""OpenID Connect through the real Client, in the manner of the OpenID conformance suite's
relying-party tests.

Every login runs end to end on loopback: the Client (urllib3 transport, loopback
listener, MemoryStore) signs in at a running TestProvider through HttpFollowingBrowser.
What the provider cannot be switched into (an id_token without kid, a JWKS with a
Cache-Control header or garbage, a token response without id_token, another sub at
userinfo, discovery without S256) is made by a Relay: a small http.server on 127.0.0.1
that forwards to the provider and rewrites one endpoint's answer. The core's checks on
crafted tokens are tested in test_oidc.py; these tests are about the Client path: what
is fetched, what is stored, which events fire.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import socketserver
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest

from pkceflow import Client
from pkceflow.memory_store import MemoryStore
from pkceflow.oidc import MIN_REFETCH_INTERVAL, IdTokenVerifier, JwksCache, unverified_claims
from pkceflow.settings import IdTokenOptions, Interaction
from pkceflow.testing.browser import HttpFollowingBrowser
from pkceflow.testing.provider import PUBLIC_CLIENT_ID, IdTokenDefect, TestProvider
from pkceflow.transport import Urllib3Transport
from pkceflow_core import ClientConfig, Events, PkceflowError, ServerMetadata, TokenSet
from pkceflow_core.errors import (
    IdentityChangedError,
    IdTokenError,
    IdTokenRule,
    MetadataError,
    TokenError,
)
from tests.support.id_tokens import raises_check

from .tokens import SigningKey, jwks, rsa_private, sign

SCOPE = "openid profile email offline_access"
LEEWAY = 60.0
DISCOVERY_PATHS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
#: Keys the relay signs with when it replaces the provider's id_token.
RELAY_KEY = SigningKey(rsa_private(0), "RS256", "relay-key-1")
OTHER_KEY = SigningKey(rsa_private(1), "RS256", "relay-key-2")


# -- the relay ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Answer:
    """An HTTP answer (header names in lower case) that the relay passes on."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        doc = json.loads(self.body)
        assert isinstance(doc, dict)
        return doc

    def with_json(self, doc: object) -> Answer:
        headers = {**self.headers, "content-type": "application/json"}
        return Answer(self.status, headers, json.dumps(doc).encode())

    def with_headers(self, **headers: str) -> Answer:
        named = {name.replace("_", "-"): value for name, value in headers.items()}
        return Answer(self.status, {**self.headers, **named}, self.body)


Rewrite = Callable[[Answer], Answer]
_HOP_BY_HOP = frozenset({"host", "connection", "keep-alive", "content-length", "transfer-encoding"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look the host name up (socket.getfqdn).
        socketserver.TCPServer.server_bind(self)


class Relay:
    """An HTTP server on 127.0.0.1 in front of a TestProvider.

    Forwards every request to the provider; the answer for a path in ``rewrites`` goes
    through that function first. ``hits`` counts the requests per path.
    """

    def __init__(self, upstream: TestProvider) -> None:
        self.rewrites: dict[str, Rewrite] = {}
        self.hits: Counter[str] = Counter()
        self._upstream = (upstream.host, upstream.port)
        self._lock = threading.Lock()
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                relay._forward(self)

            do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.origin + path

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path).path
        with self._lock:
            self.hits[path] += 1
            rewrite = self.rewrites.get(path)
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
        connection = http.client.HTTPConnection(*self._upstream, timeout=10.0)
        try:
            connection.request(handler.command, handler.path, body=body or None, headers=headers)
            raw = connection.getresponse()
            answer = Answer(raw.status, {k.lower(): v for k, v in raw.getheaders()}, raw.read())
        finally:
            connection.close()
        if rewrite is not None:
            answer = rewrite(answer)
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            if name not in _HOP_BY_HOP:
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(answer.body)


def resign_without_kid(answer: Answer) -> Answer:
    """The token response with its id_token signed again by RELAY_KEY, without kid."""
    doc = answer.json()
    if "id_token" in doc:
        doc["id_token"] = sign(unverified_claims(doc["id_token"]), RELAY_KEY, kid=False)
    return answer.with_json(doc)


def serve_keys(*keys: SigningKey) -> Rewrite:
    return lambda answer: answer.with_json(jwks(*(key.public_jwk() for key in keys)))


def strip_id_token(answer: Answer) -> Answer:
    doc = answer.json()
    doc.pop("id_token", None)
    return answer.with_json(doc)


# -- fixtures and helpers ---------------------------------------------------------------


class Recorder(Events):
    """Records the names of the events the Client's driver sends, and the errors."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.errors: list[PkceflowError] = []

    def authorization_url(self, url: str) -> None:
        self.names.append("authorization_url")

    def callback_received(self) -> None:
        self.names.append("callback_received")

    def token_received(self, key: str, tokens: TokenSet) -> None:
        self.names.append("token_received")

    def refresh_done(self, key: str, expires_at: float | None) -> None:
        self.names.append("refresh_done")

    def token_changed(self, key: str, tokens: TokenSet) -> None:
        self.names.append("token_changed")

    def error(self, key: str, error: PkceflowError) -> None:
        self.names.append("error")
        self.errors.append(error)


class Clock:
    """The Client's injected clock; advancing it moves the provider's clock as well."""

    def __init__(self, provider: TestProvider) -> None:
        self._provider = provider
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self._provider.settings.clock_skew = self.offset


@pytest.fixture
def events() -> Recorder:
    """What the Client's driver tells its events object."""
    return Recorder()


@pytest.fixture
def browser() -> Iterator[HttpFollowingBrowser]:
    browser = HttpFollowingBrowser()
    yield browser
    browser.wait(timeout=5.0)


@pytest.fixture
def relay(provider: TestProvider) -> Iterator[Relay]:
    relay = Relay(provider)
    yield relay
    relay.close()


def make_client(
    provider: TestProvider,
    browser: HttpFollowingBrowser,
    *,
    server: ServerMetadata | None = None,
    **options: Any,
) -> Client:
    """A Client of the provider's public client, discovered unless ``server`` is given."""
    options = {
        "scope": SCOPE,
        "store": MemoryStore(),
        "interaction": Interaction(paste=False, timeout=10.0),
        **options,
    }
    if server is None:
        return Client.from_issuer(provider.issuer, PUBLIC_CLIENT_ID, browser=browser, **options)
    return Client(PUBLIC_CLIENT_ID, server=server, browser=browser, **options)


def relayed(provider: TestProvider, relay: Relay, *names: str) -> ServerMetadata:
    """The provider's discovered metadata with the endpoints ``names`` behind the relay."""
    server = Client.from_issuer(provider.issuer, PUBLIC_CLIENT_ID).server
    moved: dict[str, Any] = {
        name: relay.url(urlsplit(getattr(server, name)).path) for name in names
    }
    return attrs.evolve(server, **moved)


def claims_of(client: Client) -> dict[str, Any]:
    claims = client.id_token_claims()
    assert claims is not None
    return claims


def assert_login_refused(
    client: Client, check: IdTokenRule, events: Recorder, browser: HttpFollowingBrowser
) -> IdTokenError:
    """login() fails ``check``; nothing is stored; only the error event fired."""
    with raises_check(check) as caught:
        client.login()
    assert caught.type is IdTokenError
    assert client.stored() is None
    assert events.names == ["authorization_url", "callback_received", "error"]
    assert events.errors == [caught.value]
    page = browser.wait(timeout=5.0)
    assert page is not None
    assert "Sign-in failed" in page.text
    return caught.value


# -- logins ---------------------------------------------------------------------------


def test_rp_response_type_code_validates_the_id_token(
    provider: TestProvider, browser: HttpFollowingBrowser, events: Recorder
) -> None:
    client = make_client(provider, browser, events=events)

    tokens = client.login()

    claims = claims_of(client)
    assert (claims["iss"], claims["sub"], claims["aud"]) == (
        provider.issuer,
        "alice",
        PUBLIC_CLIENT_ID,
    )
    authorize = [r for r in provider.requests if r.endpoint == "authorize"]
    assert claims["nonce"] == authorize[-1].form["nonce"]
    assert client.stored() == tokens
    assert events.names == [
        "authorization_url",
        "callback_received",
        "token_received",
        "token_changed",
    ]
    assert provider.count("jwks") == 1


DEFECTS: list[tuple[IdTokenDefect, IdTokenRule]] = [
    ("bad_signature", "signature"),
    ("alg_none", "algorithm"),
    ("unknown_kid", "key"),
    ("wrong_nonce", "nonce"),
    ("missing_nonce", "nonce"),
    ("wrong_aud", "audience"),
    ("wrong_iss", "issuer"),
    ("expired", "expired"),
    ("wrong_at_hash", "at_hash"),
]


@pytest.mark.parametrize(("defect", "check"), DEFECTS)
def test_a_defective_id_token_fails_the_login_and_nothing_is_stored(
    provider: TestProvider,
    browser: HttpFollowingBrowser,
    defect: IdTokenDefect,
    check: IdTokenRule,
) -> None:
    provider.settings.id_token_defect = defect
    events = Recorder()
    client = make_client(provider, browser, events=events)

    assert_login_refused(client, check, events, browser)
    assert provider.count("token") == 1


def test_rp_id_token_missing_with_openid_fails_the_login(
    provider: TestProvider, browser: HttpFollowingBrowser, relay: Relay, events: Recorder
) -> None:
    relay.rewrites["/token"] = strip_id_token
    client = make_client(
        provider, browser, server=relayed(provider, relay, "token_endpoint"), events=events
    )

    exc = assert_login_refused(client, "malformed", events, browser)
    assert "3.1.3.3" in str(exc)


def test_the_verifier_refuses_a_login_without_id_token_but_not_a_refresh(
    provider: TestProvider,
) -> None:
    server = Client.from_issuer(provider.issuer, PUBLIC_CLIENT_ID).server
    verifier = IdTokenVerifier(
        server, ClientConfig(PUBLIC_CLIENT_ID), Urllib3Transport(timeout=10.0), clock=time.time
    )
    without = TokenSet("an-access-token")

    with raises_check("malformed"):
        verifier(without, "the-nonce-of-the-login", None)
    verifier(without, None, None)  # a refresh may omit it (OIDC Core 12.2)
    assert verifier.claims is None
    assert provider.count("jwks") == 0


# -- keys -----------------------------------------------------------------------------


def test_rp_key_rotation_op_sign_key_refetches_the_jwks_once(
    provider: TestProvider, browser: HttpFollowingBrowser
) -> None:
    client = make_client(provider, browser)
    client.login()
    assert provider.count("jwks") == 1

    provider.rotate_keys(keep_previous=False)
    client.login()
    assert provider.count("jwks") == 2
    client.login()
    assert provider.count("jwks") == 2
    assert claims_of(client)["sub"] == "alice"


def test_an_unknown_kid_is_refused_within_the_refetch_window_of_the_injected_clock(
    provider: TestProvider, browser: HttpFollowingBrowser, events: Recorder
) -> None:
    clock = Clock(provider)
    client = make_client(provider, browser, clock=clock, events=events)
    client.login()
    provider.rotate_keys(keep_previous=False)
    client.login()  # the unknown kid makes it fetch the JWKS again
    kept = client.stored()
    assert provider.count("jwks") == 2

    clock.advance(MIN_REFETCH_INTERVAL - 1)
    provider.rotate_keys(keep_previous=False)
    with raises_check("key") as caught:
        client.login()
    assert caught.value.unknown_kid
    assert provider.count("jwks") == 2
    assert client.stored() == kept
    assert events.names[-1] == "error"

    clock.advance(1)
    client.login()
    assert provider.count("jwks") == 3
    assert client.stored() != kept


def test_an_id_token_whose_kid_is_never_published_costs_one_refetch(
    provider: TestProvider, browser: HttpFollowingBrowser
) -> None:
    provider.settings.id_token_defect = "unknown_kid"
    client = make_client(provider, browser)

    for _ in range(2):
        with raises_check("key"):
            client.login()
        assert provider.count("jwks") == 2
    assert client.stored() is None


def test_the_jwks_cache_refetches_at_most_once_per_interval() -> None:
    with TestProvider() as provider:
        clock = Clock(provider)
        cache = JwksCache(Urllib3Transport(timeout=10.0), provider.jwks_uri, clock=clock)
        first = cache.keys()
        provider.rotate_keys(keep_previous=False)

        rotated = cache.refetch()  # right after the first fetch: allowed
        assert rotated is not None
        assert rotated != first
        assert cache.keys() == rotated
        assert cache.refetch() is None
        clock.advance(MIN_REFETCH_INTERVAL)
        assert cache.refetch() == rotated
        assert provider.count("jwks") == 3


@pytest.mark.parametrize(
    ("cache_control", "fetches"),
    [
        (None, [1, 1, 1]),  # nothing said: kept an hour
        ("public, max-age=120", [1, 1, 2]),
        ("no-cache", [1, 2, 3]),
    ],
)
def test_the_jwks_is_kept_while_its_cache_control_allows(
    provider: TestProvider,
    browser: HttpFollowingBrowser,
    relay: Relay,
    cache_control: str | None,
    fetches: list[int],
) -> None:
    if cache_control is not None:
        relay.rewrites["/jwks"] = lambda answer: answer.with_headers(cache_control=cache_control)
    clock = Clock(provider)
    client = make_client(
        provider, browser, server=relayed(provider, relay, "jwks_uri"), clock=clock
    )

    seen = []
    for step in (0, 100, 21):  # at 0 s, 100 s and 121 s
        clock.advance(step)
        client.login()
        seen.append(relay.hits["/jwks"])
    assert seen == fetches


def test_rp_id_token_kid_absent_single_jwks(
    provider: TestProvider, browser: HttpFollowingBrowser, relay: Relay
) -> None:
    relay.rewrites["/token"] = resign_without_kid
    relay.rewrites["/jwks"] = serve_keys(RELAY_KEY)
    client = make_client(
        provider, browser, server=relayed(provider, relay, "token_endpoint", "jwks_uri")
    )

    client.login()
    assert claims_of(client)["sub"] == "alice"


def test_rp_id_token_kid_absent_multiple_jwks(
    provider: TestProvider, browser: HttpFollowingBrowser, relay: Relay, events: Recorder
) -> None:
    relay.rewrites["/token"] = resign_without_kid
    relay.rewrites["/jwks"] = serve_keys(RELAY_KEY, OTHER_KEY)
    client = make_client(
        provider,
        browser,
        server=relayed(provider, relay, "token_endpoint", "jwks_uri"),
        events=events,
    )

    exc = assert_login_refused(client, "key", events, browser)
    assert not exc.unknown_kid
    assert relay.hits["/jwks"] == 1  # no kid to look for: fetching again cannot help


@pytest.mark.parametrize(
    "answer",
    [
        Answer(200, {"content-type": "text/html"}, b"<html><body>Sign in</body></html>"),
        Answer(200, {"content-type": "application/json"}, b'{"keys": []}'),
        Answer(503, {"content-type": "text/plain"}, b"Service Unavailable"),
        Answer(
            200,
            {"content-type": "application/json"},
            json.dumps(jwks(RELAY_KEY.public_jwk(d="AQAB"))).encode(),
        ),
    ],
    ids=["html", "no-keys", "http-503", "private-key"],
)
def test_a_jwks_uri_answering_garbage_fails_the_login(
    provider: TestProvider,
    browser: HttpFollowingBrowser,
    relay: Relay,
    answer: Answer,
    events: Recorder,
) -> None:
    relay.rewrites["/jwks"] = lambda _upstream: answer
    client = make_client(
        provider, browser, server=relayed(provider, relay, "jwks_uri"), events=events
    )

    assert_login_refused(client, "jwks", events, browser)


# -- discovery ------------------------------------------------------------------------


def test_a_server_that_does_not_list_s256_is_refused_unless_allowed(
    provider: TestProvider, relay: Relay
) -> None:
    def without_s256(answer: Answer) -> Answer:
        doc = answer.json()
        doc["issuer"] = relay.origin
        doc["code_challenge_methods_supported"] = ["plain"]
        return answer.with_json(doc)

    for path in DISCOVERY_PATHS:
        relay.rewrites[path] = without_s256

    with pytest.raises(MetadataError, match="S256"):
        Client.from_issuer(relay.origin, PUBLIC_CLIENT_ID, scope=SCOPE)
    client = Client.from_issuer(relay.origin, PUBLIC_CLIENT_ID, scope=SCOPE, require_s256=False)
    assert client.server.code_challenge_methods_supported == ("plain",)


def test_rp_discovery_issuer_not_matching_config(provider: TestProvider, relay: Relay) -> None:
    for issuer in (relay.origin, provider.issuer + "/"):
        with pytest.raises(MetadataError, match="names issuer"):
            Client.from_issuer(issuer, PUBLIC_CLIENT_ID, scope=SCOPE)


# -- refresh --------------------------------------------------------------------------


def test_a_refreshed_id_token_is_validated_and_stored(
    provider: TestProvider, browser: HttpFollowingBrowser, events: Recorder
) -> None:
    client = make_client(provider, browser, events=events)
    first = client.login()

    refreshed = client.refresh()

    assert refreshed.id_token is not None
    assert refreshed.id_token != first.id_token
    assert client.stored() == refreshed
    claims = claims_of(client)
    assert claims["sub"] == "alice"
    assert "nonce" not in claims
    assert events.names[-2:] == ["refresh_done", "token_changed"]


def test_a_refresh_without_id_token_keeps_the_previous_one(
    provider: TestProvider, browser: HttpFollowingBrowser
) -> None:
    provider.settings.id_token_on_refresh = False
    client = make_client(provider, browser)
    first = client.login()

    refreshed = client.refresh()

    assert refreshed.access_token != first.access_token
    assert refreshed.id_token == first.id_token


@pytest.mark.parametrize(
    ("defect", "check"), [(d, c) for d, c in DEFECTS if d not in ("wrong_nonce", "missing_nonce")]
)
def test_a_defective_refreshed_id_token_keeps_the_rotated_tokens_and_the_checked_id_token(
    provider: TestProvider,
    browser: HttpFollowingBrowser,
    defect: IdTokenDefect,
    check: IdTokenRule,
) -> None:
    # The server has rotated the refresh token by the time the id_token is checked:
    # the new tokens are kept (the old refresh token is dead), the bad id_token is not.
    events = Recorder()
    client = make_client(provider, browser, events=events)
    first = client.login()
    provider.settings.id_token_defect = defect

    refreshed = client.refresh()

    assert refreshed.refresh_token != first.refresh_token
    assert refreshed.id_token == first.id_token
    assert client.stored() == refreshed
    assert events.names[-3:] == ["error", "refresh_done", "token_changed"]
    refused = events.errors[-1]
    assert isinstance(refused, IdTokenError)
    assert refused.check == check
    assert first.refresh_token is not None
    info = provider.token_info(first.refresh_token)
    assert info is not None
    assert not info.active


def test_rp_a_refreshed_id_token_about_another_subject_is_refused(
    provider: TestProvider, browser: HttpFollowingBrowser
) -> None:
    client = make_client(provider, browser)
    first = client.login()
    # The stored login of alice now holds a refresh token of bob's grant, so the
    # provider answers the refresh with a valid id_token about bob.
    bobs = provider.issue_tokens(user="bob", scope=SCOPE)
    spliced = attrs.evolve(first, refresh_token=bobs["refresh_token"])
    client.store.save(client.profile, spliced)

    with pytest.raises(IdentityChangedError, match=r"another sub .*12\.2") as caught:
        client.refresh()

    assert caught.value.claim == "sub"
    assert client.stored() is None  # the login no longer says who is signed in


def test_the_verifier_keeps_the_claims_of_accepted_id_tokens_only(provider: TestProvider) -> None:
    server = Client.from_issuer(provider.issuer, PUBLIC_CLIENT_ID).server
    verifier = IdTokenVerifier(
        server, ClientConfig(PUBLIC_CLIENT_ID), Urllib3Transport(timeout=10.0), clock=time.time
    )

    def token_set(user: str) -> TokenSet:
        response = provider.issue_tokens(user=user, scope="openid")
        return TokenSet(response["access_token"], id_token=response["id_token"])

    alices, bobs = token_set("alice"), token_set("bob")
    verifier(alices, None, None)
    assert verifier.claims is not None
    assert verifier.claims.sub == "alice"

    with raises_check("identity", match=r"12\.2") as caught:
        verifier(bobs, None, alices)
    assert isinstance(caught.value, IdentityChangedError)
    assert verifier.claims.sub == "alice"


# -- userinfo -------------------------------------------------------------------------


def test_rp_userinfo_answers_about_the_id_tokens_subject(
    provider: TestProvider, browser: HttpFollowingBrowser
) -> None:
    client = make_client(provider, browser)
    client.login()

    info = client.userinfo()

    assert info["sub"] == claims_of(client)["sub"] == "alice"
    assert info["email"] == "alice@example.test"
    assert provider.requests[-1].headers["authorization"].startswith("Bearer ")


def test_rp_userinfo_with_a_refused_access_token_raises_the_bearer_error(
    provider: TestProvider, browser: HttpFollowingBrowser
) -> None:
    client = make_client(provider, browser)
    tokens = client.login()
    provider.revoke_token(tokens.access_token)

    with pytest.raises(TokenError) as caught:
        client.userinfo()

    assert (caught.value.error, caught.value.status) == ("invalid_token", 401)


def test_rp_userinfo_about_another_subject_is_refused(
    provider: TestProvider, browser: HttpFollowingBrowser, relay: Relay
) -> None:
    relay.rewrites["/userinfo"] = lambda answer: answer.with_json({**answer.json(), "sub": "eve"})
    client = make_client(provider, browser, server=relayed(provider, relay, "userinfo_endpoint"))
    client.login()

    with raises_check("userinfo_sub", match=r"5\.3\.2") as caught:
        client.userinfo()

    assert caught.type is IdTokenError


# -- max_age --------------------------------------------------------------------------


def test_max_age_is_sent_and_a_recent_authentication_passes(
    provider: TestProvider, browser: HttpFollowingBrowser
) -> None:
    client = make_client(
        provider,
        browser,
        id_tokens=IdTokenOptions(max_age=300),
    )

    client.login()

    authorize = [r for r in provider.requests if r.endpoint == "authorize"]
    assert authorize[-1].form["max_age"] == "300"
    assert isinstance(claims_of(client)["auth_time"], int)


@pytest.mark.parametrize("max_age", [None, 30])
def test_max_age_refuses_an_authentication_that_is_too_old(
    provider: TestProvider, browser: HttpFollowingBrowser, max_age: int | None
) -> None:
    # Interactive: the provider keeps a session and reuses its auth_time (it ignores
    # max_age), so a later login carries the time of the first sign-in.
    provider.settings.interactive = True
    clock = Clock(provider)
    client = make_client(
        provider,
        browser,
        clock=clock,
        id_tokens=IdTokenOptions(max_age=max_age),
    )
    first = client.login()
    auth_time = claims_of(client)["auth_time"]
    clock.advance(30 + LEEWAY + 5)

    if max_age is None:
        client.login()
        assert claims_of(client)["auth_time"] == auth_time
        return
    with raises_check("auth_time"):
        client.login()
    assert client.stored() == first


# -- HS* id_tokens: an explicit opt-in of confidential clients ----------------------


def test_a_confidential_client_may_opt_into_hmac_id_tokens(
    provider: TestProvider, browser: HttpFollowingBrowser
) -> None:
    from pkceflow.testing.provider import CONFIDENTIAL_CLIENT_ID, CONFIDENTIAL_CLIENT_SECRET

    client = Client.from_issuer(
        provider.issuer,
        CONFIDENTIAL_CLIENT_ID,
        client_secret=CONFIDENTIAL_CLIENT_SECRET,
        id_tokens=IdTokenOptions(allow_hmac=True),
        interaction=Interaction(paste=False, timeout=10.0),
        scope=SCOPE,
        browser=browser,
        store=MemoryStore(),
    )

    client.login()  # the provider signs RS256, still allowed beside the HS family

    claims = client.id_token_claims()
    assert claims is not None
    assert claims["aud"] == CONFIDENTIAL_CLIENT_ID


def test_hmac_id_tokens_need_a_client_secret(
    provider: TestProvider, browser: HttpFollowingBrowser
) -> None:
    client = make_client(
        provider,
        browser,
        id_tokens=IdTokenOptions(allow_hmac=True),
    )

    with pytest.raises(PkceflowError, match="client_secret"):
        client.login()


# -- OpenID Connect Core 12.2 as real servers apply it (item 14.1) ----------------------


def test_a_refresh_whose_id_token_has_a_moved_auth_time_keeps_the_login(
    provider: TestProvider, browser: HttpFollowingBrowser
) -> None:
    # Django OAuth Toolkit stamps every id_token with the user's latest sign-in: after
    # the person signs in elsewhere, the refreshed id_token's auth_time moves.
    client = make_client(provider, browser)
    first = client.login()
    before = claims_of(client)["auth_time"]
    provider.settings.refresh_auth_time_now = True
    provider.settings.clock_skew = 30  # the sign-in elsewhere, 30 s later

    refreshed = client.refresh()

    assert refreshed.refresh_token != first.refresh_token
    assert client.stored() == refreshed
    after = claims_of(client)
    assert after["sub"] == "alice"
    assert after["auth_time"] >= before + 29


def test_the_verifier_names_the_claim_that_differs(provider: TestProvider) -> None:
    with Client.from_issuer(provider.issuer, PUBLIC_CLIENT_ID) as discovered:
        server = discovered.server
    transport = Urllib3Transport(timeout=10.0)
    verifier = IdTokenVerifier(server, ClientConfig(PUBLIC_CLIENT_ID), transport, clock=time.time)
    issued = provider.issue_tokens(user="alice", scope="openid")
    other = provider.issue_tokens(user="bob", scope="openid")

    with pytest.raises(IdentityChangedError) as caught:
        verifier(
            TokenSet(other["access_token"], id_token=other["id_token"]),
            None,
            TokenSet(issued["access_token"], id_token=issued["id_token"]),
        )

    transport.close()
    assert caught.value.claim == "sub"
    assert "another sub" in str(caught.value)
