"""token_response.py: token endpoint answers are parsed strictly and totally.

Every answer becomes a TokenSet or a PkceflowError (RFC 6749 5.1, 5.2); nothing
else escapes, and no secret from the body reaches an error message.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkceflow_core import (
    HttpResponse,
    InvalidResponseError,
    PkceflowError,
    Quirks,
    ServerError,
    TokenError,
    TokenSet,
    parse_token_response,
)
from pkceflow_core._json import MAX_BODY
from tests.core.fakes import NOW, error_response, json_response, token_response
from tests.support.strategies import any_json

TEN_YEARS = 10 * 365 * 24 * 3600
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
FORM_QUIRKS = Quirks(form_encoded_token_response=True)


def parse(
    response: HttpResponse,
    *,
    quirks: Quirks = Quirks(),
    requested_scope: tuple[str, ...] | None = None,
    previous: TokenSet | None = None,
) -> TokenSet:
    return parse_token_response(
        response, now=NOW, quirks=quirks, requested_scope=requested_scope, previous=previous
    )


def raw(body: bytes, status: int = 200, content_type: str = "application/json") -> HttpResponse:
    return HttpResponse(status, {"Content-Type": content_type}, body)


# -- success -------------------------------------------------------------------------


def test_a_minimal_response_gives_the_access_token() -> None:
    tokens = parse(token_response("access-1"))

    assert tokens == TokenSet("access-1", "Bearer", obtained_at=NOW)


def test_expires_in_becomes_an_absolute_expiry() -> None:
    assert parse(token_response(expires_in=3600)).expires_at == NOW + 3600


def test_no_expires_in_means_an_unknown_lifetime() -> None:
    assert parse(token_response()).expires_at is None


def test_refresh_token_and_id_token_are_read() -> None:
    tokens = parse(token_response(refresh_token="refresh-1", id_token="id-1"))

    assert (tokens.refresh_token, tokens.id_token) == ("refresh-1", "id-1")


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_token_type_is_case_insensitive(token_type: str) -> None:
    assert parse(token_response(token_type=token_type)).token_type == "Bearer"


def test_members_the_core_does_not_model_are_kept_in_extra() -> None:
    tokens = parse(token_response(expires_in=60, ext_expires_in=120, foo={"a": [1]}))

    assert dict(tokens.extra) == {"ext_expires_in": 120, "foo": {"a": [1]}}


def test_any_2xx_status_is_a_token_response() -> None:
    assert parse(token_response(status=201)).access_token == "access-1"


@pytest.mark.parametrize("expires_in", [1, 3600, TEN_YEARS])
def test_expires_in_from_one_second_to_ten_years_is_accepted(expires_in: int) -> None:
    assert parse(token_response(expires_in=expires_in)).expires_at == NOW + expires_in


# -- scope ---------------------------------------------------------------------------


def test_an_omitted_scope_is_the_scope_requested() -> None:
    assert parse(token_response(), requested_scope=("openid", "read")).scope == ("openid", "read")


def test_an_omitted_scope_with_nothing_requested_is_unknown() -> None:
    assert parse(token_response()).scope is None


def test_the_granted_scope_replaces_the_requested_one() -> None:
    tokens = parse(token_response(scope="openid  read openid"), requested_scope=("openid", "write"))

    assert tokens.scope == ("openid", "read")


def test_an_empty_scope_grants_nothing() -> None:
    assert parse(token_response(scope=""), requested_scope=("read",)).scope == ()


def test_a_scope_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InvalidResponseError, match="must be a string"):
        parse(token_response(scope=["openid"]))


def test_a_scope_array_is_read_with_the_quirk() -> None:
    tokens = parse(token_response(scope=["a", "b", "a"]), quirks=Quirks(scope_as_array=True))

    assert tokens.scope == ("a", "b")


def test_a_scope_array_with_other_items_is_refused_even_with_the_quirk() -> None:
    with pytest.raises(InvalidResponseError, match="scope items must be strings"):
        parse(token_response(scope=["a", 1]), quirks=Quirks(scope_as_array=True))


def test_a_scope_string_is_still_read_with_the_array_quirk() -> None:
    assert parse(token_response(scope="a b"), quirks=Quirks(scope_as_array=True)).scope == (
        "a",
        "b",
    )


def test_declared_scope_separators_split_the_scope() -> None:
    quirks = Quirks(scope_separators=",;")

    assert parse(token_response(scope="repo,gist; user"), quirks=quirks).scope == (
        "repo",
        "gist",
        "user",
    )


def test_a_comma_is_part_of_a_scope_token_without_the_quirk() -> None:
    assert parse(token_response(scope="repo,gist")).scope == ("repo,gist",)


# -- refresh -------------------------------------------------------------------------

PREVIOUS = TokenSet("access-0", refresh_token="refresh-0", id_token="id-0", scope=("read",))


def test_a_refresh_keeps_the_old_refresh_token_when_none_is_sent() -> None:
    assert parse(token_response("access-1"), previous=PREVIOUS).refresh_token == "refresh-0"


def test_a_refresh_keeps_the_old_id_token_when_none_is_sent() -> None:
    assert parse(token_response("access-1"), previous=PREVIOUS).id_token == "id-0"


def test_a_refresh_takes_a_rotated_refresh_token() -> None:
    tokens = parse(token_response(refresh_token="refresh-1"), previous=PREVIOUS)

    assert tokens.refresh_token == "refresh-1"


def test_a_refresh_takes_a_new_id_token() -> None:
    assert parse(token_response(id_token="id-1"), previous=PREVIOUS).id_token == "id-1"


# -- what is not a token response ----------------------------------------------------


def test_an_html_page_with_200_is_refused() -> None:
    response = raw(b"<!doctype html><html><body>Sign in</body></html>", content_type="text/html")

    with pytest.raises(InvalidResponseError, match="not JSON") as raised:
        parse(response)

    assert raised.value.status == 200
    assert raised.value.excerpt.startswith("<!doctype html>")


@pytest.mark.parametrize(
    "body",
    [b"[]", b'["access_token"]', b'"access_token"', b"42", b"null", b"true"],
    ids=["empty-array", "array", "string", "number", "null", "true"],
)
def test_json_that_is_not_an_object_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidResponseError, match="not an object"):
        parse(raw(body))


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1000 + b"]" * 1000,
        b'{"a":' * 1000 + b"1" + b"}" * 1000,
        b'{"access_token":' + b"[" * 100_000,
    ],
    ids=["arrays-1000-deep", "objects-1000-deep", "arrays-100000-deep-unclosed"],
)
def test_deeply_nested_json_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidResponseError):
        parse(raw(body))


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b'{"access_token": "a",}', b"\xff\xfe{}", b'{"a": NaN'],
    ids=["empty", "truncated", "trailing-comma", "bad-encoding", "truncated-nan"],
)
def test_a_body_that_is_not_json_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidResponseError, match="not JSON"):
        parse(raw(body))


def test_a_repeated_json_member_is_refused() -> None:
    body = b'{"access_token": "a", "token_type": "Bearer", "access_token": "b"}'

    with pytest.raises(InvalidResponseError, match="repeats the member 'access_token'"):
        parse(raw(body))


def test_a_repeated_member_in_a_nested_object_is_refused() -> None:
    body = b'{"access_token": "a", "token_type": "Bearer", "x": {"k": 1, "k": 2}}'

    with pytest.raises(InvalidResponseError, match="repeats the member 'k'"):
        parse(raw(body))


def test_an_oversized_body_is_refused_before_parsing() -> None:
    body = b'{"access_token": "' + b"a" * MAX_BODY + b'", "token_type": "Bearer"}'

    with pytest.raises(InvalidResponseError, match="larger than"):
        parse(raw(body))


def test_a_missing_access_token_is_refused() -> None:
    with pytest.raises(InvalidResponseError, match="no access_token"):
        parse(json_response({"token_type": "Bearer"}))


@pytest.mark.parametrize("value", ["", 42, None, ["a"], {"a": "b"}, True])
def test_an_access_token_that_is_not_a_non_empty_string_is_refused(value: object) -> None:
    with pytest.raises(InvalidResponseError, match="access_token"):
        parse(json_response({"access_token": value, "token_type": "Bearer"}))


def test_a_missing_token_type_is_refused() -> None:
    with pytest.raises(InvalidResponseError, match="no token_type"):
        parse(json_response({"access_token": "a"}))


def test_a_token_type_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InvalidResponseError, match="no token_type"):
        parse(token_response(token_type=1))


@pytest.mark.parametrize("token_type", ["mac", "DPoP", "N_A", "", "Bearer "])
def test_a_token_type_other_than_bearer_is_refused(token_type: str) -> None:
    with pytest.raises(InvalidResponseError, match="only Bearer"):
        parse(token_response(token_type=token_type))


@pytest.mark.parametrize("member", ["refresh_token", "id_token"])
@pytest.mark.parametrize("value", ["", 7, ["x"]])
def test_a_refresh_or_id_token_that_is_not_a_non_empty_string_is_refused(
    member: str, value: object
) -> None:
    with pytest.raises(InvalidResponseError, match=f"{member} in the token response"):
        parse(json_response({"access_token": "a", "token_type": "Bearer", member: value}))


# -- expires_in ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "expires_in",
    [-1, 0, TEN_YEARS + 1, 10**30],
    ids=["negative", "zero", "over-ten-years", "huge"],
)
def test_expires_in_out_of_range_is_refused(expires_in: int) -> None:
    with pytest.raises(InvalidResponseError, match="between 1 and"):
        parse(token_response(expires_in=expires_in))


@pytest.mark.parametrize(
    "expires_in",
    [3600.0, 3600.5, True, False, "3600", [3600], {"s": 1}],
    ids=["float", "fraction", "true", "false", "string", "array", "object"],
)
def test_expires_in_that_is_not_an_integer_is_refused(expires_in: object) -> None:
    with pytest.raises(InvalidResponseError, match="must be an integer"):
        parse(token_response(expires_in=expires_in))


@pytest.mark.parametrize("body", [b"1e400", b"Infinity", b"NaN", b"-Infinity"])
def test_non_finite_expires_in_is_refused(body: bytes) -> None:
    response = raw(b'{"access_token": "a", "token_type": "Bearer", "expires_in": ' + body + b"}")

    with pytest.raises(InvalidResponseError, match="must be an integer"):
        parse(response)


def test_expires_in_as_a_digit_string_is_read_with_the_quirk() -> None:
    tokens = parse(token_response(expires_in="3599"), quirks=Quirks(expires_in_as_string=True))

    assert tokens.expires_at == NOW + 3599


@pytest.mark.parametrize(
    "expires_in",
    ["", "-5", "1.5", "36OO", " 60", "60\n", "1234567890123", "\uff16\uff10"],
    ids=["empty", "negative", "fraction", "letters", "space", "newline", "13-digits", "fullwidth"],
)
def test_expires_in_strings_other_than_digits_are_refused_even_with_the_quirk(
    expires_in: str,
) -> None:
    with pytest.raises(InvalidResponseError, match="must be an integer"):
        parse(token_response(expires_in=expires_in), quirks=Quirks(expires_in_as_string=True))


@pytest.mark.parametrize("expires_in", ["0", "999999999999"])
def test_expires_in_strings_out_of_range_are_refused_with_the_quirk(expires_in: str) -> None:
    with pytest.raises(InvalidResponseError, match="between 1 and"):
        parse(token_response(expires_in=expires_in), quirks=Quirks(expires_in_as_string=True))


# -- errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"), [(400, "invalid_grant"), (401, "invalid_client"), (500, "server_error")]
)
def test_an_error_object_is_a_token_error_with_status_and_fields(status: int, error: str) -> None:
    response = error_response(
        error, status, error_description="Nope", error_uri="https://as.example.com/e"
    )

    with pytest.raises(TokenError) as raised:
        parse(response)

    assert (raised.value.error, raised.value.status) == (error, status)
    assert raised.value.error_description == "Nope"
    assert raised.value.error_uri == "https://as.example.com/e"
    assert str(raised.value) == f"{error}: Nope (HTTP {status})"


def test_an_error_object_with_200_is_a_token_error() -> None:
    with pytest.raises(TokenError) as raised:
        parse(error_response("invalid_grant", 200))

    assert (raised.value.error, raised.value.status) == ("invalid_grant", 200)


def test_an_error_object_with_200_and_no_error_code_is_refused() -> None:
    with pytest.raises(InvalidResponseError, match="error member must be a non-empty string"):
        parse(error_response("", 200))


@pytest.mark.parametrize("error", ["", 400, None, ["invalid_grant"]])
def test_an_error_member_that_is_not_a_non_empty_string_is_refused(error: object) -> None:
    with pytest.raises(InvalidResponseError, match="error member must be a non-empty string"):
        parse(json_response({"error": error}, 400))


def test_error_description_and_uri_that_are_not_strings_are_dropped() -> None:
    response = error_response("invalid_grant", 400, error_description=5, error_uri=["x"])

    with pytest.raises(TokenError) as raised:
        parse(response)

    assert (raised.value.error_description, raised.value.error_uri) == (None, None)


def test_control_characters_from_the_server_are_removed_from_the_message() -> None:
    response = error_response("invalid_grant\x1b[2J", 400, error_description="bad\x07\x9b token")

    with pytest.raises(TokenError) as raised:
        parse(response)

    assert str(raised.value) == "invalid_grant[2J: bad token (HTTP 400)"
    assert raised.value.error == "invalid_grant\x1b[2J"


def test_an_error_status_with_a_json_object_without_error_is_refused() -> None:
    with pytest.raises(InvalidResponseError, match="without an error code") as raised:
        parse(token_response(status=400))

    assert raised.value.status == 400


def test_a_non_json_500_is_an_invalid_response_with_an_excerpt() -> None:
    response = raw(b"<html><body>Internal Server Error</body></html>", 500, "text/html")

    with pytest.raises(
        InvalidResponseError, match="did not answer with OAuth error JSON"
    ) as raised:
        parse(response)

    assert raised.value.status == 500
    assert raised.value.excerpt == "<html><body>Internal Server Error</body></html>"
    assert "(HTTP 500)" in str(raised.value)


def test_a_secret_reflected_in_an_error_page_is_elided_from_the_message() -> None:
    refresh_token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    body = (
        "<html><body><h1>Bad request</h1><p>grant_type=refresh_token&amp;refresh_token="
        f"{refresh_token}</p><pre>code_verifier: {verifier}</pre></body></html>"
    ).encode()

    with pytest.raises(InvalidResponseError) as raised:
        parse(raw(body, 500, "text/html"))

    message = str(raised.value)
    assert "Bad request" in message
    assert "\u2026" in message
    for secret in (refresh_token, verifier, refresh_token[:16], verifier[-16:]):
        assert secret not in message


def test_the_excerpt_is_short_and_printable() -> None:
    body = b"\x1b[31m" + b"error! " * 1000

    with pytest.raises(InvalidResponseError) as raised:
        parse(raw(body, 500, "text/plain"))

    excerpt = raised.value.excerpt
    assert len(excerpt) <= 120
    assert excerpt.startswith("[31merror! error!")
    assert excerpt.endswith("\u2026")


def test_an_oversized_error_body_is_an_invalid_response() -> None:
    with pytest.raises(InvalidResponseError, match="did not answer with OAuth error JSON"):
        parse(raw(b" " * (MAX_BODY + 1), 500, "text/plain"))


def test_every_failure_is_a_server_error() -> None:
    assert issubclass(TokenError, ServerError)
    assert issubclass(InvalidResponseError, ServerError)


# -- form-encoded answers (a declared quirk) -----------------------------------------


def test_a_form_encoded_answer_is_read_with_the_quirk() -> None:
    body = (
        b"access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=repo%2Cgist&token_type=bearer"
    )
    quirks = Quirks(form_encoded_token_response=True, scope_separators=",")

    tokens = parse(raw(body, content_type=FORM["Content-Type"]), quirks=quirks)

    assert tokens.access_token == "gho_16C7e42F292c6912E7710c838347Ae178B4a"
    assert tokens.scope == ("repo", "gist")


def test_the_form_content_type_is_matched_case_insensitively() -> None:
    response = HttpResponse(
        200,
        {"CONTENT-TYPE": "Application/X-WWW-Form-Urlencoded"},
        b"access_token=a&token_type=bearer",
    )

    assert parse(response, quirks=FORM_QUIRKS).access_token == "a"


def test_a_form_encoded_answer_is_refused_without_the_quirk() -> None:
    with pytest.raises(InvalidResponseError, match="not JSON"):
        parse(raw(b"access_token=a&token_type=bearer", content_type=FORM["Content-Type"]))


def test_json_is_still_read_with_the_form_quirk() -> None:
    assert parse(token_response("a"), quirks=FORM_QUIRKS).access_token == "a"


def test_a_form_expires_in_is_digits_by_nature() -> None:
    response = raw(
        b"access_token=a&token_type=bearer&expires_in=60",
        content_type="application/x-www-form-urlencoded",
    )

    assert parse(response, quirks=FORM_QUIRKS).expires_at == NOW + 60


def test_a_form_expires_in_that_is_not_digits_is_refused() -> None:
    response = raw(
        b"access_token=a&token_type=bearer&expires_in=soon",
        content_type="application/x-www-form-urlencoded",
    )

    with pytest.raises(InvalidResponseError, match="must be an integer"):
        parse(response, quirks=FORM_QUIRKS)


@pytest.mark.parametrize(
    "body",
    [b"access_token=a&&token_type=bearer", b"access_token", b"access_token=\xff&token_type=bearer"],
    ids=["empty-field", "no-equals", "not-utf8"],
)
def test_a_malformed_form_answer_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidResponseError, match="not form-encoded"):
        parse(raw(body, content_type="application/x-www-form-urlencoded"), quirks=FORM_QUIRKS)


def test_a_repeated_form_field_is_refused() -> None:
    body = b"access_token=a&token_type=bearer&access_token=b"

    with pytest.raises(InvalidResponseError, match="repeats 'access_token'"):
        parse(raw(body, content_type="application/x-www-form-urlencoded"), quirks=FORM_QUIRKS)


def test_an_oversized_form_answer_is_refused() -> None:
    body = b"access_token=" + b"a" * MAX_BODY

    with pytest.raises(InvalidResponseError, match="too large"):
        parse(raw(body, content_type="application/x-www-form-urlencoded"), quirks=FORM_QUIRKS)


def test_a_form_error_answer_is_a_token_error() -> None:
    body = b"error=bad_verification_code&error_description=The+code+is+wrong"

    with pytest.raises(TokenError) as raised:
        parse(raw(body, content_type="application/x-www-form-urlencoded"), quirks=FORM_QUIRKS)

    assert raised.value.error_description == "The code is wrong"


# -- properties ----------------------------------------------------------------------

json_values = any_json(text=20, width=4, leaves=12)
member_values = st.one_of(
    json_values,
    st.sampled_from(["Bearer", "bearer", "mac", "3600", "0", "a b", "invalid_grant"]),
    st.integers(-10, TEN_YEARS + 10),
    st.lists(st.text(max_size=5), max_size=3),
)
token_docs = st.fixed_dictionaries(
    {},
    optional=dict.fromkeys(
        (
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "id_token",
            "scope",
            "error",
            "error_description",
            "error_uri",
        ),
        member_values,
    ),
)
quirk_sets = st.builds(
    Quirks,
    form_encoded_token_response=st.booleans(),
    expires_in_as_string=st.booleans(),
    scope_as_array=st.booleans(),
    scope_separators=st.sampled_from(["", ",", ", ;"]),
)
statuses = st.one_of(st.sampled_from([200, 201, 204, 400, 401, 500]), st.integers(0, 999))
content_types = st.one_of(
    st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/html", ""]),
    st.text(max_size=40),
)
previous_sets = st.none() | st.just(PREVIOUS)


def parses_or_raises_pkceflow_error(
    response: HttpResponse, quirks: Quirks, previous: TokenSet | None
) -> None:
    try:
        tokens = parse(response, quirks=quirks, previous=previous, requested_scope=("read",))
    except PkceflowError:
        return
    assert 200 <= response.status < 300
    assert tokens.access_token
    assert tokens.token_type == "Bearer"


@settings(max_examples=400, deadline=None)
@given(body=st.binary(max_size=300), status=statuses, content_type=content_types, quirks=quirk_sets)
def test_any_bytes_raise_only_pkceflow_errors(
    body: bytes, status: int, content_type: str, quirks: Quirks
) -> None:
    parses_or_raises_pkceflow_error(raw(body, status, content_type), quirks, None)


@settings(max_examples=250, deadline=None)
@given(value=json_values, status=statuses, quirks=quirk_sets)
def test_any_json_value_raises_only_pkceflow_errors(
    value: object, status: int, quirks: Quirks
) -> None:
    parses_or_raises_pkceflow_error(raw(json.dumps(value).encode(), status), quirks, None)


@settings(max_examples=200, deadline=None)
@given(
    doc=token_docs,
    status=statuses,
    content_type=content_types,
    quirks=quirk_sets,
    previous=previous_sets,
    as_form=st.booleans(),
)
def test_any_token_shaped_document_raises_only_pkceflow_errors(
    doc: dict[str, Any],
    status: int,
    content_type: str,
    quirks: Quirks,
    previous: TokenSet | None,
    as_form: bool,
) -> None:
    if as_form:
        body = urlencode({k: str(v) for k, v in doc.items()}).encode()
    else:
        body = json.dumps(doc).encode()
    parses_or_raises_pkceflow_error(raw(body, status, content_type), quirks, previous)
