"""driver.py: whole logins, refreshes and logouts run against fakes of the ports."""

from __future__ import annotations

import attrs
import pytest

from pkceflow_core import (
    AuthorizationCodeFlow,
    AuthorizationError,
    CallbackTimeoutError,
    ClientConfig,
    Driver,
    FlowState,
    HttpRequest,
    HttpResponse,
    IdTokenError,
    IssuerMismatchError,
    LoginRequiredError,
    MetadataError,
    Quirks,
    StoreError,
    TokenError,
    TokenSet,
    TransportError,
    discover,
)
from pkceflow_core._pkce import s256
from tests.core.fakes import (
    ISSUER,
    KEY,
    NOW,
    REDIRECT_URI,
    TOKEN_ENDPOINT,
    ChangedMeanwhile,
    FakeBrowser,
    MemoryStore,
    Rig,
    ScriptedTransport,
    error_response,
    form_of,
    json_response,
    make_server,
    query_of,
    token_response,
)
from tests.support.threads import at_once

GOOD = "/callback?code=good-code&state={state}"
STRAY = "/callback?code=stray-code&state=forged"

FRESH = TokenSet("access-1", expires_at=NOW + 3600, refresh_token="refresh-1", scope=("read",))
EXPIRED = TokenSet("access-0", expires_at=NOW - 1, refresh_token="refresh-0", scope=("read",))


@pytest.fixture
def rig() -> Rig:
    return Rig()


def metadata_document(issuer: str = ISSUER, **members: object) -> HttpResponse:
    return json_response(
        {
            "issuer": issuer,
            "authorization_endpoint": issuer + "/authorize",
            "token_endpoint": issuer + "/token",
            **members,
        }
    )


# -- discover -----------------------------------------------------------------------------


#: The endpoints whose absence makes discovery read the other document too.
ALL_ENDPOINTS = {
    "revocation_endpoint": ISSUER + "/revoke",
    "userinfo_endpoint": ISSUER + "/userinfo",
    "jwks_uri": ISSUER + "/jwks",
}


def test_discover_reads_rfc8414_metadata_first() -> None:
    transport = ScriptedTransport(metadata_document(**ALL_ENDPOINTS))

    metadata = discover(transport, ISSUER)

    assert metadata.token_endpoint == ISSUER + "/token"
    assert [r.url for r in transport.requests] == [
        ISSUER + "/.well-known/oauth-authorization-server"
    ]


@pytest.mark.parametrize("status", [404, 405, 410])
def test_discover_falls_back_to_openid_discovery_when_rfc8414_is_absent(status: int) -> None:
    transport = ScriptedTransport(HttpResponse(status), metadata_document())

    metadata = discover(transport, ISSUER)

    assert metadata.issuer == ISSUER
    assert transport.requests[1].url == ISSUER + "/.well-known/openid-configuration"


def test_discover_fails_when_neither_document_exists() -> None:
    transport = ScriptedTransport(HttpResponse(404), HttpResponse(404))

    with pytest.raises(MetadataError, match=r"openid-configuration \(HTTP 404\)"):
        discover(transport, ISSUER)


def test_discover_does_not_fall_back_on_a_server_error() -> None:
    transport = ScriptedTransport(HttpResponse(500))

    with pytest.raises(MetadataError, match="answered HTTP 500"):
        discover(transport, ISSUER)

    assert len(transport.requests) == 1


def test_discover_applies_the_s256_rule_and_the_quirks() -> None:
    document = metadata_document(code_challenge_methods_supported=["plain"], **ALL_ENDPOINTS)
    quirks = Quirks(scope_separators=",")

    metadata = discover(ScriptedTransport(document), ISSUER, require_s256=False, quirks=quirks)

    assert metadata.quirks == quirks
    with pytest.raises(MetadataError, match="S256"):
        discover(ScriptedTransport(document), ISSUER)


def test_discover_lets_a_transport_error_through() -> None:
    with pytest.raises(TransportError):
        discover(ScriptedTransport(TransportError("connection refused")), ISSUER)


# -- login: success -------------------------------------------------------------------------


def test_a_login_stores_and_returns_the_tokens(rig: Rig) -> None:
    rig.transport.add(token_response("access-1", expires_in=3600, refresh_token="refresh-1"))

    tokens = rig.login(GOOD)

    assert tokens == TokenSet(
        "access-1", expires_at=NOW + 3600, refresh_token="refresh-1", obtained_at=NOW
    )
    assert rig.store.load(KEY) == tokens


