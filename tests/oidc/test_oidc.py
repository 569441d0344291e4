"""id_token validation, in the manner of the OpenID Foundation's RP conformance tests.

Test names quote the conformance test they follow (rp-id_token-sig-none and so on)
where there is one. Every rejection goes through ``reject``, which also checks that
the message holds neither the token nor a claim that could be secret.
"""

from __future__ import annotations

import base64
import json
import math
import subprocess
import sys
import time
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkceflow_core import (
    IdTokenError,
    IdTokenRule,
    MetadataError,
    ServerError,
    ServerMetadata,
    TokenSet,
    UsageError,
)
from pkceflow_core.oidc import (
    ASYMMETRIC_ALGS,
    HMAC_ALGS,
    IdTokenClaims,
    IdTokenExpectations,
    JsonWebKeySet,
    at_hash,
    validate_id_token,
)
from pkceflow_core.ports import IdTokenCheck
from tests.support.id_tokens import raises_check

from .tokens import (
    CLIENT_ID,
    CLIENT_SECRET,
    DROP,
    ISSUER,
    NONCE,
    NOW,
    SUBJECT,
    PrivateKey,
    SigningKey,
    b64,
    claims,
    compact,
    ec_private,
    ed448_private,
    ed25519_private,
    jwks,
    public_jwk,
    rsa_private,
    sign,
    sign_hmac,
)

RSA = SigningKey(rsa_private(0), "RS256", "rsa-1")
EC = SigningKey(ec_private("P-256"), "ES256", "ec-1")
ED = SigningKey(ed25519_private(), "EdDSA", "ed-1")
#: The server's published keys: one RSA, one EC P-256, one Ed25519, each naming its alg.
KEYS = JsonWebKeySet.from_dict(jwks(RSA.public_jwk(), EC.public_jwk(), ED.public_jwk()))
#: An RSA key of nobody the client trusts.
ATTACKER = SigningKey(rsa_private(9), "RS256", "rsa-1")
ACCESS_TOKEN = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"


def expectations(**changes: Any) -> IdTokenExpectations:
    """The expectations of a login: ISSUER, CLIENT_ID, NONCE, unless ``changes`` says otherwise."""
    settings: dict[str, Any] = {"issuer": ISSUER, "client_id": CLIENT_ID, "nonce": NONCE}
    settings.update(changes)
    return IdTokenExpectations(**settings)


def accept(
    token: str, keys: JsonWebKeySet = KEYS, *, now: float = NOW, **changes: Any
) -> IdTokenClaims:
    return validate_id_token(token, keys, expectations(**changes), now=now)


def reject(
    token: str, check: IdTokenRule, keys: JsonWebKeySet = KEYS, *, now: float = NOW, **changes: Any
) -> IdTokenError:
    """Assert that ``token`` fails ``check``, with a message that holds no secret."""
    with raises_check(check) as info:
        validate_id_token(token, keys, expectations(**changes), now=now)
    message = str(info.value)
    for secret in (token, *token.split("."), NONCE, SUBJECT, "person@example.com", ACCESS_TOKEN):
        assert len(secret) < 8 or secret not in message
    assert CLIENT_SECRET not in message
    assert info.value.__cause__ is None
    return info.value


# -- valid tokens ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        pytest.param(SigningKey(rsa_private(0), "RS256", "r"), "RS256", id="rp-id_token-sig-rs256"),
        pytest.param(SigningKey(rsa_private(0), "RS384", "r"), "RS384", id="RS384"),
        pytest.param(SigningKey(rsa_private(0), "RS512", "r"), "RS512", id="RS512"),
        pytest.param(SigningKey(rsa_private(0), "PS256", "r"), "PS256", id="PS256"),
        pytest.param(SigningKey(rsa_private(0), "PS384", "r"), "PS384", id="PS384"),
        pytest.param(SigningKey(rsa_private(0), "PS512", "r"), "PS512", id="PS512"),
        pytest.param(
            SigningKey(ec_private("P-256"), "ES256", "e"), "ES256", id="rp-id_token-sig-es256"
        ),
        pytest.param(SigningKey(ec_private("P-384"), "ES384", "e"), "ES384", id="ES384"),
        pytest.param(SigningKey(ec_private("P-521"), "ES512", "e"), "ES512", id="ES512"),
        pytest.param(SigningKey(ed25519_private(), "EdDSA", "o"), "EdDSA", id="EdDSA-Ed25519"),
    ],
)
def test_a_valid_token_passes_for_every_asymmetric_alg(key: SigningKey, alg: str) -> None:
    keys = JsonWebKeySet.from_dict(jwks(key.public_jwk()))
    result = accept(sign(claims(), key), keys)
    assert (result.iss, result.sub, result.aud) == (ISSUER, SUBJECT, (CLIENT_ID,))
    assert (result.exp, result.iat, result.nonce) == (NOW + 300, NOW, NONCE)
    assert result.auth_time is None
    assert result.azp is None


