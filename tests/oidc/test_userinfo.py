"""The userinfo rules (OpenID Connect Core 5.3) and reading a stored id_token, as steps."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from pkceflow_core import (
    HttpResponse,
    IdTokenError,
    InvalidResponseError,
    ServerMetadata,
    TokenError,
    TokenSet,
    UsageError,
)
from pkceflow_core.oidc import unverified_claims, userinfo_steps
from pkceflow_core.steps import Effect, Send, run

ISSUER = "https://id.example.com"
SERVER = ServerMetadata(
    f"{ISSUER}/authorize", f"{ISSUER}/token", issuer=ISSUER, userinfo_endpoint=f"{ISSUER}/me"
)


def _segment(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def id_token(claims: object) -> str:
    return f"{_segment({'alg': 'RS256'})}.{_segment(claims)}.signature"


def userinfo(answer: HttpResponse, tokens: TokenSet) -> dict[str, Any]:
    sent: list[Send] = []

    def do(effect: Effect) -> HttpResponse:
        assert isinstance(effect, Send)
        sent.append(effect)
        return answer

    claims = run(userinfo_steps(SERVER, tokens), do)
    request = sent[0].request
    assert (request.method, request.url) == ("GET", f"{ISSUER}/me")
    assert request.headers["Authorization"] == f"Bearer {tokens.access_token}"
    return claims


def json_answer(doc: object, status: int = 200, **headers: str) -> HttpResponse:
    return HttpResponse(
        status, {"Content-Type": "application/json", **headers}, json.dumps(doc).encode()
    )


def test_the_claims_of_the_signed_in_person_are_returned() -> None:
    tokens = TokenSet("access-1", id_token=id_token({"sub": "alice"}))

    assert userinfo(json_answer({"sub": "alice", "email": "a@example.com"}), tokens) == {
        "sub": "alice",
        "email": "a@example.com",
    }


def test_another_sub_than_the_id_tokens_is_refused() -> None:
    tokens = TokenSet("access-1", id_token=id_token({"sub": "alice"}))

    with pytest.raises(IdTokenError) as raised:
        userinfo(json_answer({"sub": "mallory"}), tokens)
    assert raised.value.check == "userinfo_sub"


@pytest.mark.parametrize("doc", [{}, {"sub": ""}, {"sub": 7}], ids=["none", "empty", "number"])
def test_an_answer_without_a_sub_is_refused(doc: object) -> None:
    with pytest.raises(InvalidResponseError, match="has no sub"):
        userinfo(json_answer(doc), TokenSet("access-1"))


def test_a_refused_token_gives_the_error_of_its_www_authenticate_header() -> None:
    answer = json_answer(
        {},
        401,
        **{"WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'},
    )

    with pytest.raises(TokenError) as raised:
        userinfo(answer, TokenSet("access-1"))
    assert (raised.value.error, raised.value.error_description) == ("invalid_token", "expired")
    assert raised.value.status == 401


def test_a_refusal_without_an_oauth_error_is_an_invalid_response() -> None:
    with pytest.raises(InvalidResponseError, match="refused"):
        userinfo(HttpResponse(500, {}, b"oops"), TokenSet("access-1"))


def test_a_signed_userinfo_answer_is_not_taken_for_json() -> None:
    answer = HttpResponse(200, {"Content-Type": "application/jwt"}, b"a.b.c")

    with pytest.raises(InvalidResponseError, match="not JSON"):
        userinfo(answer, TokenSet("access-1"))


def test_a_server_without_a_userinfo_endpoint_is_a_usage_error() -> None:
    server = ServerMetadata(f"{ISSUER}/authorize", f"{ISSUER}/token", issuer=ISSUER)

    with pytest.raises(UsageError, match="no userinfo endpoint"):
        run(userinfo_steps(server, TokenSet("access-1")), lambda effect: None)


@pytest.mark.parametrize(
    "token",
    ["no-dots", "a.!!!.c", f"a.{_segment([1, 2])}.c", "a.bm90IGpzb24.c"],
    ids=["one-segment", "not-base64", "not-an-object", "not-json"],
)
def test_a_stored_id_token_that_cannot_be_read_is_malformed(token: str) -> None:
    with pytest.raises(IdTokenError) as raised:
        unverified_claims(token)
    assert raised.value.check == "malformed"