def test_a_login_fires_its_events_in_order(rig: Rig) -> None:
    rig.transport.add(token_response())

    tokens = rig.login(GOOD)

    assert rig.events.calls == [
        ("authorization_url", (rig.browser.opened[0],)),
        ("callback_received", ()),
        ("token_received", (KEY, tokens)),
        ("token_changed", (KEY, tokens)),
    ]


def test_the_browser_is_sent_to_the_authorization_url_for_the_listener(rig: Rig) -> None:
    rig.transport.add(token_response())

    rig.login(GOOD, scope="openid", extra_params={"prompt": "login"})

    query = query_of(rig.browser.opened[0])
    assert query["redirect_uri"] == REDIRECT_URI
    assert (query["scope"], query["prompt"]) == ("openid", "login")
    assert "nonce" in query


def test_the_code_is_exchanged_with_the_verifier_of_the_challenge(rig: Rig) -> None:
    rig.transport.add(token_response())

    rig.login(GOOD)

    form = form_of(rig.transport.requests[0])
    assert rig.transport.requests[0].url == TOKEN_ENDPOINT
    assert form["code"] == "good-code"
    assert s256(form["code_verifier"]) == rig.browser.params["code_challenge"]


def test_the_person_sees_the_success_page(rig: Rig) -> None:
    rig.transport.add(token_response())
    listener = rig.listener(GOOD)

    rig.driver.login(KEY, listener=listener, browser=rig.browser, timeout=42.0)

    assert len(listener.replies) == 1
    reply = listener.replies[0]
    assert (reply.done, reply.ok) == (True, True)
    assert reply.message.startswith("You are signed in.")
    assert listener.timeouts == [42.0]


def test_stray_callbacks_are_ignored_until_the_real_one(rig: Rig) -> None:
    rig.transport.add(token_response())
    listener = rig.listener(STRAY, "/favicon.ico", GOOD)

    rig.driver.login(KEY, listener=listener, browser=rig.browser)

    assert [(r.done, r.ok) for r in listener.replies] == [
        (False, False),
        (False, False),
        (True, True),
    ]
    assert "does not belong to the sign-in in progress" in listener.replies[0].message
    assert form_of(rig.transport.requests[0])["code"] == "good-code"
    assert rig.store.load(KEY) is not None


def test_on_flow_sees_the_flow_before_the_browser_opens(rig: Rig) -> None:
    rig.transport.add(token_response())
    seen: list[tuple[FlowState, int]] = []

    def on_flow(flow: AuthorizationCodeFlow) -> None:
        seen.append((flow.state, len(rig.browser.opened)))

    rig.login(GOOD, on_flow=on_flow)

    assert seen == [(FlowState.AWAITING_CALLBACK, 0)]


def test_a_browser_that_cannot_open_does_not_stop_the_login() -> None:
    rig = Rig(browser=FakeBrowser(opens=False))
    rig.transport.add(token_response())

    assert rig.login(GOOD).access_token == "access-1"


def test_the_id_token_is_checked_with_the_nonce_sent(rig: Rig) -> None:
    rig.transport.add(token_response(id_token="id-1"))

    rig.login(GOOD, scope="openid")

    assert rig.checker.calls == [("id-1", rig.browser.params["nonce"])]


def test_id_token_check_also_judges_a_login_without_an_id_token(rig: Rig) -> None:
    # With openid in scope an id_token is required (OIDC Core 3.1.3.3); the check
    # sees the nonce and decides.
    rig.transport.add(token_response())

    rig.login(GOOD, scope="openid")

    assert rig.checker.calls == [("", rig.browser.params["nonce"])]


def test_a_driver_runs_without_observers_or_id_token_check(rig: Rig) -> None:
    rig.transport.add(token_response(id_token="id-1"))
    driver = Driver(rig.server, ClientConfig("pkceflow-cli"), rig.transport, rig.store)

    tokens = driver.login(KEY, listener=rig.listener(GOOD), browser=rig.browser, scope="openid")

    assert rig.store.load(KEY) == tokens
    assert tokens.id_token == "id-1"


# -- login: failure ---------------------------------------------------------------------------