def test_the_claims_are_a_mapping_whose_repr_shows_no_token() -> None:
    token = sign(claims(auth_time=int(NOW) - 10, azp=CLIENT_ID), RSA)
    result = accept(token)
    assert result["email"] == "person@example.com"
    assert result.get("tid") is None
    assert "sub" in result
    assert len(result) == len(list(result)) == 9
    assert dict(result) == json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert result.auth_time == NOW - 10
    assert result.azp == CLIENT_ID
    shown = repr(result)
    assert SUBJECT in shown
    for hidden in (token, NONCE, "person@example.com"):
        assert hidden not in shown
    assert hash(result) == hash(accept(token))
    assert result == accept(token)


def test_a_key_without_alg_verifies_every_rsa_alg() -> None:
    key = SigningKey(rsa_private(0), "PS512", "r")
    keys = JsonWebKeySet.from_dict(jwks(key.public_jwk(alg=False)))
    assert {k.algorithm_name for k in keys.by_kid("r")} == set(ASYMMETRIC_ALGS[:6])
    assert accept(sign(claims(), key), keys).sub == SUBJECT
    assert accept(sign(claims(), key, alg="RS384"), keys).sub == SUBJECT


def test_a_key_that_names_its_alg_verifies_that_alg_only() -> None:
    # RSA is published with alg RS256: a PS256 token under its kid is refused.
    error = reject(sign(claims(), RSA, alg="PS256"), "key")
    assert not error.unknown_kid
    assert "rsa-1" in str(error)


# -- algorithms -----------------------------------------------------------------------


def test_rp_id_token_sig_none_is_refused() -> None:
    token = compact({"alg": "none"}, claims(), b"")
    reject(token, "algorithm")
    reject(token, "algorithm", allowed_algs=HMAC_ALGS, client_secret=CLIENT_SECRET)


def test_an_alg_outside_allowed_algs_is_refused() -> None:
    error = reject(sign(claims(), EC), "algorithm", allowed_algs=("RS256",))
    assert "ES256" in str(error)
    assert "RS256" in str(error)


def test_hs256_signed_with_the_rsa_public_key_as_secret_is_refused() -> None:
    """The key-confusion attack: the public PEM used as the HMAC secret."""
    for secret in (RSA.public_pem(), json.dumps(RSA.public_jwk()).encode()):
        token = sign_hmac(claims(), secret, kid=RSA.kid)
        reject(token, "algorithm")
        # Opted in to HS256: the client secret is the only key ever tried.
        reject(
            token,
            "signature",
            allowed_algs=("RS256", "HS256"),
            client_secret=CLIENT_SECRET,
        )


def test_an_oct_key_in_the_jwks_is_never_an_hmac_key() -> None:
    shared = b"a-symmetric-key-someone-published-in-the-jwks-0123"
    keys = JsonWebKeySet.from_dict(
        jwks(RSA.public_jwk(), {"kty": "oct", "kid": "oct-1", "k": b64(shared), "alg": "HS256"})
    )
    assert keys.by_kid("oct-1") == ()
    token = sign_hmac(claims(), shared, kid="oct-1")
    reject(token, "signature", keys, allowed_algs=("HS256",), client_secret=CLIENT_SECRET)


@pytest.mark.parametrize("alg", HMAC_ALGS)
def test_rp_id_token_sig_hs256_passes_only_when_opted_in(alg: str) -> None:
    token = sign_hmac(claims(), CLIENT_SECRET.encode(), alg=alg)
    reject(token, "algorithm")
    result = accept(token, JsonWebKeySet(), allowed_algs=(alg,), client_secret=CLIENT_SECRET)
    assert result.sub == SUBJECT


def test_rp_id_token_bad_sig_hs256() -> None:
    token = sign_hmac(claims(), b"another-secret-of-the-same-length-as-the-real-one-0123456789")
    reject(token, "signature", allowed_algs=("HS256",), client_secret=CLIENT_SECRET)


# -- signatures -----------------------------------------------------------------------


@pytest.mark.parametrize("key", [RSA, EC, ED], ids=["rp-id_token-bad-sig-rs256", "ES256", "EdDSA"])
def test_a_signature_by_another_key_under_the_same_kid_is_refused(key: SigningKey) -> None:
    others: dict[str, PrivateKey] = {
        "RS256": rsa_private(9),
        "ES256": ec_private("P-256", 9),
        "EdDSA": ed25519_private(9),
    }
    forger = SigningKey(others[key.alg], key.alg, key.kid)
    reject(sign(claims(), forger), "signature")


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = sign(claims(), RSA).split(".")
    forged = f"{header}.{b64(json.dumps(claims(sub='admin')).encode())}.{signature}"
    reject(forged, "signature")


