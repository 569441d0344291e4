"""tokens.py: the token set, its lifetime, and its stored form."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkceflow_core import RestoreError, TokenSet
from tests.core.fakes import NOW
from tests.support.strategies import any_json, any_json_or_edited

FULL = TokenSet(
    access_token="access-1",
    token_type="Bearer",
    expires_at=NOW + 3600,
    refresh_token="refresh-1",
    id_token="id-1",
    scope=("openid", "read"),
    extra={"ext_expires_in": 7200},
)


def stored(**changes: Any) -> dict[str, Any]:
    data = FULL.to_dict()
    data.update(changes)
    return data


# -- lifetime ------------------------------------------------------------------------


def test_expires_in_is_the_time_left() -> None:
    assert FULL.expires_in(NOW + 600) == 3000


def test_expires_in_is_none_without_a_known_lifetime() -> None:
    assert TokenSet("a").expires_in(NOW) is None


def test_a_token_with_time_left_is_fresh() -> None:
    assert FULL.is_fresh(NOW + 3599)


def test_an_expired_token_is_not_fresh() -> None:
    assert not FULL.is_fresh(NOW + 3600)


def test_a_token_is_not_fresh_within_min_ttl_of_its_expiry() -> None:
    assert not FULL.is_fresh(NOW + 3540, min_ttl=60)


def test_a_token_is_fresh_just_beyond_min_ttl_of_its_expiry() -> None:
    assert FULL.is_fresh(NOW + 3539, min_ttl=60)


def test_a_token_without_a_known_lifetime_is_always_fresh() -> None:
    assert TokenSet("a").is_fresh(NOW + 10**9, min_ttl=10**9)


# -- scope ---------------------------------------------------------------------------


def test_missing_scopes_lists_what_was_not_granted_in_request_order() -> None:
    assert FULL.missing_scopes(("write", "openid", "admin")) == ("write", "admin")


def test_nothing_is_missing_when_all_was_granted() -> None:
    assert FULL.missing_scopes(("read", "openid")) == ()


def test_nothing_is_known_missing_when_the_granted_scope_is_unknown() -> None:
    assert TokenSet("a").missing_scopes(("read",)) == ()


# -- secrets -------------------------------------------------------------------------


def test_no_token_is_in_the_repr() -> None:
    text = repr(FULL)

    for secret in ("access-1", "refresh-1", "id-1", "ext_expires_in"):
        assert secret not in text
    assert "openid" in text


def test_no_token_is_in_the_str() -> None:
    assert "access-1" not in str(FULL)


# -- the stored form -----------------------------------------------------------------


def test_the_stored_form_is_versioned_json() -> None:
    data = json.loads(json.dumps(FULL.to_dict()))

    assert data == {
        "version": 1,
        "access_token": "access-1",
        "token_type": "Bearer",
        "expires_at": NOW + 3600,
        "refresh_token": "refresh-1",
        "id_token": "id-1",
        "scope": ["openid", "read"],
        "extra": {"ext_expires_in": 7200},
        "obtained_at": None,
        "unconfirmed_refresh_at": None,
    }


def test_a_token_set_survives_a_json_round_trip() -> None:
    assert TokenSet.from_dict(json.loads(json.dumps(FULL.to_dict()))) == FULL


def test_a_minimal_token_set_survives_a_round_trip() -> None:
    minimal = TokenSet("a")

    assert TokenSet.from_dict(minimal.to_dict()) == minimal


def test_an_integer_expiry_is_read_as_a_float() -> None:
    restored = TokenSet.from_dict(stored(expires_at=1_700_000_000))

    assert restored.expires_at == 1_700_000_000.0
    assert isinstance(restored.expires_at, float)


def test_a_stored_form_without_extra_has_none() -> None:
    data = stored()
    del data["extra"]

    assert dict(TokenSet.from_dict(data).extra) == {}


@pytest.mark.parametrize("data", [None, [], "token", 1], ids=["null", "array", "string", "number"])
def test_a_stored_form_that_is_not_an_object_is_refused(data: object) -> None:
    with pytest.raises(RestoreError, match="JSON object"):
        TokenSet.from_dict(data)


@pytest.mark.parametrize("version", [None, 0, 2, "1"])
def test_another_version_is_refused(version: object) -> None:
    with pytest.raises(RestoreError, match="version"):
        TokenSet.from_dict(stored(version=version))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"access_token": None}, "no access_token"),
        ({"access_token": ""}, "no access_token"),
        ({"access_token": 1}, "no access_token"),
        ({"token_type": None}, "no token_type"),
        ({"expires_at": "soon"}, "expires_at must be a number"),
        ({"expires_at": True}, "expires_at must be a number"),
        ({"expires_at": 10**400}, "expires_at is out of range"),
        ({"expires_at": float("nan")}, "finite"),
        ({"expires_at": float("inf")}, "finite"),
        ({"refresh_token": 5}, "must be strings"),
        ({"id_token": ["x"]}, "must be strings"),
        ({"scope": "openid read"}, "scope must be a list of strings"),
        ({"scope": ["openid", 1]}, "scope must be a list of strings"),
        ({"extra": []}, "extra must be an object"),
    ],
    ids=lambda v: str(v)[:40] if isinstance(v, dict) else None,
)
def test_a_corrupt_member_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(RestoreError, match=message):
        TokenSet.from_dict(stored(**changes))


def test_a_restore_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="version"):
        TokenSet.from_dict({})


# -- property ------------------------------------------------------------------------

json_values = any_json()
member_names = st.sampled_from([*FULL.to_dict(), "other"])
huge_integers = st.integers(min_value=2**1023, max_value=2**1200)


#: Arbitrary JSON, or a real stored form with members replaced or removed.
stored_forms = any_json_or_edited(
    json_values, FULL.to_dict, member_names, json_values | huge_integers
)


@settings(max_examples=250, deadline=None)
@given(data=stored_forms)
def test_restoring_any_json_raises_only_restore_error(data: object) -> None:
    try:
        restored = TokenSet.from_dict(data)
    except RestoreError:
        return
    assert TokenSet.from_dict(restored.to_dict()) == restored


def test_a_token_set_is_hashable_whatever_its_extra_members() -> None:
    tokens = TokenSet("a", extra={"nested": {"k": [1, 2]}})

    assert hash(tokens) == hash(TokenSet("a"))
    assert {tokens: 1}[tokens] == 1


def test_json_round_trips_a_token_set() -> None:
    tokens = TokenSet("a", expires_at=NOW + 60, refresh_token="r", scope=("x",), extra={"k": 1})

    assert TokenSet.from_json(tokens.to_json()) == tokens
    assert TokenSet.from_json(tokens.to_json().encode()) == tokens


@pytest.mark.parametrize("data", [b"", b"{", b"\xff", "[" * 5000 + "]" * 5000])
def test_text_that_is_not_json_is_a_restore_error_without_context(data: str | bytes) -> None:
    with pytest.raises(RestoreError, match="not valid JSON") as raised:
        TokenSet.from_json(data)

    assert raised.value.__context__ is None
