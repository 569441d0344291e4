"""pkce.py: the code verifier and its challenge (RFC 7636), and state/nonce entropy."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkceflow_core import Pkce, UsageError
from pkceflow_core._pkce import random_token, s256
from tests.core.fakes import CountingEntropy

# RFC 7636 Appendix B.
RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]+\Z")


# -- the challenge -------------------------------------------------------------------


def test_s256_of_the_rfc7636_appendix_b_verifier_is_its_challenge() -> None:
    assert s256(RFC_VERIFIER) == RFC_CHALLENGE


def test_pkce_challenge_is_s256_of_the_verifier_by_default() -> None:
    pkce = Pkce(RFC_VERIFIER)

    assert pkce.method == "S256"
    assert pkce.challenge == RFC_CHALLENGE


def test_plain_challenge_is_the_verifier_itself() -> None:
    assert Pkce(RFC_VERIFIER, "plain").challenge == RFC_VERIFIER


# -- generating a verifier -----------------------------------------------------------


def test_generate_uses_s256_unless_plain_is_asked_for() -> None:
    assert Pkce.generate().method == "S256"


def test_generate_uses_plain_only_when_named() -> None:
    pkce = Pkce.generate("plain")

    assert pkce.method == "plain"
    assert pkce.challenge == pkce.verifier


def test_generate_makes_a_64_character_verifier_by_default() -> None:
    assert len(Pkce.generate().verifier) == 64


@pytest.mark.parametrize("length", [43, 44, 45, 46, 64, 100, 127, 128])
def test_generate_makes_a_verifier_of_the_requested_length(length: int) -> None:
    verifier = Pkce.generate(length=length).verifier

    assert len(verifier) == length
    assert UNRESERVED.match(verifier)


@pytest.mark.parametrize("length", [0, 42, 129, -43])
def test_generate_refuses_a_length_outside_43_to_128(length: int) -> None:
    with pytest.raises(UsageError, match="43 to 128"):
        Pkce.generate(length=length)


def test_generate_draws_the_verifier_from_the_injected_token_bytes() -> None:
    pkce = Pkce.generate(length=43, token_bytes=lambda n: bytes(n))

    assert pkce.verifier == "A" * 43


def test_generate_asks_token_bytes_for_enough_bytes_for_the_length() -> None:
    entropy = CountingEntropy()

    Pkce.generate(length=128, token_bytes=entropy)

    # 128 base64url characters carry 96 bytes.
    assert entropy.requests == [96]


def test_generate_maps_every_byte_value_to_unreserved_characters() -> None:
    verifier = Pkce.generate(length=128, token_bytes=lambda n: bytes(i % 256 for i in range(n)))

    assert UNRESERVED.match(verifier.verifier)


def test_generate_verifier_uses_the_url_safe_alphabet() -> None:
    # 0xfb 0xef 0xff is "++//" in standard base64 and "--__" in base64url.
    verifier = Pkce.generate(length=44, token_bytes=lambda n: b"\xfb\xef\xff" * (n // 3)).verifier

    assert set(verifier) == {"-", "_"}


def test_generate_defaults_to_fresh_os_entropy() -> None:
    assert Pkce.generate().verifier != Pkce.generate().verifier


def test_generate_refuses_an_entropy_source_that_returns_too_few_bytes() -> None:
    with pytest.raises(UsageError, match="too few bytes"):
        Pkce.generate(token_bytes=lambda n: bytes(n // 2))


# -- what a verifier may be ----------------------------------------------------------


@pytest.mark.parametrize(
    "verifier",
    [
        "a" * 42,
        "a" * 129,
        "a" * 42 + "+",
        "a" * 42 + "/",
        "a" * 42 + "=",
        "a" * 42 + " ",
        "a" * 42 + "\u00e9",
        "a" * 43 + "\n",
        "",
    ],
    ids=[
        "42-chars",
        "129-chars",
        "plus",
        "slash",
        "equals",
        "space",
        "non-ascii",
        "newline",
        "empty",
    ],
)
def test_a_verifier_outside_43_to_128_unreserved_characters_is_refused(verifier: str) -> None:
    with pytest.raises(UsageError, match="43 to 128"):
        Pkce(verifier)


@pytest.mark.parametrize("verifier", ["a" * 43, "-._~" * 32, "Z9" * 50])
def test_a_verifier_of_43_to_128_unreserved_characters_is_accepted(verifier: str) -> None:
    assert Pkce(verifier).verifier == verifier


@pytest.mark.parametrize("method", ["s256", "S512", "PLAIN", ""])
def test_a_challenge_method_other_than_s256_or_plain_is_refused(method: str) -> None:
    with pytest.raises(UsageError, match="code_challenge_method"):
        Pkce(RFC_VERIFIER, method)  # type: ignore[arg-type]


def test_the_verifier_is_not_in_the_repr() -> None:
    pkce = Pkce(RFC_VERIFIER)

    assert RFC_VERIFIER not in repr(pkce)
    assert "S256" in repr(pkce)


# -- state and nonce -----------------------------------------------------------------


def test_random_token_is_base64url_of_the_bytes_drawn() -> None:
    data = bytes(range(32))

    token = random_token(32, lambda n: data[:n])

    assert token == base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_random_token_draws_32_bytes_by_default() -> None:
    entropy = CountingEntropy()

    token = random_token(token_bytes=entropy)

    assert entropy.requests == [32]
    assert len(token) == 43


def test_random_token_accepts_128_bits() -> None:
    assert len(random_token(16)) == 22


def test_random_token_refuses_fewer_than_128_bits() -> None:
    with pytest.raises(UsageError, match="128 bits"):
        random_token(15)


def test_random_token_defaults_to_fresh_os_entropy() -> None:
    assert random_token() != random_token()


# -- properties ----------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(length=st.integers(43, 128), entropy=st.binary(min_size=96, max_size=96))
def test_generate_always_yields_a_valid_verifier(length: int, entropy: bytes) -> None:
    pkce = Pkce.generate(length=length, token_bytes=lambda n: entropy[:n])

    assert len(pkce.verifier) == length
    assert UNRESERVED.match(pkce.verifier)
    assert pkce.challenge == s256(pkce.verifier)
    assert len(pkce.challenge) == 43
