"""ID tokens: verification against the JWKS with PyJWT, at_hash, nonce, and defects."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import jwt
import pytest

from pkceflow.testing import TestProvider

from .helpers import refresh, tokens


def _verify(provider: TestProvider, id_token: str, **options: Any) -> dict[str, Any]:
    """Verify like a relying party: key by kid from the JWKS fetched over HTTP."""
    client = jwt.PyJWKClient(provider.jwks_uri, cache_keys=False, cache_jwk_set=False)
    key = client.get_signing_key_from_jwt(id_token)
    claims: dict[str, Any] = jwt.decode(
        id_token,
        key,
        algorithms=["RS256"],
        audience=options.pop("audience", "pkceflow-test"),
        issuer=options.pop("issuer", provider.issuer),
        options={"require": ["iss", "sub", "aud", "exp", "iat"]},
    )
    return claims


def _expected_at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


def _unverified(id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.get_unverified_header(id_token)
    claims: dict[str, Any] = jwt.decode(id_token, options={"verify_signature": False})
    return header, claims


def test_id_token_verifies_and_has_at_hash_and_nonce(pkceflow_provider: TestProvider) -> None:
    before = int(time.time())
    payload = tokens(pkceflow_provider, nonce="n-0S6_WzA2Mj")
    claims = _verify(pkceflow_provider, payload["id_token"])
    assert claims["sub"] == "alice"
    assert claims["aud"] == "pkceflow-test"
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["at_hash"] == _expected_at_hash(payload["access_token"])
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 300
    assert claims["auth_time"] <= claims["iat"]
    header, _ = _unverified(payload["id_token"])
    assert header["alg"] == "RS256"
    assert header["kid"] == pkceflow_provider.signing_kid


def test_no_id_token_without_openid(pkceflow_provider: TestProvider) -> None:
    assert "id_token" not in tokens(pkceflow_provider, scope="profile email")


def test_no_nonce_when_none_was_sent(pkceflow_provider: TestProvider) -> None:
    payload = tokens(pkceflow_provider, scope="openid", nonce=None)
    assert "nonce" not in _verify(pkceflow_provider, payload["id_token"])


def test_id_token_on_refresh(pkceflow_provider: TestProvider) -> None:
    first = tokens(pkceflow_provider)
    original = _verify(pkceflow_provider, first["id_token"])
    second = refresh(pkceflow_provider, first["refresh_token"]).json()
    claims = _verify(pkceflow_provider, second["id_token"])
    assert claims["sub"] == original["sub"]
    assert claims["auth_time"] == original["auth_time"]
    assert claims["at_hash"] == _expected_at_hash(second["access_token"])
    assert "nonce" not in claims
    pkceflow_provider.settings.id_token_on_refresh = False
    third = refresh(pkceflow_provider, second["refresh_token"]).json()
    assert "id_token" not in third


def test_id_token_after_key_rotation(pkceflow_provider: TestProvider) -> None:
    old = tokens(pkceflow_provider)["id_token"]
    kid = pkceflow_provider.rotate_keys()
    new = tokens(pkceflow_provider)["id_token"]
    assert _unverified(new)[0]["kid"] == kid
    _verify(pkceflow_provider, new)
    _verify(pkceflow_provider, old)
    pkceflow_provider.rotate_keys(keep_previous=False)
    with pytest.raises(jwt.PyJWKClientError):
        _verify(pkceflow_provider, old)


def test_bad_signature_keeps_the_kid(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.id_token_defect = "bad_signature"
    id_token = tokens(pkceflow_provider)["id_token"]
    assert _unverified(id_token)[0]["kid"] == pkceflow_provider.signing_kid
    with pytest.raises(jwt.InvalidSignatureError):
        _verify(pkceflow_provider, id_token)


def test_unknown_kid(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.id_token_defect = "unknown_kid"
    id_token = tokens(pkceflow_provider)["id_token"]
    with pytest.raises(jwt.PyJWKClientError):
        _verify(pkceflow_provider, id_token)


def test_alg_none(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.id_token_defect = "alg_none"
    id_token = tokens(pkceflow_provider)["id_token"]
    assert id_token.endswith(".")
    header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
    assert header["alg"] == "none"
    with pytest.raises(jwt.PyJWTError):
        _verify(pkceflow_provider, id_token)


@pytest.mark.parametrize(
    ("defect", "error"),
    [("wrong_aud", jwt.InvalidAudienceError), ("wrong_iss", jwt.InvalidIssuerError)],
)
def test_claim_defects_fail_verification(
    pkceflow_provider: TestProvider, defect: Any, error: type[Exception]
) -> None:
    pkceflow_provider.settings.id_token_defect = defect
    with pytest.raises(error):
        _verify(pkceflow_provider, tokens(pkceflow_provider)["id_token"])


def test_expired(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.id_token_defect = "expired"
    with pytest.raises(jwt.ExpiredSignatureError):
        _verify(pkceflow_provider, tokens(pkceflow_provider)["id_token"])


def test_nonce_and_at_hash_defects(pkceflow_provider: TestProvider) -> None:
    settings = pkceflow_provider.settings
    settings.id_token_defect = "wrong_nonce"
    claims = _verify(pkceflow_provider, tokens(pkceflow_provider, nonce="abc")["id_token"])
    assert claims["nonce"] != "abc"
    settings.id_token_defect = "missing_nonce"
    claims = _verify(pkceflow_provider, tokens(pkceflow_provider, nonce="abc")["id_token"])
    assert "nonce" not in claims
    settings.id_token_defect = "wrong_at_hash"
    payload = tokens(pkceflow_provider)
    claims = _verify(pkceflow_provider, payload["id_token"])
    assert claims["at_hash"] != _expected_at_hash(payload["access_token"])
    settings.id_token_defect = None
    payload = tokens(pkceflow_provider, nonce="abc")
    assert _verify(pkceflow_provider, payload["id_token"])["nonce"] == "abc"


def test_templated_issuer_id_token(pkceflow_provider: TestProvider) -> None:
    settings = pkceflow_provider.settings
    settings.templated_issuer = True
    settings.tenant_id = "11111111-2222-3333-4444-555555555555"
    claims = _verify(
        pkceflow_provider,
        tokens(pkceflow_provider)["id_token"],
        issuer=f"{pkceflow_provider.origin}/{settings.tenant_id}/v2.0",
    )
    assert claims["tid"] == settings.tenant_id
    assert pkceflow_provider.tenant_issuer == claims["iss"]


def test_clock_skew_moves_id_token_times(pkceflow_provider: TestProvider) -> None:
    pkceflow_provider.settings.clock_skew = -3600
    claims = _unverified(tokens(pkceflow_provider)["id_token"])[1]
    assert claims["exp"] < time.time()
