"""token_request.py: the code exchange, refresh and revocation requests (RFC 6749, RFC 7009)."""

from __future__ import annotations

import base64

import pytest

from pkceflow_core import (
    ClientConfig,
    HttpResponse,
    InvalidResponseError,
    ServerMetadata,
    TemporarilyUnavailableError,
    TokenError,
    UsageError,
    build_refresh_request,
    build_revocation_request,
    check_revocation_response,
)
from pkceflow_core._token_request import build_code_exchange_request
from tests.core.fakes import (
    REDIRECT_URI,
    REVOCATION_ENDPOINT,
    TOKEN_ENDPOINT,
    error_response,
    form_of,
    make_server,
)

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
SECRET = "client-secret-value"


# -- the code exchange ---------------------------------------------------------------


def test_the_code_exchange_posts_a_form_to_the_token_endpoint(
    server: ServerMetadata, client: ClientConfig
) -> None:
    request = build_code_exchange_request(
        server, client, code="the-code", redirect_uri=REDIRECT_URI, code_verifier=VERIFIER
    )

    assert (request.method, request.url) == ("POST", TOKEN_ENDPOINT)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form_of(request) == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": REDIRECT_URI,
        "code_verifier": VERIFIER,
        "client_id": "pkceflow-cli",
    }


def test_every_token_endpoint_request_asks_for_json(
    server: ServerMetadata, client: ClientConfig
) -> None:
    requests = [
        build_code_exchange_request(
            server, client, code="c", redirect_uri=REDIRECT_URI, code_verifier=VERIFIER
        ),
        build_refresh_request(server, client, "refresh-1"),
        build_revocation_request(server, client, "refresh-1"),
    ]

    assert [r.headers["Accept"] for r in requests] == ["application/json"] * 3


def test_the_code_exchange_is_never_retried(server: ServerMetadata, client: ClientConfig) -> None:
    request = build_code_exchange_request(
        server, client, code="c", redirect_uri=REDIRECT_URI, code_verifier=VERIFIER
    )

    assert request.retry_safe is False


def test_form_values_are_urlencoded(server: ServerMetadata, client: ClientConfig) -> None:
    request = build_code_exchange_request(
        server, client, code="a b&c=d+\u00e9", redirect_uri=REDIRECT_URI, code_verifier=VERIFIER
    )

    assert b"code=a+b%26c%3Dd%2B%C3%A9&" in request.body
    assert form_of(request)["code"] == "a b&c=d+\u00e9"


