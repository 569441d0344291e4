"""errors.py: one hierarchy that says whose fault each error was, and safe messages."""

from __future__ import annotations

import typing

import pytest

import pkceflow_core
from pkceflow_core import (
    AuthorizationError,
    CallbackError,
    CallbackTimeoutError,
    DuplicateParameterError,
    FlowStateError,
    IdentityChangedError,
    IdTokenError,
    IdTokenRule,
    InsecureEndpointError,
    InvalidResponseError,
    IssuerMismatchError,
    LoginEndedError,
    LoginRequiredError,
    MetadataError,
    MissingCodeError,
    MissingIssuerError,
    MissingStateError,
    PkceflowError,
    RestoreError,
    ServerError,
    StateMismatchError,
    StoreError,
    TokenError,
    TransportError,
    UsageError,
)
from pkceflow_core.errors import printable

EXPORTED_ERRORS = [
    value
    for name in pkceflow_core.__all__
    if isinstance(value := getattr(pkceflow_core, name), type) and issubclass(value, Exception)
]


# -- the hierarchy ------------------------------------------------------------------------


@pytest.mark.parametrize("error", EXPORTED_ERRORS, ids=lambda e: e.__name__)
def test_every_exported_error_is_a_pkceflow_error(error: type[Exception]) -> None:
    assert issubclass(error, PkceflowError)


@pytest.mark.parametrize(
    ("error", "base"),
    [
        (UsageError, ValueError),
        (FlowStateError, UsageError),
        (InsecureEndpointError, UsageError),
        (RestoreError, ValueError),
        (MissingStateError, CallbackError),
        (StateMismatchError, CallbackError),
        (MissingCodeError, CallbackError),
        (DuplicateParameterError, CallbackError),
        (IssuerMismatchError, CallbackError),
        (MissingIssuerError, CallbackError),
        (AuthorizationError, CallbackError),
        (TokenError, ServerError),
        (InvalidResponseError, ServerError),
        (MetadataError, ServerError),
        (IdTokenError, ServerError),
        (CallbackTimeoutError, TimeoutError),
    ],
    ids=lambda e: e.__name__,
)
def test_each_error_is_of_its_family(error: type[Exception], base: type[Exception]) -> None:
    assert issubclass(error, base)


FAMILIES = [UsageError, RestoreError, CallbackError, ServerError, TransportError, StoreError]


@pytest.mark.parametrize("error", [CallbackTimeoutError, LoginRequiredError, *FAMILIES])
def test_the_families_are_disjoint(error: type[PkceflowError]) -> None:
    assert [f for f in FAMILIES if issubclass(error, f)] in ([error], [])


def test_the_callback_errors_a_flow_tells_apart_are_distinct() -> None:
    distinct = [MissingStateError, StateMismatchError, MissingCodeError, DuplicateParameterError]

    for a in distinct:
        for b in distinct:
            assert issubclass(a, b) == (a is b)


# -- printable ---------------------------------------------------------------------------------


def test_printable_keeps_ordinary_text() -> None:
    assert (
        printable("access denied: caf\u00e9 \u2603\ttab") == "access denied: caf\u00e9 \u2603\ttab"
    )


def test_printable_removes_c0_controls_del_and_c1_controls() -> None:
    assert printable("a\x00b\x1b[2Jc\nd\re\x7ff\x85g\x9bh") == "ab[2Jcdefgh"


def test_printable_cuts_long_text_with_an_ellipsis() -> None:
    assert printable("abcdefghij", limit=5) == "abcd\u2026"


def test_printable_keeps_text_of_exactly_the_limit() -> None:
    assert printable("abcde", limit=5) == "abcde"


def test_printable_cuts_after_removing_controls() -> None:
    assert printable("\x1b" * 10 + "abc", limit=3) == "abc"


def test_printable_cuts_at_300_characters_by_default() -> None:
    assert len(printable("x" * 1000)) == 300


# -- the errors' fields and messages --------------------------------------------------------------