def test_an_authorization_error_ends_the_wait_with_an_error_page(rig: Rig) -> None:
    listener = rig.listener("/callback?error=access_denied&state={state}", GOOD)

    with pytest.raises(AuthorizationError) as raised:
        rig.driver.login(KEY, listener=listener, browser=rig.browser)

    assert raised.value.error == "access_denied"
    assert len(listener.replies) == 1
    assert (listener.replies[0].done, listener.replies[0].ok) == (True, False)
    assert listener.replies[0].message == "The authorization server refused: access_denied"
    assert rig.store.load(KEY) is None
    assert rig.transport.requests == []
    assert rig.events.names == ["authorization_url", "error"]


def test_a_mix_up_ends_the_wait_with_a_failure_page(rig: Rig) -> None:
    listener = rig.listener(GOOD + "&iss=https://evil.example.com")

    with pytest.raises(IssuerMismatchError):
        rig.driver.login(KEY, listener=listener, browser=rig.browser)

    assert listener.replies[0].message.startswith("The sign-in failed: ")
    assert rig.store.load(KEY) is None


def test_a_token_endpoint_error_stores_nothing(rig: Rig) -> None:
    rig.transport.add(error_response("invalid_grant", 400, error_description="code used"))
    listener = rig.listener(GOOD)

    with pytest.raises(TokenError):
        rig.driver.login(KEY, listener=listener, browser=rig.browser)

    assert rig.store.load(KEY) is None
    assert listener.replies[0].message == (
        "The sign-in failed at the last step: invalid_grant: code used (HTTP 400)"
    )
    assert rig.events.names == ["authorization_url", "callback_received", "error"]


def test_a_transport_failure_during_the_exchange_fails_the_flow(rig: Rig) -> None:
    rig.transport.add(TransportError("connection reset"))
    flows: list[AuthorizationCodeFlow] = []

    with pytest.raises(TransportError):
        rig.login(GOOD, on_flow=flows.append)

    assert flows[0].state is FlowState.FAILED
    assert rig.store.load(KEY) is None


def test_a_failed_id_token_check_stores_nothing(rig: Rig) -> None:
    rig.transport.add(token_response(id_token="id-1"))
    rig.checker.error = IdTokenError("nonce mismatch", check="nonce")

    with pytest.raises(IdTokenError):
        rig.login(GOOD, scope="openid")

    assert rig.store.load(KEY) is None
    assert rig.events.names[-1] == "error"


def test_a_login_without_a_valid_callback_times_out(rig: Rig) -> None:
    with pytest.raises(CallbackTimeoutError) as raised:
        rig.login(STRAY, "/callback?code=x")

    assert raised.value.rejected == 2
    assert rig.store.load(KEY) is None
    assert rig.events.names == ["authorization_url", "error"]


def test_a_store_failure_is_reported() -> None:
    class BrokenStore(MemoryStore):
        def save(self, key: str, tokens: TokenSet) -> None:
            raise StoreError("disk full")

    rig = Rig(store=BrokenStore())
    rig.transport.add(token_response())

    with pytest.raises(StoreError):
        rig.login(GOOD)

    assert rig.events.names[-1] == "error"


# -- token(): fresh or refreshed ---------------------------------------------------------------


def test_a_fresh_token_is_returned_without_a_request(rig: Rig) -> None:
    rig.store.save(KEY, FRESH)

    assert rig.driver.token(KEY) == FRESH
    assert rig.transport.requests == []
    assert rig.events.calls == []


def test_a_token_without_a_lifetime_is_never_refreshed(rig: Rig) -> None:
    rig.store.save(KEY, TokenSet("access-1"))

    assert rig.driver.token(KEY).access_token == "access-1"


def test_no_stored_login_requires_a_login(rig: Rig) -> None:
    with pytest.raises(LoginRequiredError, match="no stored login for 'work'"):
        rig.driver.token(KEY)


def test_an_expired_token_is_refreshed_once_and_stored(rig: Rig) -> None:
    rig.store.save(KEY, EXPIRED)
    rig.transport.add(token_response("access-1", expires_in=3600))

    tokens = rig.driver.token(KEY)

    assert tokens.access_token == "access-1"
    assert rig.store.load(KEY) == tokens
    assert [form_of(r) for r in rig.transport.requests] == [
        {"grant_type": "refresh_token", "refresh_token": "refresh-0", "client_id": "pkceflow-cli"}
    ]
    assert rig.events.calls == [
        ("refresh_done", (KEY, NOW + 3600)),
        ("token_changed", (KEY, tokens)),
    ]


def test_a_token_within_min_ttl_of_expiry_is_refreshed(rig: Rig) -> None:
    rig.store.save(KEY, FRESH)
    rig.clock.advance(3600 - 30)
    rig.transport.add(token_response("access-2"))

    assert rig.driver.token(KEY, min_ttl=60).access_token == "access-2"


