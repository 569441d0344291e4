"""authorization_url.py: the authorize request URL (RFC 6749 4.1.1, RFC 7636 4.3).

What the flow puts into it (state, challenge, nonce, scope) is in test_flow.py; here
is how parameters are combined: endpoint query kept, no parameter twice, repeats only
where asked for, and everything encoded so that it reads back exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkceflow_core import InsecureEndpointError, UsageError
from pkceflow_core._authorization_url import ExtraParams, build_authorization_url

ENDPOINT = "https://as.example.com/authorize"
PARAMS = [("response_type", "code"), ("client_id", "cli"), ("state", "s")]


def pairs_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def test_parameters_are_appended_to_the_endpoint_in_order() -> None:
    url = build_authorization_url(ENDPOINT, PARAMS)

    assert url == "https://as.example.com/authorize?response_type=code&client_id=cli&state=s"


def test_the_endpoint_query_is_kept_before_the_parameters() -> None:
    url = build_authorization_url(ENDPOINT + "?tenant=abc&audience=", PARAMS)

    assert pairs_of(url) == [("tenant", "abc"), ("audience", ""), *PARAMS]


def test_values_are_percent_encoded_with_spaces_as_percent_20() -> None:
    url = build_authorization_url(ENDPOINT, [("scope", "openid profile"), ("x", "a&b=c#d+e")])

    assert urlsplit(url).query == "scope=openid%20profile&x=a%26b%3Dc%23d%2Be"


def test_extra_parameters_follow_the_protocol_parameters() -> None:
    url = build_authorization_url(ENDPOINT, PARAMS, {"prompt": "consent", "login_hint": "a@b"})

    assert pairs_of(url) == [*PARAMS, ("prompt", "consent"), ("login_hint", "a@b")]


def test_a_sequence_value_repeats_the_parameter() -> None:
    extra = {"resource": ["https://api.example.com", "https://files.example.com"]}

    url = build_authorization_url(ENDPOINT, PARAMS, extra)

    assert pairs_of(url)[-2:] == [
        ("resource", "https://api.example.com"),
        ("resource", "https://files.example.com"),
    ]


def test_an_empty_string_value_is_sent_as_a_blank_parameter() -> None:
    url = build_authorization_url(ENDPOINT, PARAMS, {"prompt": ""})

    assert pairs_of(url)[-1] == ("prompt", "")


def test_no_extra_parameters_is_the_same_as_none() -> None:
    assert build_authorization_url(ENDPOINT, PARAMS, {}) == build_authorization_url(
        ENDPOINT, PARAMS, None
    )


def test_a_parameter_the_endpoint_query_already_sets_is_refused() -> None:
    with pytest.raises(UsageError, match="already sets 'client_id'"):
        build_authorization_url(ENDPOINT + "?client_id=other", PARAMS)


def test_a_protocol_parameter_given_twice_is_refused() -> None:
    with pytest.raises(UsageError, match="already sets 'state'"):
        build_authorization_url(ENDPOINT, [*PARAMS, ("state", "t")])


def test_an_extra_parameter_that_clashes_with_a_protocol_one_is_refused() -> None:
    with pytest.raises(UsageError, match="'state' is set twice"):
        build_authorization_url(ENDPOINT, PARAMS, {"state": "mine"})


def test_an_extra_parameter_that_clashes_with_the_endpoint_query_is_refused() -> None:
    with pytest.raises(UsageError, match="'tenant' is set twice"):
        build_authorization_url(ENDPOINT + "?tenant=a", PARAMS, {"tenant": "b"})


def test_an_extra_parameter_with_no_values_is_refused() -> None:
    with pytest.raises(UsageError, match="'resource' needs string values"):
        build_authorization_url(ENDPOINT, PARAMS, {"resource": []})


def test_an_extra_parameter_with_a_value_that_is_not_a_string_is_refused() -> None:
    extra: ExtraParams = {"max_age": [300]}  # type: ignore[list-item]

    with pytest.raises(UsageError, match="'max_age' needs string values"):
        build_authorization_url(ENDPOINT, PARAMS, extra)


def test_an_endpoint_with_a_fragment_is_refused() -> None:
    with pytest.raises(UsageError, match="fragment"):
        build_authorization_url(ENDPOINT + "#top", PARAMS)


def test_an_endpoint_over_plain_http_is_refused() -> None:
    with pytest.raises(InsecureEndpointError):
        build_authorization_url("http://as.example.com/authorize", PARAMS)


def test_an_unparseable_endpoint_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="not a valid URL"):
        build_authorization_url("https://[::1/authorize", PARAMS)


# -- property ------------------------------------------------------------------------

PROTOCOL_NAMES = {name for name, _ in PARAMS} | {"tenant"}

extra_params = st.dictionaries(
    keys=st.text(max_size=12).filter(lambda name: name not in PROTOCOL_NAMES),
    values=st.one_of(st.text(max_size=20), st.lists(st.text(max_size=20), min_size=1, max_size=3)),
    max_size=5,
)


def expanded(extra: dict[str, str | list[str]]) -> list[tuple[str, str]]:
    result: list[tuple[str, str]] = []
    for name, value_or_values in extra.items():
        values: Sequence[str] = (
            [value_or_values] if isinstance(value_or_values, str) else value_or_values
        )
        result.extend((name, value) for value in values)
    return result


@settings(max_examples=200, deadline=None)
@given(extra=extra_params)
def test_extra_parameters_read_back_exactly(extra: dict[str, str | list[str]]) -> None:
    url = build_authorization_url(ENDPOINT + "?tenant=t%201", PARAMS, extra)

    assert url.startswith(ENDPOINT + "?")
    assert "#" not in url
    assert pairs_of(url) == [("tenant", "t 1"), *PARAMS, *expanded(extra)]


def test_an_extra_value_that_is_neither_string_nor_list_is_refused() -> None:
    extra: dict[str, object] = {"max_age": 300}
    with pytest.raises(UsageError, match="string or a list"):
        build_authorization_url("https://as.example/authorize", [], extra)  # type: ignore[arg-type]