def test_an_empty_signature_is_refused() -> None:
    header, payload, _ = sign(claims(), EC).split(".")
    reject(f"{header}.{payload}.", "signature")


def test_a_key_embedded_in_the_header_is_never_used() -> None:
    """jwk/jku/x5u in the header name keys the attacker chose: only the JWKS counts."""
    embedded = ATTACKER.public_jwk()
    reject(sign(claims(), ATTACKER, jwk=embedded), "signature")
    error = reject(
        sign(claims(), ATTACKER, kid="attacker", jwk=embedded, jku="https://evil.example/jwks"),
        "key",
    )
    assert error.unknown_kid


def test_claims_are_not_read_before_the_signature() -> None:
    # Everything in this payload is wrong; the signature error is what is reported.
    bad = claims(iss="https://evil.example", aud="someone", exp=0, nonce="x")
    reject(sign(bad, ATTACKER), "signature")


# -- key selection --------------------------------------------------------------------


def test_rp_id_token_kid_absent_single_jwks() -> None:
    keys = JsonWebKeySet.from_dict(jwks(SigningKey(rsa_private(0), "RS256").public_jwk()))
    assert accept(sign(claims(), RSA, kid=None), keys).sub == SUBJECT


def test_kid_absent_with_one_key_of_the_algs_type_among_others() -> None:
    assert accept(sign(claims(), EC, kid=None)).sub == SUBJECT
    assert accept(sign(claims(), ED, kid=None)).sub == SUBJECT


def test_rp_id_token_kid_absent_multiple_jwks() -> None:
    other = SigningKey(rsa_private(1), "RS256", "rsa-2")
    keys = JsonWebKeySet.from_dict(jwks(RSA.public_jwk(), other.public_jwk()))
    error = reject(sign(claims(), RSA, kid=None), "key", keys)
    assert not error.unknown_kid


def test_kid_absent_and_no_key_for_the_alg() -> None:
    keys = JsonWebKeySet.from_dict(jwks(RSA.public_jwk()))
    error = reject(sign(claims(), EC, kid=None), "key", keys)
    assert not error.unknown_kid


def test_rp_key_rotation_op_sign_key_flags_the_unknown_kid_for_a_refetch() -> None:
    rotated = SigningKey(rsa_private(1), "RS256", "rsa-2026")
    token = sign(claims(), rotated)
    error = reject(token, "key")
    assert error.unknown_kid
    assert "rsa-2026" in str(error)
    # The adapter fetches the JWKS again and validates once more.
    refetched = JsonWebKeySet.from_dict(jwks(RSA.public_jwk(), rotated.public_jwk()))
    assert accept(token, refetched).sub == SUBJECT


def test_two_keys_with_one_kid_for_one_alg_are_ambiguous() -> None:
    twin = SigningKey(rsa_private(1), "RS256", RSA.kid)
    keys = JsonWebKeySet.from_dict(jwks(RSA.public_jwk(), twin.public_jwk()))
    error = reject(sign(claims(), RSA), "key", keys)
    assert not error.unknown_kid


# -- issuer ---------------------------------------------------------------------------


def test_rp_id_token_issuer_mismatch() -> None:
    error = reject(sign(claims(iss="https://op.example.com/"), RSA), "issuer")
    assert ISSUER in str(error)
    reject(sign(claims(iss="https://evil.example"), RSA), "issuer")
    reject(sign(claims(iss=DROP), RSA), "issuer")
    reject(sign(claims(iss=[ISSUER]), RSA), "issuer")


TEMPLATE = "https://login.microsoftonline.com/{tenantid}/v2.0"
TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


def test_a_templated_issuer_accepts_the_tokens_own_tenant() -> None:
    iss = f"https://login.microsoftonline.com/{TENANT}/v2.0"
    result = accept(
        sign(claims(iss=iss, tid=TENANT), RSA), issuer=TEMPLATE, issuer_template=TEMPLATE
    )
    assert result.iss == iss
    assert result["tid"] == TENANT


@pytest.mark.parametrize(
    "tid",
    [
        "72f988bf-86f1-41af-91ab-2d7cd011db47",  # another tenant than the one in iss
        DROP,
        None,
        42,
        "",
        f"{TENANT}/v2.0/..",  # would change the URL's path
    ],
)
def test_a_templated_issuer_refuses_a_tid_that_does_not_match(tid: Any) -> None:
    iss = f"https://login.microsoftonline.com/{TENANT}/v2.0"
    error = reject(
        sign(claims(iss=iss, tid=tid), RSA),
        "issuer",
        issuer=TEMPLATE,
        issuer_template=TEMPLATE,
    )
    assert TEMPLATE in str(error)