def test_a_refresh_keeps_the_old_refresh_token_when_none_is_sent(rig: Rig) -> None:
    rig.store.save(KEY, EXPIRED)
    rig.transport.add(token_response("access-1"))

    assert rig.driver.token(KEY).refresh_token == "refresh-0"


def test_a_refresh_keeps_the_scope_when_the_server_omits_it(rig: Rig) -> None:
    rig.store.save(KEY, EXPIRED)
    rig.transport.add(token_response("access-1"))

    assert rig.driver.token(KEY).scope == ("read",)


def test_a_rotated_refresh_token_is_kept_and_used_next(rig: Rig) -> None:
    rig.store.save(KEY, EXPIRED)
    rig.transport.add(
        token_response("access-1", expires_in=60, refresh_token="refresh-1"),
        token_response("access-2", expires_in=60),
    )

    rig.driver.token(KEY)
    rig.clock.advance(3600)
    tokens = rig.driver.token(KEY)

    assert [f["refresh_token"] for f in rig.transport.forms] == ["refresh-0", "refresh-1"]
    assert tokens.refresh_token == "refresh-1"


def test_32_threads_asking_for_an_expired_token_cause_one_refresh(rig: Rig) -> None:
    rig.store.save(KEY, EXPIRED)
    rig.transport = ScriptedTransport(token_response("access-1", expires_in=3600), delay=0.05)
    driver = rig.driver

    outcome = at_once(32, lambda: driver.token(KEY))

    assert outcome.errors == []
    assert len(rig.transport.requests) == 1
    assert [t.access_token for t in outcome.results] == ["access-1"] * 32
    assert rig.events.names == ["refresh_done", "token_changed"]


def test_a_token_refreshed_by_another_thread_meanwhile_is_used() -> None:
    rig = Rig(store=ChangedMeanwhile({KEY: EXPIRED}, lambda store, key: store.save(key, FRESH)))

    assert rig.driver.token(KEY) == FRESH
    assert rig.transport.requests == []
    assert rig.events.calls == []


def test_a_token_replaced_meanwhile_by_another_expired_one_is_refreshed() -> None:
    other = TokenSet("access-x", expires_at=NOW - 5, refresh_token="refresh-x")

    def another_process_stores_other(store: MemoryStore, key: str) -> None:
        if store.load(key) == EXPIRED:
            store.save(key, other)

    rig = Rig(store=ChangedMeanwhile({KEY: EXPIRED}, another_process_stores_other))
    rig.transport.add(token_response("access-1"))

    assert rig.driver.token(KEY).access_token == "access-1"
    assert rig.transport.forms[0]["refresh_token"] == "refresh-x"


def test_a_login_removed_while_waiting_for_the_lock_requires_a_login() -> None:
    rig = Rig(store=ChangedMeanwhile({KEY: EXPIRED}, lambda store, key: store.delete(key)))

    with pytest.raises(LoginRequiredError, match="was removed"):
        rig.driver.token(KEY)

    assert rig.events.names == ["error"]


def test_an_expired_login_without_refresh_token_requires_a_login(rig: Rig) -> None:
    rig.store.save(KEY, TokenSet("access-0", expires_at=NOW - 1))

    with pytest.raises(LoginRequiredError, match="no refresh token"):
        rig.driver.token(KEY)

    assert rig.transport.requests == []


def test_invalid_grant_clears_the_store_and_requires_a_login(rig: Rig) -> None:
    rig.store.save(KEY, EXPIRED)
    rig.transport.add(error_response("invalid_grant", 400))

    with pytest.raises(LoginRequiredError, match="invalid_grant") as raised:
        rig.driver.token(KEY)

    assert isinstance(raised.value.__cause__, TokenError)
    assert rig.store.load(KEY) is None
    assert rig.events.names == ["error"]


def test_invalid_grant_keeps_a_login_stored_meanwhile_by_another_process(rig: Rig) -> None:
    newer = TokenSet("access-9", expires_at=NOW + 3600, refresh_token="refresh-9")
    rig.store.save(KEY, EXPIRED)

    def unlocked_writer_then_refusal(request: HttpRequest) -> HttpResponse:
        rig.store.save(KEY, newer)
        return error_response("invalid_grant", 400)

    rig.transport.add(unlocked_writer_then_refusal)

    assert rig.driver.token(KEY) == newer
    assert rig.store.load(KEY) == newer


