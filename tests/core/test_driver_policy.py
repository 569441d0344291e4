"""driver.py's policy under the defects real servers and injected faults showed.

Short-lived tokens (one refresh, never a storm), a clock stepped back, a refreshed
id_token about another identity or with a moved ``auth_time``, a refusal without
OAuth JSON, an unanswered refresh, overload answers, and discovery documents that
each lack what the other has.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import pytest

from pkceflow_core import (
    HttpResponse,
    IdentityChangedError,
    InvalidResponseError,
    LoginEndedError,
    LoginRequiredError,
    RefreshInDoubtError,
    RestoreError,
    TemporarilyUnavailableError,
    TokenSet,
    TransportError,
    discover,
)
from pkceflow_core._driver import discover_with_lifetime
from pkceflow_core._http import retry_after
from pkceflow_core._token_response import parse_token_response
from tests.core.fakes import (
    ISSUER,
    NOW,
    FakeClock,
    IdTokenChecker,
    MemoryStore,
    RecordingEvents,
    ScriptedTransport,
    error_response,
    form_of,
    json_response,
    make_driver,
    make_server,
    token_response,
)
from tests.support.threads import at_once

KEY = "work"


def obtained(lifetime: float, *, at: float = NOW, refresh: str = "refresh-1") -> TokenSet:
    """A token set as the token endpoint left it at ``at``, valid for ``lifetime``."""
    return TokenSet("access-1", expires_at=at + lifetime, obtained_at=at, refresh_token=refresh)


# -- 14.4: short-lived tokens ------------------------------------------------------------


@pytest.mark.parametrize("lifetime", [5, 30, 60, 300])
def test_a_token_just_obtained_is_not_refreshed_whatever_its_lifetime(lifetime: int) -> None:
    transport = ScriptedTransport()  # any request fails the test
    store = MemoryStore({KEY: obtained(lifetime)})

    tokens = make_driver(transport, store, FakeClock()).token(KEY)  # min_ttl 60

    assert tokens == obtained(lifetime)
    assert transport.requests == []


@pytest.mark.parametrize("lifetime", [5, 30, 60, 300])
def test_sixteen_threads_on_a_due_short_lived_token_send_one_refresh(lifetime: int) -> None:
    clock = FakeClock()
    store = MemoryStore({KEY: obtained(lifetime, at=NOW - lifetime)})  # expires now
    transport = ScriptedTransport(
        token_response("access-2", expires_in=lifetime, refresh_token="refresh-2"), delay=0.05
    )
    driver = make_driver(transport, store, clock)

    outcome = at_once(16, lambda: driver.token(KEY).access_token, timeout=10.0)

    assert outcome.errors == []
    assert len(transport.requests) == 1
    assert outcome.results == ["access-2"] * 16
    # And the next call, right after, sends nothing.
    assert driver.token(KEY).access_token == "access-2"
    assert len(transport.requests) == 1


def test_a_short_lived_token_is_renewed_in_the_second_half_of_its_life() -> None:
    clock = FakeClock()
    store = MemoryStore({KEY: obtained(20)})
    transport = ScriptedTransport(token_response("access-2", expires_in=20))
    driver = make_driver(transport, store, clock)

    clock.advance(9.9)
    assert driver.token(KEY).access_token == "access-1"
    clock.advance(0.2)  # 9.9 s left: under half of 20 s
    assert driver.token(KEY).access_token == "access-2"
    assert len(transport.requests) == 1


def test_min_ttl_still_applies_in_full_to_a_long_lived_token() -> None:
    tokens = obtained(3600)

    assert tokens.is_fresh(NOW + 3600 - 61, 60)
    assert not tokens.is_fresh(NOW + 3600 - 59, 60)


def test_a_token_stored_without_its_obtained_time_keeps_the_old_rule() -> None:
    tokens = TokenSet("a", expires_at=NOW + 30)

    assert tokens.lifetime is None
    assert not tokens.is_fresh(NOW, 60)
    assert tokens.is_fresh(NOW, 29)


# -- 27.2: the clock stepped back --------------------------------------------------------


def test_a_clock_stepped_back_makes_a_token_stale_and_leaves_it_no_time() -> None:
    # Refreshed while the clock ran an hour fast; NTP then set it right.
    fast = obtained(3600, at=NOW + 3600)

    assert fast.expires_in(NOW) == 0.0
    assert not fast.is_fresh(NOW)
    assert fast.expires_in(NOW + 3600 + 10) == 3590


def test_the_driver_refreshes_a_token_obtained_in_its_clocks_future() -> None:
    store = MemoryStore({KEY: obtained(3600, at=NOW + 3600)})
    transport = ScriptedTransport(token_response("access-2", expires_in=3600))

    tokens = make_driver(transport, store, FakeClock()).token(KEY)

    assert tokens.access_token == "access-2"
    assert (tokens.obtained_at, tokens.expires_at) == (NOW, NOW + 3600)


def test_a_token_never_has_more_life_left_than_the_server_granted() -> None:
    tokens = obtained(600)

    assert all(tokens.expires_in(NOW + step) <= 600 for step in (0, 1, 300))  # type: ignore[operator]


# -- 14.1: a refreshed id_token about another identity, or a moved auth_time ------------


def test_another_identity_on_refresh_ends_the_login_and_revokes_the_new_tokens() -> None:
    store = MemoryStore({KEY: attrs.evolve(obtained(10, at=NOW - 10), id_token="id-1")})
    transport = ScriptedTransport(
        token_response("access-2", refresh_token="refresh-2", id_token="id-2"),
        HttpResponse(200),  # revocation of the refresh token
        HttpResponse(200),  # and of the access token
    )
    checker = IdTokenChecker(IdentityChangedError("another sub", claim="sub"))
    driver = make_driver(transport, store, FakeClock(), check_id_token=checker)

    with pytest.raises(IdentityChangedError) as raised:
        driver.token(KEY)

    assert raised.value.claim == "sub"
    assert isinstance(raised.value, LoginEndedError)
    assert store.load(KEY) is None
    revoked = [form_of(r)["token"] for r in transport.requests[1:]]
    assert revoked == ["refresh-2", "access-2"]


def test_another_identity_on_refresh_is_ended_even_where_revocation_fails() -> None:
    store = MemoryStore({KEY: attrs.evolve(obtained(10, at=NOW - 10), id_token="id-1")})
    transport = ScriptedTransport(
        token_response("access-2", refresh_token="refresh-2", id_token="id-2"),
        TransportError("connection refused"),
    )
    checker = IdTokenChecker(IdentityChangedError("another iss", claim="iss"))
    driver = make_driver(transport, store, FakeClock(), check_id_token=checker)

    with pytest.raises(IdentityChangedError):
        driver.token(KEY)

    assert store.load(KEY) is None


def test_another_identity_without_a_revocation_endpoint_only_ends_the_login() -> None:
    store = MemoryStore({KEY: attrs.evolve(obtained(10, at=NOW - 10), id_token="id-1")})
    transport = ScriptedTransport(token_response("access-2", id_token="id-2"))
    checker = IdTokenChecker(IdentityChangedError("another aud", claim="aud"))
    driver = make_driver(
        transport,
        store,
        FakeClock(),
        server=make_server(revocation_endpoint=None),
        check_id_token=checker,
    )

    with pytest.raises(IdentityChangedError):
        driver.token(KEY)

    assert store.load(KEY) is None
    assert len(transport.requests) == 1


# -- 14.14: a refusal without OAuth JSON ----------------------------------------------


@pytest.mark.parametrize("status", [400, 401])
@pytest.mark.parametrize("body", [b"", b"<html>Bad Request</html>"])
def test_a_refusal_without_oauth_json_says_log_in_again_and_keeps_the_login(
    status: int, body: bytes
) -> None:
    stale = obtained(10, at=NOW - 10)
    store = MemoryStore({KEY: stale})
    transport = ScriptedTransport(HttpResponse(status, {}, body))

    with pytest.raises(LoginEndedError, match="refused to refresh") as raised:
        make_driver(transport, store, FakeClock()).token(KEY)

    assert raised.value.login_kept
    assert f"HTTP {status}" in str(raised.value)
    assert store.load(KEY) == stale


def test_invalid_grant_ends_the_login_and_says_so() -> None:
    store = MemoryStore({KEY: obtained(10, at=NOW - 10)})
    transport = ScriptedTransport(error_response("invalid_grant"))

    with pytest.raises(LoginEndedError, match="invalid_grant") as raised:
        make_driver(transport, store, FakeClock()).token(KEY)

    assert not raised.value.login_kept
    assert store.load(KEY) is None


# -- 27.6: a refresh whose answer never came ------------------------------------------


def test_an_unanswered_refresh_marks_the_login_and_is_not_replayed_by_waiters() -> None:
    clock = FakeClock()
    stale = obtained(10, at=NOW - 10)
    store = MemoryStore({KEY: stale})
    transport = ScriptedTransport(TransportError("read timed out", maybe_sent=True))
    driver = make_driver(transport, store, clock)
    since = clock()  # a waiter that began waiting now, before the holder's answer

    with pytest.raises(RefreshInDoubtError, match="no answer came"):
        driver.token(KEY)

    marked = store.load(KEY)
    assert marked is not None
    assert marked.unconfirmed_refresh_at == NOW
    assert marked.refresh_token == stale.refresh_token
    # The waiter: it loaded ``stale`` before the lock and finds the mark after it.
    with pytest.raises(RefreshInDoubtError, match="was not sent again"):
        driver.run(driver.policy._refresh(KEY, stale=stale, min_ttl=60.0, since=since))
    assert len(transport.requests) == 1


def test_the_next_call_after_an_unanswered_refresh_tries_once_more() -> None:
    clock = FakeClock()
    store = MemoryStore({KEY: attrs.evolve(obtained(10, at=NOW - 10), unconfirmed_refresh_at=NOW)})
    transport = ScriptedTransport(token_response("access-2", expires_in=3600))
    clock.advance(1)

    tokens = make_driver(transport, store, clock).token(KEY)

    assert tokens.access_token == "access-2"
    assert tokens.unconfirmed_refresh_at is None
    assert store.load(KEY) == tokens


def test_a_refresh_that_never_left_is_no_doubt() -> None:
    stale = obtained(10, at=NOW - 10)
    store = MemoryStore({KEY: stale})
    transport = ScriptedTransport(TransportError("connection refused"))

    with pytest.raises(TransportError) as raised:
        make_driver(transport, store, FakeClock()).token(KEY)

    assert not isinstance(raised.value, RefreshInDoubtError)
    assert store.load(KEY) == stale


# -- 27.7: overload ------------------------------------------------------------------


def test_a_429_with_retry_after_says_when_and_keeps_the_login() -> None:
    stale = obtained(10, at=NOW - 10)
    store = MemoryStore({KEY: stale})
    transport = ScriptedTransport(HttpResponse(429, {"Retry-After": "120"}, b"slow down"))

    with pytest.raises(TemporarilyUnavailableError, match="try again in 120 s") as raised:
        make_driver(transport, store, FakeClock()).token(KEY)

    assert (raised.value.status, raised.value.retry_after) == (429, 120.0)
    assert store.load(KEY) == stale


def test_a_429_carrying_slow_down_is_temporary_not_the_end_of_the_login() -> None:
    stale = obtained(10, at=NOW - 10)
    store = MemoryStore({KEY: stale})
    transport = ScriptedTransport(error_response("slow_down", 429))

    with pytest.raises(TemporarilyUnavailableError, match="slow_down") as raised:
        make_driver(transport, store, FakeClock()).token(KEY)

    assert raised.value.error == "slow_down"
    assert store.load(KEY) == stale


# -- the guard: held from sending to stored, not while waiting ----------------------------


def test_the_guard_covers_the_request_and_its_save_but_not_the_wait() -> None:
    log: list[str] = []
    store = MemoryStore({KEY: obtained(10, at=NOW - 10)})

    class LoggingStore(MemoryStore):
        @contextmanager
        def lock(self, key: str) -> Iterator[None]:
            log.append("lock")
            with store.lock(key):
                yield

        def load(self, key: str) -> TokenSet | None:
            return store.load(key)

        def replace(self, key: str, old: TokenSet, new: TokenSet) -> bool:
            log.append("replace")
            return store.replace(key, old, new)

    @contextmanager
    def guard() -> Iterator[None]:
        log.append("hold")
        yield
        log.append("release")

    class LoggingTransport(ScriptedTransport):
        def send(self, request):  # type: ignore[no-untyped-def]
            log.append("send")
            return super().send(request)

    transport = LoggingTransport(token_response("access-2", expires_in=3600))
    make_driver(transport, LoggingStore(), FakeClock(), guard=guard).token(KEY)

    assert log == ["lock", "hold", "send", "replace", "release"]


# -- 14.2: the two discovery documents, merged --------------------------------------------


def _doc(issuer: str = ISSUER, **members: object) -> HttpResponse:
    return json_response(
        {
            "issuer": issuer,
            "authorization_endpoint": ISSUER + "/authorize",
            "token_endpoint": ISSUER + "/token",
            **members,
        },
    )


def test_discovery_fills_what_the_rfc8414_document_lacks_from_the_openid_one() -> None:
    # Django OAuth Toolkit: revocation only in RFC 8414, userinfo only in OpenID's.
    transport = ScriptedTransport(
        _doc(revocation_endpoint=ISSUER + "/revoke", jwks_uri=ISSUER + "/jwks"),
        _doc(userinfo_endpoint=ISSUER + "/userinfo", jwks_uri=ISSUER + "/other-jwks"),
    )

    server = discover(transport, ISSUER)

    assert server.revocation_endpoint == ISSUER + "/revoke"
    assert server.userinfo_endpoint == ISSUER + "/userinfo"
    assert server.jwks_uri == ISSUER + "/jwks"  # the first document wins a conflict
    assert [r.url.rsplit("/", 1)[1] for r in transport.requests] == [
        "oauth-authorization-server",
        "openid-configuration",
    ]


def test_a_second_document_of_another_issuer_is_not_merged() -> None:
    transport = ScriptedTransport(
        _doc(revocation_endpoint=ISSUER + "/revoke"),
        _doc("https://elsewhere.example", userinfo_endpoint="https://elsewhere.example/me"),
    )

    server = discover(transport, ISSUER)

    assert server.userinfo_endpoint is None
    assert server.revocation_endpoint == ISSUER + "/revoke"


@pytest.mark.parametrize(
    "second",
    [HttpResponse(404), HttpResponse(500, {}, b"oops"), TransportError("refused")],
    ids=["absent", "broken", "unreachable"],
)
def test_an_unusable_second_document_leaves_the_first(second: object) -> None:
    transport = ScriptedTransport(_doc(revocation_endpoint=ISSUER + "/revoke"), second)  # type: ignore[arg-type]

    server = discover(transport, ISSUER)

    assert server.revocation_endpoint == ISSUER + "/revoke"


def test_merged_metadata_may_be_reused_as_long_as_the_shorter_lived_document() -> None:
    first = _doc(revocation_endpoint=ISSUER + "/revoke")
    second = _doc(userinfo_endpoint=ISSUER + "/userinfo")
    transport = ScriptedTransport(
        HttpResponse(200, {**first.headers, "Cache-Control": "max-age=600"}, first.body),
        HttpResponse(200, {**second.headers, "Cache-Control": "max-age=60"}, second.body),
    )

    _, lifetime = discover_with_lifetime(transport, ISSUER)

    assert lifetime == 60


def test_merged_metadata_without_cache_control_has_no_stated_lifetime() -> None:
    transport = ScriptedTransport(_doc(), _doc(userinfo_endpoint=ISSUER + "/userinfo"))

    server, lifetime = discover_with_lifetime(transport, ISSUER)

    assert (server.userinfo_endpoint, lifetime) == (ISSUER + "/userinfo", None)


def test_the_events_hear_of_a_refresh_that_ended_a_login() -> None:
    events = RecordingEvents()
    store = MemoryStore({KEY: obtained(10, at=NOW - 10)})
    transport = ScriptedTransport(error_response("invalid_grant"))

    with pytest.raises(LoginRequiredError):
        make_driver(transport, store, FakeClock(), events=events).token(KEY)

    assert [name for name, _ in events.calls] == ["error"]


def test_a_malformed_success_at_refresh_is_not_the_end_of_the_login() -> None:
    stale = obtained(10, at=NOW - 10)
    store = MemoryStore({KEY: stale})
    transport = ScriptedTransport(HttpResponse(500, {}, b"oops"))

    with pytest.raises(InvalidResponseError):
        make_driver(transport, store, FakeClock()).token(KEY)

    assert store.load(KEY) == stale


def test_another_identity_without_a_new_refresh_token_revokes_the_access_token() -> None:
    store = MemoryStore(
        {KEY: TokenSet("access-1", expires_at=NOW - 1, id_token="id-1", refresh_token="refresh-1")}
    )
    # The server keeps the refresh token (none in the answer): the new set keeps it too.
    transport = ScriptedTransport(
        token_response("access-2", id_token="id-2"), HttpResponse(200), HttpResponse(200)
    )
    checker = IdTokenChecker(IdentityChangedError("another azp", claim="azp"))

    with pytest.raises(IdentityChangedError):
        make_driver(transport, store, FakeClock(), check_id_token=checker).token(KEY)

    assert [form_of(r)["token"] for r in transport.requests[1:]] == ["refresh-1", "access-2"]


def test_a_github_style_slow_down_with_status_200_is_temporary() -> None:
    with pytest.raises(TemporarilyUnavailableError, match="slow_down"):
        parse_token_response(error_response("slow_down", 200), now=NOW)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),  # a minute after NOW below
        ("Wed, 21 Oct 2015 07:26:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("Wed, 99 Foo 2015 07:28:00 GMT", None),
        ("86401", None),  # more than a day is not a retry
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date(value: str, seconds: float | None) -> None:
    now = 1445412420.0  # Wed, 21 Oct 2015 07:27:00 GMT

    assert retry_after(HttpResponse(429, {"Retry-After": value}), now) == seconds


def test_no_retry_after_is_none() -> None:
    assert retry_after(HttpResponse(429), NOW) is None


def test_a_temporary_refusal_with_an_http_date_counts_from_now() -> None:
    response = HttpResponse(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, b"")

    with pytest.raises(TemporarilyUnavailableError) as raised:
        parse_token_response(response, now=1445412420.0)

    assert raised.value.retry_after == 60.0
    assert "try again in 60 s" in str(raised.value)


def test_a_temporary_refusal_without_a_clock_has_no_wait() -> None:
    from pkceflow_core._token_response import check_error_response

    with pytest.raises(TemporarilyUnavailableError) as raised:
        check_error_response(HttpResponse(429, {"Retry-After": "5"}, b""), what="x")

    assert raised.value.retry_after is None


def test_the_redirect_path_is_the_servers_own_only_without_iss() -> None:
    with_iss = make_server(iss_supported=True)
    without = make_server()
    no_issuer = make_server(issuer=None)

    assert with_iss.redirect_path() == "/callback"
    assert without.redirect_path().startswith("/callback/")
    assert len(without.redirect_path()) == len("/callback/") + 12
    assert no_issuer.redirect_path() != without.redirect_path()
    assert without.redirect_path("/cb/") == "/cb/" + without.redirect_path().rsplit("/", 1)[1]
    assert make_server().redirect_path() == without.redirect_path()  # stable


def test_stored_times_are_checked_on_restore() -> None:
    base = obtained(60).to_dict()

    for name in ("obtained_at", "unconfirmed_refresh_at"):
        for bad in (True, "soon", float("inf"), 10**400):
            with pytest.raises(RestoreError, match=name):
                TokenSet.from_dict({**base, name: bad})

    marked = attrs.evolve(obtained(60), unconfirmed_refresh_at=NOW)
    assert TokenSet.from_json(marked.to_json()) == marked
    assert marked.refresh_in_doubt(NOW)
    assert not marked.refresh_in_doubt(NOW + 1)