def test_the_exact_issuer_still_passes_with_a_template() -> None:
    assert accept(sign(claims(), RSA), issuer_template=TEMPLATE).iss == ISSUER


# -- audience -------------------------------------------------------------------------


def test_rp_id_token_aud() -> None:
    error = reject(sign(claims(aud="another-client"), RSA), "audience")
    assert CLIENT_ID in str(error)


@pytest.mark.parametrize("aud", [DROP, None, [], [CLIENT_ID, 7], 7, {"aud": CLIENT_ID}])
def test_an_aud_that_is_not_strings_is_refused(aud: Any) -> None:
    reject(sign(claims(aud=aud), RSA), "audience")


def test_several_audiences_need_azp() -> None:
    several = [CLIENT_ID, "https://api.example.com"]
    reject(sign(claims(aud=several), RSA), "audience")
    assert accept(sign(claims(aud=several, azp=CLIENT_ID), RSA)).aud == tuple(several)


def test_an_azp_of_another_client_is_refused() -> None:
    several = [CLIENT_ID, "other-client"]
    reject(sign(claims(aud=several, azp="other-client"), RSA), "audience")
    reject(sign(claims(azp="other-client"), RSA), "audience")
    reject(sign(claims(azp=5), RSA), "audience")


def test_rp_id_token_sub_missing_or_empty() -> None:
    for sub in (DROP, "", 248289761001):
        reject(sign(claims(sub=sub), RSA), "malformed")


# -- time -----------------------------------------------------------------------------


def test_the_injected_clock_is_the_only_clock() -> None:
    # Valid at NOW (2023), long expired by the wall clock: no exp check reads the time.
    assert accept(sign(claims(), RSA)).exp == NOW + 300
    wall = int(time.time())
    fresh = sign(claims(iat=wall, exp=wall + 3600), RSA)
    assert accept(fresh, now=wall).iat == wall
    reject(fresh, "issued_at", now=NOW)


def test_an_expired_token_is_refused_beyond_the_leeway() -> None:
    token = sign(claims(exp=int(NOW) - 30), RSA)
    assert accept(token).exp == NOW - 30  # within the default 60 s
    reject(token, "expired", leeway=0)
    reject(token, "expired", now=NOW + 30)  # exp == now - leeway: expired
    assert accept(token, now=NOW + 29).sub == SUBJECT


@pytest.mark.parametrize("exp", [DROP, None, "1700000300", True, math.nan, math.inf, 10**400])
def test_exp_must_be_a_finite_number(exp: Any) -> None:
    reject(sign(claims(exp=exp), RSA), "expired")


def test_rp_id_token_iat_in_the_future_is_refused() -> None:
    reject(sign(claims(iat=int(NOW) + 3600, exp=int(NOW) + 7200), RSA), "issued_at")
    assert accept(sign(claims(iat=int(NOW) + 60), RSA)).iat == NOW + 60
    reject(sign(claims(iat=int(NOW) + 61), RSA), "issued_at")


@pytest.mark.parametrize("iat", [DROP, "now", False, math.nan])
def test_iat_must_be_a_finite_number(iat: Any) -> None:
    reject(sign(claims(iat=iat), RSA), "issued_at")


def test_nbf_in_the_future_is_refused() -> None:
    assert accept(sign(claims(nbf=int(NOW) + 60), RSA)).sub == SUBJECT
    reject(sign(claims(nbf=int(NOW) + 61), RSA), "issued_at")
    reject(sign(claims(nbf="soon"), RSA), "issued_at")


# -- nonce ----------------------------------------------------------------------------


def test_rp_nonce_invalid() -> None:
    reject(sign(claims(nonce="n-another-login"), RSA), "nonce")
    reject(sign(claims(nonce=NONCE + "x"), RSA), "nonce")
    reject(sign(claims(nonce="ünïcode"), RSA), "nonce")


def test_rp_nonce_unless_code_flow_missing_nonce_is_refused() -> None:
    reject(sign(claims(nonce=DROP), RSA), "nonce")
    reject(sign(claims(nonce=None), RSA), "nonce")


def test_a_nonce_that_is_not_a_string_is_refused() -> None:
    reject(sign(claims(nonce=12345), RSA), "nonce")
    reject(sign(claims(nonce=12345), RSA), "nonce", nonce=None)