def test_an_authorization_error_keeps_the_fields_as_sent() -> None:
    error = AuthorizationError("access_denied\x1b", "no\x07pe", "https://as/e")

    assert (error.error, error.error_description, error.error_uri) == (
        "access_denied\x1b",
        "no\x07pe",
        "https://as/e",
    )
    assert str(error) == "access_denied: nope"


def test_an_authorization_error_without_description_shows_the_code_alone() -> None:
    error = AuthorizationError("access_denied")

    assert (str(error), error.error_description, error.error_uri) == ("access_denied", None, None)


def test_an_empty_description_is_not_shown() -> None:
    assert str(AuthorizationError("access_denied", "")) == "access_denied"


def test_the_error_code_in_a_message_is_cut_to_80_characters() -> None:
    assert str(AuthorizationError("e" * 200)) == "e" * 79 + "\u2026"


def test_a_token_error_carries_its_http_status() -> None:
    error = TokenError("invalid_grant", "expired", "https://as/e", status=400)

    assert (error.error, error.error_description, error.error_uri, error.status) == (
        "invalid_grant",
        "expired",
        "https://as/e",
        400,
    )
    assert str(error) == "invalid_grant: expired (HTTP 400)"


def test_an_invalid_response_shows_status_and_excerpt() -> None:
    error = InvalidResponseError("not JSON", status=502, excerpt="<html>")

    assert str(error) == "not JSON (HTTP 502); body starts: '<html>'"
    assert (error.status, error.excerpt) == (502, "<html>")


def test_an_invalid_response_without_status_or_excerpt_is_the_message_alone() -> None:
    error = InvalidResponseError("no access_token")

    assert (str(error), error.status, error.excerpt) == ("no access_token", None, "")


def test_a_duplicate_parameter_error_names_the_parameter() -> None:
    error = DuplicateParameterError("state")

    assert error.name == "state"
    assert str(error) == "the callback repeats the parameter 'state'"


def test_a_duplicate_parameter_name_is_cut_and_cleaned_in_the_message() -> None:
    error = DuplicateParameterError("\x1b" + "n" * 100)

    assert error.name == "\x1b" + "n" * 100
    assert str(error) == "the callback repeats the parameter " + repr("n" * 59 + "\u2026")


def test_a_callback_timeout_counts_the_rejected_callbacks() -> None:
    assert CallbackTimeoutError("no callback", rejected=3).rejected == 3


def test_a_callback_timeout_has_rejected_none_by_default() -> None:
    assert CallbackTimeoutError("no callback").rejected == 0


def test_an_id_token_key_error_says_whether_the_kid_was_unknown() -> None:
    unknown = IdTokenError("no key", check="key", unknown_kid=True)
    assert (unknown.check, unknown.unknown_kid) == ("key", True)
    assert IdTokenError("no key", check="key").unknown_kid is False


@pytest.mark.parametrize("check", typing.get_args(IdTokenRule))
def test_an_id_token_error_carries_the_rule_that_failed(check: IdTokenRule) -> None:
    error = IdTokenError("the id_token failed", check=check)
    assert (error.check, error.unknown_kid, str(error)) == (check, False, "the id_token failed")


def test_the_id_token_rules_are_a_closed_set() -> None:
    assert len(set(typing.get_args(IdTokenRule))) == 14
    with pytest.raises(UsageError, match="'sig' is not an id_token check"):
        IdTokenError("bad", check="sig")  # type: ignore[arg-type]


def test_unknown_kid_is_for_the_key_check_only() -> None:
    with pytest.raises(UsageError, match="unknown_kid"):
        IdTokenError("bad", check="signature", unknown_kid=True)


def test_an_identity_change_is_an_id_token_error_and_ends_the_login() -> None:
    error = IdentityChangedError("another sub", claim="sub")
    assert isinstance(error, IdTokenError)
    assert isinstance(error, LoginEndedError)
    assert (error.check, error.claim, error.login_kept, error.unknown_kid) == (
        "identity",
        "sub",
        False,
        False,
    )
    assert str(error) == "another sub"
