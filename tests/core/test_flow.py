"""flow.py: one login as an explicit state machine.

AWAITING_CALLBACK -> EXCHANGING -> COMPLETE, or FAILED from either; a callback that
cannot be tied to the flow leaves it waiting. The flow builds the authorization URL,
checks the callback, builds the code exchange, reads the token response, and can be
dumped and restored between requests.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from pkceflow_core import (
    AuthorizationCodeFlow,
    AuthorizationError,
    CallbackError,
    ClientConfig,
    DuplicateParameterError,
    FlowState,
    FlowStateError,
    HttpRequest,
    HttpResponse,
    IdTokenError,
    InsecureEndpointError,
    InvalidResponseError,
    IssuerMismatchError,
    MissingCodeError,
    MissingIssuerError,
    MissingStateError,
    Quirks,
    RestoreError,
    ServerError,
    ServerMetadata,
    StateMismatchError,
    TemporarilyUnavailableError,
    TokenError,
    TokenSet,
    UsageError,
)
from pkceflow_core._callback import MAX_CALLBACK
from pkceflow_core._flow import TRANSITIONS, FlowEvent
from pkceflow_core._pkce import s256
from tests.core.fakes import (
    AUTHORIZATION_ENDPOINT,
    ISSUER,
    NOW,
    REDIRECT_URI,
    TOKEN_ENDPOINT,
    CountingEntropy,
    error_response,
    form_of,
    make_server,
    query_of,
    token_response,
)
from tests.support.strategies import any_json, any_json_or_edited

AWAITING = FlowState.AWAITING_CALLBACK
EXCHANGING = FlowState.EXCHANGING
COMPLETE = FlowState.COMPLETE
FAILED = FlowState.FAILED


def new_flow(server: ServerMetadata, client: ClientConfig, **kwargs: Any) -> AuthorizationCodeFlow:
    return AuthorizationCodeFlow(server, client, redirect_uri=REDIRECT_URI, **kwargs)


def state_of(flow: AuthorizationCodeFlow) -> str:
    return query_of(flow.authorization_url)["state"]


def callback(flow: AuthorizationCodeFlow, **params: str) -> str:
    """The request target of a callback for ``flow`` with its state and ``params``."""
    return "/callback?" + urlencode({"state": state_of(flow), **params})


def exchanging(
    server: ServerMetadata, client: ClientConfig, **kwargs: Any
) -> AuthorizationCodeFlow:
    flow = new_flow(server, client, **kwargs)
    flow.receive_callback(callback(flow, code="the-code"))
    return flow


def restored(flow: AuthorizationCodeFlow) -> AuthorizationCodeFlow:
    data = json.loads(json.dumps(flow.to_dict()))
    return AuthorizationCodeFlow.from_dict(
        data, server=flow.server, client=ClientConfig("pkceflow-cli")
    )


# -- the authorization URL -----------------------------------------------------------


def test_a_new_flow_awaits_its_callback(server: ServerMetadata, client: ClientConfig) -> None:
    assert new_flow(server, client).state is AWAITING


def test_the_authorization_url_carries_every_protocol_parameter(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = new_flow(server, client, scope="openid profile")

    query = query_of(flow.authorization_url)

    assert flow.authorization_url.startswith(AUTHORIZATION_ENDPOINT + "?")
    assert list(query) == [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "nonce",
    ]
    assert query["response_type"] == "code"
    assert query["client_id"] == "pkceflow-cli"
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["scope"] == "openid profile"
    assert query["code_challenge"] == flow.code_challenge
    assert query["code_challenge_method"] == "S256"
    assert query["nonce"] == flow.nonce


def test_the_challenge_sent_is_s256_of_the_verifier_exchanged(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = new_flow(server, client)
    challenge = query_of(flow.authorization_url)["code_challenge"]

    request = flow.receive_callback(callback(flow, code="c"))

    assert challenge == s256(form_of(request)["code_verifier"])


def test_plain_is_sent_only_when_asked_for_by_name(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = new_flow(server, client, challenge_method="plain")
    query = query_of(flow.authorization_url)

    request = flow.receive_callback(callback(flow, code="c"))

    assert query["code_challenge_method"] == "plain"
    assert query["code_challenge"] == form_of(request)["code_verifier"]


def test_a_scope_list_and_a_scope_string_give_the_same_scope_parameter(
    server: ServerMetadata, client: ClientConfig
) -> None:
    as_list = new_flow(server, client, scope=["openid", "profile"])
    as_string = new_flow(server, client, scope="openid profile")

    assert query_of(as_list.authorization_url)["scope"] == "openid profile"
    assert query_of(as_string.authorization_url)["scope"] == "openid profile"


def test_the_scope_is_normalised(server: ServerMetadata, client: ClientConfig) -> None:
    flow = new_flow(server, client, scope=" read  write read ")

    assert flow.scope == ("read", "write")
    assert query_of(flow.authorization_url)["scope"] == "read write"


def test_no_scope_sends_no_scope_parameter(server: ServerMetadata, client: ClientConfig) -> None:
    flow = new_flow(server, client)

    assert flow.scope == ()
    assert "scope" not in query_of(flow.authorization_url)


def test_no_nonce_is_made_without_openid_in_the_scope(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = new_flow(server, client, scope="profile email")

    assert flow.nonce is None
    assert "nonce" not in query_of(flow.authorization_url)


def test_state_and_nonce_carry_at_least_128_bits(
    server: ServerMetadata, client: ClientConfig
) -> None:
    entropy = CountingEntropy()
    flow = new_flow(server, client, scope="openid", token_bytes=entropy)
    assert flow.nonce is not None

    decoded = [base64.urlsafe_b64decode(v + "==") for v in (state_of(flow), flow.nonce)]

    # One draw for the verifier, one each for state and nonce.
    assert len(entropy.requests) == 3
    assert all(n >= 16 for n in entropy.requests[1:])
    assert all(len(d) >= 16 for d in decoded)


def test_state_nonce_and_verifier_come_from_the_injected_entropy(
    server: ServerMetadata, client: ClientConfig
) -> None:
    first = new_flow(server, client, scope="openid", token_bytes=CountingEntropy())
    second = new_flow(server, client, scope="openid", token_bytes=CountingEntropy())

    assert first.authorization_url == second.authorization_url


def test_every_flow_gets_its_own_state_nonce_and_challenge(
    server: ServerMetadata, client: ClientConfig
) -> None:
    first = query_of(new_flow(server, client, scope="openid").authorization_url)
    second = query_of(new_flow(server, client, scope="openid").authorization_url)

    for name in ("state", "nonce", "code_challenge"):
        assert first[name] != second[name]
    assert first["state"] != first["nonce"]


def test_extra_parameters_go_into_the_url(server: ServerMetadata, client: ClientConfig) -> None:
    extra = {"prompt": "consent", "resource": ["https://api.example.com", "https://b.example"]}

    flow = new_flow(server, client, extra_params=extra)

    assert parse_qsl(urlsplit(flow.authorization_url).query)[-3:] == [
        ("prompt", "consent"),
        ("resource", "https://api.example.com"),
        ("resource", "https://b.example"),
    ]


@pytest.mark.parametrize("name", ["state", "code_challenge", "redirect_uri", "response_type"])
def test_an_extra_parameter_may_not_replace_a_protocol_parameter(
    server: ServerMetadata, client: ClientConfig, name: str
) -> None:
    with pytest.raises(UsageError, match="set twice"):
        new_flow(server, client, extra_params={name: "mine"})


def test_the_authorization_endpoint_query_is_kept(client: ClientConfig) -> None:
    server = make_server(authorization_endpoint=AUTHORIZATION_ENDPOINT + "?tenant=acme")

    flow = new_flow(server, client)

    assert flow.authorization_url.startswith(AUTHORIZATION_ENDPOINT + "?tenant=acme&response_type")


def test_an_https_redirect_uri_is_accepted(server: ServerMetadata, client: ClientConfig) -> None:
    flow = AuthorizationCodeFlow(server, client, redirect_uri="https://app.example.com/cb")

    assert flow.redirect_uri == "https://app.example.com/cb"


def test_an_http_redirect_uri_off_loopback_is_refused(
    server: ServerMetadata, client: ClientConfig
) -> None:
    with pytest.raises(InsecureEndpointError, match="redirect_uri"):
        AuthorizationCodeFlow(server, client, redirect_uri="http://app.example.com/cb")


def test_a_redirect_uri_with_a_fragment_is_refused(
    server: ServerMetadata, client: ClientConfig
) -> None:
    with pytest.raises(UsageError, match="fragment"):
        AuthorizationCodeFlow(server, client, redirect_uri=REDIRECT_URI + "#x")


def test_an_invalid_scope_is_refused(server: ServerMetadata, client: ClientConfig) -> None:
    with pytest.raises(UsageError, match="scope token"):
        new_flow(server, client, scope=['say"hi'])


def test_the_flow_exposes_what_it_sent(server: ServerMetadata, client: ClientConfig) -> None:
    flow = new_flow(server, client, scope="read")

    assert (flow.redirect_uri, flow.scope, flow.server) == (REDIRECT_URI, ("read",), server)


def test_the_repr_shows_the_state_and_client_but_no_secret(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = new_flow(server, client, scope="openid")
    assert flow.nonce is not None
    verifier = form_of(flow.receive_callback(callback(flow, code="c")))["code_verifier"]

    text = repr(flow)

    assert text == "<AuthorizationCodeFlow exchanging client_id='pkceflow-cli'>"
    for secret in (verifier, state_of(flow), flow.nonce):
        assert secret not in text


# -- the callback --------------------------------------------------------------------


def test_a_valid_callback_gives_the_code_exchange_request(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = new_flow(server, client)

    request = flow.receive_callback(callback(flow, code="the-code"))

    assert flow.state is EXCHANGING
    assert (request.method, request.url, request.retry_safe) == ("POST", TOKEN_ENDPOINT, False)
    form = form_of(request)
    assert (form["grant_type"], form["code"], form["redirect_uri"]) == (
        "authorization_code",
        "the-code",
        REDIRECT_URI,
    )


@pytest.mark.parametrize(
    "prefix",
    ["http://127.0.0.1:8765/callback?", "/callback?", "?", ""],
    ids=["url", "target", "?query", "query"],
)
def test_the_callback_may_be_a_url_a_request_target_or_a_query(
    server: ServerMetadata, client: ClientConfig, prefix: str
) -> None:
    flow = new_flow(server, client)

    flow.receive_callback(prefix + urlencode({"code": "c", "state": state_of(flow)}))

    assert flow.state is EXCHANGING


STRAY_CALLBACKS: list[tuple[str, str, type[CallbackError]]] = [
    ("no-state", "/callback?code=c", MissingStateError),
    ("wrong-state", "/callback?code=c&state=forged", StateMismatchError),
    ("forged-error", "/callback?error=access_denied&state=forged", StateMismatchError),
    ("state-in-fragment", "/callback?code=c#state={state}", MissingStateError),
    ("duplicate", "/callback?code=c&state={state}&state={state}", DuplicateParameterError),
    ("oversized", "/callback?state={state}&code=" + "c" * MAX_CALLBACK, CallbackError),
    ("not-utf8", "/callback?state={state}&code=%ff", CallbackError),
    ("too-many-fields", "/callback?state={state}" + "&x=1" * 64, CallbackError),
]


@pytest.mark.parametrize(
    ("target", "error"),
    [(t, e) for _, t, e in STRAY_CALLBACKS],
    ids=[name for name, _, _ in STRAY_CALLBACKS],
)
def test_a_callback_not_tied_to_the_flow_leaves_it_waiting(
    server: ServerMetadata, client: ClientConfig, target: str, error: type[CallbackError]
) -> None:
    flow = new_flow(server, client)

    with pytest.raises(error):
        flow.receive_callback(target.format(state=state_of(flow)))

    assert flow.state is AWAITING


def test_the_real_callback_is_accepted_after_stray_ones(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = new_flow(server, client)
    for target in ("/callback?state=forged&code=x", "/favicon.ico", "/callback?error=x"):
        with pytest.raises(CallbackError):
            flow.receive_callback(target)

    flow.receive_callback(callback(flow, code="real"))

    assert flow.state is EXCHANGING


def test_an_error_response_fails_the_flow_with_its_fields(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = new_flow(server, client)
    target = callback(
        flow, error="access_denied", error_description="Denied", error_uri="https://as/e"
    )

    with pytest.raises(AuthorizationError) as raised:
        flow.receive_callback(target)

    assert flow.state is FAILED
    assert (raised.value.error, raised.value.error_description, raised.value.error_uri) == (
        "access_denied",
        "Denied",
        "https://as/e",
    )


FINAL_REJECTIONS: list[tuple[str, dict[str, str], type[CallbackError]]] = [
    ("code-and-error", {"code": "c", "error": "access_denied"}, CallbackError),
    ("missing-code", {}, MissingCodeError),
    ("empty-code", {"code": ""}, MissingCodeError),
    ("other-iss", {"code": "c", "iss": "https://evil.example.com"}, IssuerMismatchError),
    (
        "other-iss-on-error",
        {"error": "access_denied", "iss": "https://evil.example.com"},
        IssuerMismatchError,
    ),
]


@pytest.mark.parametrize(
    ("params", "error"),
    [(p, e) for _, p, e in FINAL_REJECTIONS],
    ids=[name for name, _, _ in FINAL_REJECTIONS],
)
def test_a_bad_callback_with_the_right_state_fails_the_flow(
    server: ServerMetadata, client: ClientConfig, params: dict[str, str], error: type[CallbackError]
) -> None:
    flow = new_flow(server, client)

    with pytest.raises(error):
        flow.receive_callback(callback(flow, **params))

    assert flow.state is FAILED


@pytest.mark.parametrize(
    "params", [{"code": "c"}, {"error": "access_denied"}], ids=["success", "error"]
)
def test_a_missing_iss_fails_the_flow_when_the_server_promised_one(
    client: ClientConfig, params: dict[str, str]
) -> None:
    flow = new_flow(make_server(iss_supported=True), client)

    with pytest.raises(MissingIssuerError):
        flow.receive_callback(callback(flow, **params))

    assert flow.state is FAILED


def test_a_matching_iss_is_accepted_when_the_server_promised_one(client: ClientConfig) -> None:
    flow = new_flow(make_server(iss_supported=True), client)

    flow.receive_callback(callback(flow, code="c", iss=ISSUER))

    assert flow.state is EXCHANGING


def test_any_iss_is_accepted_when_the_issuer_is_unknown(client: ClientConfig) -> None:
    flow = new_flow(make_server(issuer=None), client)

    flow.receive_callback(callback(flow, code="c", iss="https://other.example.com"))

    assert flow.state is EXCHANGING


def test_a_failed_flow_takes_no_more_callbacks(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = new_flow(server, client)
    with pytest.raises(AuthorizationError):
        flow.receive_callback(callback(flow, error="access_denied"))

    with pytest.raises(FlowStateError, match="cannot receive a callback while failed"):
        flow.receive_callback(callback(flow, code="c"))


def test_a_second_callback_while_exchanging_is_refused(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = exchanging(server, client)

    with pytest.raises(FlowStateError, match="while exchanging"):
        flow.receive_callback(callback(flow, code="again"))

    assert flow.state is EXCHANGING


# -- the token response --------------------------------------------------------------


def test_the_token_response_completes_the_flow(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = exchanging(server, client, scope="openid read")

    tokens = flow.receive_token_response(token_response("access-1", expires_in=3600), now=NOW)

    assert flow.state is COMPLETE
    assert (tokens.access_token, tokens.expires_at) == ("access-1", NOW + 3600)
    assert tokens.scope == ("openid", "read")


def test_the_granted_scope_is_taken_from_the_response(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = exchanging(server, client, scope="openid read")

    tokens = flow.receive_token_response(token_response(scope="openid"), now=NOW)

    assert tokens.scope == ("openid",)


def test_the_granted_scope_is_unknown_when_none_was_asked_or_given(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = exchanging(server, client)

    assert flow.receive_token_response(token_response(), now=NOW).scope is None


def test_the_server_quirks_apply_to_the_token_response(client: ClientConfig) -> None:
    flow = exchanging(make_server(quirks=Quirks(expires_in_as_string=True)), client)

    assert flow.receive_token_response(token_response(expires_in="60"), now=NOW).expires_at == (
        NOW + 60
    )


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (error_response("invalid_grant", 400), TokenError),
        (token_response(token_type="mac"), InvalidResponseError),
        (HttpResponse(502, {}, b"Bad Gateway"), TemporarilyUnavailableError),
    ],
    ids=["oauth-error", "malformed", "gateway"],
)
def test_a_bad_token_response_fails_the_flow(
    server: ServerMetadata, client: ClientConfig, response: HttpResponse, error: type[ServerError]
) -> None:
    flow = exchanging(server, client)

    with pytest.raises(error):
        flow.receive_token_response(response, now=NOW)

    assert flow.state is FAILED


def test_a_check_that_refuses_the_tokens_fails_the_flow(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = exchanging(server, client, scope="openid")

    def check(tokens: TokenSet) -> None:
        raise IdTokenError("the nonce is not this login's", check="nonce")

    with pytest.raises(IdTokenError):
        flow.receive_token_response(token_response(id_token="x.y.z"), now=NOW, check=check)

    assert flow.state is FAILED


def test_a_check_that_passes_completes_the_flow(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = exchanging(server, client, scope="openid")
    seen: list[TokenSet] = []

    tokens = flow.receive_token_response(token_response(), now=NOW, check=seen.append)

    assert seen == [tokens]
    assert flow.state is COMPLETE


def test_a_token_response_before_the_callback_is_refused(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = new_flow(server, client)

    with pytest.raises(FlowStateError, match="cannot receive a token response while awaiting"):
        flow.receive_token_response(token_response(), now=NOW)

    assert flow.state is AWAITING


def test_a_second_token_response_is_refused(server: ServerMetadata, client: ClientConfig) -> None:
    flow = exchanging(server, client)
    flow.receive_token_response(token_response(), now=NOW)

    with pytest.raises(FlowStateError, match="while complete"):
        flow.receive_token_response(token_response(), now=NOW)

    assert flow.state is COMPLETE


# -- giving up -----------------------------------------------------------------------


def test_a_waiting_flow_can_be_given_up(server: ServerMetadata, client: ClientConfig) -> None:
    flow = new_flow(server, client)

    flow.fail()

    assert flow.state is FAILED


def test_an_exchanging_flow_can_be_given_up(server: ServerMetadata, client: ClientConfig) -> None:
    flow = exchanging(server, client)

    flow.fail()

    assert flow.state is FAILED


def test_a_complete_flow_cannot_fail(server: ServerMetadata, client: ClientConfig) -> None:
    flow = exchanging(server, client)
    flow.receive_token_response(token_response(), now=NOW)

    with pytest.raises(FlowStateError, match="cannot failed while complete"):
        flow.fail()

    assert flow.state is COMPLETE


def test_a_failed_flow_cannot_fail_again(server: ServerMetadata, client: ClientConfig) -> None:
    flow = new_flow(server, client)
    flow.fail()

    with pytest.raises(FlowStateError):
        flow.fail()


def test_the_transition_table_is_the_documented_machine() -> None:
    assert dict(TRANSITIONS) == {
        (AWAITING, FlowEvent.CALLBACK_REJECTED): AWAITING,
        (AWAITING, FlowEvent.CALLBACK_ACCEPTED): EXCHANGING,
        (AWAITING, FlowEvent.FAILED): FAILED,
        (EXCHANGING, FlowEvent.TOKENS_RECEIVED): COMPLETE,
        (EXCHANGING, FlowEvent.FAILED): FAILED,
    }


# -- dump and restore ----------------------------------------------------------------


def test_a_dump_is_versioned_json(server: ServerMetadata, client: ClientConfig) -> None:
    flow = new_flow(server, client, scope="openid")

    data = json.loads(json.dumps(flow.to_dict()))

    assert data["version"] == 1
    assert data["state"] == "awaiting_callback"
    assert data["authorization_url"] == flow.authorization_url


def test_a_restored_flow_is_the_same_login(server: ServerMetadata, client: ClientConfig) -> None:
    flow = new_flow(server, client, scope="openid read", token_bytes=CountingEntropy())

    copy = restored(flow)

    assert copy.authorization_url == flow.authorization_url
    assert (copy.state, copy.scope, copy.nonce) == (flow.state, flow.scope, flow.nonce)
    assert (copy.redirect_uri, copy.code_challenge) == (flow.redirect_uri, flow.code_challenge)
    assert copy.to_dict() == flow.to_dict()


def test_a_restored_flow_accepts_the_callback_with_the_same_verifier(
    server: ServerMetadata, client: ClientConfig
) -> None:
    flow = new_flow(server, client)
    target = callback(flow, code="c")

    assert restored(flow).receive_callback(target).body == flow.receive_callback(target).body


def test_a_flow_restored_while_exchanging_completes(
    server: ServerMetadata, client: ClientConfig
) -> None:
    copy = restored(exchanging(server, client))

    copy.receive_token_response(token_response(), now=NOW)

    assert copy.state is COMPLETE


@pytest.mark.parametrize("final", [COMPLETE, FAILED])
def test_a_finished_flow_restores_finished(
    server: ServerMetadata, client: ClientConfig, final: FlowState
) -> None:
    flow = exchanging(server, client)
    if final is COMPLETE:
        flow.receive_token_response(token_response(), now=NOW)
    else:
        flow.fail()

    assert restored(flow).state is final


def test_a_flow_at_a_server_without_issuer_round_trips(client: ClientConfig) -> None:
    flow = new_flow(make_server(issuer=None), client)

    assert restored(flow).to_dict() == flow.to_dict()


def restore(data: object, server: ServerMetadata, client: ClientConfig) -> AuthorizationCodeFlow:
    return AuthorizationCodeFlow.from_dict(data, server=server, client=client)


@pytest.mark.parametrize("data", [None, [], "flow"], ids=["null", "array", "string"])
def test_restoring_something_other_than_an_object_is_refused(
    server: ServerMetadata, client: ClientConfig, data: object
) -> None:
    with pytest.raises(RestoreError, match="JSON object"):
        restore(data, server, client)


@pytest.mark.parametrize("version", [None, 0, 2, "1"])
def test_restoring_another_version_is_refused(
    server: ServerMetadata, client: ClientConfig, version: object
) -> None:
    data = new_flow(server, client).to_dict() | {"version": version}

    with pytest.raises(RestoreError, match="version"):
        restore(data, server, client)


REQUIRED_STRINGS = [
    "state",
    "client_id",
    "authorization_endpoint",
    "redirect_uri",
    "code_verifier",
    "code_challenge_method",
    "state_value",
    "authorization_url",
]


@pytest.mark.parametrize("name", REQUIRED_STRINGS)
@pytest.mark.parametrize("value", [..., None, 1], ids=["missing", "null", "number"])
def test_restoring_without_a_required_string_is_refused(
    server: ServerMetadata, client: ClientConfig, name: str, value: object
) -> None:
    data = new_flow(server, client).to_dict()
    if value is ...:
        del data[name]
    else:
        data[name] = value

    with pytest.raises(RestoreError, match=f"has no {name}"):
        restore(data, server, client)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"issuer": 1}, "issuer must be a string"),
        ({"nonce": ["n"]}, "nonce must be a string"),
        ({"scope": "openid"}, "scope must be a list of strings"),
        ({"scope": ["openid", 1]}, "scope must be a list of strings"),
        ({"scope": ['say"hi']}, "invalid: .*scope token"),
        ({"client_id": "another-client"}, "another client or server"),
        ({"issuer": "https://evil.example.com"}, "another client or server"),
        ({"issuer": None}, "another client or server"),
        ({"authorization_endpoint": "https://evil.example.com/a"}, "another client or server"),
        ({"state": "done"}, "invalid"),
        ({"code_verifier": "short"}, "invalid: a code verifier"),
        ({"code_challenge_method": "S512"}, "invalid: code_challenge_method"),
        ({"redirect_uri": "http://evil.example.com/cb"}, "invalid: .*plain http"),
    ],
    ids=lambda v: (
        next(iter(v)) + "=" + repr(next(iter(v.values())))[:20] if isinstance(v, dict) else None
    ),
)
def test_restoring_corrupt_data_is_refused(
    server: ServerMetadata, client: ClientConfig, changes: dict[str, Any], message: str
) -> None:
    data = new_flow(server, client, scope="openid").to_dict() | changes

    with pytest.raises(RestoreError, match=message):
        restore(data, server, client)


def test_restoring_for_another_client_is_refused(server: ServerMetadata) -> None:
    data = new_flow(server, ClientConfig("cli-a")).to_dict()

    with pytest.raises(RestoreError, match="another client or server"):
        restore(data, server, ClientConfig("cli-b"))


def test_restoring_at_another_server_is_refused(
    server: ServerMetadata, client: ClientConfig
) -> None:
    data = new_flow(server, client).to_dict()

    with pytest.raises(RestoreError, match="another client or server"):
        restore(data, make_server(issuer="https://other.example.com"), client)


# -- properties ----------------------------------------------------------------------

# Any code point, lone surrogates included.
any_text = st.text(st.characters(exclude_categories=()), max_size=200)
callback_values = st.one_of(st.just("{state}"), st.just(ISSUER), st.text(max_size=20))
callback_names = st.sampled_from(["code", "state", "error", "iss", "error_description"])


def escaped(text: str) -> str:
    """``text`` as a str.format template that formats back to itself."""
    return text.replace("{", "{{").replace("}", "}}")


@st.composite
def callback_texts(draw: st.DrawFn) -> str:
    """A template (``{state}`` is the flow's state) of arbitrary text or a callback query."""
    if draw(st.booleans()):
        return escaped(draw(any_text))
    pairs = draw(st.lists(st.tuples(callback_names, callback_values), max_size=5))
    prefix = draw(st.sampled_from(["", "?", "/callback?", REDIRECT_URI + "?"]))
    query = "&".join(f"{name}={v if v == '{state}' else escaped(v)}" for name, v in pairs)
    return prefix + query + draw(st.sampled_from(["", "#x", "%", "%ff", "&&"]))


@settings(max_examples=300, deadline=None)
@given(template=callback_texts(), iss_supported=st.booleans())
def test_receiving_any_text_raises_only_pkceflow_errors(template: str, iss_supported: bool) -> None:
    flow = new_flow(make_server(iss_supported=iss_supported), ClientConfig("pkceflow-cli"))

    try:
        request = flow.receive_callback(template.format(state=state_of(flow)))
    except CallbackError:
        assert flow.state in (AWAITING, FAILED)
        return
    assert flow.state is EXCHANGING
    assert isinstance(request, HttpRequest)


json_values = any_json()
DUMP_NAMES = [*REQUIRED_STRINGS, "version", "issuer", "scope", "nonce"]


#: Arbitrary JSON, or a real dump with members replaced or removed.
dumps = any_json_or_edited(
    json_values,
    lambda: new_flow(make_server(), ClientConfig("pkceflow-cli"), scope="openid").to_dict(),
    st.sampled_from(DUMP_NAMES),
    json_values | st.sampled_from(["complete", "plain", "x" * 43]),
)


@settings(max_examples=250, deadline=None)
@given(data=dumps)
def test_restoring_any_json_raises_only_restore_error(data: object) -> None:
    try:
        flow = AuthorizationCodeFlow.from_dict(
            data, server=make_server(), client=ClientConfig("pkceflow-cli")
        )
    except RestoreError:
        return
    assert flow.state in FlowState


# -- the state machine, driven at random ---------------------------------------------

RESPONSES = [
    token_response(expires_in=3600),
    token_response(refresh_token="r", id_token="i", scope="openid"),
    error_response("invalid_grant", 400),
    error_response("invalid_grant", 200),
    token_response(token_type="mac"),
    HttpResponse(200, {}, b"<html>"),
    HttpResponse(500, {}, b"oops"),
]
ACCEPTED = {0, 1}

# Each step is allowed exactly where the table has a way out by its defining event.
STEP_EVENT = {
    "callback": FlowEvent.CALLBACK_ACCEPTED,
    "token response": FlowEvent.TOKENS_RECEIVED,
    "fail": FlowEvent.FAILED,
}


class FlowMachine(RuleBasedStateMachine):
    """Random sequences of steps; the flow's state always follows TRANSITIONS."""

    flow: AuthorizationCodeFlow
    model: FlowState

    @initialize(iss_supported=st.booleans(), scope=st.sampled_from([None, "openid", "a b"]))
    def start(self, iss_supported: bool, scope: str | None) -> None:
        self.server = make_server(iss_supported=iss_supported)
        self.client = ClientConfig("pkceflow-cli")
        self.flow = new_flow(self.server, self.client, scope=scope)
        self.model = AWAITING

    def _moved(self, event: FlowEvent) -> None:
        self.model = TRANSITIONS[(self.model, event)]

    def _refused(self, step: str) -> None:
        assert (self.model, STEP_EVENT[step]) not in TRANSITIONS

    @rule(with_iss=st.booleans())
    def good_callback(self, with_iss: bool) -> None:
        params = {"code": "c", "iss": ISSUER} if with_iss else {"code": "c"}
        try:
            request = self.flow.receive_callback(callback(self.flow, **params))
        except FlowStateError:
            self._refused("callback")
        except MissingIssuerError:
            assert self.server.authorization_response_iss_parameter_supported
            assert not with_iss
            self._moved(FlowEvent.FAILED)
        else:
            assert request.url == TOKEN_ENDPOINT
            self._moved(FlowEvent.CALLBACK_ACCEPTED)

    @rule(
        stray=st.one_of(
            st.sampled_from(
                [
                    "/callback?code=c&state=forged",
                    "/callback?error=access_denied",
                    "/callback?code=c&state={state}&state={state}",
                    "/callback?state={state}&code=%ff",
                    "/favicon.ico",
                ]
            ),
            st.text(max_size=50).map(lambda t: t.replace("{", "").replace("}", "")),
        )
    )
    def stray_callback(self, stray: str) -> None:
        try:
            self.flow.receive_callback(stray.format(state=state_of(self.flow)))
        except FlowStateError:
            self._refused("callback")
        except CallbackError:
            self._moved(FlowEvent.CALLBACK_REJECTED)
        else:
            raise AssertionError("a stray callback was accepted")

    @rule(
        params=st.sampled_from(
            [
                {"error": "access_denied", "iss": ISSUER},
                {"code": "c", "error": "access_denied", "iss": ISSUER},
                {"code": "c", "iss": "https://evil.example.com"},
                {"iss": ISSUER},
            ]
        )
    )
    def final_bad_callback(self, params: dict[str, str]) -> None:
        try:
            self.flow.receive_callback(callback(self.flow, **params))
        except FlowStateError:
            self._refused("callback")
        except CallbackError:
            self._moved(FlowEvent.FAILED)
        else:
            raise AssertionError("a bad callback was accepted")

    @rule(index=st.integers(0, len(RESPONSES) - 1))
    def token_response(self, index: int) -> None:
        try:
            tokens = self.flow.receive_token_response(RESPONSES[index], now=NOW)
        except FlowStateError:
            self._refused("token response")
        except ServerError:
            assert index not in ACCEPTED
            self._moved(FlowEvent.FAILED)
        else:
            assert index in ACCEPTED
            assert tokens.access_token == "access-1"
            self._moved(FlowEvent.TOKENS_RECEIVED)

    @rule()
    def fail(self) -> None:
        try:
            self.flow.fail()
        except FlowStateError:
            self._refused("fail")
        else:
            self._moved(FlowEvent.FAILED)

    @rule()
    def dump_and_restore(self) -> None:
        data = json.loads(json.dumps(self.flow.to_dict()))
        self.flow = AuthorizationCodeFlow.from_dict(data, server=self.server, client=self.client)

    @precondition(lambda self: self.model in (COMPLETE, FAILED))
    @rule()
    def finished_flow_refuses_everything(self) -> None:
        with pytest.raises(FlowStateError):
            self.flow.receive_callback(callback(self.flow, code="c"))

    @invariant()
    def state_follows_the_table(self) -> None:
        assert self.flow.state is self.model


FlowMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=15, deadline=None)
TestFlowMachine = FlowMachine.TestCase