def test_on_refresh_the_nonce_may_be_absent_or_the_original() -> None:
    assert accept(sign(claims(nonce=DROP), RSA), nonce=None).nonce is None
    assert accept(sign(claims(), RSA), nonce=None).nonce == NONCE


# -- at_hash --------------------------------------------------------------------------

# OIDC Core 3.1.3.6 (the spec's RS256 example) and FusionAuth's OpenIdConnectTest.
VECTOR = "dNZX1hEZ9wBCzNL40Upu646bdzQA"


@pytest.mark.parametrize(
    ("token", "alg", "expected"),
    [
        (ACCESS_TOKEN, "RS256", "77QmUPtjPfzWtF2AnpK9RQ"),
        (VECTOR, "HS256", "wfgvmE9VxjAudsl9lc6TqA"),
        (VECTOR, "PS256", "wfgvmE9VxjAudsl9lc6TqA"),
        (VECTOR, "ES384", "phZaPQJosyg-qi-OIYyQ3xJB9wsHYEEz"),
        (VECTOR, "RS512", "8xltSlOGYrWy8W9yNvRlEth1i_bXW-JROWPLvCv5zog"),
        (VECTOR, "EdDSA", "8xltSlOGYrWy8W9yNvRlEth1i_bXW-JROWPLvCv5zog"),
    ],
)
def test_at_hash_known_answers(token: str, alg: str, expected: str) -> None:
    assert at_hash(token, alg) == expected


@pytest.mark.parametrize("alg", ["none", "ES256K", "Ed25519", "rs256"])
def test_at_hash_refuses_an_alg_without_a_hash(alg: str) -> None:
    with pytest.raises(UsageError):
        at_hash(ACCESS_TOKEN, alg)


@pytest.mark.parametrize("key", [RSA, EC, ED], ids=["RS256", "ES256", "EdDSA"])
def test_at_hash_match_and_mismatch(key: SigningKey) -> None:
    good = sign(claims(at_hash=at_hash(ACCESS_TOKEN, key.alg)), key)
    assert accept(good, access_token=ACCESS_TOKEN).sub == SUBJECT
    reject(good, "at_hash", access_token="another-access-token-of-another-login")
    wrong_hash = at_hash(ACCESS_TOKEN, "RS512" if key.alg != "EdDSA" else "RS256")
    bad = sign(claims(at_hash=wrong_hash), key)
    reject(bad, "at_hash", access_token=ACCESS_TOKEN)


def test_at_hash_is_checked_only_when_both_sides_exist() -> None:
    assert accept(sign(claims(), RSA), access_token=ACCESS_TOKEN).sub == SUBJECT
    assert accept(sign(claims(at_hash="whatever"), RSA)).sub == SUBJECT
    reject(sign(claims(at_hash=17), RSA), "at_hash", access_token=ACCESS_TOKEN)
    reject(sign(claims(at_hash="ünï"), RSA), "at_hash", access_token=ACCESS_TOKEN)


# -- max_age and auth_time ------------------------------------------------------------


def test_max_age_requires_a_recent_auth_time() -> None:
    recent = sign(claims(auth_time=int(NOW) - 600), RSA)
    assert accept(recent, max_age=600).auth_time == NOW - 600
    assert accept(recent, max_age=540).sub == SUBJECT  # 600 <= 540 + 60 leeway
    reject(recent, "auth_time", max_age=539)
    reject(recent, "auth_time", max_age=0, leeway=0)


def test_max_age_requires_auth_time() -> None:
    reject(sign(claims(), RSA), "auth_time", max_age=3600)


def test_auth_time_must_be_a_number_whenever_present() -> None:
    reject(sign(claims(auth_time="yesterday"), RSA), "auth_time")
    assert accept(sign(claims(auth_time=None), RSA)).auth_time is None


def test_max_age_is_not_applied_on_refresh() -> None:
    # A refreshed id_token keeps the original auth_time (OIDC Core 12.2).
    old = sign(claims(auth_time=int(NOW) - 86400, nonce=DROP), RSA)
    assert accept(old, nonce=None, max_age=600).auth_time == NOW - 86400


# -- malformed tokens -----------------------------------------------------------------