def test_client_secret_basic_goes_in_the_header_not_the_form(server: ServerMetadata) -> None:
    client = ClientConfig("a b:c/d%e", SECRET)

    request = build_code_exchange_request(
        server, client, code="c", redirect_uri=REDIRECT_URI, code_verifier=VERIFIER
    )

    encoded = request.headers["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(encoded).decode() == f"a+b%3Ac%2Fd%25e:{SECRET}"
    assert "client_secret" not in form_of(request)
    assert "client_id" not in form_of(request)


def test_client_secret_post_goes_in_the_form(server: ServerMetadata) -> None:
    client = ClientConfig("cli", SECRET, "client_secret_post")

    request = build_code_exchange_request(
        server, client, code="c", redirect_uri=REDIRECT_URI, code_verifier=VERIFIER
    )

    assert form_of(request)["client_secret"] == SECRET
    assert "Authorization" not in request.headers


def test_no_secret_is_in_the_repr_of_a_request(server: ServerMetadata) -> None:
    for client in (ClientConfig("cli", SECRET), ClientConfig("cli", SECRET, "client_secret_post")):
        request = build_code_exchange_request(
            server, client, code="the-code", redirect_uri=REDIRECT_URI, code_verifier=VERIFIER
        )
        text = repr(request)
        for secret in (SECRET, "the-code", VERIFIER, request.headers.get("Authorization", SECRET)):
            assert secret not in text


# -- refresh -------------------------------------------------------------------------


def test_a_refresh_posts_the_refresh_token_grant(
    server: ServerMetadata, client: ClientConfig
) -> None:
    request = build_refresh_request(server, client, "refresh-1")

    assert (request.method, request.url) == ("POST", TOKEN_ENDPOINT)
    assert form_of(request) == {
        "grant_type": "refresh_token",
        "refresh_token": "refresh-1",
        "client_id": "pkceflow-cli",
    }


def test_a_refresh_is_sent_at_most_once(server: ServerMetadata, client: ClientConfig) -> None:
    assert build_refresh_request(server, client, "refresh-1").retry_safe is False


def test_a_refresh_may_narrow_the_scope(server: ServerMetadata, client: ClientConfig) -> None:
    request = build_refresh_request(server, client, "refresh-1", scope=("read", "profile"))

    assert form_of(request)["scope"] == "read profile"


def test_an_empty_scope_is_not_sent(server: ServerMetadata, client: ClientConfig) -> None:
    assert "scope" not in form_of(build_refresh_request(server, client, "refresh-1", scope=()))


def test_a_refresh_without_a_refresh_token_is_refused(
    server: ServerMetadata, client: ClientConfig
) -> None:
    with pytest.raises(UsageError, match="no refresh token"):
        build_refresh_request(server, client, "")


def test_a_refresh_authenticates_the_client(server: ServerMetadata) -> None:
    request = build_refresh_request(server, ClientConfig("cli", SECRET), "refresh-1")

    assert request.headers["Authorization"].startswith("Basic ")


# -- revocation ----------------------------------------------------------------------


def test_a_revocation_posts_the_token_with_a_refresh_token_hint(
    server: ServerMetadata, client: ClientConfig
) -> None:
    request = build_revocation_request(server, client, "refresh-1")

    assert (request.method, request.url) == ("POST", REVOCATION_ENDPOINT)
    assert form_of(request) == {
        "token": "refresh-1",
        "token_type_hint": "refresh_token",
        "client_id": "pkceflow-cli",
    }


def test_a_revocation_may_hint_at_an_access_token(
    server: ServerMetadata, client: ClientConfig
) -> None:
    request = build_revocation_request(server, client, "access-1", token_type_hint="access_token")

    assert form_of(request)["token_type_hint"] == "access_token"


@pytest.mark.parametrize("hint", [None, ""])
def test_a_revocation_without_hint_sends_none(
    server: ServerMetadata, client: ClientConfig, hint: str | None
) -> None:
    request = build_revocation_request(server, client, "access-1", token_type_hint=hint)

    assert "token_type_hint" not in form_of(request)


def test_a_revocation_may_be_retried(server: ServerMetadata, client: ClientConfig) -> None:
    assert build_revocation_request(server, client, "refresh-1").retry_safe is True


def test_a_revocation_authenticates_the_client(server: ServerMetadata) -> None:
    client = ClientConfig("cli", SECRET, "client_secret_post")

    assert form_of(build_revocation_request(server, client, "t"))["client_secret"] == SECRET


def test_a_revocation_needs_a_revocation_endpoint(client: ClientConfig) -> None:
    server = make_server(revocation_endpoint=None)

    with pytest.raises(UsageError, match="no revocation endpoint"):
        build_revocation_request(server, client, "refresh-1")


def test_a_200_answer_to_a_revocation_is_success_whatever_the_body() -> None:
    # RFC 7009 2.2: the body of a 200 is not read; nothing is raised.
    check_revocation_response(HttpResponse(200, {}, b"<html>not json</html>"))


def test_an_oauth_error_answer_to_a_revocation_is_a_token_error() -> None:
    with pytest.raises(TokenError) as raised:
        check_revocation_response(error_response("unsupported_token_type", 400))

    assert (raised.value.error, raised.value.status) == ("unsupported_token_type", 400)


def test_another_answer_to_a_revocation_is_an_invalid_response() -> None:
    with pytest.raises(InvalidResponseError, match="revocation endpoint") as raised:
        check_revocation_response(HttpResponse(500, {}, b"<html>Internal Server Error</html>"))

    assert raised.value.status == 500


def test_a_503_answer_to_a_revocation_says_to_try_again_later() -> None:
    # RFC 7009 2.2.1: 503 means the server is temporarily unable to revoke.
    with pytest.raises(TemporarilyUnavailableError, match="revocation endpoint") as raised:
        check_revocation_response(HttpResponse(503, {}, b"<html>Service Unavailable</html>"))

    assert (raised.value.status, raised.value.retry_after) == (503, None)
