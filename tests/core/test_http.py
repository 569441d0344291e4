"""http.py: requests and responses as plain data."""

from __future__ import annotations

import pytest

from pkceflow_core import HttpRequest, HttpResponse
from pkceflow_core._http import freshness_lifetime


def test_response_header_names_are_lower_cased() -> None:
    response = HttpResponse(200, {"Content-Type": "application/json", "X-Trace": "1"})

    assert dict(response.headers) == {"content-type": "application/json", "x-trace": "1"}


def test_a_response_has_no_headers_and_an_empty_body_by_default() -> None:
    response = HttpResponse(204)

    assert (dict(response.headers), response.body) == ({}, b"")


def test_a_request_is_not_retry_safe_by_default() -> None:
    assert HttpRequest("POST", "https://as.example.com/token").retry_safe is False


def test_the_request_repr_shows_neither_headers_nor_body() -> None:
    request = HttpRequest(
        "POST",
        "https://as.example.com/token",
        {"Authorization": "Basic c2VjcmV0"},
        b"code=the-code&code_verifier=the-verifier",
    )

    text = repr(request)

    assert "https://as.example.com/token" in text
    for secret in ("c2VjcmV0", "the-code", "the-verifier"):
        assert secret not in text


def test_the_response_repr_does_not_show_the_body() -> None:
    assert "the-access-token" not in repr(
        HttpResponse(200, {}, b'{"access_token":"the-access-token"}')
    )


@pytest.mark.parametrize(
    ("cache_control", "expected"),
    [
        ("max-age=300", 300),
        ("public, max-age=86400, must-revalidate", 86400),
        ('max-age="60"', 60),
        ("s-maxage=100", None),
        ("s-maxage=100, max-age=5", 5),
        ("no-store", 0),
        ("max-age=300, no-cache", 0),
        ("private", None),
        ("max-age=abc", None),
        ("", None),
    ],
)
def test_freshness_comes_from_cache_control(cache_control: str, expected: int | None) -> None:
    headers = {"Cache-Control": cache_control} if cache_control else {}
    assert freshness_lifetime(HttpResponse(200, headers)) == expected
