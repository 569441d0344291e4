"""callback.py: reading and checking the authorization response (RFC 6749 4.1.2, RFC 9207).

How a flow reacts to each outcome (waiting on, or failing) is in test_flow.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkceflow_core import (
    AuthorizationError,
    CallbackError,
    DuplicateParameterError,
    IssuerMismatchError,
    MissingCodeError,
    MissingIssuerError,
    MissingStateError,
    PkceflowError,
    StateMismatchError,
)
from pkceflow_core._callback import (
    MAX_CALLBACK,
    Callback,
    check_state,
    parse_callback_params,
    verify_callback,
)

STATE = "n5bQ0Gz3s8bC8j5mYpVh1o0rWk3kT2lXz1aHkq9V7cE"
ISSUER = "https://as.example.com"


def verify(
    params: dict[str, str],
    *,
    expected_issuer: str | None = ISSUER,
    require_iss: bool = False,
) -> Callback:
    return verify_callback(
        params, expected_state=STATE, expected_issuer=expected_issuer, require_iss=require_iss
    )


# -- parse_callback_params: where the query comes from -------------------------------


def test_a_full_redirect_url_is_read() -> None:
    params = parse_callback_params("http://127.0.0.1:8765/callback?code=abc&state=xyz")

    assert params == {"code": "abc", "state": "xyz"}


def test_a_request_target_is_read() -> None:
    assert parse_callback_params("/callback?code=abc&state=xyz") == {"code": "abc", "state": "xyz"}


def test_a_bare_query_is_read() -> None:
    assert parse_callback_params("code=abc&state=xyz") == {"code": "abc", "state": "xyz"}


def test_a_bare_query_with_its_question_mark_is_read() -> None:
    assert parse_callback_params("?code=abc&state=xyz") == {"code": "abc", "state": "xyz"}


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_callback_params("  /cb?code=abc&state=xyz\r\n") == {"code": "abc", "state": "xyz"}


def test_a_bare_query_may_carry_an_unencoded_url_in_a_value() -> None:
    params = parse_callback_params("code=abc&state=xyz&iss=https://as.example.com/t")

    assert params == {"code": "abc", "state": "xyz", "iss": "https://as.example.com/t"}


def test_values_are_percent_and_plus_decoded() -> None:
    params = parse_callback_params("/cb?code=a%2Bb+c&iss=https%3A%2F%2Fas.example.com")

    assert params == {"code": "a+b c", "iss": "https://as.example.com"}


def test_utf8_percent_encoding_is_decoded() -> None:
    assert parse_callback_params("error_description=caf%C3%A9") == {"error_description": "café"}


def test_blank_values_are_kept() -> None:
    assert parse_callback_params("/cb?code=&state=s") == {"code": "", "state": "s"}


def test_an_empty_callback_has_no_parameters() -> None:
    assert parse_callback_params("/callback") == {}


@pytest.mark.parametrize(
    "callback",
    [
        "http://127.0.0.1:8765/callback?state=s#code=evil",
        "/callback?state=s#code=evil",
        "state=s#code=evil",
    ],
    ids=["url", "target", "bare-query"],
)
def test_a_fragment_is_never_read(callback: str) -> None:
    assert parse_callback_params(callback) == {"state": "s"}


def test_parameters_sent_only_in_a_fragment_are_not_seen() -> None:
    assert parse_callback_params("http://127.0.0.1:8765/callback#code=abc&state=xyz") == {}


# -- parse_callback_params: what is refused ------------------------------------------


@pytest.mark.parametrize("callback", ["/cb?state=a&state=b", "code=1&state=s&code=1"])
def test_a_repeated_parameter_is_refused(callback: str) -> None:
    with pytest.raises(DuplicateParameterError) as raised:
        parse_callback_params(callback)

    assert raised.value.name in ("state", "code")


def test_a_callback_of_the_maximum_length_is_read() -> None:
    callback = "state=" + "a" * (MAX_CALLBACK - len("state="))

    assert len(parse_callback_params(callback)["state"]) == MAX_CALLBACK - 6


def test_an_oversized_callback_is_refused_before_parsing() -> None:
    with pytest.raises(CallbackError, match="longer than"):
        parse_callback_params("state=" + "a" * MAX_CALLBACK)


def test_sixty_four_fields_are_read() -> None:
    assert len(parse_callback_params("&".join(f"p{i}=v" for i in range(64)))) == 64


def test_more_than_sixty_four_fields_are_refused() -> None:
    with pytest.raises(CallbackError, match="cannot be decoded"):
        parse_callback_params("&".join(f"p{i}=v" for i in range(65)))


@pytest.mark.parametrize(
    "callback",
    ["/cb?state=%ff", "code=%C3&state=s", "state=%ED%A0%80", "%80=x"],
    ids=["latin-1", "truncated", "encoded-surrogate", "in-a-name"],
)
def test_percent_encoding_that_is_not_utf8_is_refused(callback: str) -> None:
    with pytest.raises(CallbackError, match="cannot be decoded"):
        parse_callback_params(callback)


def test_text_with_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(CallbackError, match="not valid text"):
        parse_callback_params("/cb?code=\udc80&state=s")


def test_an_unparseable_url_is_refused() -> None:
    with pytest.raises(CallbackError, match="not a valid URL"):
        parse_callback_params("http://[::1/cb?state=s")


# -- check_state ---------------------------------------------------------------------


def test_the_state_sent_passes() -> None:
    check_state({"state": STATE}, STATE)  # raises on any other state (below)


def test_no_state_is_missing_state() -> None:
    with pytest.raises(MissingStateError):
        check_state({"code": "c"}, STATE)


def test_an_empty_state_is_missing_state() -> None:
    with pytest.raises(MissingStateError):
        check_state({"state": ""}, STATE)


@pytest.mark.parametrize(
    "state", ["other", STATE[:-1], STATE + "x", STATE.upper(), STATE[:-1] + "\u00e9", "\udc80"]
)
def test_any_other_state_is_a_mismatch(state: str) -> None:
    with pytest.raises(StateMismatchError):
        check_state({"state": state}, STATE)


# -- verify_callback -----------------------------------------------------------------


def test_a_valid_callback_yields_its_code() -> None:
    callback = verify({"code": "abc", "state": STATE})

    assert callback == Callback("abc", None)


def test_a_valid_callback_yields_its_iss() -> None:
    assert verify({"code": "abc", "state": STATE, "iss": ISSUER}).iss == ISSUER


def test_the_code_is_not_in_the_repr_of_a_callback() -> None:
    assert "secret-code" not in repr(Callback("secret-code", ISSUER))


def test_a_callback_without_state_is_missing_state() -> None:
    with pytest.raises(MissingStateError):
        verify({"code": "abc"})


def test_a_callback_with_another_state_is_a_state_mismatch() -> None:
    with pytest.raises(StateMismatchError):
        verify({"code": "abc", "state": "forged"})


def test_a_callback_with_the_state_but_no_code_is_missing_code() -> None:
    with pytest.raises(MissingCodeError):
        verify({"state": STATE})


def test_an_empty_code_is_missing_code() -> None:
    with pytest.raises(MissingCodeError):
        verify({"state": STATE, "code": ""})


def test_an_error_response_is_an_authorization_error_with_its_fields() -> None:
    params = {
        "state": STATE,
        "error": "access_denied",
        "error_description": "The user said no",
        "error_uri": "https://as.example.com/help",
    }

    with pytest.raises(AuthorizationError) as raised:
        verify(params)

    error = raised.value
    assert (error.error, error.error_description, error.error_uri) == (
        "access_denied",
        "The user said no",
        "https://as.example.com/help",
    )
    assert str(error) == "access_denied: The user said no"


def test_an_error_response_without_description_has_none() -> None:
    with pytest.raises(AuthorizationError) as raised:
        verify({"state": STATE, "error": "server_error"})

    assert (raised.value.error_description, raised.value.error_uri) == (None, None)


def test_code_and_error_together_are_refused() -> None:
    with pytest.raises(CallbackError, match="both code and error") as raised:
        verify({"state": STATE, "code": "abc", "error": "access_denied"})

    assert type(raised.value) is CallbackError


def test_an_error_with_another_state_is_not_believed() -> None:
    with pytest.raises(StateMismatchError):
        verify({"state": "forged", "error": "access_denied"})


def test_an_iss_naming_another_server_is_a_mix_up() -> None:
    with pytest.raises(IssuerMismatchError, match="RFC 9207"):
        verify({"state": STATE, "code": "abc", "iss": "https://evil.example.com"})


def test_an_iss_mismatch_on_an_error_response_is_a_mix_up_too() -> None:
    with pytest.raises(IssuerMismatchError):
        verify({"state": STATE, "error": "access_denied", "iss": "https://evil.example.com"})


def test_an_iss_is_compared_exactly() -> None:
    with pytest.raises(IssuerMismatchError):
        verify({"state": STATE, "code": "abc", "iss": ISSUER + "/"})


def test_a_missing_iss_is_refused_when_the_server_promised_one() -> None:
    with pytest.raises(MissingIssuerError):
        verify({"state": STATE, "code": "abc"}, require_iss=True)


def test_a_missing_iss_on_an_error_response_is_refused_when_promised() -> None:
    with pytest.raises(MissingIssuerError):
        verify({"state": STATE, "error": "access_denied"}, require_iss=True)


def test_a_matching_iss_passes_when_required() -> None:
    params = {"state": STATE, "code": "abc", "iss": ISSUER}

    assert verify(params, require_iss=True) == Callback("abc", ISSUER)


def test_a_missing_iss_passes_when_not_promised() -> None:
    assert verify({"state": STATE, "code": "abc"}, require_iss=False).iss is None


def test_any_iss_passes_when_no_issuer_is_known() -> None:
    params = {"state": STATE, "code": "abc", "iss": "https://other.example.com"}

    assert verify(params, expected_issuer=None).iss == "https://other.example.com"


# -- property ------------------------------------------------------------------------

callback_names = st.sampled_from(["code", "state", "error", "error_description", "iss", "x"])
# Any code point, lone surrogates included: an adapter may decode bytes with surrogateescape.
any_text = st.text(st.characters(exclude_categories=()), max_size=300)
callback_values = st.one_of(
    st.just(STATE), st.just(ISSUER), st.just("\udc80"), st.text(max_size=30)
)


@st.composite
def callback_texts(draw: st.DrawFn) -> str:
    """Arbitrary text, or something shaped like a callback that may hold our state."""
    if draw(st.booleans()):
        return draw(any_text)
    pairs = draw(st.lists(st.tuples(callback_names, callback_values), max_size=6))
    query = "&".join(f"{name}={value}" for name, value in pairs)
    prefix = draw(st.sampled_from(["", "?", "/callback?", "http://127.0.0.1:8765/callback?"]))
    suffix = draw(st.sampled_from(["", "#code=x", "&&", "%", "%zz", "%ff"]))
    return prefix + query + suffix


@settings(max_examples=300, deadline=None)
@given(
    text=callback_texts(),
    require_iss=st.booleans(),
    expected_issuer=st.sampled_from([None, ISSUER]),
)
def test_reading_and_verifying_any_text_raises_only_pkceflow_errors(
    text: str, require_iss: bool, expected_issuer: str | None
) -> None:
    try:
        params = parse_callback_params(text)
        callback = verify(params, expected_issuer=expected_issuer, require_iss=require_iss)
    except PkceflowError:
        return
    assert params["state"] == STATE
    assert callback.code == params["code"]
