"""scope.py: scopes are space-delimited, case-sensitive tokens (RFC 6749 3.3)."""

from __future__ import annotations

import pytest

from pkceflow_core import UsageError
from pkceflow_core._scope import normalize_scope

# scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
EVERY_ALLOWED_CHARACTER = "".join(
    [chr(0x21), *map(chr, range(0x23, 0x5C)), *map(chr, range(0x5D, 0x7F))]
)


def test_no_scope_is_the_empty_tuple() -> None:
    assert normalize_scope(None) == ()


def test_an_empty_string_is_the_empty_tuple() -> None:
    assert normalize_scope("") == ()


def test_a_string_is_split_on_spaces() -> None:
    assert normalize_scope("openid profile email") == ("openid", "profile", "email")


def test_runs_of_spaces_in_a_string_are_ignored() -> None:
    assert normalize_scope("  openid   profile ") == ("openid", "profile")


def test_a_list_gives_one_token_per_item() -> None:
    assert normalize_scope(["openid", "offline_access"]) == ("openid", "offline_access")


def test_any_iterable_of_strings_is_accepted() -> None:
    assert normalize_scope(s for s in ("read", "write")) == ("read", "write")


def test_repeats_are_dropped_keeping_the_first_order() -> None:
    assert normalize_scope("write read write openid read") == ("write", "read", "openid")


def test_tokens_are_case_sensitive() -> None:
    assert normalize_scope("Read read") == ("Read", "read")


def test_every_character_rfc6749_allows_is_accepted() -> None:
    assert normalize_scope([EVERY_ALLOWED_CHARACTER]) == (EVERY_ALLOWED_CHARACTER,)


@pytest.mark.parametrize(
    "scope",
    ['say"hi', "back\\slash", "caf\u00e9", "tab\tbed", "bell\x07", "del\x7f"],
    ids=["quote", "backslash", "non-ascii", "tab", "control", "del"],
)
def test_a_character_rfc6749_forbids_is_refused(scope: str) -> None:
    with pytest.raises(UsageError, match="not a valid scope token"):
        normalize_scope(scope)


def test_a_space_inside_a_list_item_is_refused() -> None:
    with pytest.raises(UsageError, match="not a valid scope token"):
        normalize_scope(["openid profile"])


def test_an_empty_list_item_is_refused() -> None:
    with pytest.raises(UsageError, match="not a valid scope token"):
        normalize_scope(["openid", ""])


def test_a_list_item_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(UsageError, match="must be strings"):
        normalize_scope(["openid", 7])  # type: ignore[list-item]