def test_another_token_error_leaves_the_login_stored(rig: Rig) -> None:
    rig.store.save(KEY, EXPIRED)
    rig.transport.add(error_response("invalid_client", 401))

    with pytest.raises(TokenError, match="invalid_client"):
        rig.driver.token(KEY)

    assert rig.store.load(KEY) == EXPIRED
    assert rig.events.names == ["error"]


def test_a_transport_error_during_refresh_leaves_the_login_stored(rig: Rig) -> None:
    rig.store.save(KEY, EXPIRED)
    rig.transport.add(TransportError("timed out"))

    with pytest.raises(TransportError):
        rig.driver.token(KEY)

    assert rig.store.load(KEY) == EXPIRED


def test_a_store_changed_during_a_locked_refresh_is_a_store_error(rig: Rig) -> None:
    intruder = TokenSet("access-i", refresh_token="refresh-i")
    rig.store.save(KEY, EXPIRED)

    def unlocked_writer(request: HttpRequest) -> HttpResponse:
        rig.store.save(KEY, intruder)
        return token_response("access-1")

    rig.transport.add(unlocked_writer)

    with pytest.raises(StoreError, match="changed during a locked refresh"):
        rig.driver.token(KEY)

    assert rig.store.load(KEY) == intruder


def test_a_new_id_token_from_a_refresh_is_checked_without_nonce(rig: Rig) -> None:
    rig.store.save(KEY, TokenSet("a", expires_at=NOW - 1, refresh_token="r", id_token="id-1"))
    rig.transport.add(token_response(id_token="id-2"))

    assert rig.driver.token(KEY).id_token == "id-2"
    assert rig.checker.calls == [("id-2", None)]


def test_a_refreshed_id_token_is_checked_against_the_one_it_replaces(rig: Rig) -> None:
    before = TokenSet("a", expires_at=NOW - 1, refresh_token="r", id_token="id-1")
    rig.store.save(KEY, before)
    rig.transport.add(token_response(id_token="id-2"))

    rig.driver.token(KEY)

    assert rig.checker.previous == [before]


def test_an_id_token_kept_from_before_is_not_checked_again(rig: Rig) -> None:
    rig.store.save(KEY, TokenSet("a", expires_at=NOW - 1, refresh_token="r", id_token="id-1"))
    rig.transport.add(token_response())

    assert rig.driver.token(KEY).id_token == "id-1"
    assert rig.checker.calls == []


def test_a_failed_id_token_check_on_refresh_keeps_the_rotated_tokens_and_the_old_id_token(
    rig: Rig,
) -> None:
    # The server has rotated the refresh token by the time the id_token is checked:
    # keeping EXPIRED would keep a dead login.
    rig.store.save(KEY, attrs.evolve(EXPIRED, id_token="id-1"))
    rig.transport.add(token_response("access-2", refresh_token="refresh-2", id_token="id-2"))
    rig.checker.error = IdTokenError("bad signature", check="signature")

    tokens = rig.driver.token(KEY)

    assert (tokens.access_token, tokens.refresh_token, tokens.id_token) == (
        "access-2",
        "refresh-2",
        "id-1",
    )
    assert rig.store.load(KEY) == tokens
    assert ("error", (KEY, rig.checker.error)) in rig.events.calls


# -- refresh(): now, whatever the expiry ------------------------------------------------------


def test_refresh_refreshes_a_fresh_token(rig: Rig) -> None:
    rig.store.save(KEY, FRESH)
    rig.transport.add(token_response("access-2"))

    assert rig.driver.refresh(KEY).access_token == "access-2"
    assert rig.transport.forms[0]["refresh_token"] == "refresh-1"


def test_refresh_without_stored_login_requires_a_login(rig: Rig) -> None:
    with pytest.raises(LoginRequiredError):
        rig.driver.refresh(KEY)


def test_refresh_uses_a_token_refreshed_meanwhile_even_if_expired() -> None:
    other = TokenSet("access-x", expires_at=NOW - 5, refresh_token="refresh-x")

    rig = Rig(store=ChangedMeanwhile({KEY: FRESH}, lambda store, key: store.save(key, other)))

    assert rig.driver.refresh(KEY) == other
    assert rig.transport.requests == []


# -- refresh_with(): a refresh token from elsewhere -------------------------------------------