_HEADER = b64(json.dumps({"alg": "RS256", "kid": "rsa-1"}).encode())
_PAYLOAD = b64(json.dumps(claims()).encode())
_TWO_ALGS = b64(b'{"alg": "RS256", "alg": "none"}')


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not a token",
        "a.b",
        f"{_HEADER}.{_PAYLOAD}",
        f"{_HEADER}.{_PAYLOAD}.c.d",
        f"{_HEADER}.{_PAYLOAD}.{_PAYLOAD}.iv.tag",  # a JWE: encrypted id_tokens are unsupported
        f"{_HEADER}=.{_PAYLOAD}.sig",
        f"{_HEADER}.{_PAYLOAD}.s+g/",
        f"{_HEADER} .{_PAYLOAD}.sig",
        f"A.{_PAYLOAD}.sig",  # not base64 (one character too many)
        f".{_PAYLOAD}.sig",
        f"{b64(b'not json')}.{_PAYLOAD}.sig",
        f"{b64(b'[1, 2]')}.{_PAYLOAD}.sig",
        f"{_TWO_ALGS}.{_PAYLOAD}.sig",  # a header member twice
        f"{b64(json.dumps({'kid': 'rsa-1'}).encode())}.{_PAYLOAD}.sig",
        f"{b64(json.dumps({'alg': ['RS256']}).encode())}.{_PAYLOAD}.sig",
        f"{b64(json.dumps({'alg': 'RS256', 'kid': 1}).encode())}.{_PAYLOAD}.sig",
        f"{_HEADER}.A.sig",  # the payload segment is not base64 (PyJWT says so)
    ],
)
def test_malformed_tokens(token: str) -> None:
    reject(token, "malformed")


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'{"sub": "a", "sub": "b"}', b""])
def test_a_signed_payload_that_is_not_a_json_object(payload: bytes) -> None:
    reject(sign(payload, RSA), "malformed")


def test_critical_header_extensions_are_refused() -> None:
    reject(sign(claims(), RSA, crit=["exp"], exp=1), "malformed")
    reject(sign(b"", RSA, crit=["b64"], b64=False), "malformed")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.text())
def test_arbitrary_text_raises_only_id_token_errors(text: str) -> None:
    with pytest.raises(IdTokenError):
        validate_id_token(text, KEYS, expectations(), now=NOW)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="))
def test_arbitrary_base64url_text_raises_only_id_token_errors(text: str) -> None:
    with pytest.raises(IdTokenError):
        validate_id_token(text, KEYS, expectations(), now=NOW)


@settings(deadline=None)
@given(
    header=st.fixed_dictionaries(
        {"alg": st.sampled_from([*ASYMMETRIC_ALGS, "none", "HS256"]) | _json_values},
        optional={
            "kid": st.sampled_from(["rsa-1", "ec-1", "ed-1"]) | _json_values,
            "crit": _json_values,
            "b64": _json_values,
            "typ": _json_values,
        },
    ),
    payload=st.binary(max_size=64) | _json_values.map(lambda v: json.dumps(v).encode()),
    signature=st.binary(max_size=140),
)
def test_forged_tokens_raise_only_id_token_errors(
    header: dict[str, Any], payload: bytes, signature: bytes
) -> None:
    with pytest.raises(IdTokenError):
        validate_id_token(compact(header, payload, signature), KEYS, expectations(), now=NOW)


_CLAIM_NAMES = ["iss", "sub", "aud", "exp", "iat", "nbf", "nonce", "azp", "at_hash", "auth_time"]


@settings(deadline=None)
@given(changes=st.dictionaries(st.sampled_from(_CLAIM_NAMES), _json_values, max_size=4))
def test_signed_tokens_with_arbitrary_claims_pass_or_raise_id_token_errors(
    changes: dict[str, Any],
) -> None:
    token = sign(claims(**changes), ED)
    try:
        result = validate_id_token(
            token, KEYS, expectations(access_token=ACCESS_TOKEN, max_age=3600), now=NOW
        )
    except IdTokenError:
        return
    assert result.sub == SUBJECT or "sub" in changes


# -- the JWK Set ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc",
    [None, [], "keys", {}, {"keys": None}, {"keys": {"kty": "RSA"}}, {"keys": []}, {"keys": [1]}],
)
def test_a_document_that_is_no_jwk_set_is_refused(doc: Any) -> None:
    with raises_check("jwks"):
        JsonWebKeySet.from_dict(doc)


def test_a_jwks_error_is_an_id_token_error_and_a_server_error() -> None:
    with raises_check("jwks") as info:
        JsonWebKeySet.from_dict({})
    assert isinstance(info.value, ServerError)
    assert not info.value.unknown_kid


