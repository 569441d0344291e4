"""http.py: requests and responses as plain data."""

from __future__ import annotations

from pkceflow_core import HttpRequest, HttpResponse


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