def test_refresh_with_stores_the_result_under_the_key(rig: Rig) -> None:
    rig.transport.add(token_response("access-1", expires_in=60, refresh_token="refresh-2"))

    tokens = rig.driver.refresh_with(KEY, "given-refresh")

    assert rig.transport.forms[0]["refresh_token"] == "given-refresh"
    assert rig.store.load(KEY) == tokens
    assert tokens.refresh_token == "refresh-2"
    assert rig.events.calls == [
        ("refresh_done", (KEY, NOW + 60)),
        ("token_changed", (KEY, tokens)),
    ]


def test_refresh_with_keeps_the_given_refresh_token_when_none_is_sent(rig: Rig) -> None:
    rig.transport.add(token_response("access-1"))

    assert rig.driver.refresh_with(KEY, "given-refresh").refresh_token == "given-refresh"


def test_refresh_with_checks_an_id_token_without_nonce(rig: Rig) -> None:
    rig.transport.add(token_response(id_token="id-1"))

    rig.driver.refresh_with(KEY, "given-refresh")

    assert rig.checker.calls == [("id-1", None)]


def test_refresh_with_holds_the_lock(rig: Rig) -> None:
    locked: list[bool] = []

    def answer(request: HttpRequest) -> HttpResponse:
        locked.append(rig.store.is_locked(KEY))
        return token_response()

    rig.transport.add(answer)

    rig.driver.refresh_with(KEY, "given-refresh")

    assert locked == [True]


def test_a_failed_refresh_with_stores_nothing_and_is_reported(rig: Rig) -> None:
    rig.store.save(KEY, FRESH)
    rig.transport.add(error_response("invalid_grant", 400))

    with pytest.raises(TokenError):
        rig.driver.refresh_with(KEY, "given-refresh")

    assert rig.store.load(KEY) == FRESH
    assert rig.events.names == ["error"]


# -- logout -------------------------------------------------------------------------------------


def test_logout_revokes_the_refresh_token_then_the_access_token_and_forgets(rig: Rig) -> None:
    rig.store.save(KEY, FRESH)
    rig.transport.add(HttpResponse(200), HttpResponse(200))

    assert rig.driver.logout(KEY) is True

    assert [(f["token"], f["token_type_hint"]) for f in rig.transport.forms] == [
        ("refresh-1", "refresh_token"),
        ("access-1", "access_token"),
    ]
    assert rig.store.load(KEY) is None


def test_logout_without_refresh_token_revokes_only_the_access_token(rig: Rig) -> None:
    rig.store.save(KEY, TokenSet("access-1"))
    rig.transport.add(HttpResponse(200))

    assert rig.driver.logout(KEY) is True
    assert [f["token"] for f in rig.transport.forms] == ["access-1"]


def test_logout_without_revocation_endpoint_only_forgets() -> None:
    rig = Rig(server=make_server(revocation_endpoint=None))
    rig.store.save(KEY, FRESH)

    assert rig.driver.logout(KEY) is False
    assert rig.transport.requests == []
    assert rig.store.load(KEY) is None


def test_logout_without_revoking_only_forgets(rig: Rig) -> None:
    rig.store.save(KEY, FRESH)

    assert rig.driver.logout(KEY, revoke=False) is False
    assert rig.transport.requests == []
    assert rig.store.load(KEY) is None


def test_logout_without_stored_login_does_nothing(rig: Rig) -> None:
    assert rig.driver.logout(KEY) is False
    assert rig.transport.requests == []
    assert rig.store.deleted == []


def test_logout_forgets_even_when_revocation_is_refused(rig: Rig) -> None:
    rig.store.save(KEY, FRESH)
    rig.transport.add(error_response("unsupported_token_type", 400))

    with pytest.raises(TokenError):
        rig.driver.logout(KEY)

    assert rig.store.load(KEY) is None
    assert len(rig.transport.requests) == 1


def test_logout_forgets_even_when_the_transport_fails(rig: Rig) -> None:
    rig.store.save(KEY, FRESH)
    rig.transport.add(TransportError("connection refused"))

    with pytest.raises(TransportError):
        rig.driver.logout(KEY)

    assert rig.store.load(KEY) is None


def test_logout_holds_the_lock_while_revoking(rig: Rig) -> None:
    rig.store.save(KEY, TokenSet("access-1"))
    locked: list[bool] = []

    def answer(request: HttpRequest) -> HttpResponse:
        locked.append(rig.store.is_locked(KEY))
        return HttpResponse(200)

    rig.transport.add(answer)

    rig.driver.logout(KEY)

    assert locked == [True]