def test_keys_that_are_not_understood_are_ignored() -> None:
    rsa_jwk = RSA.public_jwk()
    ignored: list[Any] = [
        "not an object",
        {"kty": 5},
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "RSA-PQ", "n": "AQAB"},
        {**rsa_jwk, "kid": "enc", "use": "enc"},
        {**rsa_jwk, "kid": "ops", "key_ops": ["encrypt"]},
        {**rsa_jwk, "kid": "ops2", "key_ops": "verify"},
        {**rsa_jwk, "kid": 7},
        {**rsa_jwk, "kid": "bad-n", "n": "!!!"},
        {**rsa_jwk, "kid": "no-e", "e": None},
        {**rsa_jwk, "kid": "hs", "alg": "HS256"},
        {**EC.public_jwk(), "kid": "wrong-curve-alg", "alg": "ES384"},
        {**EC.public_jwk(), "kid": "k1", "crv": "secp256k1"},
        {**EC.public_jwk(), "kid": "crv-list", "crv": ["P-256"]},
        {**public_jwk(ed448_private()), "kid": "ed448"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "short"},
    ]
    kept = {**RSA.public_jwk(), "key_ops": ["verify"]}
    keys = JsonWebKeySet.from_dict(jwks(*ignored, kept, ED.public_jwk(use=None)))
    assert {(k.key_id, k.algorithm_name) for k in keys.keys} == {
        ("rsa-1", "RS256"),
        ("ed-1", "EdDSA"),
    }


def test_a_set_of_only_unusable_keys_is_refused() -> None:
    with raises_check("jwks", match="no key usable"):
        JsonWebKeySet.from_dict(jwks({**RSA.public_jwk(), "use": "enc"}, {"kty": "oct"}))


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth"])
def test_a_jwks_with_private_key_material_is_refused(member: str) -> None:
    with raises_check("jwks", match="private"):
        JsonWebKeySet.from_dict(jwks(EC.public_jwk(), {**RSA.public_jwk(), member: "AQAB"}))


def test_from_json() -> None:
    body = json.dumps(jwks(RSA.public_jwk(), EC.public_jwk())).encode()
    assert len(JsonWebKeySet.from_json(body).keys) == 2
    for bad in (b"<html>", b"[]", b'{"keys": [], "keys": []}'):
        with raises_check("jwks"):
            JsonWebKeySet.from_json(bad)


def test_sets_are_equal_when_their_keys_are() -> None:
    doc = jwks(RSA.public_jwk(), EC.public_jwk(), ED.public_jwk())
    assert JsonWebKeySet.from_dict(doc) == KEYS
    assert hash(JsonWebKeySet.from_dict(doc)) == hash(KEYS)
    assert JsonWebKeySet.from_dict(jwks(RSA.public_jwk())) != KEYS
    rotated = SigningKey(rsa_private(1), "RS256", RSA.kid)
    assert (
        JsonWebKeySet.from_dict(jwks(rotated.public_jwk(), EC.public_jwk(), ED.public_jwk()))
        != KEYS
    )
    assert JsonWebKeySet() != KEYS
    assert JsonWebKeySet() == JsonWebKeySet()


def test_lookups_and_repr() -> None:
    assert [k.key_id for k in KEYS.by_kid("ec-1")] == ["ec-1"]
    assert KEYS.by_kid("nope") == ()
    assert [k.key_id for k in KEYS.for_alg("EdDSA")] == ["ed-1"]
    assert KEYS.for_alg("ES256", "rsa-1") == ()
    assert KEYS.for_alg("HS256") == ()
    assert repr(KEYS) == "JsonWebKeySet(keys=('rsa-1':RS256, 'ec-1':ES256, 'ed-1':EdDSA))"


_jwk_members = st.dictionaries(
    st.sampled_from(["kty", "crv", "x", "y", "n", "e", "alg", "use", "kid", "key_ops", "k"]),
    st.sampled_from(["RSA", "EC", "OKP", "oct", "P-256", "Ed25519", "RS256", "sig", "AQAB"])
    | st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")
    | _json_values,
)


@settings(deadline=None)
@given(
    doc=_json_values
    | st.fixed_dictionaries({"keys": st.lists(_jwk_members | _json_values, max_size=4)})
    | st.builds(
        lambda base, changes: {"keys": [{**base, **changes}]},
        st.sampled_from([RSA.public_jwk(), EC.public_jwk(), ED.public_jwk()]),
        _jwk_members,
    )
)
def test_jwks_from_garbage_raises_only_jwks_errors(doc: Any) -> None:
    failed: IdTokenRule | None = None
    try:
        keys = JsonWebKeySet.from_dict(doc)
    except IdTokenError as exc:
        failed = exc.check
    else:
        assert keys.keys
    assert failed in (None, "jwks")


