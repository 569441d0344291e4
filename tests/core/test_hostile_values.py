"""Values a hostile server can put in a well-formed answer, refused by the parsers.

Found by tests/security: a member nested close to the recursion limit parsed but could
not be stored again; a token with a line break became a header injection where it was
sent; a scope with an escape sequence reached the terminal. Each is refused with an
InvalidResponseError (RFC 6749 3.3, A.4, A.12, A.17).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pkceflow_core import HttpResponse, InvalidResponseError, Quirks, TokenError, TokenSet
from pkceflow_core._json import MAX_DEPTH, loads_object
from pkceflow_core._token_response import parse_token_response

GOOD: dict[str, Any] = {"access_token": "a", "token_type": "Bearer"}


def parse(doc: dict[str, Any], quirks: Quirks = Quirks()) -> TokenSet:
    body = json.dumps(doc).encode()
    response = HttpResponse(200, {"Content-Type": "application/json"}, body)
    return parse_token_response(response, now=0.0, quirks=quirks)


def nested(levels: int, container: str) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value] if container == "list" else {"k": value}
    return value


# -- nesting ---------------------------------------------------------------------------


@pytest.mark.parametrize("container", ["list", "dict"])
def test_a_document_nested_to_the_limit_is_read(container: str) -> None:
    # The top-level object is one level; its member brings MAX_DEPTH - 1 more.
    doc = {**GOOD, "x": nested(MAX_DEPTH - 1, container)}

    assert parse(doc).extra == {"x": doc["x"]}


@pytest.mark.parametrize("container", ["list", "dict"])
def test_a_document_nested_past_the_limit_is_refused(container: str) -> None:
    doc = {**GOOD, "x": nested(MAX_DEPTH, container)}

    with pytest.raises(InvalidResponseError, match=f"nested more than {MAX_DEPTH} levels"):
        parse(doc)


def test_nesting_is_refused_for_every_document_read() -> None:
    body = json.dumps({"keys": nested(100, "list")}).encode()

    with pytest.raises(InvalidResponseError, match="the JWKS is nested more than"):
        loads_object(body, what="the JWKS")


# -- tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["access_token", "refresh_token", "id_token"])
@pytest.mark.parametrize(
    "value",
    ["abc\r\nX-Injected: 1", "a\x00b", "a\x1b[2Jb", "t\u00f6ken", "\ud800x", "a\tb"],
    ids=["crlf", "nul", "ansi", "non-ascii", "surrogate", "tab"],
)
def test_a_token_outside_visible_ascii_is_refused(name: str, value: str) -> None:
    with pytest.raises(InvalidResponseError, match=f"{name} .* visible ASCII"):
        parse({**GOOD, name: value})


def test_a_token_of_every_visible_ascii_character_is_kept() -> None:
    every = "".join(map(chr, range(0x20, 0x7F)))

    tokens = parse({**GOOD, "access_token": every, "refresh_token": every})

    assert tokens.access_token == tokens.refresh_token == every


# -- scope -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scope",
    ["openid \x1b]0;title\x07", "read\x9bwrite", 'say "hi"', "back\\slash", "caf\u00e9"],
    ids=["osc-escape", "c1-csi", "quote", "backslash", "non-ascii"],
)
def test_a_scope_outside_nqchar_is_refused(scope: str) -> None:
    with pytest.raises(InvalidResponseError, match=r"RFC 6749 3\.3"):
        parse({**GOOD, "scope": scope})


def test_a_scope_array_item_outside_nqchar_is_refused() -> None:
    with pytest.raises(InvalidResponseError, match=r"RFC 6749 3\.3"):
        parse({**GOOD, "scope": ["openid", "x\x1by"]}, Quirks(scope_as_array=True))


def test_scopes_of_url_form_are_kept() -> None:
    scope = "openid https://graph.example.com/User.Read offline_access"

    assert parse({**GOOD, "scope": scope}).scope == tuple(scope.split())


def test_an_empty_scope_array_item_is_kept_as_before() -> None:
    tokens = parse({**GOOD, "scope": ["", "read"]}, Quirks(scope_as_array=True))

    assert tokens.scope == ("", "read")


# -- reflected secrets -----------------------------------------------------------------

SECRET = "Zk3-9aQ_xY7bW2cV5nM8pL1rT4sU6dE0"


def error_response(payload: dict[str, Any], status: int = 400) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())


def messages(error: BaseException) -> str:
    """str and repr of ``error`` and of what it was raised from or during."""
    texts = []
    for exc in (error, error.__cause__, error.__context__):
        if exc is not None:
            texts += [str(exc), repr(exc)]
    return "\n".join(texts)


def test_a_secret_echoed_in_error_description_is_elided_from_the_message() -> None:
    response = error_response({"error": "invalid_grant", "error_description": f"got {SECRET}"})

    with pytest.raises(TokenError) as raised:
        parse_token_response(response, now=0.0)

    assert SECRET not in str(raised.value)
    assert str(raised.value) == "invalid_grant: got \u2026 (HTTP 400)"
    assert raised.value.error_description == f"got {SECRET}"  # kept as sent, for programs


def test_a_secret_split_by_control_characters_is_elided_once_they_are_gone() -> None:
    split = "\x07".join(SECRET[i : i + 8] for i in range(0, len(SECRET), 8))
    response = error_response({"error": "invalid_grant", "error_description": split})

    with pytest.raises(TokenError) as raised:
        parse_token_response(response, now=0.0)

    assert str(raised.value) == "invalid_grant: \u2026 (HTTP 400)"


def test_a_secret_in_place_of_the_error_code_is_elided_but_codes_are_shown() -> None:
    with pytest.raises(TokenError) as raised:
        parse_token_response(error_response({"error": SECRET}), now=0.0)
    assert str(raised.value) == "\u2026 (HTTP 400)"

    with pytest.raises(TokenError) as raised:
        parse_token_response(error_response({"error": "unsupported_grant_type"}), now=0.0)
    assert str(raised.value) == "unsupported_grant_type (HTTP 400)"


@pytest.mark.parametrize(
    "body",
    [
        f'{{"{SECRET}": 1, "{SECRET}": 2}}'.encode(),
        f'{{"access_token": "a", "token_type": "{SECRET}"}}'.encode(),
        b'{"access_token": "' + SECRET.encode() + b'\xff"}',
        SECRET.encode() + b"\x00\x01" + SECRET.encode(),
    ],
    ids=["repeated-member", "token-type", "not-utf8", "not-json"],
)
def test_a_secret_in_a_malformed_answer_stays_out_of_the_error_and_its_context(
    body: bytes,
) -> None:
    response = HttpResponse(200, {"Content-Type": "application/json"}, body)

    with pytest.raises(InvalidResponseError) as raised:
        parse_token_response(response, now=0.0)

    assert SECRET[:16] not in messages(raised.value)


@pytest.mark.parametrize(
    "body",
    [f"access_token={SECRET}&access_token=b", f"access_token={SECRET}&&=", "a=%FF\xff"],
    ids=["repeated-field", "malformed", "not-utf8"],
)
def test_a_secret_in_a_malformed_form_answer_stays_out_of_the_error_and_its_context(
    body: str,
) -> None:
    raw = body.encode("latin-1")
    response = HttpResponse(200, {"Content-Type": "application/x-www-form-urlencoded"}, raw)

    with pytest.raises(InvalidResponseError) as raised:
        parse_token_response(response, now=0.0, quirks=Quirks(form_encoded_token_response=True))

    assert SECRET[:16] not in messages(raised.value)
    assert raised.value.__context__ is None or SECRET not in repr(raised.value.__context__)


def test_a_wide_shallow_document_with_many_containers_is_read() -> None:
    # More openers than MAX_DEPTH, so the depth walk runs, and finds nothing deep.
    doc = {**GOOD, "x": [[i, "s"] for i in range(MAX_DEPTH + 5)]}

    assert loads_object(json.dumps(doc).encode(), what="t")["x"][0] == [0, "s"]