# -- expectations ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"issuer": ""},
        {"client_id": ""},
        {"nonce": ""},
        {"allowed_algs": ()},
        {"allowed_algs": ("RS256", "none")},
        {"allowed_algs": ("ES256K",)},
        {"allowed_algs": ("HS256",)},  # opted in to HS256 without the secret
        {"allowed_algs": ("RS256", "HS512"), "client_secret": ""},
        {"leeway": -1},
        {"leeway": math.nan},
        {"leeway": math.inf},
        {"leeway": True},
        {"max_age": -1},
        {"max_age": True},
        {"issuer_template": "https://login.microsoftonline.com/common/v2.0"},
    ],
)
def test_invalid_expectations_are_usage_errors(changes: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        expectations(**changes)


def test_expectations_hide_their_secrets_and_take_one_alg_as_a_string() -> None:
    expected = expectations(
        allowed_algs="HS256", client_secret=CLIENT_SECRET, access_token=ACCESS_TOKEN
    )
    assert expected.allowed_algs == ("HS256",)
    assert expectations(allowed_algs=["EdDSA", "ES256"]).allowed_algs == ("EdDSA", "ES256")
    for hidden in (CLIENT_SECRET, ACCESS_TOKEN, NONCE):
        assert hidden not in repr(expected)


def _server(algs: tuple[str, ...] | None, issuer: str | None = ISSUER) -> ServerMetadata:
    return ServerMetadata(
        authorization_endpoint="https://op.example.com/authorize",
        token_endpoint="https://op.example.com/token",
        issuer=issuer,
        id_token_signing_alg_values_supported=algs,
    )


def test_from_server_intersects_the_servers_algs_with_the_asymmetric_ones() -> None:
    server = _server(("HS256", "RS256", "none", "ES256K", "EdDSA"))
    expected = IdTokenExpectations.from_server(server, client_id=CLIENT_ID, nonce=NONCE)
    assert expected.allowed_algs == ("RS256", "EdDSA")
    assert (expected.issuer, expected.client_id, expected.nonce) == (ISSUER, CLIENT_ID, NONCE)
    opted_in = IdTokenExpectations.from_server(
        server,
        client_id=CLIENT_ID,
        nonce=None,
        client_secret=CLIENT_SECRET,
        allow_hmac=True,
        max_age=60,
        leeway=5,
        access_token=ACCESS_TOKEN,
        issuer_template=TEMPLATE,
    )
    assert opted_in.allowed_algs == ("RS256", "EdDSA", "HS256")
    assert (opted_in.max_age, opted_in.leeway, opted_in.issuer_template) == (60, 5, TEMPLATE)
    assert opted_in.access_token == ACCESS_TOKEN


def test_from_server_without_a_list_allows_every_asymmetric_alg() -> None:
    expected = IdTokenExpectations.from_server(_server(None), client_id=CLIENT_ID, nonce=NONCE)
    assert expected.allowed_algs == ASYMMETRIC_ALGS
    assert "none" not in ASYMMETRIC_ALGS
    assert not set(HMAC_ALGS) & set(ASYMMETRIC_ALGS)


def test_from_server_refuses_what_it_cannot_use() -> None:
    with pytest.raises(MetadataError, match="HS256"):
        IdTokenExpectations.from_server(_server(("HS256",)), client_id=CLIENT_ID, nonce=NONCE)
    with pytest.raises(MetadataError, match="none"):
        IdTokenExpectations.from_server(_server(()), client_id=CLIENT_ID, nonce=NONCE)
    with pytest.raises(UsageError, match="issuer"):
        IdTokenExpectations.from_server(_server(None, None), client_id=CLIENT_ID, nonce=NONCE)
    with pytest.raises(UsageError, match="client_secret"):
        IdTokenExpectations.from_server(
            _server(None), client_id=CLIENT_ID, nonce=NONCE, allow_hmac=True
        )


# -- fit with the rest of pkceflow ----------------------------------------------------


def test_it_fits_the_drivers_id_token_check_port() -> None:
    base = expectations(nonce=None)
    seen: list[IdTokenClaims] = []

    def check(tokens: TokenSet, nonce: str | None, previous: TokenSet | None) -> None:
        assert tokens.id_token is not None
        expected = attrs.evolve(base, nonce=nonce)
        seen.append(validate_id_token(tokens.id_token, KEYS, expected, now=NOW))

    port: IdTokenCheck = check
    port(TokenSet("at", id_token=sign(claims(), RSA)), NONCE, None)  # login
    refreshed = TokenSet("at", id_token=sign(claims(nonce=DROP), EC))
    port(refreshed, None, refreshed)  # refresh
    with raises_check("nonce"):
        port(TokenSet("at", id_token=sign(claims(nonce=DROP), EC)), NONCE, None)
    assert [c.nonce for c in seen] == [NONCE, None]


def test_importing_pkceflow_core_does_not_import_pyjwt() -> None:
    code = (
        "import sys, pkceflow_core\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('jwt', 'cryptography'))\n"
        "assert not loaded, loaded\n"
        "assert 'pkceflow_core.oidc' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
